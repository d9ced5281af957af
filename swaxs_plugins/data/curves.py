"""Curves: the ``curves`` layout of the map steps; read it from an earlier step, write it, copy ``scans``.

Layout (what ``integrate`` writes and ``transmission``/``background`` write again):
``<entry>/maps/curves`` NXdata, signal ``I`` [scan, y, x, q] with ``I_errors``, axes ``scan``, ``y``,
``x``, ``q`` (1/angstrom), each with @units and @long_name (a 1-D series of points: [scan, point, q],
handled by the steps as a map of one line, whose axis ``write_nxdata`` leaves out again), and the
normalisation the curves carry as attributes of the NXdata: @monitor_normalised (divided by the
incident-beam monitor) and @transmission_corrected (divided by the sample's transmission);
``<entry>/scans`` NXcollection (``file_name``, ``scan_shape``, ``points``, ``timestamp``, and
``frame_order``, the frame of each map point, where the frames do not fill the map in order: snake
scans, y fastest) copied through unchanged; per-frame records (the ``monitor`` and ``diode``
NXmonitors) stay in frame order (:func:`per_point`). Curves of two steps are only combined
(subtracted) when both attributes agree (:func:`check_same_normalisation`).

Example (a step that takes ``InputSpec("curves", layouts=("curves",))`` and writes curves again)::

    from swaxs_plugins.data.curves import read_curves, write_curves
    curves = read_curves(context.inputs["curves"])          # Curves: intensity, errors [scan, y, x, q], axes
    smoothed = curves.with_values(curves.intensity * 0.5, curves.errors * 0.5)
    write_curves(writer.entry, smoothed, long_name="halved intensity", default=True)  # produces = ("curves",)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.io.nexus import Axis, series_line_axis, set_nx_class, text, write_nxdata

CURVES = "maps/curves"
INTENSITY_UNITS = "arbitrary units"
NORMALISATION = ("monitor_normalised", "transmission_corrected")
"""Attributes of the curves NXdata (and fields of :class:`Curves`) that say how the intensities are normalised."""


@dataclass(frozen=True)
class Curves:
    """Curves of every scan point: I and its errors [scan, y, x, q], their axes and the source."""

    intensity: np.ndarray
    errors: np.ndarray
    axes: tuple[Axis, Axis, Axis, Axis]
    units: str
    source: StepOutputRef
    silx_style: str | None = None
    monitor_normalised: bool | None = None
    transmission_corrected: bool | None = None

    @property
    def q(self) -> np.ndarray:
        return np.asarray(self.axes[3].values)

    @property
    def map_shape(self) -> tuple[int, int]:
        return self.intensity.shape[1], self.intensity.shape[2]

    def with_values(self, intensity: np.ndarray, errors: np.ndarray) -> Curves:
        return replace(self, intensity=intensity, errors=errors)


def where(ref: StepOutputRef, dataset: str = "") -> str:
    """'file::/entry/dataset (step 'id')' for error messages."""
    return f"{ref.path}::/{ref.entry}/{dataset} (step '{ref.step_id}')"


def read_curves(ref: StepOutputRef) -> Curves:
    """The curves [scan, y, x, q] of an earlier step (a series [scan, point, q] as [scan, 1, point, q], its line
    axis squeezed when written again); an error names file, dataset and step if absent."""
    with h5py.File(ref.path, "r") as handle:
        group = handle.get(f"{ref.entry}/{CURVES}")
        if not isinstance(group, h5py.Group) or "I" not in group or group["I"].ndim not in (3, 4):
            raise InputDataError(f"{where(ref, CURVES)}: no curves I[scan, y, x, q] or I[scan, point, q]; expected "
                                 "the output of an integrate, transmission or background step")
        names = [text(n) for n in group.attrs["axes"]]
        axes = [Axis(n, group[n][()], text(group[n].attrs.get("units", "")), text(group[n].attrs.get("long_name", n)))
                for n in names]
        intensity = group["I"][()].astype(np.float64)
        errors = group["I_errors"][()] if "I_errors" in group else np.full(intensity.shape, np.nan)
        if intensity.ndim == 3:
            intensity, errors = intensity[:, np.newaxis], errors[:, np.newaxis]
            axes.insert(1, series_line_axis())
        style = group.attrs.get("SILX_style")
        flags = [group.attrs.get(name) for name in NORMALISATION]
        return Curves(intensity, errors.astype(np.float64), tuple(axes),  # type: ignore[arg-type]
                      text(group["I"].attrs.get("units", INTENSITY_UNITS)), ref,
                      text(style) if style is not None else None,
                      *(None if flag is None else bool(flag) for flag in flags))


def write_curves(entry: h5py.Group, curves: Curves, long_name: str, *, default: bool = False) -> h5py.Group:
    """Write ``maps/curves`` (and copy ``scans`` from the source step) in the layout later steps read;
    ``default``: also the entry's default plot (``<entry>/curves``, a hard link), for a step that writes no
    other NXdata in its entry (the NXswaxs_step definition asks for one)."""
    maps = set_nx_class(entry.require_group("maps"), "NXcollection")
    shape = curves.intensity.shape
    group = write_nxdata(maps, "curves", curves.intensity.astype(np.float32), list(curves.axes),
                         long_name=long_name, units=curves.units, errors=curves.errors.astype(np.float32),
                         interpretation="spectrum", chunks=(1, 1, 1, shape[-1]))
    if curves.silx_style:
        group.attrs["SILX_style"] = curves.silx_style
    for name in NORMALISATION:
        if getattr(curves, name) is not None:
            group.attrs[name] = np.bool_(getattr(curves, name))
    maps.attrs["default"] = "curves"
    if default:
        entry["curves"] = group
        entry.attrs["default"] = "curves"
    copy_scans(curves.source, entry)
    return group


def points_mean(intensity: np.ndarray, errors: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean curve over the ``region``'s points (a boolean map [y, x]) per scan [scan, q], with its standard
    error sqrt(Σσ²)/n; NaN bins of a point are left out of that bin's mean (NaN where no point has one)."""
    values, sigma = intensity[:, region], errors[:, region]
    count = np.sum(np.isfinite(values), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=1) / count
        error = np.sqrt(np.nansum(np.where(np.isfinite(values), sigma, 0.0) ** 2, axis=1)) / count
    return mean, error


