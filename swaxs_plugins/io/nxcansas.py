"""NXcanSAS export of averaged curves: per scan, the mean curve over a region of the map, for SasView.

SAS modelling programs (SasView, through its reader ``sasdata``) read 1-D curves I(Q) in the canSAS
NeXus format, not the map layouts of this project. :func:`export_nxcansas` takes the ``curves`` of a
step (integrate, transmission, background), averages them over the points of a named mask (a mask
step's region, e.g. ``electrode``) or of any selection of scan points with
:func:`~swaxs_plugins.data.curves.points_mean` (mean, and its standard error sqrt(Σσ²)/n over the n
points valid in each bin; NaN values are left out and counted), and writes one SASentry
(``sasentry01``, …) with one SASdata (Q, I, Idev) per scan and a SASprocess with the counts. Each
entry's title names the scan's file and the region, its ``run`` the scan's file (@name its path) and
the SASdata's @timestamp the scan's time where the input records one.

Q keeps the curves' units (1/angstrom or 1/nm); I keeps theirs, spelled as canSAS names them
("arbitrary units" is canSAS's ``arbitrary``). Bins that are NaN in a scan's mean (masked q, no
valid point) are left out of that scan's SASdata. The file is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from swaxs_plugins import __version__
from swaxs_plugins.core.errors import InputDataError, OutputError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.curves import CURVES, Curves, points_mean, read_curves, scan_timestamps
from swaxs_plugins.data.masks import MASKS, read_masks
from swaxs_plugins.io.nexus import resolve_entry, text
from swaxs_plugins.io.output import prepare_output
from swaxs_plugins.io.raw import open_hdf5

Q_UNITS = ("1/m", "1/nm", "1/angstrom")
I_UNITS = {"1/m": "1/m", "1/cm": "1/cm", "m2/g": "m2/g", "cm2/g": "cm2/g", "arbitrary": "arbitrary",
           "arbitrary units": "arbitrary", "a.u.": "arbitrary", "": "arbitrary"}
"""The curves' intensity units → the canSAS spelling (NXcanSAS allows only these)."""


@dataclass(frozen=True)
class MeanCurves:
    """The mean curve of every scan over one region: I and its standard error [scan, q], the region's
    ``points`` and, per scan and bin, how many of them were valid (``valid``; NaN values are left out)."""

    q: np.ndarray
    intensity: np.ndarray
    errors: np.ndarray
    q_units: str
    i_units: str
    region: str
    points: int
    valid: np.ndarray
    files: list[str]
    timestamps: list[dt.datetime] | None


def step_ref(path: Path, entry: str) -> StepOutputRef:
    """A reference to the entry ``entry`` of ``path`` (a step file or a pipeline output, whose entries link
    the step files), or an error naming the file and the entries it holds."""
    with open_hdf5(Path(path)) as handle:
        if entry.strip("/") not in handle or not isinstance(handle[entry.strip("/")], h5py.Group):
            names = ", ".join(sorted(handle)) or "none"
            raise InputDataError(f"{path}: no entry '{entry}' (entries: {names})")
        target, target_path = resolve_entry(handle, entry.strip("/"))
    return StepOutputRef(entry.strip("/"), "curves", target, target_path.strip("/"))


def curves_entry(path: Path) -> str:
    """The one entry of ``path`` that holds curves (``maps/curves``), or an error naming those there are."""
    with open_hdf5(Path(path)) as handle:
        names = [n for n in handle if isinstance(handle.get(n), h5py.Group)]
        holders = [n for n in names if isinstance(handle.get(f"{n}/{CURVES}"), h5py.Group)]
    if len(holders) != 1:
        found = f"entries holding curves: {', '.join(holders)}" if holders else f"entries: {', '.join(names) or 'none'}"
        raise InputDataError(f"{path}: {'no' if not holders else 'more than one'} entry with curves ({CURVES}); "
                             f"choose one with --entry ({found})")
    return holders[0]


