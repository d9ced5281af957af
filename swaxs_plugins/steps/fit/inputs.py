"""What the ``fit`` step reads: the curves in its q range, the region, and the scans' names."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.curves import map_axes
from swaxs_plugins.data.curves import read_curves as read_curve_layout
from swaxs_plugins.data.curves import where
from swaxs_plugins.data.masks import read_masks
from swaxs_plugins.io.nexus import Axis, text
from swaxs_plugins.steps.fit.parameters import Q_UNITS


def read_curves(ref: StepOutputRef, q_range: tuple[float, float]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, list[Axis]]:
    """q, I and I_errors [scan, y, x, q] in ``q_range`` from an earlier step's curves layout, their units and
    the map's axes (scan, y, x: motor positions where the curves carry them)."""
    curves = read_curve_layout(ref)
    q, q_units = curves.q, curves.axes[3].units
    if q_units != Q_UNITS:
        raise InputDataError(f"{where(ref, 'maps/curves/q')}: in {q_units!r}, not {Q_UNITS}")
    keep = np.flatnonzero((q >= q_range[0]) & (q <= q_range[1]))
    if keep.size < 5:
        raise InputDataError(f"fit: parameter 'q_range' {list(q_range)} holds {keep.size} of the curves' q points "
                             f"({q.min():.4g}-{q.max():.4g} 1/angstrom)")
    section = slice(keep[0], keep[-1] + 1)
    values, errors = curves.intensity[..., section], curves.errors[..., section]
    errors = np.where(np.isnan(errors), np.sqrt(np.abs(values)), errors)  # curves without errors: Poisson
    return q[section], values, errors, curves.units, map_axes(curves)


def read_mask(ref: StepOutputRef, name: str | None) -> np.ndarray:
    """The boolean region [y, x] named ``name`` among a mask step's masks (its only one by default)."""
    masks = read_masks(ref)
    if name is None and len(masks) != 1:
        raise InputDataError(f"{ref.path}: choose one of the masks {list(masks)} with parameter 'mask_name'")
    chosen = name or next(iter(masks))
    if chosen not in masks:
        raise InputDataError(f"{ref.path}: mask '{chosen}' (parameter 'mask_name') not in {list(masks)}")
    return masks[chosen]


def rule_intensity(q_range: tuple[float, float], q: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean intensity of every pixel in ``q_range`` [scan, y, x] (the region rule)."""
    inside = (q >= q_range[0]) & (q <= q_range[1])
    if not inside.any():
        raise InputDataError(f"fit: parameter 'region_q_range' {list(q_range)} lies outside the fitted q range")
    with np.errstate(invalid="ignore"):
        return np.nanmean(values[..., inside], axis=-1)


def scan_labels(ref: StepOutputRef, n_scans: int) -> list[str]:
    """'scan <k> (<file stem>)' for every scan, from the curves' ``scans/file_name`` where recorded."""
    with h5py.File(ref.path, "r") as handle:
        node = handle.get(f"{ref.entry}/scans/file_name")
        files = [Path(text(name)).stem for name in np.ravel(node[()])] if node is not None else []
    return [f"scan {k} ({files[k]})" if len(files) == n_scans else f"scan {k}" for k in range(n_scans)]
