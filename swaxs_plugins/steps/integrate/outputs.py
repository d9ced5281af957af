"""NeXus output of the ``integrate`` step: the NXazint1d entry, the NXazint2d sub-entry, map views.

The NXazint1d fields and NXdata are exactly as the application definition names them; the
map-shaped views that silx opens directly live in the NXcollection ``maps`` (the NXazint
validators check every NXdata that is a direct child of the entry against the definition).

Provenance: NXazint1d asks that ``reduction/input`` (NXparameters) hold what the algorithm needs, as
azint's writer does. Beside the step's parameters it holds ``poni`` (the geometry integrated with, as
the JSON of pyFAI's ``PoniFile.as_dict()`` that pyFAI's own NeXus writer stores; ``pyFAI.load`` reads
the text back; the parameter's file name moves to @file_name), ``error_model`` (pyFAI's name:
``poisson``) and ``integration_method`` (JSON of pyFAI's split, algo, impl). The entry's
``start_time`` is the first scan's timestamp where the raw input has one, else the processing time;
its @source says which.

Storage: every intensity array is stored once, compressed, in the NXazint NXdata ``integrated``
(``I``, ``I_errors`` [n_images, ...] in acquisition order; ``segments/integrated`` for segments), where
NeXus readers of NXazint1d look. The map views ``maps/curves``, ``maps/segments`` and ``maps/images``
are HDF5 virtual datasets over them in the same file (source file ``.``), ``images`` with hard links to
the curves' axes: silx and :mod:`swaxs_plugins.data` see the shapes and values they saw before.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.data.curves import parse_time, write_mean_curves
from swaxs_plugins.io.nexus import Axis, now_iso, set_nx_class, storage, text, write_nxdata
from swaxs_plugins.io.nexus import label as nexus_label
from swaxs_plugins.steps.integrate.engine import BatchResult, Binning
from swaxs_plugins.steps.integrate.inputs import ScanLayout

if TYPE_CHECKING:
    from swaxs_plugins.steps.integrate.step import IntegrateParameters

UNITS: dict[str, tuple[str, str, str]] = {  # unit → (NeXus units, NXazint long_name, map axis name)
    "q_A^-1": ("1/angstrom", "q", "q"),
    "q_nm^-1": ("1/nm", "q", "q"),
    "2th_deg": ("degrees", "2theta", "two_theta"),
}
HC_KEV_ANGSTROM = 12.398419843320026
LOG_LOG = {"signal_scale_type": "log", "axes_scale_types": ["log", "log"]}
INTENSITY_UNITS = "arbitrary units"
ERROR_MODEL = "poisson"
"""pyFAI's error model of both engines: variance Σc²·max(x, 1) (see :mod:`.engine`)."""


def write_integrated(entry: h5py.Group, params: IntegrateParameters, geometry: Mapping[str, Any], binning: Binning,
                     one_d: BatchResult, segment_binning: Binning | None, segments: BatchResult | None,
                     layout: ScanLayout, monitor: np.ndarray | None, diode: np.ndarray | None,
                     scan_records: Mapping[str, np.ndarray], integrated_pixels: int) -> None:
    """Everything after the NXprocess: NXazint1d fields and NXdata, the NXazint2d sub-entry for segments,
    the per-frame monitor/diode, the scans' files and timestamps, and the map views (entry @default),
    among them the invalid pixels of each frame (out of ``integrated_pixels``).
    """
    monitor_applied = monitor is not None and params.normalize_monitor
    _write_azint_fields(entry, params, geometry, monitor_applied)
    _write_provenance(entry, params, geometry, scan_records)
    if monitor is not None:
        _monitor_group(entry, "monitor", monitor, "incident beam monitor (I0)")
    if diode is not None:
        _monitor_group(entry, "diode", diode, "transmitted beam (diode)")
    _azint_nxdata(entry, params.unit, binning, one_d, segmented=False)
    if segments is not None and segment_binning is not None:
        sub = set_nx_class(entry.create_group("segments"), "NXsubentry")
        sub["definition"] = "NXazint2d"
        _write_azint_fields(sub, params, geometry, monitor_applied, instrument=entry["instrument"])
        for shared in ("reduction", "start_time", "monitor"):
            if shared in entry:
                sub[shared] = entry[shared]
        _azint_nxdata(sub, params.unit, segment_binning, segments, segmented=True)
        sub.attrs["default"] = "integrated"
    _write_scans(entry, layout, scan_records)
    _write_maps(entry, params, binning, layout, segment_binning, monitor_applied)
    _write_invalid_pixels(entry["maps"], layout, one_d, integrated_pixels)
    _write_mean_curves(entry, params, binning, layout, one_d)


