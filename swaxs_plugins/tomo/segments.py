"""Scattering directions of detector segments, and the spherical harmonics a segment records.

At small angles the scattering vector is perpendicular to the beam: the segment at azimuth χ of a
projection with detector unit vectors ĵ, k̂ (sample frame, :func:`.projector.detector_frame`)
probes the direction

    n(χ) = cos χ ĵ + sin χ k̂      (χ = 0 along +j, χ = 90° along +k)

and a detector segment of width Δχ records the mean over its width,

    M[s, c] = (1/Δχ) ∫_{χ_s − Δχ/2}^{χ_s + Δχ/2} Y_c(n(χ)) dχ,

so that a voxel with coefficients a_c adds Σ_c a_c M[s, c] to segment s of every ray through it.
Y_c(n(χ)) is a trigonometric polynomial of degree ≤ ℓmax in χ: Gauss–Legendre with 8 nodes per
segment integrates it to round-off for ℓmax ≤ 14. (At the segment centre instead of the mean, the
degree-4 part of a 22.5° segment would be 10 % too large.)
"""

from __future__ import annotations

import numpy as np

from swaxs_plugins.tomo import harmonics, projector

GAUSS_NODES = 8


def scattering_directions(rotation_deg: float, tilt_deg: float, chi_deg: np.ndarray) -> np.ndarray:
    """Scattering-vector directions [..., 3] in the sample frame: cos χ ĵ + sin χ k̂."""
    j_hat, k_hat, _ = projector.detector_frame(rotation_deg, tilt_deg)
    chi = np.deg2rad(np.asarray(chi_deg))[..., None]
    return np.cos(chi) * j_hat + np.sin(chi) * k_hat


def segment_mean_harmonics(rotation_deg: float, tilt_deg: float, chi_deg: np.ndarray, width_deg: float,
                           ell_max: int, nodes: int = GAUSS_NODES) -> np.ndarray:
    """M [n_seg, n_coefficients]: each harmonic averaged over each segment's width (module docstring)."""
    points, weights = np.polynomial.legendre.leggauss(nodes)
    chi = np.asarray(chi_deg, dtype=np.float64)[:, None] + points[None, :] * width_deg / 2
    directions = scattering_directions(rotation_deg, tilt_deg, chi)
    return np.einsum("n,snc->sc", weights / 2, harmonics.real_sph_harm(ell_max, directions))
