"""integrate/pyfai: agreement with pyFAI, invalid pixels, detector orientation, executors, NeXus layout,
bad input. (``swaxs integrate`` and the owners' real-frame reference: tests/test_integrate_cli.py.)"""

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
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.executors import DaskExecutor, SerialExecutor, ThreadExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.core.step import StepContext, StepOutputRef
from swaxs_plugins.io.nexus import read_quality
from swaxs_plugins.io.scan_geometry import declared_order
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.steps.integrate import (IntegrateParameters, PyFAIIntegrate, integrate_frames, load_geometry,
                                          make_integrator, report_invalid_pixels)
from swaxs_plugins.steps.integrate.engine import SparseIntegrator, Validity, integrate_with_pyfai, resolve_method

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
            handle["/entry/rotation"] = 7.5 * scan
            y, x = np.meshgrid(2.0 + 0.05 * np.arange(SCAN_SHAPE[0]), -1.0 + 0.02 * np.arange(SCAN_SHAPE[1]),
                               indexing="ij")                          # x fastest, as the frames fill the map
            for name, values in (("y", y), ("x", x)):
                handle[f"/entry/measurement/{name}"] = values.ravel() + rng.normal(0, 1e-4, values.size)
                handle[f"/entry/measurement/{name}"].attrs["units"] = "mm"
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
                   diode: /entry/diode, scan_shape: /entry/scan_shape, timestamp: /entry/start_time,
                   rotation_angle: /entry/rotation}}
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


def test_each_scans_angle_reaches_the_projections_layout(scans):
    """A tomography's scans carry their rotation angle (one number per file) into the step's entry,
    where the projections reader finds it; a missing tilt angle is 0."""
    from swaxs_plugins.core.step import StepOutputRef
    from swaxs_plugins.data.projections import read_projections

    [projections] = read_projections(StepOutputRef("integrate", "integrate", scans["serial"], "integrate"))
    np.testing.assert_array_equal(projections.rotation, 7.5 * np.arange(N_SCANS))
    np.testing.assert_array_equal(projections.tilt, np.zeros(N_SCANS))
    assert projections.raster_shape == SCAN_SHAPE and not projections.transmission_corrected
    with h5py.File(scans["serial"], "r") as handle:
        curves = handle["integrate/maps/curves/I"][()]
        assert handle["integrate/scans/rotation_angle"].attrs["units"] == "deg"
    np.testing.assert_array_equal(projections.intensity, curves)


def test_integrate_frames_matches_pyfai_engine_and_chi_convention(scans):
    """The library function on a synthetic pattern lit only at χ ≈ +90°: that segment alone holds it."""
    ai = make_integrator(make_ai().get_config())  # the geometry exactly as the step's workers rebuild it
    chi = np.degrees(ai.center_array(unit="chi_rad", scale=False))
    frame = np.where(np.abs(chi - 90) < 10, 100.0, 0.0)
    binning, result = integrate_frames(frame, ai, 100, segments=SEGMENTS)
    lit = np.nanmean(result.intensity[0], axis=1)
    assert binning.azimuthal[np.nanargmax(lit)] == pytest.approx(112.5)  # the segment 90..135° holds χ 90..100°
    mask = ai.detector.mask.astype(bool)
    reference = integrate_with_pyfai(ai, frame[np.newaxis], 100, method=resolve_method(("bbox", "csr", "cython"), 2),
                                     unit="q_A^-1", counted=~mask, segments=SEGMENTS, mask=mask)
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
        assert default is not None and default.group.name.endswith("/maps/mean_curves")  # every point's mean
        curves, sigma = handle["integrate/maps/curves/I"][()], handle["integrate/maps/curves/I_errors"][()]
        points = np.prod(curves.shape[1:-1])
        np.testing.assert_allclose(default.signal[()], np.nanmean(curves.reshape(len(curves), points, -1), axis=1),
                                   rtol=1e-6)
        np.testing.assert_allclose(handle["integrate/maps/mean_curves/I_errors"][()],
                                   np.sqrt(np.nansum(sigma.reshape(len(curves), points, -1) ** 2, axis=1)) / points,
                                   rtol=1e-6)
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


