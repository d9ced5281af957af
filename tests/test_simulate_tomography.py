"""Tests of the SAXS tensor-tomography simulator against known answers."""

from __future__ import annotations

import h5py
import hdf5plugin  # noqa: F401  (registers the Bitshuffle filter for reading)
import numpy as np
import pytest
from scipy.special import eval_legendre
from skimage.registration import phase_cross_correlation

from swaxs_plugins.simulate.tomography import (
    MAX_SHIFT_PX,
    measurement_geometry,
    resolve_scale,
    simulate_tomography,
)
from swaxs_plugins.tomo import harmonics, projector
from swaxs_plugins.tomo.segments import scattering_directions


def sphere_quadrature(n_theta: int = 20, n_phi: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre in cos θ times uniform φ: exact for harmonics up to degree ~19."""
    nodes, weights = np.polynomial.legendre.leggauss(n_theta)
    phi = np.arange(n_phi) * 2 * np.pi / n_phi
    cos_t, phi = np.meshgrid(nodes, phi, indexing="ij")
    sin_t = np.sqrt(1 - cos_t**2)
    directions = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1).reshape(-1, 3)
    return directions, np.repeat(weights, n_phi) * 2 * np.pi / n_phi


def box_path_length(j_hat, k_hat, beam, j, k, half: float) -> np.ndarray:
    """Exact length of the rays through raster points (j, k) inside the box [-half, half]³."""
    origin = j[..., None] * j_hat + k[..., None] * k_hat
    safe = np.where(np.abs(beam) < 1e-12, 1e-12, beam)
    t1, t2 = (-half - origin) / safe, (half - origin) / safe
    entry = np.minimum(t1, t2).max(axis=-1)
    leave = np.maximum(t1, t2).min(axis=-1)
    return np.clip(leave - entry, 0, None)


def raster(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Raster coordinates (j, k) about the detector centre."""
    axis = np.arange(n) - (n - 1) / 2
    return np.meshgrid(axis, axis, indexing="ij")


# ---------------------------------------------------------------- spherical harmonics


@pytest.mark.parametrize("ell_max", [4, 6])
def test_real_harmonics_are_orthonormal(ell_max):
    directions, weights = sphere_quadrature()
    values = harmonics.real_sph_harm(ell_max, directions)
    gram = values.T @ (values * weights[:, None])
    assert values.shape == (len(directions), harmonics.n_coefficients(ell_max))
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-12)


