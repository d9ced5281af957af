"""integrate/pyfai: agreement with pyFAI and the owners' reference, executors, NeXus layout, bad input."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from click.testing import CliRunner
from pyFAI.detectors import detector_factory
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile

from conftest import write_pipeline
from swaxs_plugins.cli import main
from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.core.executors import DaskExecutor, SerialExecutor, ThreadExecutor
from swaxs_plugins.core.pipeline import check_pipeline, run_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.steps.integrate import (IntegrateParameters, PyFAIIntegrate, integrate_frames, load_geometry,
                                          make_integrator)

DETECTOR = "Pilatus300k"  # 619 x 487 pixels, with module gaps in its mask
GEOMETRY = {"dist": 0.5, "poni1": 0.05, "poni2": 0.04, "rot1": 0.01, "rot2": -0.02, "wavelength": 1.0e-10}
N_SCANS, SCAN_SHAPE = 2, (2, 3)
NPT, SEGMENTS, POLARIZATION = 300, 8, 0.95
RTOL = 1e-5


def make_ai() -> AzimuthalIntegrator:
    return AzimuthalIntegrator(detector=detector_factory(DETECTOR), **GEOMETRY)


def write_scans(folder: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Scans like a beamline's: anisotropic rings, -1 in module gaps, a -2 bad pixel in one frame."""
    ai = make_ai()
    shape = ai.detector.shape
    q, chi = ai.qArray(shape), ai.chiArray(shape)
    rng = np.random.default_rng(1)
    paths, stacks, monitors = [], [], []
    for scan in range(N_SCANS):
        n = int(np.prod(SCAN_SHAPE))
        scale = rng.uniform(0.5, 2.0, n)
        pattern = 20 + 200 * np.exp(-((q - 10.0) / 0.3) ** 2) * (1 + 0.8 * np.cos(chi) ** 2)
        frames = rng.poisson(scale[:, None, None] * pattern).astype(np.int32)
        frames[:, ai.detector.mask.astype(bool)] = -1
        frames[scan, 100, 100] = -2
        monitor = rng.uniform(0.8, 1.2, n) * 1e4
        path = folder / f"scan_{scan}.h5"
        with h5py.File(path, "w") as handle:
            handle.create_dataset("/entry/data/frames", data=frames, chunks=(1, *shape), **hdf5plugin.Bitshuffle())
            handle["/entry/monitor"] = monitor
            handle["/entry/diode"] = monitor * 0.4
            handle["/entry/scan_shape"] = np.array(SCAN_SHAPE)
            handle["/entry/start_time"] = 1.7e9 + 600.0 * scan
        paths.append(path)
        stacks.append(frames)
        monitors.append(monitor)
    return paths, np.concatenate(stacks), np.concatenate(monitors)


def write_poni(path: Path, ai: AzimuthalIntegrator | None = None) -> Path:
    with open(path, "w") as handle:
        PoniFile(data=ai or make_ai()).write(handle)
    return path


def pipeline_text(name: str, paths: list[Path], poni: Path, *, frames: str = "/entry/data/frames",
                  extra: str = "") -> str:
    return textwrap.dedent(f'''
        name: {name}
        inputs:
          scans: {{files: [{", ".join(str(p) for p in paths)}], frames: "{frames}", monitor: /entry/monitor,
                   diode: /entry/diode, scan_shape: /entry/scan_shape, timestamp: /entry/start_time}}
        output: {name}/out.nxs
        steps:
          - {{id: integrate, kind: integrate, inputs: {{scans: scans}},
              params: {{poni: {poni}, npt: {NPT}, segments: {SEGMENTS}, polarization: {POLARIZATION},
                        block_frames: 4 {extra}}}}}
    ''')


def run(folder: Path, name: str, executor, text: str) -> Path:
    registry = Registry.discover()
    pipeline = write_pipeline(folder / f"{name}.yaml", text)
    [result] = run_pipeline(check_pipeline(pipeline, registry), registry, executor, progress=False)
    return result.path


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("integrate")
    paths, frames, monitor = write_scans(folder)
    poni = write_poni(folder / "geometry.poni")
    serial = run(folder, "serial", SerialExecutor(progress=False), pipeline_text("serial", paths, poni))
    return {"folder": folder, "paths": paths, "frames": frames, "monitor": monitor, "poni": poni, "serial": serial}


def read(path: Path, name: str) -> np.ndarray:
    with h5py.File(path, "r") as handle:
        return handle[name][()]


def pyfai_reference(frame: np.ndarray, monitor: float, segments: int):
    """pyFAI's own result for one frame: the detector mask, -1/-2 pixels as pyFAI's dummies (-2 ± 1.5)."""
    ai = make_ai()
    kwargs = {"unit": "q_A^-1", "method": ("bbox", "csr", "cython"), "mask": ai.detector.mask,
              "polarization_factor": POLARIZATION, "error_model": "poisson", "normalization_factor": monitor,
              "dummy": -2.0, "delta_dummy": 1.5}
    if segments:
        return ai.integrate2d_ng(frame, NPT, segments, azimuth_range=(-180, 180), **kwargs)
    return ai.integrate1d_ng(frame, NPT, **kwargs)