def test_motor_positions_give_the_scan_shape_and_the_map_axes(scans):
    """Positions y, x (x fastest, 0.1 µm jitter) instead of a declared scan_shape: the same curves as with
    scan_shape, and the map's y and x axes are the motors' line and column means in mm."""
    text = pipeline_text("positions", scans["paths"], scans["poni"]).replace(
        "scan_shape: /entry/scan_shape", "positions: {y: /entry/measurement/y, x: /entry/measurement/x}")
    out = run(scans["folder"], "positions", SerialExecutor(progress=False), text)
    with h5py.File(out, "r") as handle, h5py.File(scans["serial"], "r") as declared:
        curves = handle["integrate/maps/curves"]
        np.testing.assert_array_equal(curves["I"][()], declared["integrate/maps/curves/I"][()])
        np.testing.assert_allclose(curves["y"][()], 2.0 + 0.05 * np.arange(SCAN_SHAPE[0]), atol=5e-4)
        np.testing.assert_allclose(curves["x"][()], -1.0 + 0.02 * np.arange(SCAN_SHAPE[1]), atol=5e-4)
        assert curves["y"].attrs["units"] == "mm" and curves["x"].attrs["units"] == "mm"


def acquired_in_order(paths: list[Path], folder: Path, fast_axis: str, snake: bool) -> list[Path]:
    """The scans again, as a scan along ``fast_axis`` (serpentine where ``snake``) would record them: every
    per-frame dataset (frames, monitor, diode, positions) permuted into that acquisition order."""
    order = declared_order(SCAN_SHAPE, fast_axis, snake)
    copies = []
    for path in paths:
        copy = folder / f"{path.stem}_{fast_axis}fast{'_snake' if snake else ''}.h5"
        with h5py.File(path, "r") as source, h5py.File(copy, "w") as target:
            for name in ("data/frames", "monitor", "diode", "measurement/y", "measurement/x"):
                values = source[f"/entry/{name}"][()]
                acquired = np.empty_like(values)
                acquired[order] = values
                target[f"/entry/{name}"] = acquired
                target[f"/entry/{name}"].attrs.update(source[f"/entry/{name}"].attrs)
            for name in ("scan_shape", "start_time", "rotation"):
                target[f"/entry/{name}"] = source[f"/entry/{name}"][()]
        copies.append(copy)
    return copies


@pytest.mark.parametrize(("fast_axis", "snake"), [("x", True), ("y", False), ("y", True)])
def test_snake_and_y_fast_scans_fill_the_map_by_their_positions(scans, fast_axis, snake):
    """The same frames acquired serpentine or with y fastest: the positions say how, and every map (curves,
    segments, invalid pixels) equals the one from the frames in C order; the monitor stays in frame order,
    and the scan records the frame of each map point."""
    paths = acquired_in_order(scans["paths"], scans["folder"], fast_axis, snake)
    name = f"order_{fast_axis}{int(snake)}"
    text = pipeline_text(name, paths, scans["poni"]).replace(
        "scan_shape: /entry/scan_shape", "positions: {y: /entry/measurement/y, x: /entry/measurement/x}")
    out = run(scans["folder"], name, SerialExecutor(progress=False), text)
    order = declared_order(SCAN_SHAPE, fast_axis, snake)
    with h5py.File(out, "r") as handle, h5py.File(scans["serial"], "r") as c_order:
        for group in ("curves/I", "curves/I_errors", "segments/I", "invalid_pixels/invalid_pixels"):
            np.testing.assert_array_equal(handle[f"integrate/maps/{group}"][()], c_order[f"integrate/maps/{group}"][()])
        np.testing.assert_array_equal(handle["integrate/scans/frame_order"][()], order)
        acquired = np.empty_like(scans["monitor"].reshape(N_SCANS, -1))
        acquired[:, order] = scans["monitor"].reshape(N_SCANS, -1)
        np.testing.assert_array_equal(handle["integrate/monitor/data"][()], acquired.ravel())
        assert handle["integrate/scans/scan_shape"].attrs["scan"].endswith(
            f"{fast_axis} fastest{', serpentine' if snake else ''}")


def test_a_declared_order_disagreeing_with_the_positions_is_an_error(scans):
    paths = acquired_in_order(scans["paths"], scans["folder"], "x", True)
    text = pipeline_text("declared_order", paths, scans["poni"]).replace(
        "scan_shape: /entry/scan_shape", "positions: {y: /entry/measurement/y, x: /entry/measurement/x}, snake: false")
    with pytest.raises(SwaxsError, match=r"field 'snake': .*snake False \(field 'snake'\) disagrees with the positions, 2 lines of "
                                             r"3 points, x fastest, serpentine"):
        run(scans["folder"], "declared_order", SerialExecutor(progress=False), text)


