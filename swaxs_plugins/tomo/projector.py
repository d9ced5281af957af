"""Parallel-beam projector with one rotation axis and one tilt axis, and its exact adjoint.

Geometry (all lengths in voxel units, see ``docs/simulation_tomography.md``):

* Sample frame: volume index axes (x, y, z) = array axes (0, 1, 2); z is the pin axis, which is
  the rotation axis at zero tilt. The origin is the centre of the volume.
* Laboratory frame: the beam travels along +y_lab; x_lab is horizontal and perpendicular to the
  beam, z_lab points up.
* A sample point r maps to the laboratory as ``R @ r`` with ``R = R_x(tilt) @ R_z(rotation)``:
  the sample is first rotated about its own z axis (inner axis), then the rotation axis is
  tilted about x_lab (outer axis). Both rotations are right-handed (positive angle is
  counter-clockwise seen from the positive end of the axis).
* Detector raster (J, K): j runs along +x_lab, k along +z_lab; the rotation axis projects onto
  j = (J - 1) / 2 and the volume centre onto k = (K - 1) / 2.

The projector is voxel driven: each voxel is represented by ``subsamples``³ points (2³ by
default), each projected onto the (j, k) raster and spread over the four nearest raster points
with bilinear weights. The weights of one voxel sum to one, so the integral of a projection
equals the integral of the volume and a projection value is a path length (voxel units) times
the density. Sub-sampling removes the moiré of one point per voxel (7 % at 45° rotation, 0.8 %
with 2³ points, where the true projection is linear); edges are smoothed over about one pixel.
The matrix is sparse (4 entries per point); the adjoint is its transpose, exact by construction.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def rotation_matrix(rotation_deg: float, tilt_deg: float) -> np.ndarray:
    """Sample-to-laboratory rotation ``R_x(tilt) @ R_z(rotation)`` (3 x 3)."""
    w, t = np.deg2rad(rotation_deg), np.deg2rad(tilt_deg)
    rot_z = np.array([[np.cos(w), -np.sin(w), 0.0], [np.sin(w), np.cos(w), 0.0], [0.0, 0.0, 1.0]])
    rot_x = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])
    return rot_x @ rot_z


def detector_frame(rotation_deg: float, tilt_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (j, k, beam) of one projection, expressed in the sample frame.

    They are the rows of the sample-to-laboratory rotation: x_lab, z_lab and y_lab seen from the
    sample.
    """
    rot = rotation_matrix(rotation_deg, tilt_deg)
    return rot[0], rot[2], rot[1]


def voxel_centres(volume_shape: tuple[int, int, int]) -> np.ndarray:
    """Centres of all voxels [n_voxels, 3] (C order), in voxel units about the volume centre."""
    axes = [np.arange(n) - (n - 1) / 2 for n in volume_shape]
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1)


def projection_matrix(
    centres: np.ndarray,
    detector_shape: tuple[int, int],
    rotation_deg: float,
    tilt_deg: float,
    offset: tuple[float, float] = (0.0, 0.0),
    subsamples: int = 2,
) -> sparse.csr_matrix:
    """Sparse matrix [J*K, n_voxels] mapping voxel values to one projection (C order raster).

    ``centres`` are voxel centres from :func:`voxel_centres` (or a subset of them, e.g. the
    support of a sample). ``offset`` = (dj, dk) translates the sample on the raster by that many
    pixels: the projection image content moves to larger j (k) for positive dj (dk). Raster
    points outside the detector are dropped; choose the detector large enough for the sample.
    ``subsamples`` points per voxel edge share the voxel's weight (see the module notes).
    """
    n_j, n_k = detector_shape
    j_hat, k_hat, _ = detector_frame(rotation_deg, tilt_deg)
    sub = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    sub_points = np.stack(np.meshgrid(sub, sub, sub, indexing="ij"), axis=-1).reshape(-1, 3)
    j = ((centres @ j_hat)[:, None] + sub_points @ j_hat).ravel() + (n_j - 1) / 2 + offset[0]
    k = ((centres @ k_hat)[:, None] + sub_points @ k_hat).ravel() + (n_k - 1) / 2 + offset[1]
    j0, k0 = np.floor(j), np.floor(k)
    fj, fk = j - j0, k - k0
    voxel = np.repeat(np.arange(len(centres)), len(sub_points))
    share = 1.0 / len(sub_points)
    rows, cols, weights = [], [], []
    for dj, wj in ((0, 1 - fj), (1, fj)):
        for dk, wk in ((0, 1 - fk), (1, fk)):
            jj, kk = j0.astype(np.int64) + dj, k0.astype(np.int64) + dk
            inside = (jj >= 0) & (jj < n_j) & (kk >= 0) & (kk < n_k)
            rows.append((jj * n_k + kk)[inside])
            cols.append(voxel[inside])
            weights.append((share * wj * wk)[inside])
    return sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_j * n_k, len(centres)),
    )


def forward_project(matrix: sparse.csr_matrix, volume: np.ndarray, detector_shape: tuple[int, int]) -> np.ndarray:
    """Project a volume [X, Y, Z, ...] (or [n_voxels, ...]) to a raster [J, K, ...].

    Trailing axes (q bins, coefficients, ...) are projected independently.
    """
    n_voxels = matrix.shape[1]
    channels = volume.shape[volume.ndim - _trailing_ndim(volume, n_voxels):]
    flat = volume.reshape(n_voxels, -1)
    return np.asarray(matrix @ flat).reshape(*detector_shape, *channels)


def back_project(matrix: sparse.csr_matrix, images: np.ndarray, n_voxels_shape: tuple[int, ...]) -> np.ndarray:
    """Adjoint of :func:`forward_project`: raster [J, K, ...] to a volume of shape
    ``n_voxels_shape + trailing axes`` (``n_voxels_shape`` is (X, Y, Z) or (n_voxels,))."""
    channels = images.shape[2:]
    flat = images.reshape(matrix.shape[0], -1)
    return np.asarray(matrix.T @ flat).reshape(*n_voxels_shape, *channels)


def _trailing_ndim(volume: np.ndarray, n_voxels: int) -> int:
    """Number of trailing (channel) axes of ``volume`` after its voxel axes."""
    size = 1
    for axis in range(volume.ndim):
        size *= volume.shape[axis]
        if size == n_voxels:
            return volume.ndim - axis - 1
    raise ValueError(f"volume of shape {volume.shape} does not hold {n_voxels} voxels")