@pytest.mark.parametrize("segments", [0, SEGMENTS])
def test_intensities_and_errors_equal_pyfai(scans, segments):
    group = "integrate/segments/integrated" if segments else "integrate/integrated"
    ours, errors = read(scans["serial"], f"{group}/I"), read(scans["serial"], f"{group}/I_errors")
    radial = read(scans["serial"], f"{group}/radial_axis")
    assert ours.shape == (N_SCANS * 6, *((SEGMENTS,) if segments else ()), NPT)
    checked = 0
    for index in (0, 1, 7):  # frame 1 holds a bad pixel (-2) outside the static mask
        reference = pyfai_reference(scans["frames"][index], scans["monitor"][index], segments)
        np.testing.assert_allclose(radial, reference.radial, rtol=1e-12)
        if segments:
            np.testing.assert_allclose(read(scans["serial"], f"{group}/azimuthal_axis"), reference.azimuthal)
        signal = np.asarray(reference.count) > 0
        assert signal.mean() > 0.5
        np.testing.assert_allclose(ours[index][signal], reference.intensity[signal], rtol=RTOL)
        np.testing.assert_allclose(errors[index][signal], reference.sigma[signal], rtol=RTOL)
        assert np.isnan(ours[index][~signal]).all()
        checked += signal.sum()
    assert checked > 500


def test_integrate_frames_matches_pyfai_engine_and_chi_convention(scans):
    """The library function on a synthetic pattern lit only at χ ≈ +90°: that segment alone holds it."""
    ai = make_integrator(make_ai().get_config())  # the geometry exactly as the step's workers rebuild it
    chi = np.degrees(ai.center_array(unit="chi_rad", scale=False))
    frame = np.where(np.abs(chi - 90) < 10, 100.0, 0.0)
    binning, result = integrate_frames(frame, ai, 100, segments=SEGMENTS)
    lit = np.nanmean(result.intensity[0], axis=1)
    assert binning.azimuthal[np.nanargmax(lit)] == pytest.approx(112.5)  # the segment 90..135° holds χ 90..100°
    step = PyFAIIntegrate(IntegrateParameters(npt=100, segments=SEGMENTS, engine="pyfai"))
    step.geometry, step.mask = ai.get_config(), ai.detector.mask.astype(bool)
    reference = step._integrate_pyfai(frame[np.newaxis], None, SEGMENTS)
    ok = np.isfinite(reference.intensity) & (reference.intensity > 0)
    np.testing.assert_allclose(result.intensity[ok], reference.intensity[ok], rtol=RTOL)


def test_serial_threads_and_dask_give_identical_files(scans):
    threaded = run(scans["folder"], "threads", ThreadExecutor(workers=2, progress=False),
                   pipeline_text("threads", scans["paths"], scans["poni"]))
    with DaskExecutor(workers=2, progress=False) as dask:
        distributed = run(scans["folder"], "dask", dask, pipeline_text("dask", scans["paths"], scans["poni"]))
    for name in ("integrate/integrated/I", "integrate/integrated/I_errors", "integrate/segments/integrated/I",
                 "integrate/segments/integrated/I_errors", "integrate/maps/images/I"):
        for other in (threaded, distributed):
            assert np.array_equal(read(scans["serial"], name), read(other, name), equal_nan=True), name


