"""The raw form of the simulated tomography: raw scans whose frames integrate to the truth's bin means."""

from __future__ import annotations

import fabio
import h5py
import hdf5plugin  # noqa: F401  (registers the Bitshuffle filter for reading)
import numpy as np
import pyFAI
import pytest
from scipy.special import eval_legendre

from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.simulate import tomography_raw as raw_form
from swaxs_plugins.simulate.samples import SAMPLES, component_functions
from swaxs_plugins.simulate.tomography import sample_streams, simulate_tomography
from swaxs_plugins.simulate.tomography_model import (
    ForwardModel,
    measurement_geometry,
)
from swaxs_plugins.steps.integrate.inputs import scan_layout, scan_records
from swaxs_plugins.tomo import projector
from swaxs_plugins.tomo.segments import scattering_directions

GAP = np.uint32(2**32 - 1)
SEED = 2
K = J = 18


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """The anisotropic electrode's raw form (its segments test the χ convention)."""
    return {"files": simulate_tomography(tmp_path_factory.mktemp("tomo_raw"), seed=SEED, raw=True)}


@pytest.fixture(scope="module")
def truth(raw):
    with h5py.File(raw["files"].truth, "r") as handle:
        return {name: handle[name][()] for name in handle if isinstance(handle[name], h5py.Dataset)} | \
            {"attrs": dict(handle.attrs)}


def frames_of(path):
    with h5py.File(path, "r") as handle:
        return (handle["entry/instrument/saxs/data"][()], handle["entry/instrument/i0/data"][()],
                handle["entry/instrument/diode/data"][()])


def test_one_raw_scan_per_projection_with_its_angles(raw, truth):
    files = raw["files"]
    [sample] = files.samples
    assert sample.name == "electrode" and sample.projections is None and len(sample.scans) == 24
    assert [p.name for p in sample.scans[:2]] == ["scan_000.nxs", "scan_001.nxs"]
    with h5py.File(sample.scans[7], "r") as handle:
        data = handle["entry/instrument/saxs/data"]
        assert data.shape == (K * J, 60, 110) and data.dtype == np.uint32 and data.chunks == (1, 60, 110)
        assert "32008" in data._filters  # Bitshuffle
        assert handle["entry/definition"][()] == b"NXswaxs_raw_scan"
        assert list(handle["entry/scan/shape"][()]) == [K, J]
        x, y = handle["entry/scan/x"][()], handle["entry/scan/y"][()]
        np.testing.assert_allclose(x[:J], (np.arange(J) - (J - 1) / 2) * 0.0625)  # j fastest, across
        np.testing.assert_allclose(y[::J], (np.arange(K) - (K - 1) / 2) * 0.0625)  # k slower, up
        assert handle["entry/sample/rotation_angle"][()] == truth["rotation_angle"][7] == 52.5
        assert handle["entry/sample/tilt_angle"][()] == 0 and handle["entry/sample/tilt_angle"].attrs["units"] == "deg"
        frames = data[()]
        pixel_mask = handle["entry/instrument/saxs/pixel_mask"][()]
    gap_rows = np.zeros((60, 110), bool)
    gap_rows[56:58] = True
    assert np.all(frames[:, gap_rows] == GAP) and not np.any(frames[:, ~gap_rows] == GAP)
    np.testing.assert_array_equal(pixel_mask & 1, gap_rows)
    for path in (sample.scans[0], files.empty):
        [report] = validate_file(path)
        assert (report.definition, report.errors) == ("NXswaxs_raw_scan", 0)


def test_the_integrate_step_reads_the_scan_shape_and_angles(raw, truth):
    [sample] = raw["files"].samples
    source = RawSource(files=list(sample.scans), frames="/entry/instrument/saxs/data", scan_shape="/entry/scan/shape",
                       rotation_angle="/entry/sample/rotation_angle", tilt_angle="/entry/sample/tilt_angle")
    layout = scan_layout(source)
    records = scan_records(source, layout)
    assert layout.scan_shape == (K, J) and layout.frame_shape == (60, 110)
    np.testing.assert_array_equal(records["rotation_angle"], np.arange(24) * 7.5)
    np.testing.assert_array_equal(records["tilt_angle"], truth["tilt_angle"])


