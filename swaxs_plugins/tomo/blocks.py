"""The 2 × 2 × 2 block operations of the volume analysis, shared by the ``volume`` step and the
simulator's truth (which must define the filtered quantity exactly as the step does).

The mean filter (shape kept; the last plane along each axis repeated at the far edge):

    g(z, y, x) = (1/8) Σ_{a, b, c ∈ {0, 1}} f(z + a, y + b, x + c)

so g(i) is the mean of a 2 × 2 × 2 block whose centre lies half a voxel beyond voxel i along every
axis. A filtered voxel belongs to a region when its whole block lies inside the region's mask
(:func:`block_inside`): a block across the mask's edge would mix in the outside.
"""

from __future__ import annotations

import numpy as np

OFFSETS = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]


def mean_filter_2(volume: np.ndarray) -> np.ndarray:
    """The 2 × 2 × 2 mean filter g of ``volume`` [z, y, x] (module docstring)."""
    padded = np.pad(np.asarray(volume, dtype=np.float64), [(0, 1)] * 3, mode="edge")
    nz, ny, nx = volume.shape
    return sum(padded[a:a + nz, b:b + ny, c:c + nx] for a, b, c in OFFSETS) / 8.0


def block_inside(mask: np.ndarray) -> np.ndarray:
    """Voxels i whose 2 × 2 × 2 block i … i + 1 lies inside ``mask`` (outside the volume is outside)."""
    padded = np.pad(np.asarray(mask, dtype=bool), [(0, 1)] * 3, constant_values=False)
    nz, ny, nx = mask.shape
    inside = np.ones(mask.shape, bool)
    for a, b, c in OFFSETS:
        inside &= padded[a:a + nz, b:b + ny, c:c + nx]
    return inside
