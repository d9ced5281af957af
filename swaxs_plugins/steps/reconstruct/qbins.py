"""The q bins a reconstruction works on: the input's own bins within a range, or linearly spaced new bins.

Rebinning to N bins of edges e_b = q_min + b (q_max − q_min)/N: every input bin i whose centre q_i
lies in [e_b, e_{b+1}) (the last bin closed) belongs to bin b, and

    I_b = (1/n_b) Σ_i I_i,   σ_b = √(Σ_i σ_i²) / n_b,   q_b = (1/n_b) Σ_i q_i

(independent input bins). The reconstruction is linear in the data, so reconstructing I_b equals
averaging the reconstructions of the input bins. A new bin without an input bin is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swaxs_plugins.core.errors import InputDataError


@dataclass(frozen=True)
class QBinning:
    """Output bin b averages the input bins ``members[b]``; ``q`` [1/Å] are the output bins' centres."""

    q: np.ndarray
    members: tuple[np.ndarray, ...]

    @property
    def identity(self) -> bool:
        return all(m.size == 1 for m in self.members)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Mean over each bin's input bins along the last axis."""
        if self.identity:
            return values[..., np.concatenate(self.members)]
        return np.stack([values[..., m].mean(axis=-1) for m in self.members], axis=-1)

    def apply_errors(self, errors: np.ndarray) -> np.ndarray:
        """√(Σσ²)/n per bin (module docstring)."""
        if self.identity:
            return errors[..., np.concatenate(self.members)]
        return np.stack([np.sqrt(np.square(errors[..., m], dtype=np.float64).sum(axis=-1)) / m.size
                         for m in self.members], axis=-1).astype(errors.dtype)


def binning(q: np.ndarray, q_range: tuple[float, float] | None, n_bins: int | None, where: str) -> QBinning:
    """The bins of input q [1/Å] for the parameters ``q_range`` and ``q_bins``; errors name ``where``."""
    low, high = q_range if q_range is not None else (float(q.min()), float(q.max()))
    inside = np.flatnonzero((q >= low) & (q <= high))
    if inside.size == 0:
        raise InputDataError(f"{where}, parameter 'q_range': {[low, high]} holds none of the input's q bins "
                             f"({q.min():.4g}-{q.max():.4g} 1/angstrom)")
    if n_bins is None:
        return QBinning(q[inside], tuple(np.array([i]) for i in inside))
    edges = np.linspace(low, high, n_bins + 1)
    index = np.clip(np.searchsorted(edges, q[inside], side="right") - 1, 0, n_bins - 1)
    members = tuple(inside[index == b] for b in range(n_bins))
    empty = [b for b, m in enumerate(members) if m.size == 0]
    if empty:
        raise InputDataError(f"{where}, parameter 'q_bins': {n_bins} bins over {[low, high]} 1/angstrom leave "
                             f"{len(empty)} bins empty (first at {edges[empty[0]]:.4g}-{edges[empty[0] + 1]:.4g}); "
                             f"the input has {inside.size} q bins there: ask for fewer bins")
    return QBinning(np.array([q[m].mean() for m in members]), members)
