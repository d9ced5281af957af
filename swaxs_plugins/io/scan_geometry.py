"""Scan geometry from motor positions: the raster a map scan drew, the order its frames fill the map, its axes.

A map scan records per frame the positions of two motors, named ``y`` and ``x`` in a raw input's
``positions``. Its map is [y, x]. With ``slow`` the motor that moves least often and ``fast`` the other:

    n_fast = the frames before slow first jumps (a step above half its largest step), n_lines = n / n_fast;

the frames, reshaped to lines [n_lines, n_fast] (every other line reversed where the scan is serpentine,
its fast motor running backwards on odd lines), form a raster when slow stays within 0.4 of its step
along every line and fast within 0.4 of its step down every column. Which motor is slow is tried both
ways (x fastest first). The result is the map shape (n_y, n_x), ``order``, the frame that fills each map
point in C order (x fastest), and the axes: the mean y of each map row and the mean x of each column, in
the datasets' @units. A scan without positions declares its shape and, where not x fastest line by line,
``fast_axis`` and ``snake`` (:func:`declared_order`); positions, where named too, are checked against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.io.nexus import text
from swaxs_plugins.io.raw import RawSource, declared_scan_shape, is_hdf5, open_hdf5

MAP_MOTORS = ("y", "x")
TOLERANCE = 0.4
"""A motor counts as still when it moves less than this fraction of its step."""


@dataclass(frozen=True)
class Raster:
    """The map a scan drew: shape (n_y, n_x), the frame of each map point (C order), how the motors moved
    (``fast_axis`` 'x' or 'y', ``snake``), and the y and x positions of the map's rows and columns."""

    shape: tuple[int, int]
    order: np.ndarray
    fast_axis: str
    snake: bool
    y: np.ndarray
    x: np.ndarray
    y_units: str = ""
    x_units: str = ""

    @property
    def description(self) -> str:
        """How the scan ran, e.g. '10 lines of 24 points, x fastest, serpentine'."""
        slow = self.shape[0] if self.fast_axis == "x" else self.shape[1]
        fast = self.shape[1] if self.fast_axis == "x" else self.shape[0]
        return f"{slow} lines of {fast} points, {self.fast_axis} fastest{', serpentine' if self.snake else ''}"


@dataclass(frozen=True)
class ScanMap:
    """How one file's frames form its scan: the scan shape, the frame of each point (C order; None: the frames
    in order) and the raster its positions drew (None where the input names no positions y and x)."""

    shape: tuple[int, ...]
    order: np.ndarray | None = None
    raster: Raster | None = None


def scan_map(source: RawSource, path: Path, frames: int) -> ScanMap:
    """The scan of the ``frames`` frames of ``path``: positions y and x, checked against what ``source`` declares
    (``scan_shape``, ``fast_axis``, ``snake``), or what it declares, or a series; an error naming the field."""
    raster = read_raster(path, source.positions, source.position_units) if is_hdf5(path) else None
    declared = declared_scan_shape(source, path)
    shape = declared or (raster.shape if raster else (frames,))
    if int(np.prod(shape)) != frames:
        raise InputDataError(f"{path}: scan_shape {list(shape)} (field 'scan_shape') does not hold its {frames} "
                             "frames")
    if raster is not None:
        _check_declared(source, path, declared, raster)
        return ScanMap(raster.shape, raster.order, raster)
    if source.fast_axis is None and not source.snake:
        return ScanMap(shape)
    if len(shape) != 2:
        raise InputDataError(f"{path}: fields 'fast_axis' and 'snake' describe a map, but scan_shape {list(shape)} "
                             "is not [n_y, n_x]")
    return ScanMap(shape, declared_order((shape[0], shape[1]), source.fast_axis or "x", bool(source.snake)))


def _check_declared(source: RawSource, path: Path, declared: tuple[int, ...] | None, raster: Raster) -> None:
    """An error where ``source`` declares a scan shape, fast axis or snake that the positions contradict."""
    found = raster.description
    if declared is not None and tuple(declared) != raster.shape:
        raise InputDataError(f"{path}: scan_shape {list(declared)} (field 'scan_shape') disagrees with the "
                             f"positions, {found} (scan_shape {list(raster.shape)}, or leave it out)")
    for field, value, drawn in (("fast_axis", source.fast_axis, raster.fast_axis),
                                ("snake", source.snake, raster.snake)):
        if value is not None and value != drawn:
            raise InputDataError(f"{path}: {field} {value} (field '{field}') disagrees with the positions, {found} "
                                 "(leave it out: the positions say)")