def test_a_monitor_given_as_one_number_divides_every_frame(scans):
    """``monitor: 2.5e4``: every frame divided by that number, so I × 2.5e4 equals the per-frame-monitor
    result × that frame's monitor (and the NXmonitor holds the number per frame)."""
    text = pipeline_text("monitor_value", scans["paths"], scans["poni"]).replace("monitor: /entry/monitor",
                                                                                  "monitor: 2.5e4")
    out = run(scans["folder"], "monitor_value", SerialExecutor(progress=False), text)
    with h5py.File(out, "r") as handle, h5py.File(scans["serial"], "r") as per_frame:
        by_value = handle["integrate/integrated/I"][()].astype(np.float64) * 2.5e4
        by_frame = per_frame["integrate/integrated/I"][()].astype(np.float64) * scans["monitor"][:, None]
        np.testing.assert_array_equal(handle["integrate/monitor/data"][()], np.full(len(scans["monitor"]), 2.5e4))
    np.testing.assert_allclose(by_value, by_frame, rtol=1e-5, equal_nan=True)


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
    ("size", r"input 'scans': frames of \(619, 487\) pixels, but the geometry's detector \(Pilatus 100k, "
             r"parameter 'poni' .*small.poni\) has \(195, 487\)"),
    ("range", r"parameter 'radial_range' \[50.0, 60.0\] q_A\^-1 is outside the detector"),
    ("poni", r"step 'integrate' .*nodistance.poni \(parameter 'poni'\): incomplete PONI, no Distance$"),
    ("method", r"parameter 'method' \('bbox', 'nosuch', 'cython'\): Unsupported algo `nosuch`"),
])
def test_bad_input_names_the_culprit(scans, case, pattern):
    poni, frames, extra = scans["poni"], "/entry/data/missing" if case == "dataset" else "/entry/data/frames", ""
    if case == "size":
        poni = write_poni(scans["folder"] / "small.poni",
                          AzimuthalIntegrator(detector=detector_factory("Pilatus100k"), **GEOMETRY))
    if case == "range":
        extra = ", radial_range: [50.0, 60.0]"
    if case == "poni":
        poni = scans["folder"] / "nodistance.poni"
        poni.write_text("".join(line for line in scans["poni"].read_text().splitlines(True)
                                if not line.startswith("Distance")))
    if case == "method":
        extra = ", method: [bbox, nosuch, cython]"
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
    mapped = step.estimate({"scans": {"frames": (240, 1679, 1475), "files": (4,), "scan": (6, 10)}})
    assert mapped.outputs["maps/curves/I"] == (4, 6, 10, 500)


def test_check_prints_the_map_shape(scans, tmp_path):
    """``swaxs check`` shows the curves as the maps they will be: [scans, y, x, q] from the declared shape."""
    from click.testing import CliRunner

    from swaxs_plugins.cli import main

    pipeline = write_pipeline(tmp_path / "check.yaml", pipeline_text("check", scans["paths"], scans["poni"]))
    result = CliRunner().invoke(main, ["check", str(pipeline)])
    assert result.exit_code == 0 and f"maps/curves/I [{N_SCANS}, {SCAN_SHAPE[0]}, {SCAN_SHAPE[1]}, {NPT}]" in \
        result.output, result.output


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


# --- invalid pixels: NaN, ±inf, negative, dummy, an integer type's maximum -------------------------------------

EIGER_RANGE, EIGER_NPT, OVERFLOW, DUMMY = (0.25, 2.3), 500, np.iinfo(np.uint32).max, 7777.0
FLOAT_BAD = (np.nan, np.inf, -np.inf, -1.0, DUMMY)  # cycled over a float frame's invalid pixels


