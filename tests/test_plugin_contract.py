"""The plugin contract's failure paths: every one names the plugin and says what happened.

A raising ``process`` (serially and on Dask) names step, kind/impl, the plugin's distribution and
version, the exception type, the block and the plugin's own line; a raising lifecycle hook is a
warning and the run goes on; a misspelled hook is a load error; a clash with a built-in never
reroutes a kind's default; an implementation without a version takes its distribution's.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import TEST_PLUGINS, write_pipeline
from swaxs_plugins.cli import main
from swaxs_plugins.core.errors import PluginError, StepFailed
from swaxs_plugins.core.executors import DaskExecutor, SerialExecutor
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import PluginSource, Registry
from swaxs_plugins.core.step import Step

FAILING = r"""
name: sums
inputs:
  scans: {{files: [{raw}], frames: /entry/instrument/det/data}}
output: out/sums.nxs
steps:
  - {{id: sums, kind: integrate, impl: framesum, inputs: {{scans: scans}}, params: {{chunk: 4, fail_on_frame: 5}}}}
"""
BLOCK_ERROR = (r"^step 'sums' \(integrate/framesum, frame_steps 0\.3\) failed in block 2 of 3 \(.*\): "
               r"RuntimeError: asked to fail on frame 5 \[at plugins/frame_steps\.py:\d+\]$")


def write_plugin(folder: Path, stem: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text("from swaxs_plugins.core.hookspecs import StepImpl, hookimpl\n"
                    "from swaxs_plugins.core.step import Step\n" + textwrap.dedent(body))
    return path


@pytest.mark.parametrize("executor", [SerialExecutor(progress=False), DaskExecutor(workers=1, progress=False)],
                         ids=["serial", "dask"])
def test_a_raising_process_names_plugin_type_block_and_line(raw_scan, tmp_path, executor):
    raw, _ = raw_scan
    registry = Registry.discover([TEST_PLUGINS])
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", FAILING.format(raw=raw)), registry)
    with executor, pytest.raises(StepFailed, match=BLOCK_ERROR) as error:
        run_pipeline(plan, registry, executor)
    assert isinstance(error.value.cause, RuntimeError)


def test_traceback_flag_prints_the_plugins_own_traceback(raw_scan, tmp_path):
    raw, _ = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", FAILING.format(raw=raw))
    quiet = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "run", str(path)])
    loud = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "--traceback", "run", str(path)])
    assert quiet.exit_code == loud.exit_code == 1
    assert "Traceback" not in quiet.output and "failed in block 2 of 3" in quiet.output
    assert "Traceback (most recent call last)" in loud.output
    assert 'frame_steps.py", line' in loud.output and "RuntimeError: asked to fail on frame 5" in loud.output


def test_a_raising_lifecycle_hook_is_a_warning_naming_the_plugin_and_the_run_goes_on(raw_scan, tmp_path, caplog):
    raw, _ = raw_scan
    write_plugin(tmp_path / "watchers", "noisy_catalogue", '''
        @hookimpl
        def swaxs_after_step(step_config, output):
            raise ConnectionError("catalogue server unreachable")
    ''')
    registry = Registry.discover([TEST_PLUGINS, tmp_path / "watchers"])
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", FAILING.format(raw=raw).replace(
        ", fail_on_frame: 5", "")), registry)
    with caplog.at_level(logging.WARNING, logger="swaxs_plugins"):
        [run] = run_pipeline(plan, registry, SerialExecutor(progress=False))
    assert run.status == "ran" and run.path.is_file()
    [message] = [r.getMessage() for r in caplog.records if "hook" in r.getMessage()]
    assert message.startswith("plugin 'noisy_catalogue' (file ")
    assert ("hook swaxs_after_step raised ConnectionError: catalogue server unreachable "
            f"({tmp_path / 'watchers' / 'noisy_catalogue.py'}:") in message
    assert message.endswith("the run goes on")


def test_a_misspelled_hook_is_a_load_error(tmp_path):
    write_plugin(tmp_path, "typo", '''
        @hookimpl
        def swaxs_after_stpe(step_config, output):
            pass
    ''')
    registry = Registry.discover([tmp_path])
    [error] = [e for e in registry.load_errors if e.source.name == "typo"]
    assert error.message.startswith("TypeError: function 'swaxs_after_stpe' is named like a hook but there is no "
                                    "such hook (a misspelling?); the hooks are ")
    assert "swaxs_after_step" in error.message
    assert not [impl for impl in registry.manager.get_plugins() if "typo" in str(registry.manager.get_name(impl))]


def test_a_clash_with_a_builtin_never_reroutes_the_default(tmp_path):
    clash = write_plugin(tmp_path / "facility", "facility_background", '''
        class Mine(Step):
            """Claims the built-in's name."""

        @hookimpl
        def swaxs_register_steps():
            return [StepImpl("background", "subtract", Mine, "9.9", "a facility's subtraction", default=True)]
    ''')
    registry = Registry.discover([TEST_PLUGINS, tmp_path / "facility"])
    assert registry.get("background", "offset").impl.name == "offset"       # the other one is still there...
    with pytest.raises(PluginError) as error:                               # ... but does not become the default
        registry.get("background")
    message = str(error.value)
    assert message.startswith("the default implementation of step kind 'background', 'background/subtract' is "
                              "registered twice, by entry point background = swaxs_plugins.steps.catalogue:background from "
                              "swaxs-plugins ")
    assert f"file {clash}" in message and "neither is used and no other implementation takes its place" in message
    listing = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "--plugins-dir",
                                        str(tmp_path / "facility"), "plugins"])
    assert listing.exit_code == 0
    assert listing.output.count("registered twice") == 1
    [line] = [row for row in listing.output.splitlines() if "subtract" in row]
    assert line.startswith("! background    subtract         ERROR is registered twice, by entry point")


def test_a_step_without_a_version_takes_its_distributions():
    class Unversioned(Step):
        """No version typed by hand."""

    class Plugin:
        @hookimpl
        def swaxs_register_steps(self):
            return [StepImpl("fit", "acme", Unversioned, description="acme fit")]

    registry = Registry.empty()
    registry.register(Plugin(), PluginSource("acme", "entry point acme = acme_swaxs", "acme-swaxs", "2.1.0"))
    assert registry.get("fit", "acme").version == "2.1.0"
    assert registry.get("fit", "acme").label == "fit/acme (acme-swaxs 2.1.0)"


def test_a_worker_gets_the_fit_steps_blocks_not_its_curves(tmp_path):
    """Lean workers: the fit step's process pickles without the map's curves (setup_only); each block
    carries its own curves, and the blocks together hold each region curve once."""
    import pickle

    import numpy as np

    from swaxs_plugins.core.step import StepContext
    from swaxs_plugins.steps.fit.step import LmfitFit
    from swaxs_plugins.testing import Q, write_curves_file

    intensity = np.broadcast_to((1.0 + Q[None, None, None, :] ** -2), (2, 40, 50, Q.size)).copy()
    curves = write_curves_file(tmp_path / "curves.nxs", intensity)
    step = LmfitFit(LmfitFit.Parameters(model="saxs_power_law", q_range=(0.05, 0.35)))
    step.setup(StepContext("fit", "fit", "lmfit", {"curves": curves}, SerialExecutor(False), tmp_path, False))
    shipped = len(pickle.dumps(step.process))
    assert step.values.nbytes == 2 * 40 * 50 * Q.size * 8 and shipped < step.values.nbytes / 20
    blocks = step.blocks()
    assert sum(len(block.values) for block in blocks) == 2 * 40 * 50
    np.testing.assert_array_equal(blocks[0].values, step.values[0].reshape(-1, Q.size)[:len(blocks[0].values)])


def test_swaxs_run_reports_each_step_as_it_starts_and_ends(raw_scan, tmp_path):
    """The command's progress lines (a lifecycle-hook plugin of its own) on stderr and in --log-file; -q
    leaves only failures."""
    raw, _ = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", FAILING.format(raw=raw).replace(", fail_on_frame: 5", ""))
    log = tmp_path / "logs" / "run.log"
    first = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "run", str(path), "--log-file", str(log)])
    assert first.exit_code == 0, first.output
    lines = [line.split(" ", 1)[1] for line in first.stderr.splitlines()]
    assert lines[:2] == ["pipeline sums: 1 steps", "step 1/1 sums (integrate/framesum) started"]
    assert lines[2].startswith("step 1/1 sums (integrate/framesum) done in ") and lines[2].endswith(" s")
    assert [line.split(" ", 1)[1] for line in log.read_text().splitlines()] == lines[:3]
    again = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "run", str(path)])
    assert "step 1/1 sums (integrate/framesum) kept (unchanged)" in again.stderr
    quiet = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "run", str(path), "-q"])
    assert quiet.exit_code == 0 and "step 1/1" not in quiet.stderr