def region_mask(path: Path, region: str, shape: tuple[int, int], entry: str | None = None) -> np.ndarray:
    """The mask ``region`` [y, x] of a mask step's output in ``path`` (in ``entry``, else in the one entry
    that holds it), or an error naming the file, the region and the masks there are."""
    with open_hdf5(Path(path)) as handle:
        names = [entry.strip("/")] if entry else [n for n in handle if isinstance(handle.get(n), h5py.Group)]
        holders = [n for n in names if f"{n}/{MASKS}" in handle]
        found = {n: list(handle[f"{n}/{MASKS}"]) for n in holders}
    matches = [n for n, regions in found.items() if region in regions]
    if not matches:
        known = "; ".join(f"{n}: {', '.join(r)}" for n, r in found.items()) or "no mask step output"
        raise InputDataError(f"{path}: no mask region '{region}' ({known})")
    mask = read_masks(step_ref(path, matches[0]))[region]
    if mask.shape != shape:
        raise InputDataError(f"{path}::/{matches[0]}/{MASKS}/{region}: mask of {mask.shape[0]} x {mask.shape[1]} "
                             f"points, the curves map is {shape[0]} x {shape[1]}")
    return mask


def points_mask(spec: str, shape: tuple[int, int]) -> np.ndarray:
    """The scan points of a selection as a mask [y, x]: parts 'Y,X' joined by ';', each index an integer or a
    Python slice of the map (ends excluded): '2:4,0:5' (a box), '1,2;3,4' (two points), '0,:' (a line); for a
    series (a map of one line) a part may be the point index alone ('5:10')."""
    mask = np.zeros(shape, dtype=bool)
    for part in spec.split(";"):
        indices = part.split(",")
        if len(indices) == 1 and shape[0] == 1:
            indices = ["0", *indices]
        try:
            if len(indices) != 2:
                raise ValueError(part)
            mask[tuple(_index(v) for v in indices)] = True
        except (ValueError, TypeError, IndexError) as error:
            raise InputDataError(f"--points '{spec}': '{part}' is not 'Y,X' (scan point indices or slices such as "
                                 f"2:5) inside the map of {shape[0]} x {shape[1]} points") from error
    if not mask.any():
        raise InputDataError(f"--points '{spec}': no scan point inside the map of {shape[0]} x {shape[1]} points")
    return mask


def _index(value: str) -> int | slice:
    """'3' → 3, '2:5' → slice(2, 5), ':' → every index."""
    if ":" not in value:
        return int(value)
    return slice(*(int(v) if v.strip() else None for v in value.split(":")))


def mean_curves(curves: Curves, mask: np.ndarray, region: str) -> MeanCurves:
    """The mean curve per scan over the points of ``mask`` (bool [y, x]), named ``region``."""
    q_units = curves.axes[3].units
    if q_units not in Q_UNITS:
        raise InputDataError(f"{curves.source.path}::/{curves.source.entry}: curves over {curves.axes[3].name} "
                             f"in '{q_units}'; NXcanSAS needs Q in {', '.join(Q_UNITS)} (integrate with unit q_A^-1)")
    if curves.units not in I_UNITS:
        raise InputDataError(f"{curves.source.path}::/{curves.source.entry}: intensity units '{curves.units}' are "
                             f"none NXcanSAS allows ({', '.join(sorted(set(I_UNITS.values())))})")
    intensity, errors = points_mean(curves.intensity, curves.errors, mask)
    valid = np.isfinite(curves.intensity[:, mask]).sum(axis=1)
    with h5py.File(curves.source.path, "r") as handle:
        node = handle.get(f"{curves.source.entry}/scans/file_name")
        files = [text(v) for v in node[()]] if node is not None else []
    if len(files) != intensity.shape[0]:
        files = [f"scan {index}" for index in range(intensity.shape[0])]
    return MeanCurves(curves.q, intensity, errors, q_units, I_UNITS[curves.units], region, int(mask.sum()), valid,
                      files, scan_times(curves.source))


def scan_times(ref: StepOutputRef) -> list[dt.datetime] | None:
    """Each scan's time: ISO 8601 text (:func:`scan_timestamps`) or seconds since 1970 (UTC); None if not recorded."""
    with h5py.File(ref.path, "r") as handle:
        node = handle.get(f"{ref.entry}/scans/timestamp")
        values = None if node is None else node[()]
    if values is None or np.asarray(values).dtype.kind not in "iuf":
        return scan_timestamps(ref)
    first = np.asarray(values, np.float64).reshape(len(values), -1)[:, 0]
    return [dt.datetime.fromtimestamp(float(v), dt.timezone.utc) for v in first]


