"""Raw input: frames, monitor, diode, positions from NeXus/HDF5 or image files, always read-only.

Every facility lays out its files differently, so a :class:`RawSource` names the dataset paths.
Frame stacks are described by (file, dataset) and opened on each read, so a block of frames can
be read by whichever worker processes it. Errors name the file and the dataset.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import fabio
import h5py
import hdf5plugin  # noqa: F401 - registers bitshuffle/LZ4 and other HDF5 filters used by detectors
import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from swaxs_plugins.core.errors import InputDataError

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".cxi")
LOCATION_SEPARATOR = "::"


class RawSource(BaseModel):
    """One raw input of a pipeline: files and where their datasets live.

    ``files`` are HDF5/NeXus files (with ``frames`` the dataset of frames [n, rows, cols]) or image
    files fabio reads (TIFF with Pilatus header, EDF, CBF, ...), forming one series in that order.
    ``rotation_angle`` and ``tilt_angle`` name each file's angle [deg] of a tomography projection.
    A map scan's shape comes from its ``positions`` y and x or is declared (``scan_shape``, with
    ``fast_axis`` and ``snake`` where its frames do not fill the map x fastest line by line), its axes in
    the positions' @units (or ``position_units``, where the datasets carry none).
    ``monitor`` is a dataset or one number for every frame (a beam without monitor: leave it out).
    An input that names no ``frames`` finds its datasets by NeXus conventions (:mod:`.discover`), in
    its ``entry`` and of its ``detector`` where the file holds several.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[Path]
    frames: str | None = None
    entry: str | None = None
    detector: str | None = None
    monitor: str | float | None = None
    diode: str | None = None
    positions: dict[str, str] = {}
    scan_shape: str | list[int] | None = None
    fast_axis: Literal["x", "y"] | None = None
    snake: bool | None = None
    position_units: str | None = None
    rotation_angle: str | None = None
    tilt_angle: str | None = None
    timestamp: str | None = None

    @field_validator("monitor", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        """A monitor written as a number is one (YAML reads ``2.5e4``, without a sign, as text)."""
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value


def split_location(location: str) -> tuple[Path, str | None]:
    """``"file.h5::/entry/data"`` → (file, dataset); a plain path has no dataset."""
    path, sep, dataset = location.partition(LOCATION_SEPARATOR)
    return Path(path), (dataset or None) if sep else None


def is_hdf5(path: Path) -> bool:
    """HDF5 by its name, or by its signature for files named otherwise."""
    if path.suffix.lower() in HDF5_SUFFIXES:
        return True
    return path.exists() and h5py.is_hdf5(path)


def open_hdf5(path: Path) -> h5py.File:
    """Open an input file read-only, with an error naming it when that fails."""
    if not path.exists():
        raise InputDataError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise InputDataError(f"{path}: not a readable HDF5 file ({error})") from error


def read_dataset(path: Path, dataset: str) -> np.ndarray:
    """Read a whole (small) dataset, e.g. a monitor or positions."""
    with open_hdf5(path) as handle:
        return _dataset(handle, path, dataset)[()]


def per_frame_values(path: Path, value: str | float, frames: int, field: str) -> np.ndarray:
    """A per-frame field of ``path`` [frames]: its dataset, or one number for every frame; an error naming the
    file, the dataset and ``field`` where the dataset holds another number of values."""
    if not isinstance(value, str):
        return np.full(frames, float(value))
    try:
        data = np.ravel(read_dataset(path, value)).astype(np.float64)
    except InputDataError as error:
        raise InputDataError(f"{error} (field '{field}')") from error
    if data.size != frames:
        raise InputDataError(f"{path}: '{value}' (field '{field}') has {data.size} values for {frames} frames")
    return data


def declared_scan_shape(source: RawSource, path: Path) -> tuple[int, ...] | None:
    """The scan shape ``source`` declares for the frames of ``path``: its list, or the values of the dataset it
    names there (None where it declares none)."""
    if source.scan_shape is None:
        return None
    values = read_dataset(path, source.scan_shape) if isinstance(source.scan_shape, str) else source.scan_shape
    return tuple(int(v) for v in np.ravel(values))


def dataset_shape(path: Path, dataset: str) -> tuple[int, ...]:
    """The shape of a dataset, from metadata only; an error naming file and dataset when absent."""
    with open_hdf5(path) as handle:
        return tuple(_dataset(handle, path, dataset).shape)


def _dataset(handle: h5py.File, path: Path, dataset: str) -> h5py.Dataset:
    node = handle.get(dataset)
    if not isinstance(node, h5py.Dataset):
        what = "no dataset" if node is None else "a group, not a dataset,"
        raise InputDataError(f"{path}: {what} at '{dataset}'")
    return node


@dataclass(frozen=True)
class FrameFile:
    """A stack of 2D frames in one file: an HDF5 dataset [n, rows, cols] (or [rows, cols]) or an image."""

    path: Path
    dataset: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(frames, rows, cols), read from metadata only."""
        if self.dataset is not None:
            with open_hdf5(self.path) as handle:
                return _frame_shape(self.path, self.dataset, _dataset(handle, self.path, self.dataset).shape)
        image = self._fabio()
        return (image.nframes, *image.shape[-2:])

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` as an array [n, rows, cols]."""
        if self.dataset is not None:
            with open_hdf5(self.path) as handle:
                data = _dataset(handle, self.path, self.dataset)
                _frame_shape(self.path, self.dataset, data.shape)
                return data[start:stop] if data.ndim == 3 else data[()][np.newaxis][start:stop]
        image = self._fabio()
        indices = range(image.nframes)[start:stop]
        return np.stack([image.getframe(i).data if image.nframes > 1 else image.data for i in indices])

    def _fabio(self) -> fabio.fabioimage.FabioImage:
        if not self.path.exists():
            raise InputDataError(f"{self.path}: file not found")
        try:
            return fabio.open(str(self.path))
        except Exception as error:  # noqa: BLE001 - fabio raises many kinds; all mean "unreadable image"
            raise InputDataError(f"{self.path}: not an image fabio can read ({error})") from error


def _frame_shape(path: Path, dataset: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)  # type: ignore[return-value]
    raise InputDataError(f"{path}: dataset '{dataset}' has shape {shape}; frames must be [n, rows, cols]")


def frame_files(source: RawSource) -> list[FrameFile]:
    """The frame stacks of a source in order: one per file, or per dataset matching a pattern.

    A ``frames`` path with a wildcard in its last part, e.g. ``/entry/data/data_*`` for an Eiger
    master file whose data arrive as external links to compressed data files, names every
    matching dataset of each file, in sorted order.
    """
    stacks = []
    for path in source.files:
        if not is_hdf5(path):
            stacks.append(FrameFile(path))
        elif source.frames is not None and any(ch in source.frames for ch in "*?["):
            stacks += [FrameFile(path, dataset) for dataset in _matching_datasets(path, source.frames)]
        else:
            stacks.append(FrameFile(path, source.frames))
    return stacks


def _matching_datasets(path: Path, pattern: str) -> list[str]:
    group_path, _, name_pattern = pattern.rpartition("/")
    with open_hdf5(path) as handle:
        group = handle.get(group_path or "/")
        names = sorted(n for n in group if fnmatch.fnmatchcase(n, name_pattern)) if isinstance(group, h5py.Group) else []
    if not names:
        raise InputDataError(f"{path}: no dataset matches '{pattern}'")
    return [f"{group_path}/{name}" for name in names]


def content_hash(path: Path, chunk_size: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes: which input a result was made from (hardware-accelerated on most CPUs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
