"""The calibrate step: real calibrant frames against their published geometry, simulated calibrants
(pixel-area rendering and a point spread) against their true geometry, from guesses 10 % off in
distance and 20 px off in centre; frames without calibrant rings and poor geometries refused; the
pipeline step and its NeXus file, the command, and bad input."""

from __future__ import annotations


import fabio
import h5py
import numpy as np
import pyFAI
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from conftest import REAL_DATA
from swaxs_plugins.cli import main
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.simulate.calibrants import CALIBRANT_FRAMES, CALIBRANT_MONITOR, render_calibrant
from swaxs_plugins.simulate.physics import wavelength_angstrom
from swaxs_plugins.steps.calibrate import (CalibrateParameters, NoRingsFound, PoorCalibration, QualityLimits,
                                           beam_center_and_direct_distance, calibrate_frame,
                                           geometry_from_beam_center, make_detector, read_image)
from swaxs_plugins.steps.calibrate.deadline import CalibrationTimeout

needs_real = pytest.mark.skipif(not REAL_DATA.is_dir(),
                                reason=f"real calibrant data not found at {REAL_DATA} (set SWAXS_REAL_DATA)")
WAVELENGTH_M = wavelength_angstrom(13.2) * 1e-10
NSLS = {"calibrant": "AgBh", "detector": "Pilatus900k", "wavelength": 0.77012, "rot1": 0.03054,
        "fix": ("rot1", "rot2", "rot3")}  # published: rot1 is the detector arc angle, held fixed


def q_error(truth: AzimuthalIntegrator, refined: AzimuthalIntegrator, mask: np.ndarray) -> float:
    """Median |Δq|/q over the valid pixels."""
    q_true, q_refined = truth.array_from_unit(unit="q_A^-1"), refined.array_from_unit(unit="q_A^-1")
    return float(np.median(np.abs(q_refined / q_true - 1)[~mask]))


def published_nsls() -> AzimuthalIntegrator:
    return AzimuthalIntegrator(dist=0.281674, poni1=0.044659, poni2=0.046453, rot1=0.03054, detector="Pilatus900k",
                               wavelength=0.77012e-10)


# --------------------------------------------------------------------------------------------------
# Real frames with published geometry
# --------------------------------------------------------------------------------------------------

@needs_real
def test_real_agbh_from_distance_10_percent_and_centre_20_px_off_matches_published_q():
    frame = fabio.open(str(REAL_DATA / "nsls2_smi_agbh" / "agbh_pilatus900kw.tif")).data
    published = published_nsls()
    (row, col), _ = beam_center_and_direct_distance(published)
    result = calibrate_frame(frame, distance=0.281674 * 1.1, beam_center=(row + 20, col), **NSLS)
    assert q_error(published, result.geometry, result.mask) <= 1e-3
    assert not result.problems and result.quality.rms_px < 0.5 and len(result.rings) >= 6


@needs_real
def test_real_agbh_without_beam_centre_matches_published_q():
    frame = fabio.open(str(REAL_DATA / "nsls2_smi_agbh" / "agbh_pilatus900kw.tif")).data
    published = published_nsls()
    result = calibrate_frame(frame, distance=0.281674 * 0.9, **NSLS)
    assert q_error(published, result.geometry, result.mask) <= 1e-3
    (row, col), _ = beam_center_and_direct_distance(published)
    assert abs(result.beam_center[0] - row) < 0.5 and abs(result.beam_center[1] - col) < 0.5


@needs_real
def test_real_sample_frame_is_not_taken_for_a_calibrant():
    frame = fabio.open(str(REAL_DATA / "nsls2_smi_agbh" / "sample_pilatus900kw.tif")).data
    (row, col), _ = beam_center_and_direct_distance(published_nsls())
    with pytest.raises(NoRingsFound, match="no calibrant rings found in sample.tif"):
        calibrate_frame(frame, distance=0.281674 * 1.1, beam_center=(row + 20, col), source="sample.tif", **NSLS)


