"""The calibrant simulator: true geometries, ring positions, noise statistics and the written files."""

from __future__ import annotations

import fabio
import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle filter for reading)
import numpy as np
import pyFAI
import pytest
from scipy.signal import find_peaks

from swaxs_plugins.simulate import simulate_calibrants
from swaxs_plugins.simulate import detectors as det
from swaxs_plugins.simulate.calibrants import CALIBRANT_FRAMES, CALIBRANT_MONITOR
from swaxs_plugins.simulate.physics import calibrant_q, ring_curve, wavelength_angstrom

BITSHUFFLE_FILTER_ID = 32008


@pytest.fixture(scope="module")
def calibrants(tmp_path_factory):
    return simulate_calibrants(tmp_path_factory.mktemp("calibrants"), seed=0)


def read_frame(path, key):
    with h5py.File(path, "r") as handle:
        group = handle[f"entry/instrument/{key}"]
        return group["data"][0], group["pixel_mask"][()]


def integrate(result, key, npt):
    ai = pyFAI.load(str(result.poni[key]))
    frame, pixel_mask = read_frame(result.outdir / f"calibrant_{dict(saxs='agbh', waxs='lab6')[key]}_{key}.nxs", key)
    return ai.integrate1d_ng(frame.astype(np.float64), npt, unit="q_A^-1", mask=pixel_mask != 0,
                             polarization_factor=det.POLARIZATION, normalization_factor=CALIBRANT_MONITOR,
                             error_model="poisson", method=("no", "histogram", "cython"))


def test_true_geometries_cover_the_required_q_ranges():
    saxs, waxs = det.saxs_setup("small"), det.waxs_setup("small")
    for setup, (q_lo, q_hi) in ((saxs, (0.004, 0.45)), (waxs, (1.2, 2.62))):
        ai = det.integrator(setup)
        q = det.q_map(ai)[det.pixel_mask(setup, ai) == 0]
        assert q.min() < q_lo and q.max() > q_hi
    fit2d = det.integrator(waxs).getFit2D()
    assert not 0 <= fit2d["centerX"] < 1475, "the direct beam must miss the WAXS strip"
    saxs_fit2d = det.integrator(saxs).getFit2D()
    assert 0 < saxs_fit2d["centerX"] < 487 and 0 < saxs_fit2d["centerY"] < 407


def test_ring_positions_match_calibrant_d_spacings(calibrants):
    for key, calibrant, tolerance in (("saxs", "AgBh", 0.0015), ("waxs", "LaB6", 0.004)):
        result = integrate(calibrants, key, 3000)
        valid = result.count > 0
        q, intensity = result.radial[valid], result.intensity[valid]
        peaks, _ = find_peaks(intensity, prominence=0.05 * intensity.max(), width=2)
        expected = calibrant_q(calibrant)
        expected = expected[(expected > q.min() + 0.01) & (expected < q.max() - 0.01)]
        assert len(peaks) == len(expected) >= (4 if key == "saxs" else 5)
        np.testing.assert_allclose(q[peaks], expected, atol=tolerance)


def test_calibrant_frames_integrate_to_the_ring_curve_within_poisson_noise(calibrants):
    for key, calibrant, fwhm, area, flat in CALIBRANT_FRAMES:
        result = integrate(calibrants, key, 400)
        valid = result.count > 20
        wavelength = wavelength_angstrom(det.saxs_setup().energy_kev)
        model = ring_curve(result.radial[valid], calibrant, wavelength, fwhm, area, flat)
        residual = (result.intensity[valid] - model) / result.sigma[valid]
        smooth = np.abs(np.gradient(model, result.radial[valid])) * (result.radial[1] - result.radial[0]) < 0.02 * model
        n = smooth.sum()
        assert n > 100
        # n normalised residuals: mean within 5/sqrt(n), std within 15 % of 1
        assert abs(residual[smooth].mean()) < 5 / np.sqrt(n)
        assert residual[smooth].std() == pytest.approx(1.0, abs=0.15)


def test_files_carry_beamline_metadata_and_pilatus_gap_values(calibrants):
    for key, stem in (("saxs", "calibrant_agbh_saxs"), ("waxs", "calibrant_lab6_waxs")):
        setup = det.saxs_setup() if key == "saxs" else det.waxs_setup()
        with h5py.File(calibrants.outdir / f"{stem}.nxs", "r") as handle:
            mono = handle["entry/instrument/monochromator"]
            assert mono["energy"][()] == pytest.approx(13.2) and mono["energy"].attrs["units"] == "keV"
            assert mono["wavelength"][()] == pytest.approx(0.93927, abs=1e-5)
            group = handle[f"entry/instrument/{key}"]
            data = group["data"]
            assert group["description"][()].decode() == setup.detector
            assert data.dtype == np.uint32 and data.shape == (1, *pyFAI.detector_factory(setup.detector).shape)
            assert data.chunks == data.shape
            filter_id, _, options, _ = data.id.get_create_plist().get_filter(0)
            assert filter_id == BITSHUFFLE_FILTER_ID and options[-1] == 2, "bitshuffle with LZ4"
            assert group["x_pixel_size"][()] == pytest.approx(172e-6)
            assert group["distance"][()] == setup.nominal_distance
            frame = data[0]
            gaps = (group["pixel_mask"][()] & det.PIXEL_MASK_GAP) != 0
        image = fabio.open(str(calibrants.outdir / f"{stem}.edf")).data
        assert image.dtype == np.int32
        assert np.all(image[gaps] == -1) and np.all(frame[gaps] == 0xFFFFFFFF)
        np.testing.assert_array_equal(image[~gaps], frame[~gaps])
        assert (fabio.open(str(calibrants.masks[key])).data != 0).sum() >= gaps.sum()


def test_true_poni_files_reload_the_geometry(calibrants):
    for key, setup in (("saxs", det.saxs_setup()), ("waxs", det.waxs_setup())):
        ai = pyFAI.load(str(calibrants.poni[key]))
        assert ai.detector.name == pyFAI.detector_factory(setup.detector).name
        for name in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3"):
            assert getattr(ai, name) == pytest.approx(getattr(setup, name), abs=1e-12)
        assert ai.wavelength == pytest.approx(setup.wavelength_m)


def test_seed_sets_the_noise(calibrants, tmp_path):
    again = simulate_calibrants(tmp_path / "same", seed=0)
    other = simulate_calibrants(tmp_path / "other", seed=1)
    first = read_frame(calibrants.raw[0], "saxs")[0]
    np.testing.assert_array_equal(read_frame(again.raw[0], "saxs")[0], first)
    assert not np.array_equal(read_frame(other.raw[0], "saxs")[0], first)


def test_bad_arguments_raise_value_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        simulate_calibrants(tmp_path, scale="huge")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="outdir"):
        simulate_calibrants(blocker / "sub")