@pytest.fixture(scope="module")
def eiger() -> dict:
    """Eiger2 1M frames as the detector writes them: uint32 with 4294967295 in its module gaps and, beyond
    pyFAI's gap mask, in a ring band (bins left without a valid pixel) and in scattered pixels; and the same
    frames as float32 with NaN, ±inf, -1 and a dummy value in those pixels (gaps NaN)."""
    ai = AzimuthalIntegrator(detector=detector_factory("Eiger2_1M"), dist=0.15, poni1=0.03, poni2=0.045,
                             wavelength=1e-10)
    shape, gaps = ai.detector.shape, ai.detector.mask.astype(bool)
    q = ai.qArray(shape) / 10  # 1/Å
    rng = np.random.default_rng(3)
    counts = rng.poisson(30 + 400 * np.exp(-((q - 1.5) / 0.05) ** 2), (2, *shape)).astype(np.uint32)
    inside = ~gaps & (q > 0.3) & (q < 2.2)  # well within EIGER_RANGE: every such pixel is integrated
    bad = np.stack([inside & (((q > 1.0) & (q < 1.05)) | (rng.random(shape) < 1e-3)),
                    inside & (rng.random(shape) < 2e-3)])
    unsigned, floats = counts.copy(), counts.astype(np.float32)
    for index in range(2):
        unsigned[index][gaps | bad[index]] = OVERFLOW
        floats[index][gaps] = np.nan
        floats[index][bad[index]] = np.resize(FLOAT_BAD, int(bad[index].sum()))
    engine = SparseIntegrator(ai, shape, EIGER_NPT, unit="q_A^-1", radial_range=EIGER_RANGE, mask=gaps,
                              polarization_factor=POLARIZATION)
    return {"ai": ai, "gaps": gaps, "counts": counts, "bad": bad, "engine": engine,
            "frames": {"uint32": unsigned, "float32": floats}}


def masked_by_hand(eiger: dict, index: int):
    """pyFAI's own result with the gaps and the frame's invalid pixels in its mask (their values zeroed)."""
    mask = eiger["gaps"] | eiger["bad"][index]
    frame = np.where(mask, 0, eiger["counts"][index]).astype(np.float32)
    return eiger["ai"].integrate1d_ng(frame, EIGER_NPT, unit="q_A^-1", radial_range=EIGER_RANGE, mask=mask,
                                      method=("bbox", "csr", "cython"), error_model="poisson",
                                      polarization_factor=POLARIZATION)


@pytest.mark.parametrize("dtype", ["uint32", "float32"])
def test_invalid_pixels_are_masked_as_pyfai_with_them_masked_by_hand(eiger, dtype):
    frames = eiger["frames"][dtype]
    result = eiger["engine"].integrate(frames, validity=Validity(dummy=DUMMY))
    bad = eiger["bad"]
    np.testing.assert_array_equal(result.invalid_pixels, bad.sum(axis=(1, 2)))
    expected_inf = [np.isinf(np.resize(FLOAT_BAD, int(b.sum()))).sum() for b in bad] if dtype == "float32" else [0, 0]
    np.testing.assert_array_equal(result.infinite_pixels, expected_inf)
    for index in range(2):
        reference = masked_by_hand(eiger, index)
        np.testing.assert_allclose(eiger["engine"].binning.radial, reference.radial, rtol=1e-12)
        signal = np.asarray(reference.count) > 0
        np.testing.assert_array_equal(np.isnan(result.intensity[index]), ~signal)  # a bin with no valid pixel
        np.testing.assert_allclose(result.intensity[index][signal], reference.intensity[signal], rtol=1e-6)
        np.testing.assert_allclose(result.sigma[index][signal], reference.sigma[signal], rtol=1e-6)
    empty = [int(np.isnan(result.intensity[index]).sum()) for index in range(2)]
    assert empty[0] >= 3 and empty[1] == 0  # frame 0's band leaves bins without a valid pixel (10 here)


def test_a_frame_with_many_invalid_pixels_is_flagged(eiger, tmp_path):
    """Frame 0 loses its band and scattered pixels (> 1 % of those integrated), frame 1 only 0.2 %."""
    result = eiger["engine"].integrate(eiger["frames"]["uint32"])
    pixels = eiger["engine"].pixels
    share = result.invalid_pixels / pixels
    assert share[0] > 0.01 > share[1] > 0
    context = StepContext(step_id="integrate", kind="integrate", impl="pyfai", inputs={},
                          executor=SerialExecutor(progress=False), workdir=tmp_path)
    report_invalid_pixels(context, result.invalid_pixels, result.infinite_pixels, pixels)
    [warning] = context.warnings
    assert warning.startswith(f"1 frame(s) have more than 1 % of their {pixels} integrated pixels invalid")
    assert f"(most: {result.invalid_pixels[0]} in image 0)" in warning
    assert context.summary["invalid_pixels"].endswith("±inf: 0")


