"""NeXus output of the ``integrate`` step: the NXazint1d entry, the NXazint2d sub-entry, map views.

The NXazint1d fields and NXdata are exactly as the application definition names them; the
map-shaped views that silx opens directly live in the NXcollection ``maps`` (the NXazint
validators check every NXdata that is a direct child of the entry against the definition).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from swaxs_plugins.data.curves import write_mean_curves
from swaxs_plugins.io.nexus import Axis, set_nx_class, write_nxdata
from swaxs_plugins.steps.integrate.inputs import ScanLayout
from swaxs_plugins.steps.integrate.engine import BatchResult, Binning

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
    if monitor is not None:
        _monitor_group(entry, "monitor", monitor, "incident beam monitor (I0)")
    if diode is not None:
        _monitor_group(entry, "diode", diode, "transmitted beam (diode)")
    _azint_nxdata(entry, params.unit, binning, one_d, segmented=False)
    if segments is not None and segment_binning is not None:
        sub = set_nx_class(entry.create_group("segments"), "NXsubentry")
        sub["definition"] = "NXazint2d"
        _write_azint_fields(sub, params, geometry, monitor_applied, instrument=entry["instrument"])
        sub["reduction"] = entry["reduction"]
        if monitor is not None:
            sub["monitor"] = entry["monitor"]
        _azint_nxdata(sub, params.unit, segment_binning, segments, segmented=True)
        sub.attrs["default"] = "integrated"
    _write_scans(entry, layout, scan_records)
    _write_maps(entry, params, binning, layout, one_d, segment_binning, segments, monitor_applied)
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


def _monitor_group(entry: h5py.Group, name: str, values: np.ndarray, long_name: str) -> None:
    group = set_nx_class(entry.create_group(name), "NXmonitor")
    group["data"] = values
    group["data"].attrs["long_name"] = long_name
    group["data"].attrs["units"] = "counts"


def _azint_nxdata(parent: h5py.Group, unit: str, binning: Binning, result: BatchResult, *, segmented: bool) -> None:
    """The NXdata exactly as NXazint1d/NXazint2d define it (names, attributes, long_names)."""
    intensity, sigma, norm = result.intensity, result.sigma, result.norm
    units, label, _ = UNITS[unit]
    group = set_nx_class(parent.create_group("integrated"), "NXdata")
    group.attrs["signal"] = "I"
    group.attrs["interpretation"] = "image" if segmented else "spectrum"
    group.attrs["axes"] = [".", "azimuthal_axis", "radial_axis"] if segmented else [".", "radial_axis"]
    chunks = (1, *intensity.shape[1:])
    for name, data, long_name in (("I", intensity, "intensity"), ("I_errors", sigma, "estimated intensity error")):
        dataset = group.create_dataset(name, data=data, chunks=chunks)
        dataset.attrs.update({"long_name": long_name, "units": INTENSITY_UNITS,
                              "interpretation": "image" if segmented else "spectrum"})
    _field(group, "radial_axis", binning.radial, units, label)
    _field(group, "radial_axis_edges", binning.radial_edges, units, f"{label} bin edges")
    _field(group, "norm", norm, INTENSITY_UNITS, "effective number of pixels contributing to the corresponding bin")
    group.attrs["radial_axis_indices"] = 2 if segmented else 1
    if segmented:
        _field(group, "azimuthal_axis", binning.azimuthal, "degrees", "azimuthal bin center")
        _field(group, "azimuthal_axis_edges", binning.azimuthal_edges, "degrees", "azimuthal bin edges")
        group.attrs["azimuthal_axis_indices"] = 1


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
                one_d: BatchResult, segment_binning: Binning | None, segments: BatchResult | None,
                monitor_applied: bool) -> None:
    """Map-shaped views for silx in the NXcollection ``maps`` (@default ``curves``).

    ``curves`` I[scan, *scan_shape, q] (spectrum: a curve with scan sliders), ``images``
    I[scan, q, y, x] (image: a map with q and scan sliders; for a 1-D series I[scan, point, q]),
    ``segments`` I[scan, *scan_shape, chi, q] (image: χ–q with scan sliders).
    """
    maps = set_nx_class(entry.create_group("maps"), "NXcollection")
    spatial = layout.scan_shape
    units, _, axis_name = UNITS[params.unit]
    label = "q" if axis_name == "q" else "2θ"
    radial = Axis(axis_name, binning.radial, units, label)
    scan_axis, *spatial_axes = _map_axes(layout)
    style = LOG_LOG if params.log_scale else None
    n_rad = one_d.intensity.shape[-1]
    curves = _to_map(one_d.intensity, layout)
    group = write_nxdata(maps, "curves", curves, [scan_axis, *spatial_axes, radial], long_name="intensity",
                         units=INTENSITY_UNITS, errors=_to_map(one_d.sigma, layout), interpretation="spectrum",
                         silx_style=style, chunks=(1, *(1,) * len(spatial), n_rad))
    group.attrs.update(monitor_normalised=np.bool_(monitor_applied), transmission_corrected=np.bool_(False))
    if len(spatial) == 2:
        images, image_axes = np.ascontiguousarray(np.moveaxis(curves, -1, 1)), [scan_axis, radial, *spatial_axes]
    else:
        images, image_axes = curves, [scan_axis, *spatial_axes, radial]
    write_nxdata(maps, "images", images, image_axes, long_name="intensity", units=INTENSITY_UNITS,
                 interpretation="image", chunks=(1, *(1,) * (images.ndim - 3), *images.shape[-2:]))
    if segments is not None and segment_binning is not None and segment_binning.azimuthal is not None:
        bins = segments.intensity.shape[1:]
        chi = Axis("chi", segment_binning.azimuthal, "degrees", "χ (azimuthal angle)")
        segment_radial = Axis(axis_name, segment_binning.radial, units, label)
        write_nxdata(maps, "segments", _to_map(segments.intensity, layout),
                     [scan_axis, *spatial_axes, chi, segment_radial], long_name="intensity", units=INTENSITY_UNITS,
                     errors=_to_map(segments.sigma, layout), interpretation="image",
                     chunks=(1, *(1,) * len(spatial), *bins))
    maps.attrs["default"] = "curves"