def test_true_poni_and_mask(raw):
    ai = pyFAI.load(str(raw["files"].poni))
    mask = fabio.open(str(raw["files"].mask)).data.astype(bool)
    assert ai.detector.shape == (60, 110) and ai.dist == pytest.approx(0.11695)
    q = ai.center_array(unit="q_A^-1")
    chi = np.rad2deg(ai.center_array(unit="chi_rad"))
    assert np.all((chi > 0) & (chi < 180))                       # the upper half of the pattern
    np.testing.assert_array_equal(mask, (q < 0.05) | (q > 0.53) | raw_form.raw_detector().gaps)
    assert q[~mask].size > 4000


def integrate(ai, frame, mask, normalisation):
    """pyFAI directly, with the integrate parameters the truth names."""
    common = {"unit": "q_A^-1", "radial_range": raw_form.Q_RANGE, "mask": mask, "polarization_factor": 0.99,
              "normalization_factor": normalisation, "error_model": "poisson"}
    return (ai.integrate1d_ng(frame, 12, **common),
            ai.integrate2d_ng(frame, 12, 8, azimuth_range=(0.0, 180.0), **common))


def test_integrated_frames_are_the_truth_within_poisson_noise(raw, truth):
    ai = pyFAI.load(str(raw["files"].poni))
    mask = fabio.open(str(raw["files"].mask)).data
    scans = raw["files"].samples[0].scans
    one_d, segments, anisotropy = [], [], []
    for index in (2, 8, 14, 20):
        frames, i0, _ = frames_of(scans[index])
        expected = truth["expected_segments"][index].reshape(K * J, 8, 12)
        for point in np.flatnonzero(truth["expected_intensity"][index].reshape(K * J, 12)[:, 4] > 2e-4)[::3]:
            t = truth["transmission"][index].ravel()[point]
            result_1d, result_2d = integrate(ai, frames[point], mask, i0[point] * t)
            one_d.append((result_1d.intensity - expected[point].mean(axis=0)) / result_1d.sigma)
            segments.append((result_2d.intensity - expected[point]) / result_2d.sigma)
            anisotropy.append(np.ptp(expected[point][:, 5]) / expected[point][:, 5].mean())
    one_d, segments = np.array(one_d), np.array(segments)
    assert len(one_d) > 40 and np.median(anisotropy) > 0.1  # anisotropic: a wrong χ convention would show
    assert abs(segments.mean()) < 0.06 and segments.std() == pytest.approx(1.0, abs=0.05)
    assert abs(one_d.mean()) < 0.15 and one_d.std() == pytest.approx(1.0, abs=0.1)


def model_from_truth(truth) -> ForwardModel:
    support = (truth["hard_carbon_fraction"] + truth["pin_fraction"]).ravel() > 0
    return ForwardModel(
        centres=projector.voxel_centres(truth["attenuation"].shape)[support],
        component_amplitude=truth["component_amplitude"].reshape(-1, 3)[support],
        component_curve=truth["component_curve"],
        orientation_coefficients=truth["orientation_coefficients"].reshape(-1, 15)[support],
        attenuation=truth["attenuation"].ravel()[support], voxel_size_mm=truth["attrs"]["voxel_size_mm"],
        ell_max=int(truth["attrs"]["ell_max"]))


def test_noise_free_frames_integrate_to_the_bin_means(truth):
    """The discretisation error of integrating the rendered pattern (no noise): ≤ 0.1 % in 1D."""
    detector = raw_form.raw_detector()
    geometry = measurement_geometry(raw_form.RAW_SCALE)
    pattern, _, _ = raw_form.expected_frames(detector, model_from_truth(truth), geometry, 9, tuple(truth["shifts"][9]))
    expected = truth["expected_segments"][9].reshape(K * J, 8, 12)
    relative_1d, relative_2d = [], []
    for point in np.flatnonzero(expected[:, :, 4].mean(axis=1) > 2e-4)[::3]:
        result_1d, result_2d = integrate(detector.ai, pattern[point].reshape(60, 110), detector.mask, 1.0)
        relative_1d.append(result_1d.intensity / expected[point].mean(axis=0) - 1)
        relative_2d.append(result_2d.intensity / expected[point] - 1)
    relative_1d, relative_2d = np.array(relative_1d), np.array(relative_2d)
    assert np.abs(relative_1d).max() < 1.5e-3 and np.abs(relative_1d.mean(axis=0)).max() < 5e-4
    assert np.abs(relative_2d.mean(axis=0)).max() < 3e-3 and np.abs(relative_2d).max() < 2e-2