def test_known_harmonics_and_ordering():
    ells, ms = harmonics.degrees_and_orders(4)
    assert list(ells[:6]) == [0, 2, 2, 2, 2, 2] and list(ms[:6]) == [0, -2, -1, 0, 1, 2]
    z_axis = harmonics.real_sph_harm(2, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(z_axis, [1 / np.sqrt(4 * np.pi), 0, 0, np.sqrt(5 / (4 * np.pi)), 0, 0], atol=1e-15)
    x_axis = harmonics.real_sph_harm(2, np.array([1.0, 0.0, 0.0]))  # Y_22 = √(15/16π) (x² - y²)
    np.testing.assert_allclose(x_axis[5], np.sqrt(15 / (16 * np.pi)))
    with pytest.raises(ValueError, match="ell_max"):
        harmonics.n_coefficients(3)


def test_coefficient_0_is_sqrt_4pi_times_the_mean():
    directions, weights = sphere_quadrature()
    isotropic = np.full(len(directions), 7.5)
    coefficients = harmonics.real_sph_harm(4, directions).T @ (isotropic * weights)
    assert coefficients[0] == pytest.approx(np.sqrt(4 * np.pi) * 7.5, rel=1e-13)
    assert harmonics.MEAN_TO_COEFFICIENT_0 == pytest.approx(np.sqrt(4 * np.pi))
    np.testing.assert_allclose(coefficients[1:], 0, atol=1e-12)


def test_fibre_coefficients_match_quadrature():
    directions, weights = sphere_quadrature()
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    betas = {2: 0.6, 4: 0.2, 6: 0.05}
    f = 1 + sum(beta * eval_legendre(ell, directions @ axis) for ell, beta in betas.items())
    expected = harmonics.real_sph_harm(6, directions).T @ (f * weights)
    np.testing.assert_allclose(harmonics.fibre_coefficients(axis, betas, 6), expected, atol=1e-12)


# ---------------------------------------------------------------- projector


@pytest.mark.parametrize("rotation, tilt", [(0, 0), (45, 0), (30, 0), (20, 30), (37, 45), (110, 15)])
def test_projection_of_a_cube_is_its_path_length(rotation, tilt):
    n, detector, half = 28, 40, 8
    inside = np.abs(np.arange(n) - (n - 1) / 2) < half
    cube = (inside[:, None, None] & inside[None, :, None] & inside[None, None, :]).astype(float)
    matrix = projector.projection_matrix(projector.voxel_centres(cube.shape), (detector, detector), rotation, tilt)
    image = projector.forward_project(matrix, cube, (detector, detector))
    frame = projector.detector_frame(rotation, tilt)
    j, k = raster(detector)
    exact = box_path_length(*frame, j, k, half)
    # Compare where the exact projection is linear over ±2 px: there bilinear splatting is exact
    # up to sampling of the voxel grid; at kinks it smooths by ~1 px.
    linear = exact > 0
    for dj, dk in [(1, 0), (0, 1), (1, 1), (1, -1), (2, 0), (0, 2), (2, 2), (2, -2)]:
        curvature = box_path_length(*frame, j + dj, k + dk, half) + box_path_length(*frame, j - dj, k - dk, half)
        linear &= np.abs(curvature - 2 * exact) < 1e-9
    assert linear.sum() > 40
    np.testing.assert_allclose(image[linear], exact[linear], atol=0.01 * exact.max())
    assert image.sum() == pytest.approx(cube.sum())


@pytest.mark.parametrize("rotation, tilt", [(0, 0), (45, 0), (20, 30), (37, 45)])
def test_projection_of_a_ball_is_its_chord(rotation, tilt):
    n, detector, radius = 28, 40, 11.0
    centres = projector.voxel_centres((n, n, n))
    offsets = (np.arange(5) + 0.5) / 5 - 0.5
    fraction = np.mean(
        [np.linalg.norm(centres + [a, b, c], axis=1) <= radius for a in offsets for b in offsets for c in offsets],
        axis=0,
    )
    matrix = projector.projection_matrix(centres, (detector, detector), rotation, tilt)
    image = projector.forward_project(matrix, fraction, (detector, detector))
    j, k = raster(detector)
    rho = np.hypot(j, k)
    chord = 2 * np.sqrt(np.clip(radius**2 - rho**2, 0, None))
    inner = rho < radius - 2
    np.testing.assert_allclose(image[inner], chord[inner], atol=0.02 * 2 * radius)


def test_offset_translates_the_projection():
    centres = projector.voxel_centres((16, 16, 16))
    volume = np.random.default_rng(1).random(len(centres))
    plain = projector.forward_project(projector.projection_matrix(centres, (24, 24), 30, 15), volume, (24, 24))
    moved = projector.projection_matrix(centres, (24, 24), 30, 15, offset=(2.0, -1.0))
    np.testing.assert_allclose(projector.forward_project(moved, volume, (24, 24))[2:, :-1], plain[:-2, 1:], atol=1e-12)


def test_adjoint_passes_the_dot_product_test():
    rng = np.random.default_rng(2)
    shape, detector = (12, 14, 10), (20, 22)
    matrix = projector.projection_matrix(projector.voxel_centres(shape), detector, 33.0, 30.0, offset=(0.4, -1.3))
    x = rng.standard_normal((*shape, 3))
    y = rng.standard_normal((*detector, 3))
    forward = projector.forward_project(matrix, x, detector)
    adjoint = projector.back_project(matrix, y, shape)
    assert forward.shape == (*detector, 3) and adjoint.shape == (*shape, 3)
    assert np.sum(forward * y) == pytest.approx(np.sum(x * adjoint), rel=1e-12)


# ---------------------------------------------------------------- simulator


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Noisy default run, the same again, and noise-free runs with and without shifts."""
    root = tmp_path_factory.mktemp("tomo")
    return {
        "noisy": simulate_tomography(root / "noisy", seed=3),
        "again": simulate_tomography(root / "again", seed=3),
        "clean": simulate_tomography(root / "clean", seed=3, noise=False, misalign=False),
        "shifted": simulate_tomography(root / "shifted", seed=3, noise=False),
    }


def read(path, *names):
    with h5py.File(path, "r") as f:
        return [f[name][()] for name in names]


def test_unknown_scale_names_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        simulate_tomography(tmp_path, scale="huge")
    with pytest.raises(ValueError, match="scale"):
        resolve_scale("medium")


def test_projection_file_layout(runs):
    sizes = resolve_scale("small")
    n_proj = sizes.n_untilted + len(sizes.tilts_deg) * sizes.n_per_tilt
    side = sizes.n_voxels + 2 * sizes.margin_px
    with h5py.File(runs["noisy"].projections, "r") as f:
        assert f.attrs["default"] == "entry" and f["entry"].attrs["default"] == "data"
        group = f["entry/data"]
        assert group.attrs["NX_class"] == "NXdata" and group.attrs["signal"] == "data"
        data = group["data"]
        assert data.shape == (n_proj, side, side, sizes.n_segments, sizes.n_q)
        assert data.dtype == np.float32 and data.chunks == (1, side, side, sizes.n_segments, sizes.n_q)
        assert group["transmission"].shape == (n_proj, side, side)
        for axis, name in enumerate(group.attrs["axes"]):
            assert group[name].shape == (data.shape[axis],)
            assert group.attrs[f"{name}_indices"] == axis
            assert "units" in group[name].attrs and "long_name" in group[name].attrs
        assert group["rotation_angle"].attrs["units"] == "deg" and group["q"].attrs["units"] == "1/angstrom"
        assert group["tilt_angle"].shape == (n_proj,)
        np.testing.assert_allclose(group["segment_chi"][()], (np.arange(8) + 0.5) * 22.5)
        tilt = group["tilt_angle"][()]
        np.testing.assert_allclose(np.unique(tilt), [0, 15, 30, 45])
        np.testing.assert_allclose(group["rotation_angle"][tilt == 0], np.arange(72) * 2.5)
        assert f["entry/transmission"].attrs["signal"] == "transmission"
        counts = data[0]
        assert np.all(counts == np.round(counts)) and counts.max() > 1e4
        assert 0.3 < group["transmission"][()].min() < 0.9


def test_same_seed_same_arrays(runs):
    names = ("entry/data/data", "entry/data/transmission")
    for first, second in zip(read(runs["noisy"].projections, *names), read(runs["again"].projections, *names)):
        np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(*(read(runs[key].truth, "shifts")[0] for key in ("noisy", "again")))


def test_noise_is_poisson_about_the_expected_counts(runs):
    noisy, clean = (read(runs[key].projections, "entry/data/data")[0] for key in ("noisy", "clean"))
    shifts = read(runs["noisy"].truth, "shifts")[0]
    assert np.all(np.abs(shifts) <= MAX_SHIFT_PX) and np.abs(shifts).max() > 2
    shifted = read(runs["shifted"].projections, "entry/data/data")[0]
    bright = shifted > 1000
    z = (noisy[bright] - shifted[bright]) / np.sqrt(shifted[bright])
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.02)
    assert not np.array_equal(noisy, clean)


def independent_projection(truth_path, index):
    """Counts and transmission of one projection from the truth file, evaluating f(n) by Legendre
    polynomials of n · u (not through the harmonics), averaged over each segment's width by 12-node
    Gauss–Legendre (the simulator uses 8 on the harmonics), and projecting the full volume."""
    with h5py.File(truth_path, "r") as truth:
        mean = truth["mean_intensity"][()]
        axes = truth["orientation"][()]
        mu = truth["attenuation"][()]
        degrees, betas = truth["fibre_degree"][()], truth["fibre_beta"][()]
        rotation, tilt = truth["rotation_angle"][index], truth["tilt_angle"][index]
        chi, shift = truth["segment_chi"][()], truth["shifts"][index]
        voxel, ell_max = truth.attrs["voxel_size_mm"], truth.attrs["ell_max"]
    side = mu.shape[0] + 2 * resolve_scale("small").margin_px
    matrix = projector.projection_matrix(projector.voxel_centres(mu.shape), (side, side), rotation, tilt, tuple(shift))
    width = 180.0 / len(chi)
    nodes, weights = np.polynomial.legendre.leggauss(12)  # not the simulator's 8 nodes; exact for these degrees
    f = np.zeros((axes[..., 0].size, len(chi)))
    for s, centre in enumerate(chi):  # the mean over the segment's width
        cosines = axes.reshape(-1, 3) @ scattering_directions(rotation, tilt, centre + nodes * width / 2).T
        f[:, s] = (1 + sum(beta * eval_legendre(ell, cosines) for ell, beta in zip(degrees, betas)
                           if ell <= ell_max)) @ weights / 2
    emission = mean.reshape(-1, 1, mean.shape[-1]) * f[:, :, None]
    transmission = np.exp(-projector.forward_project(matrix, mu, (side, side)) * voxel)
    counts = projector.forward_project(matrix, emission, (side, side)) * voxel * transmission[:, :, None, None]
    return counts, transmission, matrix, f


@pytest.mark.parametrize("index", [0, 17, 80, 107])
def test_clean_data_is_the_projection_of_the_truth(runs, index):
    data, transmission = read(runs["clean"].projections, "entry/data/data", "entry/data/transmission")
    counts, expected_transmission, _, _ = independent_projection(runs["clean"].truth, index)
    np.testing.assert_allclose(data[index], counts, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(transmission[index], expected_transmission, rtol=1e-6)


def test_shifted_data_is_the_projection_of_the_shifted_truth(runs):
    data = read(runs["shifted"].projections, "entry/data/data")[0]
    counts = independent_projection(runs["shifted"].truth, 90)[0]
    np.testing.assert_allclose(data[90], counts, rtol=1e-5, atol=1e-3)


def test_stored_shifts_are_the_applied_ones(runs):
    shifted, clean = (read(runs[key].projections, "entry/data/data")[0] for key in ("shifted", "clean"))
    shifts = read(runs["shifted"].truth, "shifts")[0]
    assert np.all(read(runs["clean"].truth, "shifts")[0] == 0)
    q = read(runs["clean"].projections, "entry/data/q")[0]
    band = (q >= 0.12) & (q <= 0.3)
    for index in range(0, len(shifts), 3):
        reference = clean[index][..., band].sum(axis=(-1, -2))
        moving = shifted[index][..., band].sum(axis=(-1, -2))
        found, _, _ = phase_cross_correlation(reference, moving, upsample_factor=20, normalization=None)
        # The returned shift registers the moving image onto the reference: minus the applied one.
        np.testing.assert_allclose(-found, shifts[index], atol=0.1)


def test_segment_mean_is_the_funk_hecke_projection(runs):
    """The detector sees a great circle of scattering directions, not the whole sphere: the mean
    over segments of degree ℓ is P_ℓ(0) times its value along the beam (Funk-Hecke), so the
    segment mean equals the ℓ = 0 projection only for an isotropic sample."""
    data = read(runs["clean"].projections, "entry/data/data")[0]
    with h5py.File(runs["clean"].truth, "r") as truth:
        mean, axes = truth["mean_intensity"][()], truth["orientation"][()]
        degrees, betas = truth["fibre_degree"][()], truth["fibre_beta"][()]
        rotation, tilt, ell_max = truth["rotation_angle"][100], truth["tilt_angle"][100], truth.attrs["ell_max"]
        voxel = truth.attrs["voxel_size_mm"]
    _, transmission, matrix, _ = independent_projection(runs["clean"].truth, 100)
    side = transmission.shape[0]
    beam = projector.detector_frame(rotation, tilt)[2]
    along_beam = axes.reshape(-1, 3) @ beam
    great_circle_mean = 1 + sum(
        beta * eval_legendre(ell, 0.0) * eval_legendre(ell, along_beam) for ell, beta in zip(degrees, betas)
        if ell <= ell_max
    )
    flat_mean = mean.reshape(-1, mean.shape[-1])
    isotropic = projector.forward_project(matrix, flat_mean, (side, side)) * voxel * transmission[:, :, None]
    funk_hecke = (projector.forward_project(matrix, flat_mean * great_circle_mean[:, None], (side, side))
                  * voxel * transmission[:, :, None])
    segment_mean = data[100].mean(axis=2)
    np.testing.assert_allclose(segment_mean, funk_hecke, rtol=1e-5, atol=1e-3)
    bright = isotropic > 0.2 * isotropic.max()
    assert np.abs(segment_mean[bright] / isotropic[bright] - 1).max() > 0.05


def test_segment_mean_of_an_isotropic_sample_is_the_l0_projection():
    geometry = measurement_geometry(resolve_scale("small"))
    rng = np.random.default_rng(4)
    centres = projector.voxel_centres((10, 10, 10))
    coefficients = np.zeros((len(centres), harmonics.n_coefficients(4)))
    coefficients[:, 0] = rng.random(len(centres)) * harmonics.MEAN_TO_COEFFICIENT_0
    matrix = projector.projection_matrix(centres, (16, 16), geometry.rotation_deg[90], geometry.tilt_deg[90])
    directions = scattering_directions(geometry.rotation_deg[90], geometry.tilt_deg[90], geometry.segment_chi_deg)
    segments = projector.forward_project(matrix, coefficients @ harmonics.real_sph_harm(4, directions).T, (16, 16))
    l0 = projector.forward_project(matrix, coefficients[:, 0] / harmonics.MEAN_TO_COEFFICIENT_0, (16, 16))
    np.testing.assert_allclose(segments.mean(axis=-1), l0, rtol=1e-12)


def test_truth_file_contents(runs):
    with h5py.File(runs["noisy"].truth, "r") as truth:
        n = truth["mask"].shape[0]
        mean, b = truth["mean_intensity"][()], truth["orientation_coefficients"][()]
        axes = truth["orientation"][()]
        assert truth.attrs["seed"] == 3 and truth.attrs["scale"] == "small"
        assert b.shape == (n, n, n, 15) and mean.shape == (n, n, n, 10)
        np.testing.assert_allclose(b[..., 0], np.sqrt(4 * np.pi))
        np.testing.assert_allclose(np.linalg.norm(axes, axis=-1), 1)
        mask = truth["mask"][()]
        assert mask.dtype == bool and 500 < mask.sum() < 0.2 * n**3
        assert np.all(mean[~(truth["hard_carbon_fraction"][()] > 0)] == 0)
        assert truth["shifts"].shape == (108, 2)
        np.testing.assert_allclose(mean, truth["component_amplitude"][()] @ truth["component_curve"][()], rtol=1e-12)