def _write_azint_fields(group: h5py.Group, params: IntegrateParameters, geometry: Mapping[str, Any],
                        monitor_applied: bool, instrument: h5py.Group | None = None) -> None:
    group["solid_angle_applied"] = np.bool_(params.solid_angle)
    group["polarization_applied"] = np.bool_(params.polarization is not None)
    group["normalization_applied"] = np.bool_(True)
    group["monitor_applied"] = np.bool_(monitor_applied)
    if instrument is not None:
        group["instrument"] = instrument
        return
    instrument = set_nx_class(group.create_group("instrument"), "NXinstrument")
    instrument["name"] = params.instrument
    mono = set_nx_class(instrument.create_group("monochromator"), "NXmonochromator")
    wavelength = float(geometry["wavelength"]) * 1e10
    mono["wavelength"] = wavelength
    mono["wavelength"].attrs["units"] = "angstrom"
    mono["energy"] = HC_KEV_ANGSTROM / wavelength
    mono["energy"].attrs["units"] = "keV"
    source = set_nx_class(instrument.create_group("source"), "NXsource")
    source["name"] = params.source_name
    source["type"] = params.source_type
    source["probe"] = params.probe


def _write_provenance(entry: h5py.Group, params: IntegrateParameters, geometry: Mapping[str, Any],
                      scan_records: Mapping[str, np.ndarray]) -> None:
    """The geometry (PONI), error model and method in ``reduction/input``; the entry's ``start_time``."""
    from pyFAI.io.ponifile import PoniFile

    from swaxs_plugins.steps.integrate.engine import resolve_method

    inputs = set_nx_class(entry.require_group("reduction/input"), "NXparameters")
    poni_file = text(inputs["poni"][()]) if "poni" in inputs else None
    if poni_file is not None:
        del inputs["poni"]  # the parameter named the file; NXazint1d's poni is the geometry itself
    inputs["poni"] = json.dumps(PoniFile(dict(geometry)).as_dict(), default=int)
    inputs["poni"].attrs.update({"format": "text/json", "description": "the geometry integrated with, as pyFAI's "
                                 "PoniFile.as_dict(); pyFAI.load(this text) reads it back"})
    if poni_file is not None:
        inputs["poni"].attrs["file_name"] = poni_file
    inputs["error_model"] = ERROR_MODEL
    method = resolve_method(params.method, 1)
    algorithm = "csc" if params.engine == "sparse" else method.algo_lower
    inputs["integration_method"] = json.dumps({"dim": 1, "split": method.split_lower, "algo": algorithm,
                                               "impl": method.impl_lower})
    inputs["integration_method"].attrs["description"] = (
        "pyFAI's IntegrationMethod (split, algo, impl); engine 'sparse': pyFAI's cython CSC matrix applied to the "
        "frames by swaxs_plugins' compiled kernel" if params.engine == "sparse" else
        "pyFAI's IntegrationMethod (split, algo, impl), called per frame through integrate1d_ng")
    start, source = _start_time(scan_records)
    entry["start_time"] = start
    entry["start_time"].attrs["source"] = source


def _start_time(scan_records: Mapping[str, np.ndarray]) -> tuple[str, str]:
    """The first scan's timestamp (ISO 8601 text, or seconds since 1970 taken as UTC) where the input records
    one, else the processing time; and which of the two it is."""
    values = scan_records.get("timestamp")
    if values is None:
        return now_iso(), "processing time (the raw input records no timestamp)"
    first = np.ravel(values)[0]
    if np.asarray(values).dtype.kind in "iuf":
        moment = dt.datetime.fromtimestamp(float(first), dt.timezone.utc)
        return moment.isoformat(), "acquisition: the first scan's timestamp (seconds since 1970, UTC)"
    try:
        return parse_time(text(first)).isoformat(), "acquisition: the first scan's timestamp"
    except ValueError as error:
        raise InputDataError(f"input 'scans': timestamp '{text(first)}' is not an ISO 8601 time ({error})") from error


