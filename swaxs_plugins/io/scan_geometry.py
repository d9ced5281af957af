"""Scan geometry from motor positions: the raster a map scan drew, and its axes in physical units.

A map scan records per frame the positions of two motors, named ``y`` and ``x`` in a raw input's
``positions``. The frames fill the map [y, x] in C order (x fastest). From the positions:

    n_x = the frames before y first jumps (a step above half its largest step), n_y = n / n_x;

the raster holds when, reshaped to [n_y, n_x], y stays within 0.4 of its step along every line
and x within 0.4 of its step down every column, every line running the same way. A serpentine
(snake) scan, whose every other line runs backwards, and a scan with y fastest are refused with what
they are: filled in C order, their maps would be scrambled. The axes are the line means of y and the
column means of x, in the datasets' @units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.io.raw import open_hdf5

MAP_MOTORS = ("y", "x")
TOLERANCE = 0.4
"""A motor counts as still when it moves less than this fraction of its step."""


@dataclass(frozen=True)
class Raster:
    """The map a scan drew: shape (n_y, n_x), and the y and x positions of its lines and columns."""

    shape: tuple[int, int]
    y: np.ndarray
    x: np.ndarray
    y_units: str
    x_units: str


def raster_from_positions(y: np.ndarray, x: np.ndarray, where: str, units: tuple[str, str] = ("", "")) -> Raster:
    """The raster of per-frame positions ``y``, ``x`` (module docstring); an error naming ``where`` otherwise."""
    y, x = np.ravel(y).astype(np.float64), np.ravel(x).astype(np.float64)
    if y.size != x.size or y.size == 0:
        raise InputDataError(f"{where}: the positions y and x hold {y.size} and {x.size} values; give one per frame")
    n_x = _line_length(y)
    if y.size % n_x:
        raise InputDataError(f"{where}: y first moves after {n_x} frames, which do not divide the {y.size} frames "
                             "into lines of equal length; declare scan_shape if the scan is incomplete")
    shape = (y.size // n_x, n_x)
    grid_y, grid_x = y.reshape(shape), x.reshape(shape)
    if not (_still_along(grid_y, 1) and _still_along(grid_x, 0)):
        _refuse_other_layouts(grid_x, y, x, where)
        raise InputDataError(f"{where}: the positions do not form a raster of {shape[0]} lines of {shape[1]} points "
                             "(y still along each line, x still down each column)")
    return Raster(shape, grid_y.mean(axis=1), grid_x.mean(axis=0), *units)


def read_raster(path: Path, positions: Mapping[str, str]) -> Raster | None:
    """The raster of a file's ``positions`` datasets y and x (None where they are not both named)."""
    if not all(m in positions for m in MAP_MOTORS):
        return None
    values, units = [], []
    with open_hdf5(path) as handle:
        for motor in MAP_MOTORS:
            node = handle.get(positions[motor])
            if node is None or not hasattr(node, "shape"):
                raise InputDataError(f"{path}: no dataset at '{positions[motor]}' (field 'positions.{motor}')")
            values.append(node[()])
            unit = node.attrs.get("units", "")
            units.append(unit.decode() if isinstance(unit, bytes) else str(unit))
    return raster_from_positions(*values, f"{path} (field 'positions')", (units[0], units[1]))


def _line_length(slow: np.ndarray) -> int:
    jumps = np.abs(np.diff(slow))
    if jumps.size == 0 or jumps.max() == 0:
        return slow.size
    return int(np.argmax(jumps > 0.5 * jumps.max())) + 1


def _still_along(grid: np.ndarray, axis: int) -> bool:
    """Whether ``grid`` [lines, points] moves less than the tolerance × its step along ``axis``; its step is the
    median move of its means across the other axis (no step, with one line or one column: still)."""
    means = grid.mean(axis=axis)
    if means.size < 2 or grid.shape[axis] < 2:
        return True
    step = float(np.median(np.abs(np.diff(means))))
    return bool(np.ptp(grid, axis=axis).max() <= TOLERANCE * step)


def _refuse_other_layouts(grid_x: np.ndarray, y: np.ndarray, x: np.ndarray, where: str) -> None:
    """Name a serpentine scan or a scan with y fastest, which C order would scramble."""
    directions = np.sign(grid_x[:, -1] - grid_x[:, 0])
    if len(directions) > 1 and directions[0] != 0 and np.all(directions[::2] == directions[0]) \
            and np.all(directions[1::2] == -directions[0]):
        raise InputDataError(f"{where}: a serpentine (snake) scan, every other line running backwards: not handled "
                             "yet (its map would be scrambled); reorder the frames line by line first")
    n_y = _line_length(x)
    if 1 < n_y < x.size and x.size % n_y == 0 and _still_along(x.reshape(-1, n_y), 1) \
            and not _still_along(y.reshape(-1, n_y), 1):
        raise InputDataError(f"{where}: y changes fastest ({n_y} points per column): not handled yet (the map "
                             "[y, x] fills x fastest and would be transposed)")
