"""Reconstruction engines: one library's parallel-beam FBP and iterative method for slices [K, J, J]
from untilted projections [n, K, J], in the geometry of :mod:`swaxs_plugins.tomo.slices` (rotation
axis on the raster centre (J − 1)/2, volume [z, y, x], z = k).

:class:`SlicesEngine` (the default, ``reconstruct/scalar``) uses :mod:`swaxs_plugins.tomo.slices`:

- FBP with angular weights for any set of angles (Kak & Slaney 1988, eq. 3.61, as a Riemann sum):

      f = Σ_a Δθ_a B_aᵀ (h ∗ p_a),   Δθ_a = ½ (gaps to the previous and the next angle on the 180° circle)

  (Δθ_a = π/N for N angles evenly spread over 180°), h the Ram–Lak kernel of unit spacing and B the
  projector with one point per pixel (pixel-centre linear interpolation, as scikit-image's iradon),
  which measured sharper than the matched two-by-two-point adjoint (docs/steps/reconstruct.md).
- Its variance, exact for independent projection errors σ (the kernel truncated at ±16 px, which
  leaves out < 1e-5 of Σ h²):

      Var f_v = Σ_a Σ_m Δθ_a² C[(a, m), v]² σ²_{a, m},   C = blockdiag(T) B,  T_jm = h_{j−m}

- SIRT with non-negativity on the projector A of the simulator (two-by-two points per pixel):
  x ← max(0, x + C_A Aᵀ R_A (p − A x)), from the non-negative part of the FBP volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from scipy import sparse

from swaxs_plugins.tomo import slices

VARIANCE_KERNEL_HALF_WIDTH = 16


def angular_weights(angles_deg: Sequence[float]) -> np.ndarray:
    """Δθ_a [rad] of the FBP sum (module docstring); they add up to π."""
    folded = np.mod(np.asarray(angles_deg, dtype=np.float64), 180.0)
    order = np.argsort(folded, kind="stable")
    ordered = folded[order]
    after = np.diff(np.append(ordered, ordered[0] + 180.0))
    weights = np.empty_like(ordered)
    weights[order] = np.deg2rad((after + np.roll(after, 1)) / 2)
    return weights


def largest_gap_deg(angles_deg: Sequence[float]) -> float:
    """The largest gap [deg] between projection directions on the 180° circle."""
    ordered = np.sort(np.mod(np.asarray(angles_deg, dtype=np.float64), 180.0))
    return float(np.diff(np.append(ordered, ordered[0] + 180.0)).max())


def ram_lak_matrix(width: int, n_angles: int, half_width: int = VARIANCE_KERNEL_HALF_WIDTH) -> sparse.csr_matrix:
    """blockdiag(T) [n·J, n·J], T_jm = h_{j−m} for |j − m| ≤ half_width (h: Ram–Lak of unit spacing)."""
    offsets = np.arange(-min(half_width, width - 1), min(half_width, width - 1) + 1)
    odd = -1.0 / (np.pi * np.maximum(np.abs(offsets), 1)) ** 2
    values = np.where(offsets == 0, 0.25, np.where(offsets % 2 == 1, odd, 0.0))
    block = sparse.diags(values, offsets, shape=(width, width), format="csr")
    return sparse.kron(sparse.identity(n_angles, format="csr"), block, format="csr")


class Engine:
    """A library's FBP and iterative method on slices; ``model`` is the simulator's projector at tilt 0
    (two-by-two points per pixel), with which every engine's volume is re-projected for its residual."""

    name: ClassVar[str] = ""
    library: ClassVar[str] = ""
    iterative_name: ClassVar[str] = "SIRT"
    gives_errors: ClassVar[bool] = False

    def __init__(self, width: int, angles_deg: Sequence[float], *, errors: bool = False) -> None:
        self.width = int(width)
        self.angles = np.asarray(angles_deg, dtype=np.float64)
        self.model = slices.slice_projector(self.width, self.angles)

    def fbp(self, sinograms: np.ndarray) -> np.ndarray:
        """Slices [S, J, J] from projections [n, S, J]."""
        raise NotImplementedError

    def iterative(self, sinograms: np.ndarray, iterations: int, nonnegative: bool) -> np.ndarray:
        """The engine's iterative method (its own start: ours from the non-negative part of the FBP volume)."""
        raise NotImplementedError

    def fbp_variance(self, variances: np.ndarray) -> np.ndarray | None:
        """Variance [S, J, J] of the FBP slices for independent projection variances [n, S, J]; None if the
        engine gives none."""
        return None

    def reproject(self, volume: np.ndarray) -> np.ndarray:
        """Projections [n, S, J] of slices [S, J, J] by ``model``."""
        return slices.forward(self.model, volume)


class SlicesEngine(Engine):
    """The project's slice projector, FBP and SIRT (module docstring)."""

    name = "scalar"
    library = "swaxs_plugins.tomo.slices"
    gives_errors = True

    def __init__(self, width: int, angles_deg: Sequence[float], *, errors: bool = False) -> None:
        super().__init__(width, angles_deg)
        self.back = slices.slice_projector(self.width, self.angles, subsamples=1)
        self.weights = angular_weights(self.angles)
        self.squared = None
        if errors:
            filtered = ram_lak_matrix(self.width, self.angles.size) @ self.back
            self.squared = filtered.multiply(filtered).tocsr()

    def fbp(self, sinograms: np.ndarray) -> np.ndarray:
        return slices.backward(self.back, slices.ram_lak(sinograms) * self.weights[:, None, None])

    def iterative(self, sinograms: np.ndarray, iterations: int, nonnegative: bool) -> np.ndarray:
        start = np.maximum(self.fbp(sinograms), 0.0)
        return slices.sirt(sinograms, self.angles, iterations, nonnegative=nonnegative, start=start, matrix=self.model)

    def fbp_variance(self, variances: np.ndarray) -> np.ndarray | None:
        if self.squared is None:
            return None
        return slices.backward(self.squared, variances * (self.weights**2)[:, None, None])
