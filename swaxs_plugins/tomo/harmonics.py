"""Real spherical harmonics of even degree, orthonormal on the unit sphere.

SAXS intensity on the sphere of scattering directions is centrosymmetric (Friedel), so only even
degrees ℓ = 0, 2, ..., ℓmax occur. Coefficient ordering: by degree, then order m = -ℓ ... ℓ, so
index ``c = ℓ(ℓ - 1)/2 + (m + ℓ)`` and there are (ℓmax + 1)(ℓmax + 2)/2 coefficients (15 for
ℓmax 4, 28 for ℓmax 6). This is the order mumott uses.

Normalisation: ∫ Y_c Y_c' dΩ = δ_cc' over the unit sphere. The real harmonics are built from
scipy's complex ones without the Condon-Shortley phase:
``Y_ℓm = √2 (-1)^m Re Y_ℓ^m`` (m > 0), ``Y_ℓ0 = Y_ℓ^0``, ``Y_ℓm = √2 (-1)^m Im Y_ℓ^|m|`` (m < 0),
which is √2 N_ℓ|m| P_ℓ^|m|(cos θ) cos(mφ) (m > 0) or sin(|m|φ) (m < 0).
Hence Y_00 = 1/√(4π) and coefficient 0 of a function is √(4π) times its mean over the sphere.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import special

MEAN_TO_COEFFICIENT_0 = float(np.sqrt(4 * np.pi))
"""Coefficient 0 divided by the spherical mean of the function it expands."""


def n_coefficients(ell_max: int) -> int:
    """Number of even-degree real harmonics up to ``ell_max`` (an even number ≥ 0)."""
    if ell_max < 0 or ell_max % 2:
        raise ValueError(f"ell_max must be an even number >= 0, got {ell_max}")
    return (ell_max + 1) * (ell_max + 2) // 2


def degrees_and_orders(ell_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Degree ℓ and order m of every coefficient index, in the documented order."""
    n_coefficients(ell_max)
    pairs = [(ell, m) for ell in range(0, ell_max + 1, 2) for m in range(-ell, ell + 1)]
    ells, ms = np.array(pairs).T
    return ells, ms


def real_sph_harm(ell_max: int, directions: np.ndarray) -> np.ndarray:
    """Real even harmonics at unit vectors ``directions`` [..., 3] → [..., n_coefficients]."""
    directions = np.asarray(directions, dtype=float)
    theta = np.arccos(np.clip(directions[..., 2], -1.0, 1.0))
    phi = np.mod(np.arctan2(directions[..., 1], directions[..., 0]), 2 * np.pi)
    ells, ms = degrees_and_orders(ell_max)
    complex_y = _complex_sph_harm(ells, np.abs(ms), theta[..., None], phi[..., None])
    sign = (-1.0) ** np.abs(ms)
    return np.where(
        ms > 0,
        np.sqrt(2) * sign * complex_y.real,
        np.where(ms < 0, np.sqrt(2) * sign * complex_y.imag, complex_y.real),
    )


def fibre_coefficients(axes: np.ndarray, betas: Mapping[int, float], ell_max: int) -> np.ndarray:
    """Coefficients [..., n_coefficients] of f(n) = 1 + Σ_ℓ β_ℓ P_ℓ(n · u) for unit axes u [..., 3].

    f is a fibre-symmetric (uniaxial) distribution about u with spherical mean 1, so coefficient
    0 is √(4π). By the addition theorem P_ℓ(n · u) = 4π/(2ℓ+1) Σ_m Y_ℓm(n) Y_ℓm(u), so the
    degree-ℓ coefficients are β_ℓ 4π/(2ℓ+1) Y_ℓm(u). Degrees above ``ell_max`` are dropped.
    """
    ells, _ = degrees_and_orders(ell_max)
    weights = np.array([betas.get(int(ell), 0.0) * 4 * np.pi / (2 * ell + 1) for ell in ells])
    coefficients = real_sph_harm(ell_max, axes) * weights
    coefficients[..., 0] = MEAN_TO_COEFFICIENT_0
    return coefficients


def _complex_sph_harm(ell: np.ndarray, m: np.ndarray, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """scipy's complex orthonormal Y_ℓ^m(θ polar, φ azimuth), across scipy versions."""
    if hasattr(special, "sph_harm_y"):
        return special.sph_harm_y(ell, m, theta, phi)
    return special.sph_harm(m, ell, phi, theta)
