"""What a raw HDF5/NeXus file holds, found by its NeXus conventions and a beamline's usual names.

A facility's scan file names its datasets its own way; this module finds them so that a raw input may
name only its files (``swaxs check`` and ``swaxs init`` print what was found):

- the entry: the one asked, else the root's @default, else the first NXentry (BLISS: ``/1.1``), else the root;
- frames per detector: every NXdetector with a 3-D ``data`` [n, rows, cols], else the @signal of the
  NXdata the entry's @default names; with its ``distance``, ``beam_center_x/y`` and pixel sizes;
- per-frame counters: NXmonitor ``data``, a 1-D NXdetector ``data`` (BLISS writes counters so) and the
  1-D datasets of ``measurement``; named like an incident monitor (i0, mon, monitor) or a transmitted
  beam (diode, it, i1, pin) they are the monitor and the diode;
- motor positions: the other per-frame 1-D datasets of ``measurement``, ``instrument/positioners`` and
  NXpositioner ``value``s that move; the pair that draws a raster (:mod:`.scan_geometry`) is y and x
  (by their names, e.g. samy/samx; else y is the slow one);
- the energy (NXmonochromator ``energy``, keV) and the scan's ``start_time``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.io.nexus import text
from swaxs_plugins.io.raw import RawSource, is_hdf5, open_hdf5
from swaxs_plugins.io.scan_geometry import raster_from_positions

MONITOR_NAMES = re.compile(r"^(i0|io|mon|monitor|imon|incident.*|.*_i0|i0_.*)$", re.IGNORECASE)
DIODE_NAMES = re.compile(r"^(diode|it|i1|pin|pin_?diode|trans.*|.*_diode|diode_.*|bstop.*|beamstop.*)$",
                         re.IGNORECASE)
TIME_NAMES = re.compile(r"(time|epoch|elapsed|timer|sec)", re.IGNORECASE)


@dataclass(frozen=True)
class Detector:
    """A detector's frames and what its NXdetector says of its geometry (None where it says nothing)."""

    name: str
    frames: str
    shape: tuple[int, int, int]
    how: str
    distance_m: float | None = None
    beam_center_px: tuple[float, float] | None = None
    pixel_size_m: tuple[float, float] | None = None


@dataclass(frozen=True)
class Discovery:
    """What one file holds (module docstring); dataset paths are absolute in the file."""

    path: Path
    entry: str
    detectors: dict[str, Detector]
    monitor: str | None = None
    diode: str | None = None
    positions: dict[str, str] = field(default_factory=dict)
    scan: str | None = None
    energy_kev: float | None = None
    timestamp: str | None = None

    def lines(self) -> list[str]:
        """What was found, one line each, as ``swaxs check`` and ``swaxs init`` print it."""
        lines = [f"entry {self.entry}"]
        for d in self.detectors.values():
            extra = [f"distance {d.distance_m:g} m" if d.distance_m else "",
                     f"beam centre {d.beam_center_px[0]:g}, {d.beam_center_px[1]:g} px" if d.beam_center_px else ""]
            lines.append(f"detector {d.name}: frames {d.frames} {list(d.shape)} ({d.how})"
                         + "".join(f", {e}" for e in extra if e))
        for name, value in (("monitor", self.monitor), ("diode", self.diode), ("timestamp", self.timestamp)):
            lines.append(f"{name}: {value or 'none found'}")
        if self.positions:
            lines.append(f"positions: y {self.positions['y']}, x {self.positions['x']} ({self.scan})")
        else:
            lines.append("positions: none that draw a map (a series of frames)")
        lines.append(f"energy: {self.energy_kev:g} keV" if self.energy_kev else "energy: none found")
        return lines


def discover(path: Path, entry: str | None = None) -> Discovery:
    """What ``path`` holds (module docstring); no detectors (and nothing else) where it holds no frames."""
    with open_hdf5(Path(path)) as handle:
        name = _entry_name(handle, path, entry)
        group = handle[name]
        detectors = _detectors(group)
        if not detectors:
            return Discovery(Path(path), name, {})
        n = next(iter(detectors.values())).shape[0]
        counters, motors = _per_frame(group, n)
        monitor = next((p for k, p in counters if MONITOR_NAMES.match(k)), None)
        diode = next((p for k, p in counters if DIODE_NAMES.match(k)), None)
        positions, scan = _map_motors(motors)
        start = group.get("start_time")
        return Discovery(Path(path), name, detectors, monitor, diode, positions, scan, _energy(group),
                         start.name if isinstance(start, h5py.Dataset) else None)


