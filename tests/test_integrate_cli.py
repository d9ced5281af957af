"""``swaxs integrate``: known answers (pyFAI's own result; the owners' result for a real frame), the
invalid-pixel report, --monitor/--dummy/--mask/--orientation, and one clear line for every bad input."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from pyFAI.detectors import detector_factory
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile

from swaxs_plugins.cli import main
from swaxs_plugins.io.nexus import read_quality
from swaxs_plugins.io.validation import validate_file

NPT, POLARIZATION, DUMMY, FRAMES = 200, 0.95, 9999.0, "/entry/data/frames"
INF_PIXELS, NAN_PIXELS, DUMMY_PIXELS = [(20, 30), (21, 300), (150, 400)], [(60, 60), (61, 61)], [(100, 200), (5, 5)]


def make_ai(orientation: int = 3) -> AzimuthalIntegrator:
    detector = detector_factory("Pilatus100k", config={"orientation": orientation})  # 195 x 487
    return AzimuthalIntegrator(detector=detector, dist=0.3, poni1=0.008, poni2=0.03, wavelength=1e-10)


def write_frames(path: Path, frames: np.ndarray, monitor: np.ndarray) -> Path:
    with h5py.File(path, "w") as handle:
        handle[FRAMES] = frames
        handle["/entry/monitor"] = monitor
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """Three float32 frames of an off-centre anisotropic ring: frame 1 holds ±inf and NaN pixels, frame 2 the
    dummy value; a monitor; a user mask (a beamstop-like block); the same file flipped up-down."""
    folder = tmp_path_factory.mktemp("integrate_cli")
    ai = make_ai()
    q, chi = ai.qArray() / 10, ai.center_array(unit="chi_rad", scale=False)
    rng = np.random.default_rng(7)
    pattern = 50 + 800 * np.exp(-((q - 0.5) / 0.03) ** 2) * (1 + 0.6 * np.cos(chi) ** 2)
    frames = rng.poisson(pattern * rng.uniform(0.8, 1.2, (3, 1, 1))).astype(np.float32)
    frames[1][tuple(zip(*INF_PIXELS))] = [np.inf, -np.inf, np.inf]
    frames[1][tuple(zip(*NAN_PIXELS))] = np.nan
    frames[2][tuple(zip(*DUMMY_PIXELS))] = DUMMY
    monitor = np.array([1.0e4, 1.2e4, 0.9e4])
    mask = np.zeros(ai.detector.shape, np.int8)
    mask[80:120, 150:190] = 1
    np.save(folder / "mask.npy", mask)
    np.save(folder / "mask_flipped.npy", mask[::-1])
    poni = folder / "geometry.poni"
    with open(poni, "w") as handle:
        PoniFile(data=ai).write(handle)
    return {"folder": folder, "ai": ai, "frames": frames, "monitor": monitor, "mask": mask.astype(bool), "poni": poni,
            "scan": write_frames(folder / "scan.h5", frames, monitor),
            "flipped": write_frames(folder / "flipped.h5", frames[:, ::-1], monitor)}


def integrate(*args: str) -> object:
    return CliRunner().invoke(main, ["integrate", *args])


@pytest.fixture(scope="module")
def integrated(inputs) -> tuple[object, Path]:
    out = inputs["folder"] / "new" / "out.nxs"  # its folder does not exist yet
    result = integrate(f"{inputs['scan']}::{FRAMES}", "--poni", str(inputs["poni"]), "--npt", str(NPT),
                       "--polarization", str(POLARIZATION), "--monitor", "/entry/monitor", "--dummy", str(DUMMY),
                       "--mask", str(inputs["folder"] / "mask.npy"), "-o", str(out))
    return result, out


def masked_by_hand(inputs: dict, index: int):
    """pyFAI's own result for one frame, its invalid pixels put in the mask by hand (values zeroed)."""
    frame = inputs["frames"][index]
    invalid = ~np.isfinite(frame) | (frame == DUMMY)
    mask = inputs["mask"] | invalid
    return make_ai().integrate1d_ng(np.where(mask, 0, frame), NPT, unit="q_A^-1", mask=mask,
                                    method=("bbox", "csr", "cython"), error_model="poisson",
                                    polarization_factor=POLARIZATION, normalization_factor=inputs["monitor"][index])


def test_masks_normalises_and_counts_as_pyfai_with_the_pixels_masked_by_hand(inputs, integrated):
    result, out = integrated
    assert result.exit_code == 0, result.output
    assert validate_file(out)[0].errors == 0
    with h5py.File(out, "r") as handle:
        ours = handle["integrate/integrated/I"][()]
        counts = handle["integrate/maps/invalid_pixels"]
        invalid, infinite = counts["invalid_pixels"][()].ravel(), counts["infinite_pixels"][()].ravel()
        assert bool(handle["integrate/monitor_applied"][()])
    for index in range(3):
        reference = masked_by_hand(inputs, index)
        signal = np.asarray(reference.count) > 0
        np.testing.assert_allclose(ours[index][signal], reference.intensity[signal], rtol=1e-6)
        assert np.isnan(ours[index][~signal]).all()
    np.testing.assert_array_equal(invalid, [0, len(INF_PIXELS) + len(NAN_PIXELS), len(DUMMY_PIXELS)])
    np.testing.assert_array_equal(infinite, [0, len(INF_PIXELS), 0])


