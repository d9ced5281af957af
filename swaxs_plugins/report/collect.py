"""Reads a pipeline's output file into plain dataclasses for the report page.

The output file links one NXentry per completed step (external links into the step files); each
step's NXprocess ``reduction`` holds who made it (program, version, date), its parameters, its
inputs with their content hashes, its warnings and quality figures. Figures are the PNG files a
step wrote beside its file (``<step>.png``, ``<step>_*.png``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.io.nexus import (
    CONFIGURATION_NOTE,
    PARAMETERS_GROUP,
    PIPELINE_ATTR,
    PROCESS_GROUP,
    RunState,
    read_quality,
    read_run_state,
    resolve_entry,
    text,
)


class ReportError(SwaxsError):
    """The file given to the report cannot be read as a pipeline's output."""


@dataclass(frozen=True)
class Source:
    """One input a step read: its name, the file, what it is and the sha256 of its content."""

    name: str
    file: str
    description: str
    content_hash: str


@dataclass(frozen=True)
class Step:
    """What the report shows of one step."""

    step_id: str
    file: Path
    sequence_index: int
    note: str
    program: str
    version: str
    date: str
    parameters: dict[str, str]
    configuration: str
    sources: list[Source]
    warnings: list[str]
    quality: dict[str, str]
    figures: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """A pipeline output file's run state and its steps in pipeline order."""

    output: Path
    pipeline: str
    state: RunState
    steps: list[Step]


def collect(output: Path) -> Report:
    """Everything the report shows, read from ``output``; a :class:`ReportError` naming the file if it
    is missing or not a pipeline's output."""
    if not output.is_file():
        raise ReportError(f"{output}: no such file")
    try:
        with h5py.File(output, "r") as handle:
            state = read_run_state(handle)
            if state is None:
                raise ReportError(f"{output}: not a pipeline output file (no run state at its root)")
            entries = [resolve_entry(handle, name) for name in handle]
            name = text(handle.attrs.get(PIPELINE_ATTR, output.stem))
    except OSError as error:
        raise ReportError(f"{output}: cannot be read as HDF5 ({error})") from error
    steps = sorted((_step(path, entry.strip("/")) for path, entry in entries), key=lambda s: s.sequence_index)
    _assign_figures(steps)
    return Report(output, name, state, steps)


def _step(path: Path, entry: str) -> Step:
    """One step read from its own file."""
    try:
        warnings, quality = read_quality(path, entry)
        with h5py.File(path, "r") as handle:
            process = handle[entry][PROCESS_GROUP]
            return Step(entry, path, int(process["sequence_index"][()]), text(process["note"][()]),
                        text(process["program"][()]), text(process["version"][()]), text(process["date"][()]),
                        _parameters(process), text(process[CONFIGURATION_NOTE]["data"][()]), _sources(process),
                        warnings, quality)
    except (OSError, KeyError) as error:
        raise ReportError(f"{path}: step '{entry}' has no readable NXprocess '{PROCESS_GROUP}' ({error})") from error


def _parameters(process: h5py.Group) -> dict[str, str]:
    """The NXparameters as text, with their units where given; the configuration's order when known."""
    group = process[PARAMETERS_GROUP]
    order = list(json.loads(text(process[CONFIGURATION_NOTE]["data"][()])).get("params", {}))
    names = [n for n in order if n in group] + [n for n in group if n not in order]
    return {name: _value(group[name]) for name in names}


def _value(dataset: h5py.Dataset) -> str:
    value = dataset[()]
    shown = text(value) if np.ndim(value) == 0 else json.dumps([_scalar(v) for v in np.ravel(value)])
    units = text(dataset.attrs.get("units", ""))
    return f"{shown} {units}" if units else shown


def _scalar(value: object) -> object:
    return text(value) if isinstance(value, bytes) else np.asarray(value).item()


def _sources(process: h5py.Group) -> list[Source]:
    return [Source(name.removeprefix("source_"), text(group["file_name"][()]), text(group["description"][()]),
                   text(group["data"][()]))
            for name, group in process.items() if name.startswith("source_")]


def _assign_figures(steps: list[Step]) -> None:
    """Each ``<step>.png`` / ``<step>_*.png`` beside a step file goes to the step with the longest
    matching name (``waxs_fit_background.png`` is not ``waxs_fit``'s)."""
    by_folder: dict[Path, list[Step]] = {}
    for step in steps:
        by_folder.setdefault(step.file.parent, []).append(step)
    for folder, members in by_folder.items():
        for png in sorted(folder.glob("*.png")):
            owner = max((s for s in members if png.stem == s.step_id or png.stem.startswith(f"{s.step_id}_")),
                        key=lambda s: len(s.step_id), default=None)
            if owner is not None:
                owner.figures.append(png)