@needs_real
def test_real_lab6_strip_with_one_ring_is_refused_then_right_with_distance_and_tilts_known():
    """One ring cannot fix distance and centre: refused, saying so. With the distance and tilts held
    at the published values and a centre guess 20 px off, the centre comes back to the published."""
    frame = fabio.open(str(REAL_DATA / "ssrl_lab6" / "lab6_pilatus300kw_0009.tif")).data
    truth = pyFAI.load(str(REAL_DATA / "ssrl_lab6" / "lab6_pilatus300kw_0009.poni"))
    (row, col), _ = beam_center_and_direct_distance(truth)
    common = {"calibrant": "LaB6", "detector": "Pilatus300kw", "wavelength": truth.wavelength * 1e10,
              "beam_center": (row + 14, col - 14), "rot1": truth.rot1, "rot2": truth.rot2, "rot3": truth.rot3}
    with pytest.raises(PoorCalibration, match=r"only 1 ring\(s\) hold control points"):
        calibrate_frame(frame, distance=truth.dist * 1.05, fix=("rot1", "rot2", "rot3"), **common)
    # The ring is grainy (rms 0.66 px about the fitted ring): one ring and a 1 px rms limit, asked for.
    result = calibrate_frame(frame, distance=truth.dist, fix=("dist", "rot1", "rot2", "rot3"),
                             limits=QualityLimits(max_rms_px=1.0, min_rings=1), **common)
    assert not result.problems
    assert abs(result.beam_center[0] - row) < 0.5 and abs(result.beam_center[1] - col) < 0.5


# --------------------------------------------------------------------------------------------------
# Simulated calibrants rendered over each pixel's area, with a point spread and Poisson noise
# --------------------------------------------------------------------------------------------------

def simulated_frame(detector: str, distance: float, centre: tuple[float, float], calibrant_index: int,
                    seed: int, rot1: float, rot2: float, orientation: int | None = None) -> tuple[AzimuthalIntegrator,
                                                                                                np.ndarray]:
    """A calibrant frame with a known geometry; the direct beam at ``centre`` (row, col) px."""
    det = make_detector(detector, orientation)
    geometry = geometry_from_beam_center(det, WAVELENGTH_M, distance, centre, rot1, rot2, 0.0)
    truth = AzimuthalIntegrator(dist=geometry.dist, poni1=geometry.poni1, poni2=geometry.poni2, rot1=rot1, rot2=rot2,
                                detector=det, wavelength=WAVELENGTH_M)
    _, calibrant, fwhm, area, flat = CALIBRANT_FRAMES[calibrant_index]
    response = truth.solidAngleArray() * truth.polarization(factor=0.99)
    counts = render_calibrant(truth, calibrant, fwhm, area, flat, response, CALIBRANT_MONITOR,
                              np.random.default_rng(seed))
    return truth, counts


def pilatus100k_agbh(seed: int = 0, orientation: int | None = None) -> tuple[AzimuthalIntegrator, np.ndarray]:
    """AgBh on a Pilatus 100K at 0.3 m, the direct beam 5 px above its top edge (int32 counts)."""
    truth, counts = simulated_frame("Pilatus100k", 0.30, (-5.0, 240.3), 0, seed, 0.004, -0.003, orientation)
    return truth, counts.astype(np.int32)


def eiger2_strip_lab6(seed: int = 0) -> tuple[AzimuthalIntegrator, np.ndarray]:
    """LaB6 on an Eiger2 1M-W strip at 0.15 m, the direct beam 700 px beside it; uint32 counts with the
    detector's gaps and a dead column at 2**32 - 1, as an Eiger writes them."""
    truth, counts = simulated_frame("Eiger2_1M-W", 0.15, (-700.0, 1034.0), 1, seed, 0.005, 0.01)
    frame = counts.astype(np.uint32)
    frame[truth.detector.mask.astype(bool)] = np.iinfo(np.uint32).max
    frame[:, 700] = np.iinfo(np.uint32).max
    return truth, frame


@pytest.mark.parametrize("make, calibrant, distance_factor, offset", [
    (pilatus100k_agbh, "AgBh", 1.1, (14.0, 14.0)),
    (pilatus100k_agbh, "AgBh", 0.9, (-20.0, 0.0)),
    (eiger2_strip_lab6, "LaB6", 1.1, (14.0, -14.0)),
    (eiger2_strip_lab6, "LaB6", 0.9, (0.0, 20.0)),
], ids=["pilatus100k-beam-5px-off-edge-far", "pilatus100k-near", "eiger2-strip-700px-off-far", "eiger2-near"])
def test_simulated_calibrant_from_distance_10_percent_and_centre_20_px_off(make, calibrant, distance_factor, offset):
    truth, frame = make()
    (row, col), direct = beam_center_and_direct_distance(truth)
    result = calibrate_frame(frame, calibrant, truth.detector.name, WAVELENGTH_M * 1e10, truth.dist * distance_factor,
                             (row + offset[0], col + offset[1]), time_limit=60.0)
    assert q_error(truth, result.geometry, result.mask) <= 1e-3
    assert np.all(np.abs(np.subtract(result.beam_center, (row, col))) <= 0.5)
    assert not result.problems and result.quality.ring_share == 1.0