def test_the_invalid_pixels_are_reported_and_inf_is_flagged(inputs, integrated):
    result, out = integrated
    pixels = (~inputs["mask"]).sum()  # every pixel outside the user mask is integrated (no gaps, no range)
    assert (f"invalid_pixels: 7 in 2 of 3 frames beyond the static mask (most: 5 of {pixels} integrated pixels"
            in result.output)
    assert "warning: 3 pixel values are ±inf in 1 frame(s) (first: image 1)" in result.output
    warnings, summary = read_quality(out, "integrate")
    assert len(warnings) == 1 and "±inf" in warnings[0] and summary["invalid_pixels"].startswith("7 in 2 of 3")


def test_orientation_makes_the_file_flipped_up_down_integrate_as_the_original(inputs, integrated):
    out = inputs["folder"] / "flipped.nxs"
    common = ["--poni", str(inputs["poni"]), "--npt", str(NPT), "--polarization", str(POLARIZATION), "--monitor",
              "/entry/monitor", "--dummy", str(DUMMY), "--mask", str(inputs["folder"] / "mask_flipped.npy")]
    result = integrate(f"{inputs['flipped']}::{FRAMES}", *common, "--orientation", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    with h5py.File(integrated[1], "r") as original, h5py.File(out, "r") as flipped:
        truth, ours = original["integrate/integrated/I"][()], flipped["integrate/integrated/I"][()]
        np.testing.assert_array_equal(flipped["integrate/maps/invalid_pixels/invalid_pixels"][()],
                                      original["integrate/maps/invalid_pixels/invalid_pixels"][()])
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(truth))
    np.testing.assert_allclose(ours, truth, rtol=1e-5)  # pyFAI's float32 pixel positions: round-off only
    wrong = integrate(f"{inputs['flipped']}::{FRAMES}", *common, "-o", str(inputs["folder"] / "wrong.nxs"))
    with h5py.File(inputs["folder"] / "wrong.nxs", "r") as handle:
        assert wrong.exit_code == 0 and np.nanmax(np.abs(handle["integrate/integrated/I"][()] / truth - 1)) > 0.2


@pytest.mark.parametrize("case, message", [
    ("empty_poni", r"empty.poni \(parameter 'poni'\): the PONI file is empty"),
    ("incomplete_poni", r"nodistance.poni \(parameter 'poni'\): incomplete PONI, no Distance"),
    ("missing_input", r"missing.h5: input file not found \(INPUT\)"),
    ("missing_frames", r"scan.h5: no dataset at '/entry/nothing' \(input 'scans', field 'frames'\)"),
    ("missing_monitor", r"scan.h5: no dataset at '/entry/nomonitor' \(field 'monitor'\)"),
    ("missing_mask", r"nomask.npy: mask file not found \(parameter 'mask'\)"),
    ("output_is_a_folder", r"outdir: the output file \(option -o\) is a directory"),
    ("output_under_a_file", r"scan.h5/out.nxs: cannot write the output file \(option -o\), .*scan.h5 is a file"),
])
def test_bad_input_is_one_line_naming_the_file(inputs, case, message):
    folder = inputs["folder"]
    source, poni, out, extra = f"{inputs['scan']}::{FRAMES}", inputs["poni"], folder / f"{case}.nxs", []
    if case == "empty_poni":
        poni = folder / "empty.poni"
        poni.write_text("")
    if case == "incomplete_poni":
        poni = folder / "nodistance.poni"
        poni.write_text("".join(line for line in inputs["poni"].read_text().splitlines(True)
                                if not line.startswith("Distance")))
    if case == "missing_input":
        source = f"{folder / 'missing.h5'}::{FRAMES}"
    if case == "missing_frames":
        source = f"{inputs['scan']}::/entry/nothing"
    if case == "missing_monitor":
        extra = ["--monitor", "/entry/nomonitor"]
    if case == "missing_mask":
        extra = ["--mask", str(folder / "nomask.npy")]
    if case == "output_is_a_folder":
        out = folder / "outdir"
        out.mkdir(exist_ok=True)
    if case == "output_under_a_file":
        out = inputs["scan"] / "out.nxs"
    result = integrate(source, "--poni", str(poni), "--npt", "50", *extra, "-o", str(out))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: [integrate] ")
    assert re.search(message, line), line


def test_real_pixium_frame_matches_the_owners_pyfai_result(real_data, tmp_path):
    """Diamond I12 Pixium frame (uint16, no overflow values) with the owners' PONI: their pyFAI result."""
    folder = real_data / "dls_i12_pixium"
    out = tmp_path / "pixium.nxs"
    result = integrate(str(folder / "pixium_03150.tif"), "--poni", str(folder / "ceo2_1200mm.poni"), "--npt", "5000",
                       "--unit", "2th_deg", "--polarization", "0.99", "--method", "full,csr,cython", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "invalid_pixels: 0 in 1 frames beyond the static mask" in result.output
    reference = np.loadtxt(folder / "integrated_pyfai_2th.dat")
    with h5py.File(out, "r") as handle:
        radial = handle["integrate/integrated/radial_axis"][()]
        ours = np.nan_to_num(handle["integrate/integrated/I"][0])
    assert np.abs(radial - reference[:, 0]).max() < 1e-3
    assert np.corrcoef(ours, reference[:, 1])[0, 1] >= 0.9999