def test_unmasked_overflow_would_ruin_the_curve(eiger):
    """What the default prevents: with mask_overflow off, 4294967295 enters every bin it touches."""
    frames = eiger["frames"]["uint32"][:1]
    kept = eiger["engine"].integrate(frames, validity=Validity(mask_overflow=False)).intensity[0]
    reference = masked_by_hand(eiger, 0)
    signal = np.asarray(reference.count) > 0
    assert np.nanmax(kept[signal] / reference.intensity[signal]) > 1e3


@pytest.mark.parametrize("dtype", ["uint32", "float32"])
def test_sparse_and_pyfai_engines_agree_on_invalid_pixels(eiger, dtype):
    frames, engine, validity = eiger["frames"][dtype], eiger["engine"], Validity(dummy=DUMMY)
    ours = engine.integrate(frames, validity=validity)
    theirs = integrate_with_pyfai(eiger["ai"], frames, EIGER_NPT, method=resolve_method(("bbox", "csr", "cython"), 1),
                                  unit="q_A^-1", counted=engine.integrated, mask=eiger["gaps"],
                                  radial_range=EIGER_RANGE, polarization_factor=POLARIZATION, validity=validity)
    np.testing.assert_array_equal(ours.invalid_pixels, theirs.invalid_pixels)
    np.testing.assert_array_equal(ours.infinite_pixels, theirs.infinite_pixels)
    np.testing.assert_array_equal(np.isnan(ours.intensity), np.isnan(theirs.intensity))
    np.testing.assert_allclose(ours.intensity, theirs.intensity, rtol=1e-6)
    np.testing.assert_allclose(ours.sigma, theirs.sigma, rtol=1e-6)


def test_validity_rules_per_frame_type():
    """The overflow value is the type's maximum (int32 too); negative values and NaN/±inf as documented."""
    default = Validity()
    assert default.bounds(np.uint32) == (0.0, 4294967295.0)
    assert default.bounds(np.uint16) == (0.0, 65535.0)
    assert default.bounds(np.int32) == (0.0, 2147483647.0)
    assert default.bounds(np.float32) == (0.0, np.inf)
    values = np.array([0, 5, 2147483646, 2147483647, -1], np.int32)
    np.testing.assert_array_equal(default.invalid(values), [False, False, False, True, True])
    np.testing.assert_array_equal(Validity(mask_negative=False, mask_overflow=False).invalid(values), [False] * 5)
    floats = np.array([1.0, np.nan, np.inf, -np.inf, -2.0, 0.1, 3e38], np.float32)
    np.testing.assert_array_equal(Validity(mask_negative=False, dummy=0.1).invalid(floats),
                                  [False, True, True, True, False, True, False])
    np.testing.assert_array_equal(Validity(dummy=-2.0, delta_dummy=1.5).invalid(np.array([-3.5, -0.5, 0.0, 1.0])),
                                  [True, True, False, False])


def test_invalid_pixels_are_counted_in_the_entry_and_summary(scans):
    """The module's scans hold one -2 pixel beyond the detector mask in images 0 and 7 (frame 0 and 1 of the
    two scans), nothing else: the map and the summary say so, and nothing is flagged."""
    expected = np.zeros(N_SCANS * 6, np.int64)
    expected[[0, 7]] = 1
    with h5py.File(scans["serial"], "r") as handle:
        group = handle["integrate/maps/invalid_pixels"]
        assert list(group.attrs["axes"]) == ["scan", "y", "x"] and group.attrs["signal"] == "invalid_pixels"
        np.testing.assert_array_equal(group["invalid_pixels"][()], expected.reshape(N_SCANS, *SCAN_SHAPE))
        np.testing.assert_array_equal(group["infinite_pixels"][()], np.zeros((N_SCANS, *SCAN_SHAPE)))
        integrated = int(group["integrated_pixels"][()])
    mask = make_ai().detector.mask.astype(bool)
    assert integrated == (~mask).sum()
    warnings, summary = read_quality(scans["serial"], "integrate")
    assert warnings == []
    assert summary["invalid_pixels"].startswith(f"2 in 2 of 12 frames beyond the static mask (most: 1 of "
                                                f"{integrated} integrated pixels")


# --- detector orientation -------------------------------------------------------------------------------------