def write_mean_curves(entry: h5py.Group, intensity: np.ndarray, errors: np.ndarray, region: np.ndarray,
                      axes: tuple[Axis, Axis], *, units: str, what: str, silx_style: str | None) -> h5py.Group:
    """``<entry>/mean_curves``: the mean curve over ``region`` (boolean map [y, x] of curves [scan, y, x, q];
    ``what`` names it) per scan, axes (scan, q): the curve view a file opens on (entry @default), a sample's
    curve rather than one corner point's, on the curves' own scales (``silx_style``: log–log for SAXS)."""
    mean, error = points_mean(intensity, errors, region)
    group = write_nxdata(entry, "mean_curves", mean, list(axes), long_name=f"mean I, {what}", units=units,
                         errors=error, interpretation="spectrum")
    if silx_style:
        group.attrs["SILX_style"] = silx_style
    group.attrs["points"] = np.int64(region.sum())
    entry.attrs["default"] = "mean_curves"
    return group


def check_same_normalisation(first: Curves, second: Curves, label: str) -> None:
    """An error naming both steps where one set of curves is monitor-normalised or transmission-corrected and
    the other is not (unknown, as in files of earlier versions or other programs: not checked)."""
    for name, what, remedy in (("monitor_normalised", "divided by the incident-beam monitor",
                                "integrate both with the same normalize_monitor and a monitor"),
                               ("transmission_corrected", "divided by their transmission",
                                "pass both through a transmission step, or neither")):
        a, b = getattr(first, name), getattr(second, name)
        if a is not None and b is not None and a != b:
            done, not_done = (first, second) if a else (second, first)
            raise InputDataError(
                f"{label}: the curves of step '{done.source.step_id}' are {what}, those of step "
                f"'{not_done.source.step_id}' are not; subtracting them mixes normalisations ({remedy})")


def copy_scans(ref: StepOutputRef, entry: h5py.Group) -> None:
    """Copy the source step's ``scans`` collection (files, shape, timestamps) into this entry."""
    with h5py.File(ref.path, "r") as handle:
        if f"{ref.entry}/scans" in handle and "scans" not in entry:
            handle.copy(handle[f"{ref.entry}/scans"], entry, name="scans")


def per_point(ref: StepOutputRef, dataset: str, values: np.ndarray, map_shape: tuple[int, ...]) -> np.ndarray:
    """Per-frame ``values`` (every scan's frames in acquisition order) as maps ``map_shape`` [scan, y, x], through
    the step's ``scans/frame_order`` where it has one; an error naming ``dataset`` where they do not fit."""
    values = np.ravel(values)
    if values.size != int(np.prod(map_shape)):
        raise InputDataError(f"{where(ref, dataset)}: {values.size} values for {map_shape} scan points")
    with h5py.File(ref.path, "r") as handle:
        node = handle.get(f"{ref.entry}/scans/frame_order")
        order = None if node is None else node[()]
    per_scan = values.reshape(map_shape[0], -1)
    return (per_scan if order is None else per_scan[:, order]).reshape(map_shape)


def map_axes(curves: Curves) -> list[Axis]:
    """The scan, y and x axes of a curves map (for images [scan, y, x])."""
    return list(curves.axes[:3])


def scan_timestamps(ref: StepOutputRef) -> list[dt.datetime] | None:
    """The scans' timestamps (ISO 8601 strings in ``scans/timestamp``), or None when not recorded."""
    with h5py.File(ref.path, "r") as handle:
        node = handle.get(f"{ref.entry}/scans/timestamp")
        if node is None:
            return None
        values = np.ravel(node[()]) if node.ndim <= 1 else node[()][:, 0]
    try:
        return [parse_time(text(v)) for v in values]
    except ValueError as error:
        raise InputDataError(f"{where(ref, 'scans/timestamp')}: not ISO 8601 timestamps ({error})") from error


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time; a time without zone is taken as UTC."""
    value = dt.datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def region_mean(curves: Curves, q_range: tuple[float, float], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean intensity (and its error) over the q bins inside ``q_range``: maps [scan, y, x].

    NaN bins (masked, empty) are left out; a range with no bin of the curves is an error naming ``what``.
    """
    low, high = q_range
    q = curves.q
    inside = (q >= low) & (q <= high)
    if not low < high or not inside.any():
        raise InputDataError(f"{what}: q-range [{low}, {high}] is outside the integrated range "
                             f"{q.min():.4g}..{q.max():.4g} of {where(curves.source, CURVES)}")
    values, errors = curves.intensity[..., inside], curves.errors[..., inside]
    count = np.sum(np.isfinite(values), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=-1) / count
        error = np.sqrt(np.nansum(np.where(np.isfinite(values), errors, 0.0) ** 2, axis=-1)) / count
    return np.where(count > 0, mean, np.nan), np.where(count > 0, error, np.nan)


def covers(curves: Curves, q_range: tuple[float, float]) -> bool:
    """True when the curves have bins over the whole ``q_range``."""
    q = curves.q
    return bool(q.min() <= q_range[0] and q.max() >= q_range[1])
