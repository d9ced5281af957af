"""A starter pipeline for a facility's raw files: the default operando pipeline adapted to their layout.

:func:`starter_pipeline` finds the datasets of the scans and of the empty beam (:mod:`swaxs_plugins.io.discover`),
tells the SAXS detector from the WAXS one (by name, else the SAXS one is the farther), and rewrites
``operando.yaml``: its inputs name what was found (every dataset path explicit, so the file documents the
layout), each detector's geometry is a PONI file, and what was not given is left out (mask files, the
cycler log). The mask rules are the default pipeline's relative ones, which carry over from one cell to
the next. ``swaxs init`` writes the result and checks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.io.discover import Detector, Discovery, discover

ROLES = ("saxs", "waxs")


@dataclass(frozen=True)
class Starter:
    """The pipeline (YAML text) and what was found, as lines to print."""

    text: str
    found: list[str]


def starter_pipeline(scans: Sequence[Path], empty: Path, ponis: Mapping[str, Path], folder: Path, *,
                     masks: Mapping[str, Path] | None = None, cycler_log: Path | None = None,
                     name: str = "operando") -> Starter:
    """The default operando pipeline for ``scans`` (one file per scan) and the ``empty`` beam, to live in
    ``folder``; ``ponis`` (and ``masks``) by role 'saxs'/'waxs'. An error says what is missing."""
    scans, folder = [Path(s).resolve() for s in scans], Path(folder).resolve()
    found, blank = discover(scans[0]), discover(Path(empty).resolve())
    detectors = assign_roles(found)
    missing = [role for role in ROLES if role not in ponis]
    if missing:
        names = ", ".join(detectors[role].name for role in missing)
        raise SwaxsError(f"no geometry for the {' and '.join(missing)} detector ({names}): "
                         f"give --poni {missing[0]}=FILE (swaxs geometry writes one from the beamline's beam centre, "
                         "distance and tilt; swaxs calibrate from a calibrant image)")
    document = yaml.safe_load(resources.files("swaxs_plugins.pipelines").joinpath("operando.yaml").read_text())
    relative = _relative_to(folder)
    document["name"] = name
    document["inputs"] = {
        f"{role}_scans": _scans_input(found, detectors[role], [relative(s) for s in scans]) for role in ROLES}
    document["inputs"]["empty_beam"] = _empty_input(blank, relative(empty))
    document["steps"] = [_adapted(step, ponis, masks or {}, cycler_log, relative) for step in document["steps"]
                         if step["kind"] != "calibrate"]
    lines = [f"{scans[0].name}: {line}" for line in found.lines()] + \
        [f"{Path(empty).name}: {line}" for line in blank.lines() if not line.startswith("detector")] + \
        [f"{role.upper()} detector: {detectors[role].name}" for role in ROLES]
    header = "".join(f"# {line}\n" for line in [f"Written by swaxs init for {len(scans)} scan files; found:", *lines])
    return Starter(header + yaml.safe_dump(document, sort_keys=False, width=110, default_flow_style=None), lines)


def assign_roles(found: Discovery) -> dict[str, Detector]:
    """The SAXS and WAXS detectors of a file: named so, else the farther one is SAXS."""
    detectors = list(found.detectors.values())
    if not detectors:
        raise SwaxsError(f"{found.path}: no frames found in entry '{found.entry}' (no NXdetector with 3-D data, no "
                         "NXdata @signal of frames)")
    if len(detectors) != 2:
        raise SwaxsError(f"{found.path}: the operando pipeline takes a SAXS and a WAXS detector; found "
                         f"{len(detectors)} ({', '.join(d.name for d in detectors)})")
    named = {role: d for d in detectors for role in ROLES if role in d.name.lower()}
    if len(named) == 2:
        return named
    if all(d.distance_m for d in detectors):
        far, near = sorted(detectors, key=lambda d: -(d.distance_m or 0.0))
        return {"saxs": far, "waxs": near}
    raise SwaxsError(f"{found.path}: cannot tell the SAXS detector from the WAXS one ({detectors[0].name}, "
                     f"{detectors[1].name}: neither named so nor with distances)")


def _scans_input(found: Discovery, detector: Detector, files: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {"files": files, "frames": detector.frames}
    for name in ("monitor", "diode", "timestamp"):
        if getattr(found, name):
            fields[name] = getattr(found, name)
    if found.positions:
        fields["positions"] = dict(found.positions)
    return fields


def _empty_input(found: Discovery, file: str) -> dict[str, Any]:
    if not (found.monitor and found.diode):
        raise SwaxsError(f"{found.path}: the empty beam needs a monitor and a diode for the transmission; found "
                         f"monitor {found.monitor or 'none'}, diode {found.diode or 'none'}")
    return {"files": [file], "monitor": found.monitor, "diode": found.diode}


def _adapted(step: dict[str, Any], ponis: Mapping[str, Path], masks: Mapping[str, Path],
             cycler_log: Path | None, relative) -> dict[str, Any]:
    """A step of the default pipeline with this facility's geometry, masks and log (or without them)."""
    params = dict(step.get("params") or {})
    if step["kind"] == "integrate":
        role = step["id"].split("_", 1)[0]
        step["inputs"] = {k: v for k, v in step["inputs"].items() if k != "geometry"}
        params["poni"] = relative(ponis[role])
        params.pop("mask", None)
        if role in masks:
            params["mask"] = relative(masks[role])
    if step["kind"] == "difference":
        params.pop("cycler_log", None)
        if cycler_log is not None:
            params["cycler_log"] = relative(cycler_log)
    step["params"] = params
    return step


def _relative_to(folder: Path):
    def relative(path: Path | str) -> str:
        return os.path.relpath(Path(path).resolve(), folder)
    return relative