FLIPS = {2: np.s_[::-1, :], 4: np.s_[:, ::-1], 1: np.s_[::-1, ::-1]}  # pyFAI orientation → the image flip
ORIENTATION_RTOL = 1e-5  # pyFAI's float32 pixel positions differ by round-off between orientations (3.4e-6 seen)


def off_centre_pattern(orientation: int = 3) -> tuple[AzimuthalIntegrator, np.ndarray]:
    """A ring, brighter along χ = 0, with the beam near one corner of a small detector, rendered with pyFAI's
    native orientation 3; and a geometry of the same numbers with the detector in ``orientation``."""
    def geometry(value: int) -> AzimuthalIntegrator:
        detector = detector_factory("Detector", config={"pixel1": 1e-4, "pixel2": 1e-4, "max_shape": [160, 200],
                                                        "orientation": value})
        return AzimuthalIntegrator(detector=detector, dist=0.1, poni1=0.004, poni2=0.006, wavelength=1e-10)

    native = geometry(3)
    q, chi = native.qArray() / 10, native.center_array(unit="chi_rad", scale=False)
    return geometry(orientation), 100 + 500 * np.exp(-((q - 0.9) / 0.05) ** 2) * (1 + 0.8 * np.cos(chi) ** 2)


@pytest.mark.parametrize("orientation", [2, 4, 1])
def test_orientation_integrates_a_flipped_image_as_the_unflipped_one(orientation):
    ai, frame = off_centre_pattern()
    _, truth = integrate_frames(frame, ai, 100, segments=SEGMENTS)
    flipped = frame[FLIPS[orientation]]
    _, ours = integrate_frames(flipped, ai, 100, segments=SEGMENTS, orientation=orientation)
    np.testing.assert_array_equal(np.isnan(ours.intensity), np.isnan(truth.intensity))
    np.testing.assert_allclose(ours.intensity, truth.intensity, rtol=ORIENTATION_RTOL)
    _, wrong = integrate_frames(flipped, ai, 100, segments=SEGMENTS)  # the PONI's orientation 3
    assert np.nanmax(np.abs(wrong.intensity / truth.intensity - 1)) > 0.2


def test_a_ponis_own_orientation_applies_and_the_parameter_replaces_it(tmp_path):
    """A PONI 2.1 made on the image flipped up-down (Detector_config orientation 2, as Dioptas' are)."""
    native, frame = off_centre_pattern()
    _, truth = integrate_frames(frame, native, 100)
    flipped_ai, _ = off_centre_pattern(orientation=2)
    poni = write_poni(tmp_path / "dioptas.poni", flipped_ai)
    assert '"orientation": 2' in poni.read_text()
    _, from_poni = integrate_frames(frame[::-1], poni, 100)
    np.testing.assert_allclose(from_poni.intensity, truth.intensity, rtol=ORIENTATION_RTOL)
    assert int(make_integrator(load_geometry(poni, orientation=3)).detector.orientation) == 3
    _, replaced = integrate_frames(frame[::-1], poni, 100, orientation=3)
    assert np.nanmax(np.abs(replaced.intensity / truth.intensity - 1)) > 0.2


# --- PONI files that pyFAI would silently read as a 1 m geometry -----------------------------------------------

@pytest.mark.parametrize("drop, message", [
    ("all", "the PONI file is empty"),
    ("Distance", "incomplete PONI, no Distance$"),
    ("Wavelength", "incomplete PONI, no Wavelength$"),
    ("Detector", r"incomplete PONI, no Detector \(or PixelSize1 and PixelSize2\)$"),
])
def test_an_empty_or_incomplete_poni_is_one_clear_error(tmp_path, drop, message):
    lines = write_poni(tmp_path / "full.poni").read_text().splitlines(True)
    path = tmp_path / "bad.poni"
    path.write_text("" if drop == "all" else "".join(line for line in lines if not line.startswith(drop)))
    with pytest.raises(InputDataError, match=rf"bad.poni \(parameter 'poni'\): {message}"):
        load_geometry(path)
    calibrate = tmp_path / "calibrate.nxs"
    with h5py.File(calibrate, "w") as handle:
        handle["calib/poni"] = path.read_text()
    with pytest.raises(InputDataError, match=rf"calibrate.nxs::calib/poni \(input 'geometry'\): {message}"):
        load_geometry(geometry=StepOutputRef("calib", "calibrate", calibrate, "calib"))