def _monitor_group(entry: h5py.Group, name: str, values: np.ndarray, long_name: str) -> None:
    group = set_nx_class(entry.create_group(name), "NXmonitor")
    group["data"] = values
    group["data"].attrs["long_name"] = long_name
    group["data"].attrs["units"] = "counts"


def _azint_nxdata(parent: h5py.Group, unit: str, binning: Binning, result: BatchResult, *, segmented: bool) -> None:
    """The NXdata exactly as NXazint1d/NXazint2d define it (names, attributes, long_names): the one stored copy
    of I and I_errors [n_images, ...], in acquisition order, compressed in chunks of one image's bins."""
    units, label, _ = UNITS[unit]
    group = set_nx_class(parent.create_group("integrated"), "NXdata")
    group.attrs["signal"] = "I"
    group.attrs["interpretation"] = "image" if segmented else "spectrum"
    group.attrs["axes"] = [".", "azimuthal_axis", "radial_axis"] if segmented else [".", "radial_axis"]
    chunks = (1, *result.intensity.shape[1:])
    for name, data, long_name in (("I", result.intensity, "intensity"),
                                  ("I_errors", result.sigma, "estimated intensity error")):
        dataset = group.create_dataset(name, data=data, **storage(data, chunks))
        dataset.attrs.update({"long_name": long_name, "units": INTENSITY_UNITS,
                              "interpretation": "image" if segmented else "spectrum"})
    _field(group, "radial_axis", binning.radial, units, label)
    _field(group, "radial_axis_edges", binning.radial_edges, units, f"{label} bin edges")
    _field(group, "norm", result.norm, INTENSITY_UNITS,
           "effective number of pixels contributing to the corresponding bin")
    group.attrs["radial_axis_indices"] = 2 if segmented else 1
    if segmented:
        _field(group, "azimuthal_axis", binning.azimuthal, "degrees", "azimuthal bin center")
        _field(group, "azimuthal_axis_edges", binning.azimuthal_edges, "degrees", "azimuthal bin edges")
        group.attrs["azimuthal_axis_indices"] = 1


def _source(dataset: h5py.Dataset) -> h5py.VirtualSource:
    """``dataset`` as the source of a virtual dataset in its own file ('.', which survives the rename)."""
    return h5py.VirtualSource(".", dataset.name, shape=dataset.shape, dtype=dataset.dtype)


def _map_layout(source: h5py.Dataset, layout: ScanLayout) -> h5py.VirtualLayout:
    """[scan, *scan_shape, *bins] over ``source`` [n_images, *bins] (acquisition order), each map point
    showing its frame: one mapping per scan in C order, else one per run of points along x whose frames
    follow each other (a serpentine scan's forward rows: one each; its backward rows: one per point)."""
    n_scans, spatial, points = len(layout.files), layout.scan_shape, layout.points
    view = h5py.VirtualLayout(shape=(n_scans, *spatial, *source.shape[1:]), dtype=source.dtype)
    origin = _source(source)
    if layout.order is None or np.array_equal(layout.order, np.arange(points)):
        for scan in range(n_scans):
            view[scan] = origin[scan * points:(scan + 1) * points]
        return view
    for first_point, first_frame, length in _runs(np.asarray(layout.order), spatial[-1]):
        where = np.unravel_index(first_point, spatial)
        for scan in range(n_scans):
            row = scan * points + first_frame
            view[(scan, *where[:-1], slice(int(where[-1]), int(where[-1]) + length))] = origin[row:row + length]
    return view


def _runs(order: np.ndarray, row_length: int) -> list[tuple[int, int, int]]:
    """(first map point, its frame, length) of every run of map points (C order) within one row of
    ``row_length`` whose frames are consecutive."""
    runs: list[tuple[int, int, int]] = []
    for point, frame in enumerate(order):
        if runs and point % row_length and frame == runs[-1][1] + runs[-1][2]:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((point, int(frame), 1))
    return runs