def _entry_name(handle: h5py.File, path: Path, entry: str | None) -> str:
    if entry is not None:
        if not isinstance(handle.get(entry), h5py.Group):
            raise InputDataError(f"{path}: no entry '{entry}' (field 'entry')")
        return handle[entry].name
    default = text(handle.attrs.get("default", ""))
    if default and isinstance(handle.get(default), h5py.Group):
        return handle[default].name
    entries = [k for k in handle if _nx_class(handle[k]) == "NXentry"] or \
        [k for k in handle if isinstance(handle[k], h5py.Group)]
    return handle[sorted(entries, key=_natural)[0]].name if entries else "/"


def _detectors(entry: h5py.Group) -> dict[str, Detector]:
    found = {}
    for group in _groups(entry, "NXdetector"):
        data = group.get("data")
        if isinstance(data, h5py.Dataset) and data.ndim == 3:
            name = group.name.rsplit("/", 1)[1]
            found[name] = Detector(name, data.name, tuple(data.shape), "NXdetector", *_detector_geometry(group))
    if found:
        return found
    default = entry.get(text(entry.attrs.get("default", "")) or "data")
    if isinstance(default, h5py.Group) and "signal" in default.attrs:
        data = default.get(text(default.attrs["signal"]))
        if isinstance(data, h5py.Dataset) and data.ndim == 3:
            return {"detector": Detector("detector", data.name, tuple(data.shape), f"@signal of {default.name}")}
    return {}


def _detector_geometry(group: h5py.Group) -> tuple[float | None, tuple[float, float] | None,
                                                    tuple[float, float] | None]:
    distance = _value(group, "distance", {"m": 1.0, "mm": 1e-3, "cm": 1e-2})
    centre = [_value(group, f"beam_center_{a}", {"pixel": 1.0, "pixels": 1.0, "": 1.0}) for a in "xy"]
    pixels = [_value(group, f"{a}_pixel_size", {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6}) for a in "xy"]
    return (distance, (centre[0], centre[1]) if None not in centre else None,
            (pixels[0], pixels[1]) if None not in pixels else None)


def _per_frame(entry: h5py.Group, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str, np.ndarray]]]:
    """(name, path) of the counters and (name, path, values) of the motors: the entry's per-frame 1-D datasets."""
    counters, motors, seen = [], [], set()
    for name, dataset in _one_d(entry, n):
        if dataset.name in seen or dataset.dtype.kind not in "iuf":
            continue
        seen.add(dataset.name)
        if MONITOR_NAMES.match(name) or DIODE_NAMES.match(name):
            counters.append((name, dataset.name))
        elif not TIME_NAMES.search(name):
            values = dataset[()].astype(np.float64)
            if np.ptp(values) > 0:
                motors.append((name, dataset.name, values))
    return counters, motors


def _one_d(entry: h5py.Group, n: int) -> Iterator[tuple[str, h5py.Dataset]]:
    for group in (*_groups(entry, "NXmonitor"), *_groups(entry, "NXdetector")):
        data = group.get("data")
        if isinstance(data, h5py.Dataset) and data.shape == (n,):
            yield group.name.rsplit("/", 1)[1], data
    for group in _groups(entry, "NXpositioner"):
        value = group.get("value")
        if isinstance(value, h5py.Dataset) and value.shape == (n,):
            yield group.name.rsplit("/", 1)[1], value
    for folder in ("measurement", "instrument/positioners", "scan"):
        group = entry.get(folder)
        if isinstance(group, h5py.Group):
            for name in sorted(group, key=_natural):
                node = group.get(name)
                if isinstance(node, h5py.Dataset) and node.shape == (n,):
                    yield name, node


