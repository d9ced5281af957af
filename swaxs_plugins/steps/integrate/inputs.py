"""What the ``integrate`` step reads before integrating: geometry, masks, scan layout, per-frame data.

Every reader checks what it reads and fails with one :class:`InputDataError` naming the file, the
dataset and the parameter or input it came from, so a pipeline step and ``swaxs integrate`` give
the same messages. A PONI file is checked for the keys pyFAI would otherwise silently default
(pyFAI reads an empty file, or one without ``Distance``, as a 1 m geometry).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyFAI
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.geometry import read_poni
from swaxs_plugins.io.raw import (FrameFile, RawSource, frame_files, is_hdf5, per_frame_values, read_dataset,
                                 split_location)
from swaxs_plugins.io.scan_geometry import Raster, ScanMap, scan_map

#: PONI keys (lower case, as pyFAI's reader sees them) without which pyFAI silently uses a default.
PONI_REQUIRED = {"distance": "Distance", "poni1": "Poni1", "poni2": "Poni2", "rot1": "Rot1", "rot2": "Rot2",
                 "rot3": "Rot3", "wavelength": "Wavelength"}
ORIENTATIONS = (1, 2, 3, 4)


@dataclass(frozen=True)
class ScanLayout:
    """How the frames of the raw source form scans: n_scans files, each of ``points`` frames filling the map
    of every file alike (``order``: the frame of each map point, None: in order), and the raster the
    positions y and x drew, where the input names them."""

    files: tuple[FrameFile, ...]
    points: int
    frame_shape: tuple[int, int]
    scan_shape: tuple[int, ...]
    raster: Raster | None = None
    order: np.ndarray | None = None

    @property
    def n_images(self) -> int:
        return len(self.files) * self.points


def load_geometry(poni: Path | None = None, geometry: StepOutputRef | None = None,
                  orientation: int | None = None) -> dict[str, Any]:
    """A picklable pyFAI configuration from exactly one of a PONI file and a calibrate step's output.

    ``orientation`` (pyFAI's detector orientation 1–4, PONI 2.1 ``Detector_config``) replaces the
    one the PONI states, e.g. 2 for a PONI made on an image flipped up–down (Dioptas).
    """
    if (poni is None) == (geometry is None):
        which = "both" if poni is not None else "neither"
        raise SwaxsError(f"integrate needs exactly one geometry: the parameter 'poni' (a PONI file) or the input "
                         f"'geometry' (a calibrate step); {which} given")
    if poni is not None:
        if not Path(poni).is_file():
            raise InputDataError(f"{poni}: PONI file not found (parameter 'poni')")
        return _config(Path(poni).read_text(errors="replace"), f"{poni} (parameter 'poni')", orientation)
    assert geometry is not None
    return _config(read_poni(geometry), f"{geometry.path}::{geometry.entry}/poni (input 'geometry')", orientation)


def _config(text: str, where: str, orientation: int | None) -> dict[str, Any]:
    """pyFAI's configuration of a PONI text, after checking that it states the whole geometry."""
    check_poni_text(text, where)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "geometry.poni"
        path.write_text(text)
        try:
            config = pyFAI.load(str(path)).get_config()
        except Exception as error:  # noqa: BLE001 - pyFAI raises many kinds for a bad PONI
            raise InputDataError(f"{where}: not a PONI geometry pyFAI can read ({error})") from error
    return with_orientation(config, orientation, where)


def check_poni_text(text: str, where: str) -> None:
    """Fail, naming the missing keys, for an empty PONI or one lacking a geometry key or a detector."""
    keys = {line.split(":", 1)[0].strip().lower() for line in text.splitlines()
            if ":" in line and not line.lstrip().startswith("#")}
    if not keys:
        raise InputDataError(f"{where}: the PONI file is empty (no 'Key: value' lines)")
    if "dist" in keys:
        keys.add("distance")
    missing = [name for key, name in PONI_REQUIRED.items() if key not in keys]
    if "detector" not in keys and not {"pixelsize1", "pixelsize2"} <= keys:
        missing.append("Detector (or PixelSize1 and PixelSize2)")
    if missing:
        raise InputDataError(f"{where}: incomplete PONI, no {', '.join(missing)}")


def with_orientation(config: Mapping[str, Any], orientation: int | None, where: str) -> dict[str, Any]:
    """``config`` with its detector orientation replaced by ``orientation`` (None: as it is)."""
    if orientation is None:
        return dict(config)
    if orientation not in ORIENTATIONS:
        raise SwaxsError(f"parameter 'orientation' {orientation}: pyFAI's detector orientation is 1, 2, 3 or 4")
    changed = {**config, "detector_config": {**(config.get("detector_config") or {}), "orientation": orientation}}
    try:
        detector = make_integrator(changed).detector
    except Exception as error:  # noqa: BLE001 - pyFAI raises many kinds for a detector config
        raise InputDataError(f"{where}: its detector does not take an orientation ({error})") from error
    if int(detector.orientation) != orientation:
        raise InputDataError(f"{where}: its detector ({detector.name}) ignores the orientation {orientation}")
    return changed


def make_integrator(config: Mapping[str, Any]) -> AzimuthalIntegrator:
    """An AzimuthalIntegrator from a pyFAI configuration dict (what workers rebuild from)."""
    return pyFAI.load(dict(config))


def read_mask(location: str | Path | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A user mask (0 = valid) as a boolean array of ``shape`` (True = masked), from any image or HDF5."""
    if location is None:
        return None
    path, dataset = split_location(str(location))
    if not path.is_file():
        raise InputDataError(f"{path}: mask file not found (parameter 'mask')")
    if dataset is not None or is_hdf5(path):
        if dataset is None:
            raise InputDataError(f"{path}: an HDF5 mask needs its dataset, as 'file.h5::/path' (parameter 'mask')")
        data = read_dataset(path, dataset)
    elif path.suffix.lower() == ".npy":
        data = np.load(path)
    else:
        data = FrameFile(path).read(0, 1)[0]
    if data.shape != tuple(shape):
        raise InputDataError(f"{location}: mask of shape {data.shape}, frames are {tuple(shape)} (parameter 'mask')")
    return np.asarray(data) != 0


def static_mask(ai: AzimuthalIntegrator, shape: tuple[int, ...], user: np.ndarray | None) -> np.ndarray | None:
    """The detector's mask (gaps) or'ed with the user's; None when nothing is masked."""
    masks = [np.asarray(m, bool) for m in (ai.detector.mask, user) if m is not None]
    masks = [m for m in masks if m.shape == tuple(shape)]
    if not masks:
        return None
    return np.logical_or.reduce(masks)


def scan_layout(source: RawSource) -> ScanLayout:
    """Frames per scan, frame size and scan shape of a raw source, checked file by file."""
    for path in source.files:
        if not Path(path).exists():
            raise InputDataError(f"{path}: input file not found (input 'scans')")
    files = tuple(frame_files(source))
    if not files:
        raise InputDataError("input 'scans': no files given")
    for frame_file in files:
        if frame_file.dataset is None and is_hdf5(frame_file.path):
            raise InputDataError(f"{frame_file.path}: an HDF5 file needs the dataset of its frames (field 'frames')")
    try:
        shapes = [f.shape for f in files]
    except InputDataError as error:
        raise InputDataError(f"{error} (input 'scans', field 'frames')") from error
    if len({s for s in shapes}) > 1:
        listing = ", ".join(f"{f.path.name} {s}" for f, s in zip(files, shapes))
        raise InputDataError(f"input 'scans': the scans differ in shape ({listing}); all must be equal")
    points, rows, cols = shapes[0]
    maps = [scan_map(source, f.path, points) for f in files]
    for frame_file, other in zip(files[1:], maps[1:]):
        if other.shape != maps[0].shape or not np.array_equal(_order(other), _order(maps[0])):
            raise InputDataError(f"input 'scans': the frames of {frame_file.path} fill the map other than those of "
                                 f"{files[0].path} ({_how(other)} against {_how(maps[0])}); process them apart")
    return ScanLayout(files, points, (rows, cols), maps[0].shape, maps[0].raster, maps[0].order)


def _order(scan: ScanMap) -> np.ndarray:
    return np.arange(int(np.prod(scan.shape))) if scan.order is None else scan.order


def _how(scan: ScanMap) -> str:
    return scan.raster.description if scan.raster else f"scan_shape {list(scan.shape)}"


def check_radial_range(ai: AzimuthalIntegrator, shape: tuple[int, int], mask: np.ndarray | None, unit: str,
                       radial_range: tuple[float, float] | None) -> None:
    """Fail early, naming 'radial_range', when it does not overlap the unmasked detector."""
    if radial_range is None:
        return
    low, high = radial_range
    values = ai.array_from_unit(shape, "center", unit, scale=True)
    if mask is not None:
        values = values[~mask]
    covered = float(np.nanmin(values)), float(np.nanmax(values))
    if not low < high or high <= covered[0] or low >= covered[1]:
        raise SwaxsError(f"parameter 'radial_range' {list(radial_range)} {unit} is outside the detector, "
                         f"which covers {covered[0]:.6g}..{covered[1]:.6g} {unit}")


def per_frame(source: RawSource, value: str | float | None, layout: ScanLayout, field: str) -> np.ndarray | None:
    """A per-frame field (monitor, diode) of every scan, concatenated [n_images]: datasets or one number."""
    if value is None:
        return None
    for frame_file in layout.files:
        if isinstance(value, str) and not is_hdf5(frame_file.path):
            raise InputDataError(f"{frame_file.path}: field '{field}' names a dataset, but this is not an HDF5 file")
    return np.concatenate([per_frame_values(f.path, value, layout.points, field) for f in layout.files])


ANGLE_FIELDS = ("rotation_angle", "tilt_angle")


def scan_records(source: RawSource, layout: ScanLayout) -> dict[str, np.ndarray]:
    """Per scan file what later steps need beside the curves: ``timestamp`` (one value per scan or
    per frame, stacked [n_scans, ...]) and the projection angles ``rotation_angle``, ``tilt_angle``
    [deg, one per scan] of a tomography, each where the raw source names its dataset."""
    records = {}
    if source.timestamp is not None:
        values = [np.asarray(read_dataset(f.path, source.timestamp)) for f in layout.files]
        if len({v.shape for v in values}) > 1:
            raise InputDataError(f"input 'scans': '{source.timestamp}' (field 'timestamp') differs in shape between "
                                 "files")
        stacked = np.stack(values)
        records["timestamp"] = stacked.astype(np.float64) if stacked.dtype.kind in "biuf" else \
            stacked.astype(h5py.string_dtype())
    for name in ANGLE_FIELDS:
        dataset = getattr(source, name)
        if dataset is not None:
            records[name] = np.array([_one_angle(f.path, dataset, name) for f in layout.files])
    return records


def _one_angle(path: Path, dataset: str, field: str) -> float:
    values = np.ravel(read_dataset(path, dataset))
    if values.size != 1 or values.dtype.kind not in "iuf":
        raise InputDataError(f"{path}: '{dataset}' (field '{field}') holds {values.size} values of type "
                             f"{values.dtype}; a scan's angle is one number [deg]")
    return float(values[0])
