"""Sub-pixel registration of projections, and the rigid translation that alignment cannot see.

Registration: scikit-image's ``phase_cross_correlation`` (the upsampled DFT of Guizar-Sicairos,
Thurman & Fienup, Opt. Lett. 33, 156 (2008)) with ``normalization=None``, i.e. the plain
cross-correlation F⁻¹(F(a) F(b)*): its peak is found on the pixel grid, then refined on a grid
1/upsample_factor finer by a matrix-product DFT around it. The default phase normalisation
(F F*/|F F*|) whitens the spectrum, which for smooth scattering images leaves mostly noise: in
the consistency loop it missed by 1.3–1.8 px where the plain correlation reached 0.08 px
(../shared/DESIGN.md §3).

The invisible translation: moving the whole sample by v (3-D) moves projection p by
(v·ĵ_p, v·k̂_p), ĵ_p and k̂_p the raster directions in the sample frame at its rotation and tilt.
Such shifts describe the same sample elsewhere, so every projection matches its re-projection
with or without them. :func:`remove_rigid_translation` takes out their least-squares part.
"""

from __future__ import annotations

import numpy as np
from skimage.registration import phase_cross_correlation

from swaxs_plugins.tomo.projector import detector_frame


def register(reference: np.ndarray, moving: np.ndarray, upsample_factor: int) -> tuple[np.ndarray, float]:
    """The (dj, dk) that moves ``moving`` onto ``reference`` (content to larger j, k for positive values), and
    scikit-image's translation-invariant normalised rms error (0: identical up to the shift and a scale)."""
    shift, error, _ = phase_cross_correlation(reference, moving, upsample_factor=upsample_factor, normalization=None)
    return np.array([shift[1], shift[0]]), float(error)


def register_all(references: np.ndarray, images: np.ndarray, upsample_factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Shifts [n, 2] (dj, dk) and errors [n] registering every image [n, K, J] to its reference."""
    results = [register(reference, image, upsample_factor) for reference, image in zip(references, images)]
    return np.array([shift for shift, _ in results]), np.array([error for _, error in results])


def translation_basis(rotation_deg: np.ndarray, tilt_deg: np.ndarray) -> np.ndarray:
    """[2n, 3]: rows (ĵ_p, k̂_p) mapping a sample translation v to the shifts (dj_p, dk_p), flattened."""
    return np.array([detector_frame(w, t)[:2] for w, t in zip(rotation_deg, tilt_deg)]).reshape(-1, 3)


def rigid_translation(shifts: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The sample translation v [3] (voxel units) whose projected shifts best fit ``shifts`` [n, 2]."""
    translation, *_ = np.linalg.lstsq(basis, shifts.reshape(-1), rcond=None)
    return translation


def remove_rigid_translation(shifts: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``shifts`` [n, 2] less their rigid-translation part: the part alignment can determine."""
    return shifts - (basis @ rigid_translation(shifts, basis)).reshape(shifts.shape)
