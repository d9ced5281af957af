"""Writing NeXus: one file per step, one NXentry with its NXprocess, NXdata that silx plots.

A step's file is written under a temporary name and renamed into place only when complete, so a
crash or Ctrl-C never leaves a result that looks finished, and the temporary file is removed
whenever the step stops. The pipeline's output file records how many of its steps completed, and
says complete only once the last one did. :func:`write_nxdata` always writes @signal,
@axes, ``<signal>_errors``, and @long_name (with the unit in it, which silx shows) and @units on every
axis; datasets of some size are chunked for viewing one curve or image and compressed (gzip, readable
everywhere); the @default chain runs from the file root to the plot a user should see first.

A 1-D series of scan points is handled by the map steps as a map of one line, [scan, 1, point]; that
line's axis is an :class:`Axis` with ``squeeze``, which :func:`write_nxdata` leaves out of the file
(the NXdata is [scan, point], as silx and a scientist expect) and records in @squeezed_axes, from
which :func:`read_signal` puts it back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from swaxs_plugins.core.errors import OutputError
from swaxs_plugins.io.output import prepare_output

PROCESS_GROUP = "reduction"
PARAMETERS_GROUP = "input"
CONFIGURATION_NOTE = "configuration"
WARNINGS_NOTE = "warnings"
SUMMARY_NOTE = "quality"
RUN_COMPLETE_ATTR = "swaxs_run_complete"
STEPS_COMPLETED_ATTR = "swaxs_steps_completed"
STEPS_TOTAL_ATTR = "swaxs_steps_total"


@dataclass(frozen=True)
class Axis:
    """One NXdata axis: its values, units and the label a plot shows; ``squeeze``: a dimension of length one
    the file leaves out (the single line of a 1-D series)."""

    name: str
    values: np.ndarray
    units: str
    long_name: str
    squeeze: bool = False


SQUEEZED_AXES_ATTR = "squeezed_axes"


def series_line_axis() -> Axis:
    """The axis of the one line of a 1-D series handled as a map [scan, 1, point]."""
    return Axis("line", np.zeros(1), "", "the one line of a series", squeeze=True)


def read_signal(group: h5py.Group, name: str | None = None) -> np.ndarray:
    """Dataset ``name`` (default: the @signal) of a group, with the dimensions :func:`write_nxdata` left out of
    an NXdata (@squeezed_axes) put back as length one."""
    data = group[name or text(group.attrs["signal"])][()]
    for dim in sorted(int(d) for d in np.ravel(group.attrs.get(SQUEEZED_AXES_ATTR, []))):
        data = np.expand_dims(data, dim)
    return data


@dataclass(frozen=True)
class InputRecord:
    """Provenance of one step input: which file (and datasets), and the hash of its content."""

    name: str
    file: Path
    description: str
    content_hash: str


def text(value: bytes | str | object) -> str:
    """An HDF5 string (h5py returns variable-length strings as bytes) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def set_nx_class(group: h5py.Group, nx_class: str) -> h5py.Group:
    group.attrs["NX_class"] = nx_class
    return group


def ordered_collection(parent: h5py.Group, name: str) -> h5py.Group:
    """``parent/name`` as an NXcollection that lists its members in the order they were created.

    h5py lists the members of a plain group alphabetically; a collection of samples should come back
    in the order the pipeline gave them.
    """
    existing = parent.get(name)
    return set_nx_class(existing if existing is not None else parent.create_group(name, track_order=True),
                        "NXcollection")


