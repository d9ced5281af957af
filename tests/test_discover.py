"""Datasets found by NeXus conventions (swaxs_plugins.io.discover): an input naming only its files finds its
frames (NXdetector, or the NXdata @signal of the entry's @default), monitor and diode, motor positions,
energy and start time; what it found is printed by check, and the run integrates what an input naming
every dataset integrates."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import TEST_PLUGINS, write_pipeline
from swaxs_plugins.cli import main
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.io.discover import discover, resolve_source
from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.io.scan_geometry import declared_order
from swaxs_plugins.pipelines.starter import assign_roles

N_Y, N_X = 3, 4


def nexus_file(path: Path, *, energy: tuple[float, str] = (12.4, "keV"), detectors: tuple[str, ...] = (),
               fast: str = "x") -> np.ndarray:
    """An NXentry with frames as the @signal of its default NXdata (or in NXdetectors ``detectors``), an i0
    NXmonitor, a transmitted-beam counter and motors samy/samx scanning a 3 x 4 map with ``fast`` fastest."""
    rng = np.random.default_rng(0)
    frames = rng.poisson(20, (N_Y * N_X, 8, 6)).astype(np.int32)
    order = declared_order((N_Y, N_X), fast)
    y, x = np.meshgrid(0.1 * np.arange(N_Y), 0.05 * np.arange(N_X), indexing="ij")
    with h5py.File(path, "w") as handle:
        handle.attrs["default"] = "scan1"
        entry = handle.create_group("scan1")
        entry.attrs.update(NX_class="NXentry", default="plot")
        entry["start_time"] = "2026-12-02T10:00:00"
        mono = entry.create_group("instrument/mono")
        mono.attrs["NX_class"] = "NXmonochromator"
        mono["energy"] = energy[0]
        mono["energy"].attrs["units"] = energy[1]
        for name in detectors:
            detector = entry.create_group(f"instrument/{name}")
            detector.attrs["NX_class"] = "NXdetector"
            detector["data"] = frames
            detector["distance"] = 1500.0 if name.startswith("s") else 300.0
            detector["distance"].attrs["units"] = "mm"
        plot = entry.create_group("plot")
        plot.attrs.update(NX_class="NXdata", signal="frames")
        plot["frames"] = frames
        monitor = entry.create_group("instrument/i0")
        monitor.attrs["NX_class"] = "NXmonitor"
        monitor["data"] = rng.uniform(0.9, 1.1, frames.shape[0]) * 1e4
        measurement = entry.create_group("measurement")
        measurement["pin"] = rng.uniform(0.4, 0.5, frames.shape[0]) * 1e4
        for name, values in (("samy", y), ("samx", x)):
            acquired = np.empty(values.size)
            acquired[order] = values.ravel()
            measurement[name] = acquired
            measurement[name].attrs["units"] = "mm"
        measurement["elapsed_time"] = np.arange(frames.shape[0], dtype=float)
    return frames


def test_the_default_nxdata_signal_the_monitor_and_the_motors_are_found(tmp_path):
    nexus_file(tmp_path / "a.h5")
    found = discover(tmp_path / "a.h5")
    assert found.entry == "/scan1" and list(found.detectors) == ["detector"]
    assert found.detectors["detector"].frames == "/scan1/plot/frames"
    assert found.detectors["detector"].how == "@signal of /scan1/plot"
    assert (found.monitor, found.diode) == ("/scan1/instrument/i0/data", "/scan1/measurement/pin")
    assert found.positions == {"y": "/scan1/measurement/samy", "x": "/scan1/measurement/samx"}
    assert found.scan == "3 lines of 4 points, x fastest"
    assert found.energy_kev == pytest.approx(12.4) and found.timestamp == "/scan1/start_time"


def test_a_scan_with_y_fastest_and_energy_in_ev(tmp_path):
    nexus_file(tmp_path / "a.h5", energy=(8000.0, "eV"), fast="y")
    found = discover(tmp_path / "a.h5")
    assert found.positions == {"y": "/scan1/measurement/samy", "x": "/scan1/measurement/samx"}
    assert found.scan == "4 lines of 3 points, y fastest" and found.energy_kev == pytest.approx(8.0)


def test_detectors_with_their_distances_and_the_choice_between_them(tmp_path):
    nexus_file(tmp_path / "a.h5", detectors=("saxs_det", "waxs_det"))
    found = discover(tmp_path / "a.h5")
    assert [(d.name, d.frames, d.distance_m) for d in found.detectors.values()] == [
        ("saxs_det", "/scan1/instrument/saxs_det/data", 1.5), ("waxs_det", "/scan1/instrument/waxs_det/data", 0.3)]
    with pytest.raises(InputDataError, match=r"a.h5: frames of 2 detectors \(saxs_det, waxs_det\); name one with "
                                             r"the field 'detector'"):
        resolve_source(RawSource(files=[tmp_path / "a.h5"]))
    with pytest.raises(InputDataError, match=r"no detector 'eiger' \(field 'detector'\); it has saxs_det, waxs_det"):
        resolve_source(RawSource(files=[tmp_path / "a.h5"], detector="eiger"))
    source, lines = resolve_source(RawSource(files=[tmp_path / "a.h5"], detector="waxs_det"))
    assert source.frames == "/scan1/instrument/waxs_det/data" and source.monitor == "/scan1/instrument/i0/data"
    assert lines[0] == "found in a.h5::/scan1: frames /scan1/instrument/waxs_det/data (detector waxs_det, NXdetector)"


def test_an_input_naming_a_dataset_is_taken_as_written(tmp_path):
    nexus_file(tmp_path / "a.h5")
    source = RawSource(files=[tmp_path / "a.h5"], monitor="/scan1/instrument/i0/data")
    assert resolve_source(source) == (source, [])


def test_a_file_without_frames_is_left_to_the_step_that_reads_it(tmp_path):
    """No frames found (a file of projections, say): the input stays as written, and init says why it cannot."""
    with h5py.File(tmp_path / "empty.h5", "w") as handle:
        handle.create_group("entry").attrs["NX_class"] = "NXentry"
    source = RawSource(files=[tmp_path / "empty.h5"])
    assert discover(tmp_path / "empty.h5").detectors == {} and resolve_source(source) == (source, [])
    with pytest.raises(SwaxsError, match=r"empty.h5: no frames found in entry '/entry'"):
        assign_roles(discover(tmp_path / "empty.h5"))


PIPELINE = '''
name: sums
inputs:
  scans: {{files: [{raw}]{fields}}}
output: out/sums.nxs
steps:
  - {{id: sums, kind: integrate, impl: framesum, inputs: {{scans: scans}}, params: {{factor: 2.0, chunk: 4}}}}
'''


def test_check_prints_what_it_found_and_the_run_reads_it(tmp_path):
    """An input of files only: check says where the frames, monitor and positions were found, and the step
    reads the same frames as the input that names them."""
    frames = nexus_file(tmp_path / "a.h5")
    found = write_pipeline(tmp_path / "found.yaml", PIPELINE.format(raw=tmp_path / "a.h5", fields=""))
    result = CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), "check", str(found)])
    assert result.exit_code == 0, result.output
    for line in ("input 'scans': found in a.h5::/scan1: frames /scan1/plot/frames (detector detector, @signal of "
                 "/scan1/plot)", "input 'scans': found in a.h5::/scan1: monitor /scan1/instrument/i0/data",
                 "positions y /scan1/measurement/samy, x /scan1/measurement/samx (3 lines of 4 points, x fastest)"):
        assert line in result.output, line
    registry = Registry.discover([TEST_PLUGINS])
    [run] = run_pipeline(check_pipeline(found, registry), registry, SerialExecutor(progress=False), progress=False)
    with h5py.File(run.path, "r") as handle:
        sums = handle["sums/sums/total"][()]
    np.testing.assert_allclose(sums, 2.0 * frames.sum(axis=(1, 2)) + np.sin(frames.astype(float)).sum(axis=(1, 2)))