def test_expected_segments_are_the_bin_means_of_the_truth(truth):
    """Independently of the renderer: f by Legendre polynomials, averaged over 64 directions per segment,
    the full volume projected; the curves' means over each annulus by a fine trapezoid."""
    edges = truth["q_edges"]
    for k, function in enumerate(component_functions()):
        for b in range(12):
            q = np.linspace(edges[b], edges[b + 1], 20001)
            mean = np.trapezoid(function(q) * q, q) / np.trapezoid(q, q)
            assert truth["component_curve"][k, b] == pytest.approx(mean, rel=1e-6)
    index = 13
    rotation, tilt, shift = truth["rotation_angle"][index], truth["tilt_angle"][index], truth["shifts"][index]
    chi = truth["segment_chi"][:, None] + (np.arange(64) + 0.5) / 64 * 22.5 - 11.25
    cosines = truth["orientation"].reshape(-1, 3) @ scattering_directions(rotation, tilt, chi).reshape(-1, 3).T
    f = 1 + sum(beta * eval_legendre(ell, cosines) for ell, beta in zip(truth["fibre_degree"], truth["fibre_beta"])
                if ell <= 4)
    f_segments = f.reshape(-1, 8, 64).mean(axis=2)
    emission = truth["mean_intensity"].reshape(-1, 1, 12) * f_segments[:, :, None]
    matrix = projector.projection_matrix(projector.voxel_centres((16, 16, 16)), (J, K), rotation, tilt, tuple(shift))
    line = projector.forward_project(matrix, emission, (J, K)) * truth["attrs"]["voxel_size_mm"]
    np.testing.assert_allclose(np.swapaxes(line, 0, 1), truth["expected_segments"][index], rtol=1e-4,
                               atol=1e-4 * line.max())


def test_the_shifted_sample_stays_on_the_raster(truth):
    """Every voxel holding material projects its whole weight onto the 18 × 18 raster, at every shift."""
    support = (truth["hard_carbon_fraction"] + truth["pin_fraction"]).ravel() > 0
    centres = projector.voxel_centres((16, 16, 16))[support]
    assert np.abs(truth["shifts"]).max() > 1.0
    for rotation, tilt, shift in zip(truth["rotation_angle"], truth["tilt_angle"], truth["shifts"]):
        matrix = projector.projection_matrix(centres, (J, K), rotation, tilt, tuple(shift))
        np.testing.assert_allclose(np.asarray(matrix.sum(axis=0)).ravel(), 1.0, rtol=1e-12)


def test_the_diode_gives_the_true_transmission(raw, truth):
    """diode = Poisson(10 I0 T): the empty beam's ratio is 10 and every point's ratio / 10 is T, within counting."""
    _, i0_empty, diode_empty = frames_of(raw["files"].empty)
    reference = raw_form.DIODE_COUNTS_PER_I0
    assert np.mean(diode_empty / i0_empty) == pytest.approx(reference, abs=5 * reference / np.sqrt(diode_empty.sum()))
    z = []
    for index, path in enumerate(raw["files"].samples[0].scans):
        _, i0, diode = frames_of(path)
        expected = truth["transmission"][index].ravel()
        np.testing.assert_array_equal(i0, truth["i0"][index].ravel())
        z.append((diode / i0 / reference - expected) / (expected / np.sqrt(diode)))
    z = np.concatenate(z)
    assert z.size == 24 * K * J and abs(z.mean()) < 0.06 and z.std() == pytest.approx(1.0, abs=0.05)


def test_frames_are_the_seeded_poisson_draws_of_the_truth_pattern(raw, truth):
    """The same seed gives the same files: projection 0 re-rendered from the truth file with the sample's
    noise stream (its first draws) is its scan, bit for bit."""
    detector = raw_form.raw_detector()
    geometry = measurement_geometry(raw_form.RAW_SCALE)
    pattern, _, transmission = raw_form.expected_frames(detector, model_from_truth(truth), geometry, 0,
                                                        tuple(truth["shifts"][0]))
    np.testing.assert_allclose(transmission, truth["transmission"][0], rtol=1e-12)
    counts = raw_form.measure(pattern, transmission, detector, sample_streams(SEED, SAMPLES["electrode"]).noise, True)
    for drawn, written in zip((counts.frames, counts.i0, counts.diode), frames_of(raw["files"].samples[0].scans[0])):
        np.testing.assert_array_equal(drawn, written)