def test_flipped_image_with_its_orientation_gives_the_true_geometry():
    """The same frame stored upside down (pyFAI orientation 2) calibrates to the same physical geometry."""
    truth, frame = pilatus100k_agbh()
    flipped_truth = AzimuthalIntegrator(dist=truth.dist, poni1=truth.poni1, poni2=truth.poni2, rot1=truth.rot1,
                                        rot2=truth.rot2, detector=make_detector("Pilatus100k", 2),
                                        wavelength=truth.wavelength)
    (row, col), _ = beam_center_and_direct_distance(flipped_truth)
    assert row == pytest.approx(frame.shape[0] + 5.0)  # the beam lies below the flipped image
    result = calibrate_frame(frame[::-1], "AgBh", "Pilatus100k", WAVELENGTH_M * 1e10, truth.dist * 1.1,
                             (row - 14, col + 14), orientation=2)
    assert q_error(flipped_truth, result.geometry, result.mask) <= 1e-4
    assert np.all(np.abs(np.subtract(result.beam_center, (row, col))) <= 0.05)
    assert '"orientation": 2' in result.poni_text()


@pytest.mark.parametrize("kind", ["poisson noise", "blank"])
def test_frames_without_rings_are_refused(kind):
    rng = np.random.default_rng(7)
    frame = rng.poisson(200, (195, 487)).astype(np.int32) if kind == "poisson noise" else np.zeros((195, 487), np.int32)
    with pytest.raises(NoRingsFound, match="no calibrant rings found in noise.tif"):
        calibrate_frame(frame, "AgBh", "Pilatus100k", WAVELENGTH_M * 1e10, 0.3, (-5.0, 240.0), source="noise.tif")


def test_a_poor_geometry_is_refused_unless_accepted():
    """A 1 px rms limit is passed; a 0.001 px one is not: refused, or returned with its problems when accepted."""
    truth, frame = pilatus100k_agbh(seed=3)
    (row, col), _ = beam_center_and_direct_distance(truth)
    strict = QualityLimits(max_rms_px=1e-3)
    with pytest.raises(PoorCalibration, match=r"residual rms [0-9.e-]+ px exceeds 0.001 px.*--accept-poor"):
        calibrate_frame(frame, "AgBh", "Pilatus100k", WAVELENGTH_M * 1e10, truth.dist, (row, col), limits=strict)
    accepted = calibrate_frame(frame, "AgBh", "Pilatus100k", WAVELENGTH_M * 1e10, truth.dist, (row, col),
                               limits=strict, accept_poor=True)
    assert len(accepted.problems) == 1 and "residual rms" in accepted.problems[0]
    assert q_error(truth, accepted.geometry, accepted.mask) <= 1e-4


def test_the_time_limit_stops_with_a_message():
    truth, frame = pilatus100k_agbh()
    with pytest.raises(CalibrationTimeout, match="time limit 0.001 s.*raise time_limit"):
        calibrate_frame(frame, "AgBh", "Pilatus100k", WAVELENGTH_M * 1e10, 0.3, (-5.0, 240.0), time_limit=1e-3)


# --------------------------------------------------------------------------------------------------
# The calibrants of the embedded experiment (as the default pipeline calibrates them)
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def calibrants(tmp_path_factory: pytest.TempPathFactory):
    from swaxs_plugins.simulate.calibrants import simulate_calibrants

    return simulate_calibrants(tmp_path_factory.mktemp("calibrants"), seed=0, scale="small")


def test_simulated_agbh_saxs_recovers_true_centre_and_distance(calibrants):
    truth = pyFAI.load(str(calibrants.poni["saxs"]))
    frame = read_image(calibrants.images[0])
    result = calibrate_frame(frame, "AgBh", truth.detector.name, truth.wavelength * 1e10, 1.10,
                             mask=read_image(calibrants.masks["saxs"]))
    (row, col), direct = beam_center_and_direct_distance(truth)
    assert abs(result.beam_center[0] - row) < 0.02 and abs(result.beam_center[1] - col) < 0.02
    assert abs(result.direct_distance / direct - 1) < 1e-4