def _view_nxdata(parent: h5py.Group, name: str, axes: list[Axis], signals: Mapping[str, h5py.VirtualLayout], *,
                 interpretation: str, silx_style: Mapping[str, Any] | None = None) -> h5py.Group:
    """An NXdata as :func:`write_nxdata` writes it (signal ``I``, ``I_errors``, axes), its signals virtual."""
    group = set_nx_class(parent.create_group(name), "NXdata")
    group.attrs.update(signal="I", axes=[axis.name for axis in axes])
    for key, view in signals.items():
        dataset = group.create_virtual_dataset(key, view, fillvalue=np.nan)
        long_name = "intensity" if key == "I" else "intensity uncertainty"
        dataset.attrs.update(long_name=nexus_label(long_name, INTENSITY_UNITS), units=INTENSITY_UNITS)
    group["I"].attrs["interpretation"] = interpretation
    for dim, axis in enumerate(axes):
        group[axis.name] = np.asarray(axis.values)
        group[axis.name].attrs.update(units=axis.units, long_name=nexus_label(axis.long_name, axis.units))
        group.attrs[f"{axis.name}_indices"] = dim
    if silx_style:
        group.attrs["SILX_style"] = json.dumps(silx_style)
    return group


def _images_view(maps: h5py.Group, curves: h5py.Group, spatial: tuple[int, ...]) -> None:
    """``maps/images``: I[scan, q, y, x] (a series: I[scan, point, q]) over the curves view (one mapping per
    q bin) beside hard links to the curves' axes, for silx's image view."""
    source = curves["I"]
    axes = [str(name) for name in curves.attrs["axes"]]
    names = [axes[0], axes[-1], *axes[1:-1]] if len(spatial) == 2 else axes
    group = set_nx_class(maps.create_group("images"), "NXdata")
    group.attrs.update(signal="I", axes=names)
    for dim, name in enumerate(names):
        group[name] = curves[name]
        group.attrs[f"{name}_indices"] = dim
    view = h5py.VirtualLayout(shape=tuple(len(curves[name]) for name in names), dtype=source.dtype)
    origin = _source(source)
    if len(spatial) == 2:
        for q in range(view.shape[1]):
            view[:, q] = origin[..., q]
    else:
        view[...] = origin[...]
    image = group.create_virtual_dataset("I", view, fillvalue=np.nan)
    image.attrs.update({**{k: source.attrs[k] for k in ("long_name", "units")}, "interpretation": "image"})


def _field(group: h5py.Group, name: str, values: np.ndarray, units: str, long_name: str) -> None:
    group[name] = np.asarray(values)
    group[name].attrs["units"] = units
    group[name].attrs["long_name"] = long_name


def _write_scans(entry: h5py.Group, layout: ScanLayout, records: Mapping[str, np.ndarray]) -> None:
    """Which file each scan came from, the scan shape, and the scans' timestamps and projection
    angles (deg) where the raw source gave them, for later steps."""
    scans = set_nx_class(entry.create_group("scans"), "NXcollection")
    scans["file_name"] = np.array([str(f.path) for f in layout.files], dtype=h5py.string_dtype())
    scans["scan_shape"] = np.asarray(layout.scan_shape, dtype=np.int64)
    scans["points"] = np.int64(layout.points)
    if layout.order is not None:
        scans["frame_order"] = np.asarray(layout.order, dtype=np.int64)
        scans["frame_order"].attrs["long_name"] = "the frame of each map point (C order) within its scan"
    if layout.raster is not None:
        scans["scan_shape"].attrs["scan"] = layout.raster.description
    for name, values in records.items():
        scans[name] = values
        if name.endswith("_angle"):
            scans[name].attrs["units"] = "deg"


def _map_axes(layout: ScanLayout) -> list[Axis]:
    """The axes of a per-frame map: scan, then y, x (a 2-D scan: the motor positions where the input names
    them, labelled 'y (mm)' with their unit, else scan-point indices) or point (a series)."""
    spatial = layout.scan_shape
    scan_axis = Axis("scan", np.arange(len(layout.files)), "", "scan number")
    if layout.raster is not None:
        raster = layout.raster
        return [scan_axis, Axis("y", raster.y, raster.y_units, "y"), Axis("x", raster.x, raster.x_units, "x")]
    names = ("y", "x") if len(spatial) == 2 else tuple(f"point{i}" if i else "point" for i in range(len(spatial)))
    return [scan_axis, *(Axis(name, np.arange(size), "", f"{name} (scan point index)")
                         for name, size in zip(names, spatial))]