def write_nxcansas(path: Path, mean: MeanCurves, source: str) -> Path:
    """Write ``mean`` as NXcanSAS, one SASentry per scan, under a temporary name renamed when complete."""
    path = prepare_output(path, "NXcanSAS file")
    partial = path.with_name(f".{path.name}.partial")
    try:
        with h5py.File(partial, "w") as handle:
            handle.attrs.update({"NX_class": "NXroot", "creator": f"swaxs-plugins {__version__}",
                                 "file_name": path.name, "file_time": _now(), "default": "sasentry01"})
            for scan in range(mean.intensity.shape[0]):
                _write_entry(handle.create_group(f"sasentry{scan + 1:02d}"), mean, scan, source)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write the NXcanSAS file ({error})") from error
    return path


def _write_entry(entry: h5py.Group, mean: MeanCurves, scan: int, source: str) -> None:
    """One scan's SASentry: definition, title, run, the SASdata and a SASprocess saying where it came from."""
    entry.attrs.update({"NX_class": "NXentry", "canSAS_class": "SASentry", "version": "1.1",
                        "default": "sasdata01"})
    stem = Path(mean.files[scan]).stem
    entry["definition"] = "NXcanSAS"
    entry["title"] = f"{stem}: mean of {mean.region} ({mean.points} points)"
    entry["run"] = stem
    entry["run"].attrs["name"] = mean.files[scan]
    keep = np.isfinite(mean.intensity[scan])
    data = entry.create_group("sasdata01")
    data.attrs.update({"NX_class": "NXdata", "canSAS_class": "SASdata", "signal": "I", "I_axes": "Q",
                       "Q_indices": np.int32(0)})
    if mean.timestamps is not None:
        data.attrs["timestamp"] = mean.timestamps[scan].isoformat()
    data["Q"] = mean.q[keep]
    data["Q"].attrs["units"] = mean.q_units
    data["I"] = mean.intensity[scan][keep]
    data["I"].attrs.update({"units": mean.i_units, "uncertainties": "Idev"})
    data["Idev"] = mean.errors[scan][keep]
    data["Idev"].attrs["units"] = mean.i_units
    process = entry.create_group("sasprocess01")
    process.attrs.update({"NX_class": "NXprocess", "canSAS_class": "SASprocess"})
    process["name"] = f"swaxs-plugins {__version__}"
    process["date"] = _now()
    excluded = mean.points * mean.valid.shape[1] - int(mean.valid[scan].sum())
    process["description"] = (f"mean curve over the {mean.points} scan points of {mean.region}, from {source}; "
                              f"Idev = sqrt(sum sigma^2)/n over the n valid points of each bin; {excluded} "
                              "invalid (NaN) point values left out")
    process["points"] = np.int64(mean.points)
    process["points"].attrs["long_name"] = "scan points in the region"
    process["excluded_values"] = np.int64(excluded)
    process["excluded_values"].attrs["long_name"] = "point values left out of the means (NaN: masked, no pixel)"
    process["valid_points"] = mean.valid[scan][keep].astype(np.int64)
    process["valid_points"].attrs["long_name"] = "valid points averaged in each Q bin of sasdata01"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def export_nxcansas(path: Path, entry: str, output: Path, *, region: str | None = None,
                    masks: Path | None = None, masks_entry: str | None = None, points: str | None = None) -> MeanCurves:
    """Export the mean curves of the step ``entry`` of ``path`` over the mask ``region`` (of the mask step
    output in ``masks``, default ``path`` itself) or over the scan points ``points`` (:func:`points_mask`) to
    ``output`` (NXcanSAS)."""
    if (region is None) == (points is None):
        raise InputDataError("give either a mask region (--region) or a selection of scan points "
                             "(--points, e.g. 2:4,0:5)")
    curves = read_curves(step_ref(path, entry))
    if region is not None:
        mask = region_mask(Path(masks or path), region, curves.map_shape, masks_entry)
        label = f"mask '{region}'"
    else:
        mask, label = points_mask(str(points), curves.map_shape), f"points [{points}]"
    mean = mean_curves(curves, mask, label)
    write_nxcansas(output, mean, f"{path}::/{entry.strip('/')}")
    return mean