def waxs_with_pipeline_guesses(frame: np.ndarray, mask: np.ndarray, wavelength_m: float):
    """The default pipeline's guesses for the WAXS strip: nominal distance and rot1, centre a few px off."""
    return calibrate_frame(frame, "LaB6", "Pilatus300kw", wavelength_m * 1e10, 0.55, (125.0, -465.0), rot1=0.25,
                           mask=mask)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_simulated_lab6_waxs_from_pipeline_guesses_recovers_the_centre_within_0_1_px(seed, tmp_path):
    from swaxs_plugins.simulate.calibrants import simulate_calibrants

    calibrants = simulate_calibrants(tmp_path, seed=seed, scale="small")
    truth = pyFAI.load(str(calibrants.poni["waxs"]))
    result = waxs_with_pipeline_guesses(read_image(calibrants.images[1]), read_image(calibrants.masks["waxs"]),
                                        truth.wavelength)
    (row, col), direct = beam_center_and_direct_distance(truth)
    error = np.subtract(result.beam_center, (row, col))
    # The beam hits ~470 px off this strip, so the centre is photon-limited: its Cramér–Rao bound is
    # ~0.03 px with the simulated calibrant exposure (2e7 monitor counts, ~2400 counts at the ring
    # peaks). The reported errors must reach that, and the true centre lie within 0.1 px and 4 of them.
    assert max(result.beam_center_error) < 0.05
    assert np.all(np.abs(error) < 4 * np.array(result.beam_center_error)) and np.all(np.abs(error) < 0.1), error
    assert abs(result.direct_distance / direct - 1) < 5e-4
    assert abs(result.direct_distance - direct) < 4 * result.direct_distance_error
    assert q_error(truth, result.geometry, result.mask) < 5e-5


def test_simulated_lab6_waxs_without_noise_is_exact(calibrants):
    """Without photon noise nothing limits the fit but the method: the centre 470 px off the strip
    must come back within 0.01 px and the direct distance within 1e-6, although the frame was
    rendered over each pixel's area with a point spread, not at pixel centres."""
    from swaxs_plugins.simulate import calibrants as simulated, detectors
    from swaxs_plugins.simulate.physics import ring_curve

    setup = detectors.waxs_setup("small")
    truth = detectors.integrator(setup)
    _, calibrant, fwhm, area, flat = simulated.CALIBRANT_FRAMES[1]
    curve = simulated.pixel_averaged(lambda q: ring_curve(q, calibrant, truth.wavelength * 1e10, fwhm, area, flat),
                                     truth)
    frame = simulated.expected_counts(curve, detectors.response(setup, truth), simulated.CALIBRANT_MONITOR)
    result = waxs_with_pipeline_guesses(frame, read_image(calibrants.masks["waxs"]), truth.wavelength)
    (row, col), direct = beam_center_and_direct_distance(truth)
    assert abs(result.beam_center[0] - row) < 0.01 and abs(result.beam_center[1] - col) < 0.01
    assert abs(result.direct_distance / direct - 1) < 1e-6


def test_pipeline_step_writes_valid_nexus_with_poni_and_quality(calibrants, tmp_path):
    from swaxs_plugins.core.executors import SerialExecutor
    from swaxs_plugins.core.pipeline import run_pipeline
    from swaxs_plugins.core.plan import check_pipeline
    from swaxs_plugins.core.registry import Registry
    from swaxs_plugins.io.validation import validate_file

    truth = pyFAI.load(str(calibrants.poni["saxs"]))
    pipeline = tmp_path / "calibrate.yaml"
    pipeline.write_text(f"""
name: calibrate only
inputs:
  agbh: {{files: ["{calibrants.raw[0]}"], frames: /entry/instrument/saxs/data}}
output: out/result.nxs
steps:
  - id: saxs_geometry
    kind: calibrate
    inputs: {{image: agbh}}
    params: {{calibrant: AgBh, detector: {truth.detector.name}, energy: 13.2, distance: 1.10}}
""")
    registry = Registry.discover()
    plan = check_pipeline(pipeline, registry)
    runs = run_pipeline(plan, registry, SerialExecutor(), progress=False)
    step_file = runs[0].path
    reports = validate_file(step_file)
    assert all(r.errors == 0 for r in reports), [m for r in reports for m in r.messages]
    assert "rings" in runs[0].summary["quality"] and runs[0].warnings == []
    with h5py.File(step_file, "r") as handle:
        entry = handle["saxs_geometry"]
        poni = entry["poni"][()].decode()
        assert entry.attrs["default"] == "frame"
        assert entry["geometry/n_control_points"][()] > 50
        assert entry["geometry/residual_rms_px"][()] < 0.2
        assert 0 < entry["geometry/beam_center_row_error"][()] < 0.05
        assert entry["quality/trusted"][()] and entry["quality/ring_share"][()] == 1.0
        assert entry["quality/significance"][()] > 10
    path = tmp_path / "loaded.poni"
    path.write_text(poni)
    (row, col), direct = beam_center_and_direct_distance(pyFAI.load(str(path)))
    (row0, col0), direct0 = beam_center_and_direct_distance(truth)
    assert abs(row - row0) < 0.1 and abs(col - col0) < 0.1 and abs(direct / direct0 - 1) < 1e-3
    assert (plan.steps_dir / "saxs_geometry.png").stat().st_size > 10_000
    assert (plan.steps_dir / "saxs_geometry.poni").read_text() == poni


