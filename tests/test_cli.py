"""The swaxs command: version, plugins (broken ones too), describe, check, run, validate; clear errors,
no tracebacks, outputs refused before anything is computed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import h5py
import pytest
from click.testing import CliRunner

from conftest import TEST_PLUGINS, write_pipeline
from swaxs_plugins import __version__
from swaxs_plugins.cli import main
from swaxs_plugins.cli.progress import PROGRESS_LINE


def invoke(*args: str):
    return CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), *args])


@pytest.fixture
def pipeline(raw_scan, tmp_path):
    raw, _ = raw_scan
    return write_pipeline(tmp_path / "p.yaml", textwrap.dedent(f'''
        name: cli
        inputs: {{scans: {{files: [{raw}], frames: /entry/instrument/det/data}}}}
        output: out/cli.nxs
        steps: [{{id: sums, kind: integrate, impl: framesum, inputs: {{scans: scans}}}}]
    '''))


def test_version_and_help_everywhere():
    assert invoke("--version").output.strip() == f"swaxs, version {__version__}"
    for command in ("plugins", "describe", "check", "run", "validate", "view"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage: main " in result.output


def test_plugins_json_lists_builtins_and_test_plugins():
    rows = json.loads(invoke("plugins", "--json").output)
    by_name = {(r["kind"], r["name"]): r for r in rows}
    assert by_name[("integrate", "pyfai")]["distribution"] == "swaxs-plugins"
    assert by_name[("integrate", "pyfai")]["default"] is True
    assert by_name[("integrate", "framesum")]["default"] is False
    assert set(by_name[("integrate", "pyfai")]) == {"kind", "name", "version", "distribution", "source", "default",
                                                     "error", "description"}


def test_describe_exports_the_parameter_schema_with_units():
    schema = json.loads(invoke("describe", "integrate", "framesum").output)
    assert schema["parameters"]["properties"]["factor"]["default"] == 1.0
    assert schema["inputs"]["scans"]["source"] == "raw"


def test_check_then_run_then_validate(pipeline, tmp_path):
    checked = invoke("check", str(pipeline))
    assert checked.exit_code == 0 and "OK, 1 steps" in checked.output and "sums [10]" in checked.output
    ran = invoke("run", str(pipeline))
    assert ran.exit_code == 0 and "ran" in ran.output
    assert "unchanged" in invoke("run", str(pipeline)).output
    rerun = invoke("run", str(pipeline), "--from", "sums")
    assert rerun.exit_code == 0 and "ran" in rerun.output and "unchanged" not in rerun.output
    unknown = invoke("run", str(pipeline), "--from", "nosuch")
    assert unknown.exit_code == 1 and "no step 'nosuch' to rerun from; the steps are sums" in unknown.output
    validated = invoke("validate", str(tmp_path / "out" / "cli.nxs"))
    assert validated.exit_code == 0 and "[NXswaxs_step] OK: 0 errors" in validated.output


def test_errors_are_one_clear_message_and_a_nonzero_exit(pipeline, tmp_path):
    pipeline.write_text(pipeline.read_text().replace("impl: framesum", "impl: nosuch"))
    result = subprocess.run([sys.executable, "-m", "swaxs_plugins.cli", "--plugins-dir", str(TEST_PLUGINS),
                             "check", str(pipeline)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "step 'sums' (integrate), field 'impl': unknown implementation 'nosuch'" in result.stderr
    missing = invoke("validate", str(tmp_path / "none.nxs"))
    assert missing.exit_code == 1 and "none.nxs: file not found" in missing.output


BROKEN_PLUGIN = "import numpy\nraise ImportError('needs the missing package frobnicate')\n"


def broken_folder(tmp_path):
    folder = tmp_path / "broken_plugins"
    folder.mkdir()
    (folder / "broken.py").write_text(BROKEN_PLUGIN)
    return folder


def broken_distribution(tmp_path):
    """An installed distribution whose entry point raises on import (a folder for PYTHONPATH)."""
    site = tmp_path / "site"
    info = site / "brokenswaxs-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenswaxs\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[swaxs_plugins]\nbrokenep = brokenswaxs_plugin\n")
    (site / "brokenswaxs_plugin.py").write_text(BROKEN_PLUGIN.replace("frobnicate", "wibble"))
    return site


def test_plugins_lists_a_broken_folder_plugin_and_a_broken_installed_entry_point(tmp_path):
    folder = broken_folder(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(broken_distribution(tmp_path)),
                                                        os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "swaxs_plugins.cli", "--plugins-dir", str(folder), "plugins"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    broken = {line.split()[2]: line for line in result.stdout.splitlines() if line.startswith("!")}
    assert set(broken) == {"broken", "brokenep"}
    assert "ERROR ImportError: needs the missing package frobnicate" in broken["broken"]
    assert f"[file {folder / 'broken.py'}]" in broken["broken"]
    assert "ERROR ImportError: needs the missing package wibble" in broken["brokenep"]
    assert "[entry point brokenep = brokenswaxs_plugin from brokenswaxs 1.0]" in broken["brokenep"]
    assert any(line.startswith("* integrate") for line in result.stdout.splitlines())


def test_check_and_run_say_which_plugin_failed_and_go_on_without_it(pipeline, tmp_path):
    folder = broken_folder(tmp_path)
    expected = (f"warning: plugin 'broken' (file {folder / 'broken.py'}) failed to load: ImportError: needs the "
                "missing package frobnicate")
    for command in ("check", "run"):
        result = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "--plugins-dir", str(folder),
                                           command, str(pipeline)])
        assert result.exit_code == 0, result.output
        [line] = [line for line in result.stderr.splitlines() if not PROGRESS_LINE.match(line)]
        assert line.startswith(expected) and line.endswith("; see 'swaxs plugins'")


def test_an_unwritable_output_is_one_line_naming_it_before_anything_runs(pipeline, tmp_path):
    (tmp_path / "out").write_text("a file where the output folder should be")
    result = invoke("run", str(pipeline))
    assert result.exit_code == 1
    assert (f"field 'output': {tmp_path / 'out' / 'cli.nxs'}: cannot write the pipeline output, {tmp_path / 'out'} "
            "is a file, not a folder; choose another path") in result.stderr
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an exception caught by the runner
    assert not (tmp_path / "out_steps").exists()


def test_validate_says_a_run_is_incomplete(pipeline, tmp_path):
    assert invoke("run", str(pipeline)).exit_code == 0
    output = tmp_path / "out" / "cli.nxs"
    with h5py.File(output, "a") as handle:
        handle.attrs["swaxs_run_complete"] = False
        handle.attrs["swaxs_steps_completed"] = 0
    result = invoke("validate", str(output))
    assert result.exit_code == 1
    assert f"{output}::/ [pipeline run] FAILED" in result.output
    assert "incomplete run: 0 of 1 steps completed" in result.output


@pytest.mark.parametrize("command", [["simulate", "calibrants"], ["simulate", "operando"], ["simulate", "tomography"],
                                     ["demo"]])
def test_simulation_and_demo_folders_are_refused_before_anything_is_simulated(tmp_path, command):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    result = invoke(*command, str(blocker / "sub"))
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: [{command[0]}] {blocker / 'sub'}: cannot write the "
                                     f"{'demo' if command == ['demo'] else 'simulation'} folder (OUTDIR), {blocker} "
                                     "is a file, not a folder; choose another path")


def test_view_without_the_gui_extra_says_which_extra_to_install(tmp_path, monkeypatch):
    import importlib.util

    target = tmp_path / "some.nxs"
    target.write_bytes(b"")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    result = CliRunner().invoke(main, ["view", str(target)])
    assert result.exit_code == 1
    assert 'pip install "swaxs-plugins[gui]"' in result.output and "a Qt binding" in result.output