def write_nxdata(
    parent: h5py.Group,
    name: str,
    signal: np.ndarray,
    axes: Sequence[Axis | None],
    *,
    signal_name: str = "I",
    long_name: str,
    units: str,
    errors: np.ndarray | None = None,
    interpretation: str | None = None,
    auxiliary: Mapping[str, np.ndarray] | None = None,
    silx_style: Mapping[str, Any] | None = None,
    chunks: tuple[int, ...] | bool | None = None,
) -> h5py.Group:
    """Write an NXdata group; ``axes`` has one entry per signal dimension (None: no axis, '.'; an axis with
    ``squeeze``: a dimension of length one left out of signal, errors and auxiliary signals).

    Frames-sized stacks should pass ``chunks`` of one image so that silx reads them lazily.
    """
    if len(axes) != signal.ndim:
        raise ValueError(f"NXdata '{name}': {len(axes)} axes for a {signal.ndim}-d signal")
    squeezed = tuple(dim for dim, axis in enumerate(axes) if axis is not None and axis.squeeze)
    if squeezed:
        signal, axes = np.squeeze(signal, squeezed), [axis for dim, axis in enumerate(axes) if dim not in squeezed]
        errors = None if errors is None else np.squeeze(errors, squeezed)
        auxiliary = {k: np.squeeze(v, squeezed) for k, v in (auxiliary or {}).items()} or None
        if isinstance(chunks, tuple):
            chunks = tuple(c for dim, c in enumerate(chunks) if dim not in squeezed)
    group = set_nx_class(parent.create_group(name), "NXdata")
    group.attrs["signal"] = signal_name
    group.attrs["axes"] = [axis.name if axis else "." for axis in axes]
    _write_signal(group, signal_name, signal, long_name, units, chunks)
    if errors is not None:
        if errors.shape != signal.shape:
            raise ValueError(f"NXdata '{name}': errors shape {errors.shape} != signal shape {signal.shape}")
        _write_signal(group, f"{signal_name}_errors", errors, f"{long_name} uncertainty", units, chunks)
    if interpretation:
        group[signal_name].attrs["interpretation"] = interpretation
    for dim, axis in enumerate(axes):
        if axis is not None:
            _write_axis(group, axis, dim, signal.shape[dim])
    if auxiliary:
        for aux_name, values in auxiliary.items():
            _write_signal(group, aux_name, values, aux_name.replace("_", " "), units, chunks)
        group.attrs["auxiliary_signals"] = list(auxiliary)
    if silx_style:
        group.attrs["SILX_style"] = json.dumps(silx_style)
    if squeezed:
        group.attrs[SQUEEZED_AXES_ATTR] = np.array(squeezed, dtype=np.int64)
    return group


UNIT_SYMBOLS: tuple[tuple[str, str], ...] = (  # NeXus @units spelling → how a plot label shows it, in this order
    ("arbitrary units", "a.u."), ("1/angstrom", "Å⁻¹"), ("1/nm", "nm⁻¹"), ("angstrom^2", "Å²"),
    ("angstrom^1", "Å"), ("angstrom", "Å"), ("degrees", "°"), ("deg", "°"), ("um", "µm"), (" * ", " "),
)
COMPRESS_FROM_ELEMENTS = 4096  # smaller datasets stay contiguous: a chunk index would outweigh them
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def unit_symbol(units: str) -> str:
    """How a plot label shows a NeXus unit: ``1/angstrom`` → ``Å⁻¹``, ``arbitrary units`` → ``a.u.``."""
    for spelled, symbol in UNIT_SYMBOLS:
        units = units.replace(spelled, symbol)
    return units


def label(long_name: str, units: str) -> str:
    """The @long_name silx shows as an axis label, with the unit in it: ``q (Å⁻¹)``.

    silx shows @long_name instead of the name and @units, so the unit must be part of it; a name that
    already ends with its unit is left as it is (reading and rewriting a dataset keeps one unit).
    """
    symbol = unit_symbol(units)
    if not symbol or long_name.endswith((f"({symbol})", f"({units})")):
        return long_name
    return f"{long_name} ({symbol})"


def storage(data: np.ndarray, chunks: tuple[int, ...] | bool | None) -> dict[str, Any]:
    """Chunking and compression of a processed dataset: gzip with shuffle (every HDF5 reader has it, no
    plugin needed) for arrays of ``COMPRESS_FROM_ELEMENTS`` or more, in the chunks given (one curve, one
    image) or else h5py's; small arrays contiguous."""
    array = np.asarray(data)
    if array.size < COMPRESS_FROM_ELEMENTS or array.dtype.kind not in "biuf":
        return {"chunks": chunks}
    return {"chunks": True if chunks in (None, False) else chunks, **COMPRESSION}


def _write_signal(group: h5py.Group, name: str, data: np.ndarray, long_name: str, units: str,
                  chunks: tuple[int, ...] | bool | None) -> None:
    dataset = group.create_dataset(name, data=data, **storage(data, chunks))
    dataset.attrs["long_name"] = label(long_name, units)
    dataset.attrs["units"] = units