def _map_motors(motors: list[tuple[str, str, np.ndarray]]) -> tuple[dict[str, str], str | None]:
    """The pair of motors that draws a raster, as {y, x} paths (by their names, else y the slow one), and how
    the scan ran."""
    for (first, first_path, a), (second, second_path, b) in permutations(motors, 2):
        if np.array_equal(a, b) or not _may_be_y_and_x(first, second):
            continue
        try:
            raster = raster_from_positions(a, b, "positions")
        except SwaxsError:
            continue
        if min(raster.shape) > 1 and (_named_y_and_x(first, second) or raster.fast_axis == "x"):
            return {"y": first_path, "x": second_path}, raster.description
    return {}, None


def _named_y_and_x(y: str, x: str) -> bool:
    """Whether the names say vertical and horizontal: ending in y or z, and in x (samy, samx; dtz, dtx)."""
    return y.lower()[-1:] in "yz" and x.lower()[-1:] == "x"


def _may_be_y_and_x(y: str, x: str) -> bool:
    """False where the names say the other way round (x named as y or y as x)."""
    return not _named_y_and_x(x, y)


def _energy(entry: h5py.Group) -> float | None:
    for group in _groups(entry, "NXmonochromator"):
        energy = _value(group, "energy", {"keV": 1.0, "kev": 1.0, "eV": 1e-3, "ev": 1e-3})
        if energy:
            return energy
    return None


def _value(group: h5py.Group, name: str, units: dict[str, float]) -> float | None:
    """A scalar dataset in the units asked (its @units among ``units``), None where absent or in other units."""
    node = group.get(name)
    if not isinstance(node, h5py.Dataset) or node.size != 1 or node.dtype.kind not in "iuf":
        return None
    unit = text(node.attrs.get("units", ""))
    factor = units.get(unit, units.get(unit.lower()))
    return None if factor is None else float(np.ravel(node[()])[0]) * factor


def _groups(entry: h5py.Group, nx_class: str) -> list[h5py.Group]:
    """The groups of ``nx_class`` at most three levels below ``entry``, in name order."""
    found: list[h5py.Group] = []

    def visit(group: h5py.Group, depth: int) -> None:
        for name in sorted(group, key=_natural):
            child = group.get(name, getlink=False) if depth < 3 else None
            if isinstance(child, h5py.Group):
                if _nx_class(child) == nx_class:
                    found.append(child)
                visit(child, depth + 1)

    visit(entry, 0)
    return found


def _nx_class(node: h5py.HLObject) -> str:
    return text(node.attrs.get("NX_class", ""))


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def resolve_source(source: RawSource) -> tuple[RawSource, list[str]]:
    """``source`` with its datasets found in its first file where it names no dataset at all (and lines saying
    what was found); as it is where it names one or its files are no HDF5 (or missing: check reports that)."""
    first = source.files[0] if source.files else None
    named = [getattr(source, f) for f in ("frames", "monitor", "diode", "scan_shape", "timestamp", "rotation_angle",
                                          "tilt_angle")]
    if any(isinstance(v, str) for v in named) or source.positions or first is None or not first.exists() \
            or not is_hdf5(first):
        return source, []
    found = discover(first, source.entry)
    if not found.detectors:                  # not frames: a step that reads its own layout (projections)
        return source, []
    if source.detector is not None and source.detector not in found.detectors:
        raise InputDataError(f"{first}: no detector '{source.detector}' (field 'detector'); it has "
                             f"{', '.join(found.detectors)}")
    if source.detector is None and len(found.detectors) > 1:
        raise InputDataError(f"{first}: frames of {len(found.detectors)} detectors ({', '.join(found.detectors)}); "
                             "name one with the field 'detector'")
    detector = found.detectors[source.detector or next(iter(found.detectors))]
    update: dict[str, object] = {"frames": detector.frames}
    for name in ("monitor", "diode", "timestamp"):
        if getattr(source, name) is None and getattr(found, name) is not None:
            update[name] = getattr(found, name)
    if not source.positions and source.scan_shape is None and found.positions:
        update["positions"] = found.positions
    lines = [f"frames {detector.frames} (detector {detector.name}, {detector.how})",
             *(f"{name} {update[name]}" for name in ("monitor", "diode", "timestamp") if name in update)]
    if "positions" in update:
        lines.append(f"positions y {found.positions['y']}, x {found.positions['x']} ({found.scan})")
    return source.model_copy(update=update), [f"found in {first.name}::{found.entry}: {line}" for line in lines]