def test_output_validates_and_silx_finds_the_map_view(scans):
    import silx.io.nxdata
    from nexusformat.nexus.validate import logger, validate_application

    [report] = validate_file(scans["serial"])
    assert (report.definition, report.errors) == ("NXazint1d", 0), report.messages
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        _, errors = validate_application(str(scans["serial"]),
                                         path="/integrate/segments", application="NXazint2d")
    finally:
        logger.removeHandler(handler)
    assert errors == 0, [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    with h5py.File(scans["serial"], "r") as handle:
        default = silx.io.nxdata.get_default(handle)
        assert default is not None and default.group.name.endswith("/maps/curves")
        entry = handle["integrate"]
        assert entry["definition"][()] == b"NXazint1d"
        assert bool(entry["monitor_applied"][()]) and bool(entry["polarization_applied"][()])
        assert entry["instrument/monochromator/energy"][()] == pytest.approx(12.398, abs=1e-3)
        curves, images = entry["maps/curves"], entry["maps/images"]
        assert list(curves.attrs["axes"]) == ["scan", "y", "x", "q"]
        assert curves["I"].shape == (N_SCANS, *SCAN_SHAPE, NPT) and curves["I"].attrs["interpretation"] == "spectrum"
        assert list(images.attrs["axes"]) == ["scan", "q", "y", "x"]
        assert images["I"].shape == (N_SCANS, NPT, *SCAN_SHAPE) and images["I"].attrs["interpretation"] == "image"
        assert list(entry["maps/segments"].attrs["axes"]) == ["scan", "y", "x", "chi", "q"]
        flat = entry["integrated/I"][()]
        np.testing.assert_array_equal(curves["I"][1, 0, 2], flat[6 + 2])
        np.testing.assert_array_equal(images["I"][1, :, 1, 0], flat[6 + 3])
        for group in (curves, images, entry["maps/segments"]):
            for axis in group.attrs["axes"]:
                assert {"units", "long_name"} <= set(group[axis].attrs), axis
        np.testing.assert_allclose(entry["monitor/data"][()], scans["monitor"])
        np.testing.assert_allclose(entry["diode/data"][()], scans["monitor"] * 0.4)
        np.testing.assert_allclose(entry["scans/timestamp"][()], [1.7e9, 1.7e9 + 600])


def test_geometry_from_a_calibrate_step(tmp_path):
    ai = make_ai()
    path = tmp_path / "calibrate.nxs"
    with h5py.File(path, "w") as handle:
        handle["calib/poni"] = write_poni(tmp_path / "c.poni", ai).read_text()
    config = load_geometry(geometry=StepOutputRef("calib", "calibrate", path, "calib"))
    assert config["dist"] == pytest.approx(GEOMETRY["dist"]) and config["detector"] == "Pilatus300k"
    with pytest.raises(SwaxsError, match="'poni'.*'geometry'.*both"):
        load_geometry(tmp_path / "c.poni", StepOutputRef("calib", "calibrate", path, "calib"))
    with pytest.raises(SwaxsError, match="'poni'.*'geometry'.*neither"):
        load_geometry()


@pytest.mark.parametrize("case, pattern", [
    ("dataset", r"scan_0.h5: no dataset at '/entry/data/missing'"),
    ("size", r"scan_0.h5: frames of \(619, 487\) pixels .* detector \(Pilatus 100k\) has \(195, 487\)"),
    ("range", r"parameter 'radial_range' \[50.0, 60.0\] q_A\^-1 is outside the detector"),
])
def test_bad_input_names_the_culprit(scans, case, pattern):
    poni, frames, extra = scans["poni"], "/entry/data/missing" if case == "dataset" else "/entry/data/frames", ""
    if case == "size":
        poni = write_poni(scans["folder"] / "small.poni",
                          AzimuthalIntegrator(detector=detector_factory("Pilatus100k"), **GEOMETRY))
    if case == "range":
        extra = ", radial_range: [50.0, 60.0]"
    text = pipeline_text(f"bad_{case}", scans["paths"], poni, frames=frames, extra=extra)
    with pytest.raises(SwaxsError, match=pattern):
        run(scans["folder"], f"bad_{case}", SerialExecutor(progress=False), text)


def test_estimate_for_swaxs_check():
    step = PyFAIIntegrate(IntegrateParameters(npt=500, segments=16))
    estimate = step.estimate({"scans": {"frames": (240, 1679, 1475), "files": (4,)}})
    assert estimate.outputs["integrated/I"] == (240, 500)
    assert estimate.outputs["segments/integrated/I"] == (240, 16, 500)
    assert estimate.outputs["maps/curves/I"] == (4, 60, 500)
    assert 1e8 < estimate.memory_bytes < 4e9


def test_cli_integrate_writes_the_same_nexus(scans, tmp_path):
    out = tmp_path / "cli.nxs"
    result = CliRunner().invoke(main, ["integrate", f"{scans['paths'][0]}::/entry/data/frames", "--poni",
                                       str(scans["poni"]), "--npt", str(NPT), "--polarization", "0.95", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert validate_file(out)[0].errors == 0
    ours = read(out, "integrate/integrated/I")
    reference = pyfai_reference(scans["frames"][0].astype(np.float32), 1.0, 0)
    signal = np.asarray(reference.count) > 0
    np.testing.assert_allclose(ours[0][signal], reference.intensity[signal], rtol=RTOL)


def test_real_pixium_frame_matches_the_owners_pyfai_result(real_data):
    folder = real_data / "dls_i12_pixium"
    import fabio

    frame = fabio.open(str(folder / "pixium_03150.tif")).data
    binning, result = integrate_frames(frame, folder / "ceo2_1200mm.poni", 5000, unit="2th_deg", polarization=0.99,
                                       method=("full", "csr", "cython"))
    reference = np.loadtxt(folder / "integrated_pyfai_2th.dat")
    assert np.abs(binning.radial - reference[:, 0]).max() < 1e-3
    ours = np.nan_to_num(result.intensity[0])
    assert np.corrcoef(ours, reference[:, 1])[0, 1] >= 0.9999
