"""Parallel-beam tomography slice by slice: the untilted projections' projector, its adjoint, FBP and SIRT.

Geometry: the one of :mod:`.projector` at tilt 0 (docs/simulation_tomography.md). A volume is
[z, y, x] (z up along the rotation axis; x across the beam and y along it at rotation 0), a
slice [y, x] is J × J for projections J raster points wide, pixel centres at index − (J − 1)/2,
and at rotation w a point (x, y) projects onto

    j = x cos w − y sin w + (J − 1)/2,

the rotation axis on the centre of the raster for any J (odd or even). Like :mod:`.projector`,
every pixel is ``subsamples``² points (2² by default), each spread over the two nearest raster
points with linear weights: the projector is a sparse matrix A [n·J, J²], the same for every
slice, and its adjoint is Aᵀ. All slices are projected or back-projected in one product.

- FBP (Kak & Slaney 1988, eq. 3.61): f = (π / N) Aᵀ (h ∗ p), h the Ram–Lak kernel of unit spacing
  (h₀ = ¼, hₙ = −1/(π n)² for odd n, 0 for even n), convolved with zero padding; for N
  projections evenly spread over 180°.
- SIRT: x ← max(0, x + C Aᵀ R (p − A x)), R and C the inverse row and column sums of A.

scikit-image's radon/iradon put the rotation axis on pixel J // 2, half a pixel off this raster's
centre when J is even (the simulator's 36), and have no parameter for it; these routines keep the
raster's own centre and process every slice at once (``benchmarks/reconstruction.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse


def slice_projector(width: int, angles_deg: Sequence[float], subsamples: int = 2) -> sparse.csr_matrix:
    """A [n·J, J²]: row a·J + j of projection angle a, column y·J + x of the slice (module docstring)."""
    centre = (width - 1) / 2
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    y, x = np.meshgrid(np.arange(width) - centre, np.arange(width) - centre, indexing="ij")
    grid = (width * width, subsamples, subsamples)
    points_y = np.broadcast_to(y.ravel()[:, None, None] + offsets[None, :, None], grid).reshape(-1)
    points_x = np.broadcast_to(x.ravel()[:, None, None] + offsets[None, None, :], grid).reshape(-1)
    pixel = np.repeat(np.arange(width * width), subsamples * subsamples)
    share = 1.0 / subsamples**2
    rows, cols, weights = [], [], []
    for index, angle in enumerate(angles):
        position = points_x * np.cos(angle) - points_y * np.sin(angle) + centre
        low = np.floor(position).astype(np.int64)
        fraction = position - low
        for neighbour, weight in ((low, 1.0 - fraction), (low + 1, fraction)):
            inside = (neighbour >= 0) & (neighbour < width)
            rows.append(index * width + neighbour[inside])
            cols.append(pixel[inside])
            weights.append(share * weight[inside])
    return sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(len(angles) * width, width * width))


def forward(matrix: sparse.csr_matrix, slices: np.ndarray) -> np.ndarray:
    """Projections [n, K, J] of slices [K, J, J] (y, x)."""
    n_slices, width = slices.shape[0], slices.shape[-1]
    projected = matrix @ slices.reshape(n_slices, width * width).T
    return np.ascontiguousarray(projected.reshape(-1, width, n_slices).transpose(0, 2, 1))


def backward(matrix: sparse.csr_matrix, projections: np.ndarray) -> np.ndarray:
    """The adjoint: slices [K, J, J] from projections [n, K, J]."""
    n, n_slices, width = projections.shape
    stacked = projections.transpose(0, 2, 1).reshape(n * width, n_slices)
    return np.ascontiguousarray((matrix.T @ stacked).T.reshape(n_slices, width, width))


def ram_lak(projections: np.ndarray) -> np.ndarray:
    """Projections [..., J] convolved with the Ram–Lak kernel of unit spacing (zero padding to ≥ 2J)."""
    width = projections.shape[-1]
    size = 1 << int(np.ceil(np.log2(2 * width)))
    n = np.concatenate([np.arange(0, size // 2 + 1), np.arange(-(size // 2) + 1, 0)])
    kernel = np.zeros(size)
    kernel[0] = 0.25
    odd = n % 2 == 1
    kernel[odd] = -1.0 / (np.pi * n[odd]) ** 2
    filtered = np.fft.irfft(np.fft.rfft(projections, n=size, axis=-1) * np.fft.rfft(kernel), n=size, axis=-1)
    return filtered[..., :width]


def fbp(projections: np.ndarray, angles_deg: Sequence[float], matrix: sparse.csr_matrix | None = None) -> np.ndarray:
    """Filtered back-projection of projections [n, K, J] over 180° to slices [K, J, J]."""
    angles = np.asarray(angles_deg, dtype=np.float64)
    matrix = slice_projector(projections.shape[-1], angles) if matrix is None else matrix
    return backward(matrix, ram_lak(projections)) * (np.pi / len(angles))


def sirt(projections: np.ndarray, angles_deg: Sequence[float], iterations: int, *, nonnegative: bool = True,
         start: np.ndarray | None = None, matrix: sparse.csr_matrix | None = None) -> np.ndarray:
    """SIRT (module docstring) of projections [n, K, J] to slices [K, J, J], from ``start`` or zero."""
    matrix = slice_projector(projections.shape[-1], angles_deg) if matrix is None else matrix
    width = projections.shape[-1]
    row_sums = np.asarray(matrix.sum(axis=1)).reshape(-1, 1, width)
    column_sums = np.asarray(matrix.sum(axis=0)).reshape(1, width, width)
    inverse_rows = np.where(row_sums > 0, 1.0 / np.where(row_sums > 0, row_sums, 1.0), 0.0)
    inverse_columns = np.where(column_sums > 0, 1.0 / np.where(column_sums > 0, column_sums, 1.0), 0.0)
    slices = np.zeros((projections.shape[1], width, width)) if start is None else np.array(start, dtype=np.float64)
    for _ in range(iterations):
        residual = (projections - forward(matrix, slices)) * inverse_rows
        slices += inverse_columns * backward(matrix, residual)
        if nonnegative:
            np.maximum(slices, 0.0, out=slices)
    return slices