# --------------------------------------------------------------------------------------------------
# The command and bad input
# --------------------------------------------------------------------------------------------------

def test_command_writes_the_poni_into_a_new_folder_or_refuses_before_calibrating(calibrants, tmp_path):
    truth = pyFAI.load(str(calibrants.poni["saxs"]))
    arguments = [str(calibrants.images[0]), "--calibrant", "AgBh", "--detector", truth.detector.name,
                 "--energy", "13.2", "--distance", "1.0", "--mask", str(calibrants.masks["saxs"])]
    written = CliRunner().invoke(main, ["calibrate", *arguments, "-o", str(tmp_path / "new" / "saxs.poni")])
    assert written.exit_code == 0, written.output
    assert "rings" in written.output and "σ above chance" in written.output
    (row, col), _ = beam_center_and_direct_distance(pyFAI.load(str(tmp_path / "new" / "saxs.poni")))
    (row0, col0), _ = beam_center_and_direct_distance(truth)
    assert abs(row - row0) < 0.1 and abs(col - col0) < 0.1
    (tmp_path / "a_file").write_text("")
    refused = CliRunner().invoke(main, ["calibrate", *arguments, "-o", str(tmp_path / "a_file" / "saxs.poni")])
    assert refused.exit_code == 1 and "a_file is a file, not a folder" in refused.output


def test_command_on_a_frame_without_rings_exits_non_zero_naming_the_file(tmp_path):
    noise = tmp_path / "noise.edf"
    fabio.edfimage.EdfImage(data=np.random.default_rng(1).poisson(100, (195, 487)).astype(np.int32)).write(str(noise))
    result = CliRunner().invoke(main, ["calibrate", str(noise), "--calibrant", "AgBh", "--detector", "Pilatus100k",
                                       "--energy", "13.2", "--distance", "0.3", "--beam-center", "-5", "240",
                                       "-o", str(tmp_path / "out.poni")])
    assert result.exit_code == 1 and f"no calibrant rings found in {noise}" in result.output
    assert not (tmp_path / "out.poni").exists()


def test_bad_input_names_the_parameter_or_file(tmp_path):
    good = {"calibrant": "AgBh", "detector": "Pilatus2M", "wavelength": 1.0, "distance": 1.0}
    with pytest.raises(ValidationError, match="calibrant"):
        CalibrateParameters(**{**good, "calibrant": "Unobtainium"})
    with pytest.raises(ValidationError, match="detector"):
        CalibrateParameters(**{**good, "detector": "NoSuchCam"})
    with pytest.raises(ValidationError, match="wavelength"):
        CalibrateParameters(**{**good, "energy": 12.0})
    with pytest.raises(ValidationError, match="orientation"):
        CalibrateParameters(**{**good, "orientation": 5})
    with pytest.raises(InputDataError, match="missing.tif"):
        read_image(tmp_path / "missing.tif")
    with pytest.raises(SwaxsError, match="does not match detector"):
        calibrate_frame(np.zeros((10, 10)), "AgBh", "Pilatus2M", 1.0, 1.0)
    result = CliRunner().invoke(main, ["calibrate", str(tmp_path / "missing.tif"), "--calibrant", "AgBh",
                                       "--detector", "Pilatus2M", "--wavelength", "1", "--distance", "1",
                                       "--orientation", "7", "-o", str(tmp_path / "x.poni")])
    assert result.exit_code == 2 and "orientation" in result.output
