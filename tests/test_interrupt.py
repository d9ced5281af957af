"""Ctrl-C: a real `swaxs run` gets SIGINT at several moments and stops at once, with exit 130, one
line, no traceback, and no output that looks complete; a rerun resumes where it stopped.

SIGINT goes to the run's whole process group, as a terminal's Ctrl-C does (Dask workers included).
The moments are marked by the test plugin in ``tests/plugins_interrupt`` (see its docstring).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from click.testing import CliRunner
from pyFAI.detectors import detector_factory
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from conftest import write_pipeline
from swaxs_plugins.cli import main
from swaxs_plugins.cli.progress import PROGRESS_LINE
from swaxs_plugins.core.interrupt import check_interrupt, interrupt_guard, interrupt_requested
from swaxs_plugins.io.nexus import read_run_state
from swaxs_plugins.io.validation import validate_file

SLOW_PLUGINS = Path(__file__).parent / "plugins_interrupt"
INTERRUPTED = "[run] interrupted; steps that completed are kept, run the same command again to resume"
PROMPT_S = 6.0  # the work still to do when SIGINT comes is 10 s or more (100 blocks of 0.2 s, <= 2 workers)


@dataclass
class Stopped:
    """How an interrupted run ended."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float  # from SIGINT to the end of the process


def two_step_pipeline(folder: Path, second: str) -> Path:
    """A quick first step, then the step a test interrupts (``second``: its params)."""
    return write_pipeline(folder / "p.yaml", textwrap.dedent(f'''
        name: slow
        output: out/slow.nxs
        steps:
          - {{id: first, kind: slow, params: {{blocks: 2}}}}
          - {{id: second, kind: slow, params: {{{second}}}}}
    '''))


def interrupt_at(marker: str, pipeline: Path, *args: str, env: dict[str, str] | None = None,
                 after: float = 0.0) -> Stopped:
    """Start `swaxs run PIPELINE`, wait for ``marker`` (and ``after`` seconds), send Ctrl-C."""
    markers = pipeline.parent / "markers"
    markers.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "swaxs_plugins.cli", "--plugins-dir", str(SLOW_PLUGINS), "run", str(pipeline), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "SWAXS_TEST_MARKERS": str(markers), **(env or {})})
    deadline = time.monotonic() + 120
    while not (markers / marker).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run ended or hung before '{marker}':\n{process.communicate()[1]}")
        time.sleep(0.01)
    time.sleep(after)
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return Stopped(process.returncode, stdout, stderr, time.monotonic() - sent)


def assert_stopped_cleanly(stopped: Stopped) -> None:
    assert stopped.returncode == 130, stopped.stderr
    lines = stopped.stderr.strip().splitlines()
    assert [line for line in lines if not PROGRESS_LINE.match(line)] == [INTERRUPTED]   # the step lines aside
    assert "wrote" not in stopped.stdout


def run_state(path: Path):
    with h5py.File(path, "r") as handle:
        return read_run_state(handle), sorted(handle)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("executor, workers", [("serial", 1), ("threads", 2), ("dask", 1)])
def test_sigint_during_a_steps_blocks_stops_promptly_keeping_only_completed_steps(tmp_path, executor, workers):
    pipeline = two_step_pipeline(tmp_path, "blocks: 100, block_seconds: 0.2")
    stopped = interrupt_at("second_block_3", pipeline, "--executor", executor, "--workers", str(workers))
    assert_stopped_cleanly(stopped)
    assert stopped.seconds < PROMPT_S
    assert files_in(tmp_path / "out" / "slow_steps") == ["first.nxs"]
    state, entries = run_state(tmp_path / "out" / "slow.nxs")
    assert (state.completed, state.total, state.complete, entries) == (1, 2, False, ["first"])


def test_sigint_while_a_step_file_is_written_then_validate_and_resume(tmp_path):
    pipeline = two_step_pipeline(tmp_path, "blocks: 2, finalize_seconds: 20")
    assert_stopped_cleanly(interrupt_at("second_finalize", pipeline, "--executor", "threads"))
    steps = tmp_path / "out" / "slow_steps"
    assert files_in(steps) == ["first.nxs"]  # the half-written step file is gone, not left as .partial
    validated = CliRunner().invoke(main, ["validate", str(tmp_path / "out" / "slow.nxs")])
    assert validated.exit_code == 1
    assert "incomplete run: 1 of 2 steps completed" in validated.output
    resumed = CliRunner().invoke(main, ["--plugins-dir", str(SLOW_PLUGINS), "run", str(pipeline)])
    assert resumed.exit_code == 0, resumed.output
    assert [line.split()[:2] for line in resumed.stdout.splitlines()[:2]] == [["first", "unchanged"],
                                                                             ["second", "ran"]]
    assert run_state(tmp_path / "out" / "slow.nxs")[0].complete
    assert all(report.ok for report in validate_file(tmp_path / "out" / "slow.nxs"))


def test_sigint_before_the_first_step_leaves_an_output_marked_empty(tmp_path):
    pipeline = two_step_pipeline(tmp_path, "blocks: 2")
    stopped = interrupt_at("pipeline", pipeline, env={"SWAXS_TEST_PIPELINE_PAUSE": "20"})
    assert_stopped_cleanly(stopped)
    assert stopped.seconds < PROMPT_S
    assert files_in(tmp_path / "out" / "slow_steps") == []
    state, entries = run_state(tmp_path / "out" / "slow.nxs")
    assert (state.completed, state.complete, entries) == (0, False, [])


def test_sigint_during_builtin_integration_in_threads(tmp_path):
    """The case measured in issue 9: Ctrl-C early in `integrate` with threads was swallowed."""
    ai = AzimuthalIntegrator(detector=detector_factory("Pilatus100k"), dist=0.5, poni1=0.02, poni2=0.02,
                             wavelength=1e-10)
    ai.save(str(tmp_path / "geometry.poni"))
    frame = np.random.default_rng(0).poisson(50, ai.detector.shape).astype(np.int32)
    with h5py.File(tmp_path / "scan.h5", "w") as handle:
        handle.create_dataset("/entry/data", data=np.repeat(frame[None], 400, axis=0), chunks=(1, *frame.shape),
                              **hdf5plugin.Bitshuffle())
    pipeline = write_pipeline(tmp_path / "p.yaml", textwrap.dedent('''
        name: integration
        inputs: {scans: {files: [scan.h5], frames: /entry/data}}
        output: out/curves.nxs
        steps: [{id: curves, kind: integrate, inputs: {scans: scans}, params: {poni: geometry.poni, npt: 500}}]
    '''))
    stopped = interrupt_at("before_curves", pipeline, "--executor", "threads", "--workers", "2", after=0.3)
    assert_stopped_cleanly(stopped)
    assert files_in(tmp_path / "out" / "curves_steps") == []
    state, entries = run_state(tmp_path / "out" / "curves.nxs")
    assert (state.completed, state.total, state.complete) == (0, 1, False)


class _InterruptedWhileFreed:
    """An object whose finaliser is where SIGINT lands: Python prints and drops that KeyboardInterrupt."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)


def test_an_interrupt_swallowed_in_a_finaliser_still_stops_and_prints_nothing(capfd):
    with interrupt_guard():
        _InterruptedWhileFreed()  # freed at once: the KeyboardInterrupt is raised in __del__ and dropped
        assert interrupt_requested()
        with pytest.raises(KeyboardInterrupt):
            check_interrupt()
    assert not interrupt_requested()
    assert capfd.readouterr().err == ""
