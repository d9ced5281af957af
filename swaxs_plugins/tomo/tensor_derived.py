"""Volumes derived from spherical-harmonic coefficients a [..., C] (real, even, orthonormal; :mod:`.harmonics`):

- mean intensity over the sphere:     m = a₀ / √(4π)   (Y₀₀ = 1/√(4π));
- degree of anisotropy:               α = √(Σ_{c ≥ 1} a_c²) / a₀, the standard deviation of the function over
                                      the sphere divided by its mean (0 for an isotropic voxel);
- main orientation:                   the eigenvector of the largest eigenvalue of the rank-2 tensor T of
                                      the degree-≤ 2 part, f₂(n) = nᵀ T n (T = a₀ I / √(4π) + Σ_m a_2m Q_m,
                                      Y_2m(n) = nᵀ Q_m n): the direction of the largest degree-2 intensity,
                                      sign-free (a unit vector with z ≥ 0, in the sample frame x, y, z).

The segment mean of a projection is not the ℓ = 0 projection: along the ring of directions a segment
sees, degree ℓ contributes P_ℓ(0) times its component along the beam (Funk–Hecke), so the mean intensity
is taken from a₀ alone, never from segment means.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from swaxs_plugins.tomo import harmonics


@cache
def degree_two_matrices() -> np.ndarray:
    """Q_m [5, 3, 3]: symmetric traceless with Y_2m(n) = nᵀ Q_m n (fitted exactly on 40 directions)."""
    rng = np.random.default_rng(0)
    n = rng.standard_normal((40, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    values = harmonics.real_sph_harm(2, n)[:, 1:6]
    monomials = np.stack([n[:, 0] ** 2, n[:, 1] ** 2, n[:, 2] ** 2, 2 * n[:, 0] * n[:, 1], 2 * n[:, 0] * n[:, 2],
                          2 * n[:, 1] * n[:, 2]], axis=1)
    solution = np.linalg.lstsq(monomials, values, rcond=None)[0]          # [6, 5]
    xx, yy, zz, xy, xz, yz = solution
    matrices = np.stack([np.array([[xx[m], xy[m], xz[m]], [xy[m], yy[m], yz[m]], [xz[m], yz[m], zz[m]]])
                         for m in range(5)])
    return matrices - np.trace(matrices, axis1=1, axis2=2)[:, None, None] * np.eye(3) / 3


def mean_intensity(coefficients: np.ndarray) -> np.ndarray:
    return coefficients[..., 0] / harmonics.MEAN_TO_COEFFICIENT_0


def degree_of_anisotropy(coefficients: np.ndarray) -> np.ndarray:
    """α of the module docstring; NaN where a₀ ≤ 0."""
    a0 = coefficients[..., 0].astype(np.float64)
    spread = np.sqrt(np.sum(coefficients[..., 1:].astype(np.float64) ** 2, axis=-1))
    return np.where(a0 > 0, spread / np.where(a0 > 0, a0, 1.0), np.nan)


def rank_two_tensor(coefficients: np.ndarray) -> np.ndarray:
    """T [..., 3, 3] of the degree-≤ 2 part (module docstring)."""
    isotropic = coefficients[..., 0, None, None].astype(np.float64) / harmonics.MEAN_TO_COEFFICIENT_0 * np.eye(3)
    if coefficients.shape[-1] < 6:
        return isotropic
    return isotropic + np.einsum("...m,mij->...ij", coefficients[..., 1:6].astype(np.float64), degree_two_matrices())


def main_orientation(coefficients: np.ndarray, ell_max: int | None = None) -> np.ndarray:
    """Unit vectors [..., 3] (x, y, z; z ≥ 0) of the module docstring."""
    _, vectors = np.linalg.eigh(rank_two_tensor(coefficients))
    main = vectors[..., :, -1]
    return np.where(main[..., 2:3] < 0, -main, main)
