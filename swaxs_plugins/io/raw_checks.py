"""What the metadata of a raw input's files already show wrong, found by ``swaxs check`` before any run.

For every file of a :class:`~swaxs_plugins.io.raw.RawSource` and every dataset its fields name: the
dataset exists (in an HDF5 file: image files hold none); per-frame datasets (``monitor``, ``diode``,
each of ``positions``) hold one value per frame of that file; a ``scan_shape`` (declared, or the dataset
that holds it) holds that file's frames; positions y and x form a raster (:mod:`.scan_geometry`) that
agrees with a declared scan shape, fast axis and snake; ``timestamp``, ``rotation_angle`` and
``tilt_angle`` exist. Only shapes and small datasets (a scan shape, positions) are read, never frames.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.io.raw import FrameFile, RawSource, dataset_shape, is_hdf5, read_dataset
from swaxs_plugins.io.scan_geometry import MAP_MOTORS, scan_map

PER_FRAME_FIELDS = ("monitor", "diode")
PRESENT_FIELDS = ("timestamp", "rotation_angle", "tilt_angle")


def source_problems(name: str, source: RawSource, stacks: Sequence[tuple[FrameFile, tuple[int, ...]]]) -> list[str]:
    """Every problem of the fields of input ``name``, each naming the input, the field, the file and the dataset."""
    frames: dict[Path, int] = {}
    for frame_file, shape in stacks:
        frames[frame_file.path] = frames.get(frame_file.path, 0) + int(shape[0])
    problems = []
    for path, count in frames.items():
        found = [f"input '{name}', field '{field}': {problem}" for field, dataset in _named_datasets(source)
                 if (problem := _dataset_problem(path, field, dataset, count))]
        if isinstance(source.scan_shape, list | tuple) and int(np.prod(source.scan_shape)) != count:
            found.append(f"input '{name}', field 'scan_shape': {list(source.scan_shape)} does not hold the "
                         f"{count} frames of {path}")
        problems += found or _raster_problems(name, source, path, count)
    return problems


def scan_shape_of(source: RawSource, path: Path, frames: int) -> tuple[int, ...] | None:
    """The map shape of a file's ``frames`` frames as its positions draw it or the input declares it; None where
    neither says (or they disagree: :func:`source_problems` reports that)."""
    if source.scan_shape is None and not (is_hdf5(path) and all(m in source.positions for m in MAP_MOTORS)):
        return None
    try:
        return scan_map(source, path, frames).shape
    except SwaxsError:
        return None


def _raster_problems(name: str, source: RawSource, path: Path, frames: int) -> list[str]:
    """Positions y and x that form no raster, or one that the declared scan shape, fast axis or snake contradict."""
    try:
        scan_map(source, path, frames)
    except SwaxsError as error:
        named = re.search(r"\(field '([a-z_]+)", str(error))
        return [f"input '{name}', field '{named.group(1) if named else 'positions'}': {error}"]
    return []


def _named_datasets(source: RawSource) -> Iterator[tuple[str, str]]:
    for field in (*PER_FRAME_FIELDS, *PRESENT_FIELDS):
        if isinstance(getattr(source, field), str):          # a monitor may be one number: nothing to check
            yield field, getattr(source, field)
    for axis, dataset in source.positions.items():
        yield f"positions.{axis}", dataset
    if isinstance(source.scan_shape, str):
        yield "scan_shape", source.scan_shape


def _dataset_problem(path: Path, field: str, dataset: str, frames: int) -> str | None:
    """Why ``dataset`` of ``path`` cannot serve as ``field`` (None where it can)."""
    if not is_hdf5(path):
        return f"{path} is not an HDF5 file, so it holds no dataset '{dataset}'"
    try:
        shape = dataset_shape(path, dataset)
    except SwaxsError as error:
        return str(error)
    size = int(np.prod(shape))
    if field in PER_FRAME_FIELDS or field.startswith("positions."):
        return None if size == frames else f"{path}: '{dataset}' has {size} values for {frames} frames"
    if field == "scan_shape":
        declared = [int(v) for v in np.ravel(read_dataset(path, dataset))]
        if int(np.prod(declared)) != frames:
            return f"{path}: '{dataset}' says {declared}, which does not hold its {frames} frames"
    return None
