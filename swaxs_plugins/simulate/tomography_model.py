"""The measurement model of the simulated SAXS tomography: sizes, acquisition geometry, projections.

A projection (Liebi et al. 2018) is, for every raster point and scattering direction n(χ)
perpendicular to the beam, the line integral along the beam of Σ_c a_c(r, q) Y_c(n), times the
transmission exp(-∫μ) of the ray. Conventions: ``docs/simulation_tomography.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from swaxs_plugins.tomo import projector
from swaxs_plugins.tomo.segments import segment_mean_harmonics

from .samples import COMPONENT_NAMES, Phantom


@dataclass(frozen=True)
class TomographyScale:
    """Sizes of one simulated experiment; ``max_shift_px`` bounds the random misalignment."""

    n_voxels: int
    n_q: int
    n_segments: int
    ell_max: int
    n_untilted: int
    tilts_deg: tuple[float, ...]
    n_per_tilt: int
    margin_px: int = 4
    max_shift_px: float = 3.0

    @property
    def raster(self) -> tuple[int, int]:
        """(J, K): raster points across the beam and up."""
        side = self.n_voxels + 2 * self.margin_px
        return side, side


SCALES = {
    "small": TomographyScale(n_voxels=28, n_q=10, n_segments=8, ell_max=4, n_untilted=72,
                             tilts_deg=(15.0, 30.0, 45.0), n_per_tilt=12),
    "paper": TomographyScale(n_voxels=100, n_q=39, n_segments=16, ell_max=6, n_untilted=72,
                             tilts_deg=(15.0, 30.0, 45.0), n_per_tilt=36),
}


@dataclass(frozen=True)
class Geometry:
    """Angles of every projection, detector segments and raster size."""

    rotation_deg: np.ndarray
    tilt_deg: np.ndarray
    segment_chi_deg: np.ndarray
    detector_shape: tuple[int, int]

    @property
    def segment_width_deg(self) -> float:
        return 180.0 / len(self.segment_chi_deg)


@dataclass(frozen=True)
class ForwardModel:
    """The phantom restricted to its support, flattened to [n_voxels, ...] for projecting."""

    centres: np.ndarray
    component_amplitude: np.ndarray
    component_curve: np.ndarray
    orientation_coefficients: np.ndarray
    attenuation: np.ndarray
    voxel_size_mm: float
    ell_max: int


def resolve_scale(scale: str) -> TomographyScale:
    """The sizes for ``scale``; a clear error for an unknown one."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got scale={scale!r}")
    return SCALES[scale]


def q_grid(n_q: int) -> np.ndarray:
    """Logarithmically spaced q bin centres from 0.01 to 0.5 1/Å."""
    return np.geomspace(0.01, 0.5, n_q)


def measurement_geometry(scale: TomographyScale) -> Geometry:
    """Untilted rotations over [0, 180)°, then each tilt with rotations over [0, 360)°."""
    rotations = [np.arange(scale.n_untilted) * 180.0 / scale.n_untilted]
    tilts = [np.zeros(scale.n_untilted)]
    for tilt in scale.tilts_deg:
        rotations.append(np.arange(scale.n_per_tilt) * 360.0 / scale.n_per_tilt)
        tilts.append(np.full(scale.n_per_tilt, tilt))
    return Geometry(
        rotation_deg=np.concatenate(rotations),
        tilt_deg=np.concatenate(tilts),
        segment_chi_deg=(np.arange(scale.n_segments) + 0.5) * 180.0 / scale.n_segments,
        detector_shape=scale.raster,
    )


def forward_model(phantom: Phantom) -> ForwardModel:
    """Keep only voxels holding material: projecting empty voxels costs time and adds nothing."""
    support = (phantom.hard_carbon_fraction + phantom.pin_fraction).ravel() > 0
    n_coefficients = phantom.orientation_coefficients.shape[-1]
    return ForwardModel(
        centres=projector.voxel_centres(phantom.attenuation.shape)[support],
        component_amplitude=phantom.component_amplitude.reshape(-1, len(COMPONENT_NAMES))[support],
        component_curve=phantom.component_curve,
        orientation_coefficients=phantom.orientation_coefficients.reshape(-1, n_coefficients)[support],
        attenuation=phantom.attenuation.ravel()[support],
        voxel_size_mm=phantom.voxel_size_mm,
        ell_max=phantom.ell_max,
    )


def segment_harmonics(geometry: Geometry, index: int, ell_max: int) -> np.ndarray:
    """Each harmonic averaged over each segment's width [n_seg, n_coeff] at projection ``index``: what a
    detector segment records (:func:`swaxs_plugins.tomo.segments.segment_mean_harmonics`)."""
    return segment_mean_harmonics(geometry.rotation_deg[index], geometry.tilt_deg[index], geometry.segment_chi_deg,
                                  geometry.segment_width_deg, ell_max)


def projection_operator(model: ForwardModel, geometry: Geometry, index: int,
                        offset: tuple[float, float]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The projection matrix of projection ``index`` (shifted by ``offset``) and its transmission [J, K]."""
    rotation, tilt = geometry.rotation_deg[index], geometry.tilt_deg[index]
    matrix = projector.projection_matrix(model.centres, geometry.detector_shape, rotation, tilt, offset)
    transmission = np.exp(-projector.forward_project(matrix, model.attenuation, geometry.detector_shape)
                          * model.voxel_size_mm)
    return matrix, transmission


def expected_projection(
    model: ForwardModel, geometry: Geometry, index: int, offset: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free counts [J, K, n_seg, n_q] and transmission [J, K] of projection ``index``.

    The orientation factor f(r, s) = Σ_c b_c(r) M[s, c] is the mean over each segment's width
    (:func:`segment_harmonics`); because m(r, q) = Σ_k A_k(r) curve_k(q), only the products A_k f are
    projected, and the q dependence is applied on the raster.
    """
    matrix, transmission = projection_operator(model, geometry, index, offset)
    orientation_factor = model.orientation_coefficients @ segment_harmonics(geometry, index, model.ell_max).T
    weighted = model.component_amplitude[:, :, None] * orientation_factor[:, None, :]
    line = projector.forward_project(matrix, weighted, geometry.detector_shape) * model.voxel_size_mm
    counts = np.einsum("jkcs,cq->jksq", line, model.component_curve) * transmission[:, :, None, None]
    return counts, transmission


def coefficient_line_integrals(
    model: ForwardModel, geometry: Geometry, index: int, offset: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Line integrals L [J, K, 3, n_coeff] of A_k(r) b_c(r) (mm), and the transmission [J, K].

    The unattenuated intensity of a ray in direction n at q is Σ_kc L_kc curve_k(q) Y_c(n): any
    direction, any q, from one projection of the 3 × n_coeff products.
    """
    matrix, transmission = projection_operator(model, geometry, index, offset)
    weighted = model.component_amplitude[:, :, None] * model.orientation_coefficients[:, None, :]
    return projector.forward_project(matrix, weighted, geometry.detector_shape) * model.voxel_size_mm, transmission