def declared_order(shape: tuple[int, int], fast_axis: str = "x", snake: bool = False) -> np.ndarray:
    """The frame of each point of a map ``shape`` [n_y, n_x] (C order) for a scan along ``fast_axis``, every
    other line reversed where ``snake``."""
    n_y, n_x = shape
    lines = np.arange(n_y * n_x).reshape((n_y, n_x) if fast_axis == "x" else (n_x, n_y))
    if snake:
        lines[1::2] = lines[1::2, ::-1].copy()
    return (lines if fast_axis == "x" else lines.T).ravel()


def raster_from_positions(y: np.ndarray, x: np.ndarray, where: str, units: tuple[str, str] = ("", "")) -> Raster:
    """The raster of per-frame positions ``y``, ``x`` (module docstring); an error naming ``where`` otherwise."""
    y, x = np.ravel(y).astype(np.float64), np.ravel(x).astype(np.float64)
    if y.size != x.size or y.size == 0:
        raise InputDataError(f"{where}: the positions y and x hold {y.size} and {x.size} values; give one per frame")
    motors = {"y": y, "x": x}
    for fast_axis, slow_axis in (("x", "y"), ("y", "x")):
        raster = _raster_along(motors[slow_axis], motors[fast_axis], fast_axis)
        if raster is not None:
            shape, order, snake = raster
            grid_y, grid_x = y[order].reshape(shape), x[order].reshape(shape)
            return Raster(shape, order, fast_axis, snake, grid_y.mean(axis=1), grid_x.mean(axis=0), *units)
    n_fast = _line_length(y)
    if y.size % n_fast:
        raise InputDataError(f"{where}: y first moves after {n_fast} frames, which do not divide the {y.size} frames "
                             "into lines of equal length; declare scan_shape if the scan is incomplete")
    raise InputDataError(f"{where}: the positions form no raster: neither motor stays still along lines of equal "
                         f"length with the other still down their columns (y first moves after {n_fast} frames)")


def read_raster(path: Path, positions: Mapping[str, str], declared_units: str | None = None) -> Raster | None:
    """The raster of a file's ``positions`` datasets y and x (None where they are not both named), in their
    @units, or ``declared_units`` where they carry none (an error where both are given and differ)."""
    if not all(m in positions for m in MAP_MOTORS):
        return None
    values, units = [], []
    with open_hdf5(path) as handle:
        for motor in MAP_MOTORS:
            node = handle.get(positions[motor])
            if node is None or not hasattr(node, "shape"):
                raise InputDataError(f"{path}: no dataset at '{positions[motor]}' (field 'positions.{motor}')")
            values.append(node[()])
            unit = text(node.attrs.get("units", ""))
            if unit and declared_units and unit != declared_units:
                raise InputDataError(f"{path}: '{positions[motor]}' is in {unit}, not {declared_units} (field "
                                     "'position_units'); leave the field out where the datasets say")
            units.append(unit or declared_units or "")
    return raster_from_positions(*values, f"{path} (field 'positions')", (units[0], units[1]))


def _raster_along(slow: np.ndarray, fast: np.ndarray,
                  fast_axis: str) -> tuple[tuple[int, int], np.ndarray, bool] | None:
    """(map shape, order, snake) where ``slow`` steps once per line of ``fast``; None where they draw no raster."""
    n_fast = _line_length(slow)
    if slow.size % n_fast:
        return None
    lines = (slow.size // n_fast, n_fast)
    grid_fast = fast.reshape(lines)
    directions = np.sign(grid_fast[:, -1] - grid_fast[:, 0])
    snake = bool(lines[0] > 1 and directions[0] != 0 and np.all(directions[::2] == directions[0])
                 and np.all(directions[1::2] == -directions[0]))
    shape = lines if fast_axis == "x" else (lines[1], lines[0])
    order = declared_order(shape, fast_axis, snake)
    by_line = order.reshape(shape) if fast_axis == "x" else order.reshape(shape).T
    if not (_still_along(slow[by_line], 1) and _still_along(fast[by_line], 0)):
        return None
    if n_fast == 1 < lines[0] and np.ptp(fast) > TOLERANCE * float(np.median(np.abs(np.diff(slow)))):
        return None                                # both motors move every frame: no line of this one
    return shape, order, snake


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