def _to_map(values: np.ndarray, layout: ScanLayout) -> np.ndarray:
    """Per-frame ``values`` [n_images, ...] as maps [scan, *scan_shape, ...], each point holding its frame."""
    per_scan = values.reshape(len(layout.files), layout.points, *values.shape[1:])
    if layout.order is not None:
        per_scan = per_scan[:, layout.order]
    return per_scan.reshape(len(layout.files), *layout.scan_shape, *values.shape[1:])


def _write_mean_curves(entry: h5py.Group, params: IntegrateParameters, binning: Binning, layout: ScanLayout,
                       one_d: BatchResult) -> None:
    """``maps/mean_curves``: the mean curve of every scan over all its points (the default plot): the file opens on the
    sample's curve, not on the first point's (often beside the sample), log–log where ``log_scale``."""
    units, _, axis_name = UNITS[params.unit]
    shape = (len(layout.files), 1, layout.points, -1)
    radial = Axis(axis_name, binning.radial, units, "q" if axis_name == "q" else "2θ")
    write_mean_curves(entry["maps"], one_d.intensity.reshape(shape), one_d.sigma.reshape(shape),
                      np.ones((1, layout.points), bool), (_map_axes(layout)[0], radial), units=INTENSITY_UNITS,
                      what="all points of the scan", silx_style=json.dumps(LOG_LOG) if params.log_scale else None)
    entry.attrs["default"] = "maps"


def _write_invalid_pixels(maps: h5py.Group, layout: ScanLayout, result: BatchResult, integrated_pixels: int) -> None:
    """``maps/invalid_pixels``: per frame, the pixels invalid in it (NaN, ±inf, negative, overflow, dummy) that
    the static mask did not hold, as a map [scan, y, x]; ``infinite_pixels`` (±inf) as an auxiliary signal."""
    group = write_nxdata(maps, "invalid_pixels", _to_map(result.invalid_pixels, layout), _map_axes(layout),
                         signal_name="invalid_pixels", long_name="invalid pixels beyond the static mask",
                         units="pixels", interpretation="image" if len(layout.scan_shape) > 1 else None,
                         auxiliary={"infinite_pixels": _to_map(result.infinite_pixels, layout)})
    group["infinite_pixels"].attrs["long_name"] = "pixels holding ±inf"
    group["integrated_pixels"] = np.int64(integrated_pixels)
    group["integrated_pixels"].attrs.update({"units": "pixels", "long_name": "pixels integrated when all are valid"})


def _write_maps(entry: h5py.Group, params: IntegrateParameters, binning: Binning, layout: ScanLayout,
                segment_binning: Binning | None, monitor_applied: bool) -> None:
    """Map-shaped views for silx in the NXcollection ``maps`` (@default ``curves``), each a virtual dataset over
    the one stored copy in ``integrated`` (``segments/integrated``).

    ``curves`` I[scan, *scan_shape, q] (spectrum: a curve with scan sliders), ``images``
    I[scan, q, y, x] (image: a map with q and scan sliders; for a 1-D series I[scan, point, q]),
    ``segments`` I[scan, *scan_shape, chi, q] (image: χ–q with scan sliders).
    """
    maps = set_nx_class(entry.create_group("maps"), "NXcollection")
    units, _, axis_name = UNITS[params.unit]
    label = "q" if axis_name == "q" else "2θ"
    scan_axis, *spatial_axes = _map_axes(layout)
    views = {name: _map_layout(entry[f"integrated/{name}"], layout) for name in ("I", "I_errors")}
    group = _view_nxdata(maps, "curves", [scan_axis, *spatial_axes, Axis(axis_name, binning.radial, units, label)],
                         views, interpretation="spectrum", silx_style=LOG_LOG if params.log_scale else None)
    group.attrs.update(monitor_normalised=np.bool_(monitor_applied), transmission_corrected=np.bool_(False))
    _images_view(maps, group, layout.scan_shape)
    if segment_binning is not None and segment_binning.azimuthal is not None:
        chi = Axis("chi", segment_binning.azimuthal, "degrees", "χ (azimuthal angle)")
        segment_radial = Axis(axis_name, segment_binning.radial, units, label)
        views = {name: _map_layout(entry[f"segments/integrated/{name}"], layout) for name in ("I", "I_errors")}
        _view_nxdata(maps, "segments", [scan_axis, *spatial_axes, chi, segment_radial], views, interpretation="image")
    maps.attrs["default"] = "curves"