def _write_axis(group: h5py.Group, axis: Axis, dim: int, length: int) -> None:
    values = np.asarray(axis.values)
    if values.ndim != 1 or len(values) not in (length, length + 1):
        raise ValueError(f"NXdata axis '{axis.name}': shape {values.shape} does not fit dimension of length {length}")
    if axis.name not in group:
        dataset = group.create_dataset(axis.name, data=values)
        dataset.attrs["units"] = axis.units
        dataset.attrs["long_name"] = label(axis.long_name, axis.units)
    group.attrs[f"{axis.name}_indices"] = dim


def write_parameters(process: h5py.Group, params: Mapping[str, Any], units: Mapping[str, str]) -> h5py.Group:
    """The resolved parameters as an NXparameters group, one field each, with units where known."""
    group = set_nx_class(process.create_group(PARAMETERS_GROUP), "NXparameters")
    for name, value in params.items():
        if value is None:
            continue
        group.create_dataset(name, data=_as_field(value))
        if name in units:
            group[name].attrs["units"] = units[name]
    return group


def _as_field(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    array = np.asarray(value) if isinstance(value, (list, tuple)) else None
    if array is not None and array.dtype.kind in "biuf":
        return array
    return json.dumps(value)


class StepWriter:
    """Writes one step's NeXus file atomically: a temporary file renamed into place on success.

    Use as a context manager; the entry is reachable as :attr:`entry`. The target is checked (see
    :func:`~swaxs_plugins.io.output.prepare_output`) before anything is written. However the block
    ends (success, exception, KeyboardInterrupt) the temporary file is gone afterwards; only on
    success is it renamed into place, else the final path is left as it was.
    """

    def __init__(self, path: Path, entry_name: str, definition: str) -> None:
        self.path = Path(path)
        self.entry_name = entry_name
        self.definition = definition
        self.partial_path = self.path.with_name(f".{self.path.name}.partial")
        self._file: h5py.File | None = None

    def __enter__(self) -> StepWriter:
        prepare_output(self.path, "step file")
        try:
            self._file = h5py.File(self.partial_path, "w")
            self._file.attrs.update({"default": self.entry_name, "file_name": self.path.name,
                                     "file_time": now_iso(), "creator": "swaxs_plugins",
                                     "HDF5_Version": h5py.version.hdf5_version, "h5py_version": h5py.__version__})
            entry = set_nx_class(self._file.create_group(self.entry_name), "NXentry")
            entry["definition"] = self.definition
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        assert self._file is not None
        try:
            self._file.close()
            if exc_type is None:
                _replace(self.partial_path, self.path, "step file")
        finally:
            self._discard()

    def _discard(self) -> None:
        if self._file is not None and self._file.id.valid:
            self._file.close()
        self.partial_path.unlink(missing_ok=True)

    @property
    def entry(self) -> h5py.Group:
        assert self._file is not None, "StepWriter used outside its with-block"
        return self._file[self.entry_name]

    def write_process(self, *, program: str, version: str, sequence_index: int, kind: str, implementation: str,
                      params: Mapping[str, Any], units: Mapping[str, str], configuration: Mapping[str, Any],
                      inputs: Sequence[InputRecord], reference: str) -> h5py.Group:
        """The NXprocess of this step: who made it, when, with which parameters from which inputs."""
        process = set_nx_class(self.entry.create_group(PROCESS_GROUP), "NXprocess")
        process["program"] = program
        process["version"] = version
        process["date"] = now_iso()
        process["sequence_index"] = np.int64(sequence_index)
        process["reference"] = reference
        process["note"] = f"swaxs_plugins step '{self.entry_name}': {kind}/{implementation}"
        write_parameters(process, params, units)
        note = set_nx_class(process.create_group(CONFIGURATION_NOTE), "NXnote")
        note["type"] = "application/json"
        note["data"] = json.dumps(configuration, indent=1, default=str)
        for record in inputs:
            source = set_nx_class(process.create_group(f"source_{record.name}"), "NXnote")
            source["file_name"] = str(record.file)
            source["description"] = record.description
            source["type"] = "content hash sha256"
            source["data"] = record.content_hash
        return process

    def write_quality(self, warnings: Sequence[str], summary: Mapping[str, str]) -> None:
        """The step's warnings (NXnote ``warnings``, one per line) and quality figures (NXnote
        ``quality``, JSON) in its NXprocess, so that a later look at the file sees them too."""
        process = self.entry[PROCESS_GROUP]
        for name, kind, data in ((WARNINGS_NOTE, "text/plain", "\n".join(warnings)),
                                 (SUMMARY_NOTE, "application/json", json.dumps(dict(summary), indent=1))):
            note = set_nx_class(process.create_group(name), "NXnote")
            note["type"] = kind
            note["data"] = data

    def nxdata(self, name: str, signal: np.ndarray, axes: Sequence[Axis | None], *, default: bool = False,
               **kwargs: Any) -> h5py.Group:
        """Write an NXdata in the entry (see :func:`write_nxdata`); ``default`` makes it the plot shown."""
        group = write_nxdata(self.entry, name, signal, axes, **kwargs)
        if default:
            self.entry.attrs["default"] = name
        return group


PIPELINE_ATTR = "swaxs_pipeline"


def write_master(path: Path, entries: Sequence[tuple[str, Path]], default: str | None, *, steps_total: int,
                 pipeline: str | None = None) -> None:
    """A small file linking every completed step's entry (external links), written atomically.

    Its root records ``swaxs_steps_completed`` (the entries linked), ``swaxs_steps_total`` (the
    pipeline's steps), ``swaxs_pipeline`` (the pipeline's name) and ``swaxs_run_complete``, true only when every step completed; ``swaxs
    validate`` reports a file that is not complete as failed.
    """
    partial = path.with_name(f".{path.name}.partial")
    prepare_output(path, "pipeline output")
    try:
        with h5py.File(partial, "w") as handle:
            handle.attrs.update({"file_name": path.name, "file_time": now_iso(), "creator": "swaxs_plugins",
                                 STEPS_COMPLETED_ATTR: np.int64(len(entries)), STEPS_TOTAL_ATTR: np.int64(steps_total),
                                 RUN_COMPLETE_ATTR: np.bool_(len(entries) == steps_total)})
            for entry_name, step_file in entries:
                handle[entry_name] = h5py.ExternalLink(os.path.relpath(step_file, path.parent), f"/{entry_name}")
            if default:
                handle.attrs["default"] = default
            if pipeline:
                handle.attrs[PIPELINE_ATTR] = pipeline
        _replace(partial, path, "pipeline output")
    finally:
        partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class RunState:
    """What a pipeline's output file says about its run: steps completed out of all, and whether done."""

    completed: int
    total: int
    complete: bool


def read_run_state(handle: h5py.File) -> RunState | None:
    """The run state recorded at the root of a pipeline output file; None for any other file."""
    attrs = handle.attrs
    if RUN_COMPLETE_ATTR not in attrs:
        return None
    return RunState(int(attrs.get(STEPS_COMPLETED_ATTR, 0)), int(attrs.get(STEPS_TOTAL_ATTR, 0)),
                    bool(attrs[RUN_COMPLETE_ATTR]))


def _replace(partial: Path, path: Path, what: str) -> None:
    """Move a complete temporary file into place, or say in one line why it cannot go there."""
    try:
        os.replace(partial, path)
    except OSError as error:
        raise OutputError(f"{path}: cannot write the {what} ({error.strerror}); "
                          "choose another path or fix the folder") from error


def read_quality(path: Path, entry: str) -> tuple[list[str], dict[str, str]]:
    """The warnings and quality figures a step stored in its NXprocess (none for older files)."""
    with h5py.File(path, "r") as handle:
        process = handle[entry].get(PROCESS_GROUP)
        if process is None or WARNINGS_NOTE not in process:
            return [], {}
        warnings = text(process[WARNINGS_NOTE]["data"][()])
        summary = json.loads(text(process[SUMMARY_NOTE]["data"][()]))
    return [line for line in warnings.split("\n") if line], summary


def resolve_entry(handle: h5py.File, name: str) -> tuple[Path, str]:
    """The file and path an entry really lives in, following an external link."""
    link = handle.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        return Path(handle.filename).parent / link.filename, link.path
    return Path(handle.filename), f"/{name}"
