"""The numbers of the volume analysis: mask quantities and histogram statistics; the 2 × 2 × 2 mean
filter and the blocks inside a mask are :mod:`swaxs_plugins.tomo.blocks` (the simulator's truth uses
them too): a filtered voxel enters a histogram when its whole block lies inside the mask.

Statistics of the n values v inside: mean v̄, width σ = √((1/n) Σ (v − v̄)²) (population standard
deviation), relative width σ / v̄, and quantiles (linear interpolation between order statistics,
numpy's default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from swaxs_plugins.tomo.blocks import block_inside, mean_filter_2

__all__ = ["block_inside", "local_fraction", "mean_filter_2", "shared_edges", "Statistics"]

def local_fraction(values: np.ndarray, radius: int = 1) -> np.ndarray:
    """v / max of v over the (2r + 1)³ cube around each voxel (0 where that max is not positive).

    At a material's edge this estimates the voxel's partial-volume fraction — its intensity against
    the full voxels next to it — whatever the material's own level there, so ``local_fraction(I) >= 0.45``
    follows a surface whose brightness varies across the sample (a global threshold cannot; 0.45 rather
    than ½ because the brightest of 26 neighbours over a gradient overstates the level next to the voxel).
    """
    values = np.asarray(values, dtype=np.float64)
    peak = ndimage.maximum_filter(np.nan_to_num(values, nan=-np.inf), size=2 * int(radius) + 1, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peak > 0, values / np.where(peak > 0, peak, 1.0), 0.0)


@dataclass(frozen=True)
class Statistics:
    """Of the voxel values inside a mask (module docstring)."""

    voxels: int
    mean: float
    width: float
    quantiles: np.ndarray

    @property
    def relative_width(self) -> float:
        return self.width / self.mean if self.mean else float("nan")

    @classmethod
    def of(cls, values: np.ndarray, levels: Sequence[float]) -> Statistics:
        values = np.asarray(values, dtype=np.float64)
        return cls(voxels=int(values.size), mean=float(values.mean()), width=float(values.std()),
                   quantiles=np.quantile(values, levels))


def shared_edges(samples: Sequence[np.ndarray], bins: int) -> np.ndarray:
    """``bins`` equal bins from the smallest to the largest value of all samples (so that they compare)."""
    low = min(float(v.min()) for v in samples)
    high = max(float(v.max()) for v in samples)
    if high <= low:
        high = low + (abs(low) or 1.0) * 1e-6
    return np.linspace(low, high, bins + 1)
