"""The layouts steps exchange, by name, and a structural check of an entry that claims one.

A step declares the layouts its entry holds (``Step.produces = ("curves",)``) and an input the
layouts it takes (``InputSpec(layouts=("curves",))``): a pipeline may feed any step that produces a
layout to any input that takes it, whatever their kinds, so a new kind can feed the built-in steps.
After ``finalize`` the framework checks the entry against every layout its step declares
(:func:`layout_problems`): a step that wrote a wrong layout fails there, naming the plugin, not in
the next step. The checks read attributes and shapes only, never the data.

Stability: a layout's name and what its check asks for only grow (new optional fields) within a
major version of swaxs-plugins; the readers and writers of :mod:`swaxs_plugins.data` follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import h5py
import numpy as np

from swaxs_plugins.io.nexus import SQUEEZED_AXES_ATTR, text


@dataclass(frozen=True)
class Layout:
    """A named layout: what it holds, where its reader is, and its check (problems of an entry)."""

    name: str
    description: str
    reader: str
    check: Callable[[h5py.Group], list[str]]


def nxdata_problems(parent: h5py.Group, path: str, ndims: tuple[int, ...], *, errors: bool = False) -> list[str]:
    """Problems of the NXdata ``parent[path]``: missing, no signal, a dimension count not in ``ndims``
    (a series may leave out axes it names in @squeezed_axes), errors of another shape, an axis missing,
    of the wrong length or without @units."""
    node = parent.get(path)
    if not isinstance(node, h5py.Group):
        return [f"{path}: missing (an NXdata group)"]
    signal_name = text(node.attrs["signal"]) if "signal" in node.attrs else None
    signal = node.get(signal_name) if signal_name is not None else None
    if not isinstance(signal, h5py.Dataset):
        return [f"{path}: no @signal dataset"]
    squeezed = np.ravel(node.attrs.get(SQUEEZED_AXES_ATTR, [])).size
    if signal.ndim + squeezed not in ndims:
        return [f"{path}/{signal_name}: {signal.ndim} dimensions, expected {' or '.join(map(str, ndims))}"]
    problems = []
    if errors and (f"{signal_name}_errors" not in node or node[f"{signal_name}_errors"].shape != signal.shape):
        problems.append(f"{path}/{signal_name}_errors: missing or not of the signal's shape {signal.shape}")
    names = [text(n) for n in np.atleast_1d(node.attrs.get("axes", []))]
    for dim, name in enumerate(names):
        if name == ".":
            continue
        axis = node.get(name)
        if not isinstance(axis, h5py.Dataset):
            problems.append(f"{path}: axis '{name}' named in @axes is missing")
        elif axis.ndim != 1 or dim >= signal.ndim or len(axis) not in (signal.shape[dim], signal.shape[dim] + 1):
            problems.append(f"{path}/{name}: length {axis.shape} does not fit dimension {dim} of the signal "
                            f"{signal.shape}")
        elif "units" not in axis.attrs:
            problems.append(f"{path}/{name}: no @units")
    return problems


def _collection(entry: h5py.Group, path: str, child: str, ndims: tuple[int, ...], errors: bool = False) -> list[str]:
    group = entry.get(path)
    if not isinstance(group, h5py.Group) or not len(group):
        return [f"{path}: missing or empty (one group per item)"]
    return [p for name in group for p in nxdata_problems(entry, f"{path}/{name}/{child}" if child else
                                                        f"{path}/{name}", ndims, errors=errors)]


def _curves(entry: h5py.Group) -> list[str]:
    problems = nxdata_problems(entry, "maps/curves", (3, 4), errors=True)     # a series: I[scan, point, q]
    return problems + ([] if isinstance(entry.get("scans"), h5py.Group) else ["scans: missing (NXcollection)"])


def _transmission(entry: h5py.Group) -> list[str]:
    return nxdata_problems(entry, "transmission", (2, 3))


def _masks(entry: h5py.Group) -> list[str]:
    return _collection(entry, "masks", "", (1, 2))


def _maps(entry: h5py.Group) -> list[str]:
    return _collection(entry, "maps", "", (1, 2, 3, 4))


def _geometry(entry: h5py.Group) -> list[str]:
    return [] if isinstance(entry.get("poni"), h5py.Dataset) else ["poni: missing (the PONI file's text)"]


def _projections(entry: h5py.Group) -> list[str]:
    problems = _collection(entry, "projections", "intensity", (4,))
    group = entry.get("projections")
    for name in group if isinstance(group, h5py.Group) else []:
        problems += [f"projections/{name}/{field}: missing" for field in ("rotation_angle", "tilt_angle")
                     if field not in group[name]]
    return problems


def _volumes(entry: h5py.Group) -> list[str]:
    return _collection(entry, "volumes", "intensity", (4,))


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("curves", "curves of every scan point, maps/curves I[scan, y, x, q] (a series: I[scan, point, q]) "
                     "with errors, and scans",
           "swaxs_plugins.data.curves.read_curves", _curves),
    Layout("transmission", "the transmission map transmission/T [scan, y, x]",
           "swaxs_plugins.data.maps.read_map", _transmission),
    Layout("masks", "named masks, masks/<name>/mask [y, x] (1 = inside)",
           "swaxs_plugins.data.masks.read_masks", _masks),
    Layout("maps", "named maps of fitted or derived values, maps/<name> [scan, y, x] or [y, x]",
           "swaxs_plugins.data.maps.read_map", _maps),
    Layout("geometry", "a calibrated detector geometry: poni, the PONI file's text, that pyFAI reads",
           "swaxs_plugins.data.geometry.read_poni", _geometry),
    Layout("projections", "tomography projections per sample, projections/<sample>/intensity I[n, q, k, j]",
           "swaxs_plugins.data.projections.read_projections", _projections),
    Layout("volumes", "reconstructed volumes per sample, volumes/<sample>/intensity I[q, z, y, x]",
           "swaxs_plugins.data.volumes.read_volumes", _volumes),
)}


def layout_problems(entry: h5py.Group, layouts: Iterable[str]) -> list[str]:
    """What ``entry`` lacks of every layout in ``layouts`` (empty: it holds them all); an unknown layout
    name is a problem too."""
    problems = []
    for name in layouts:
        layout = LAYOUTS.get(name)
        if layout is None:
            problems.append(f"unknown layout '{name}'; the layouts are {', '.join(LAYOUTS)}")
            continue
        problems += [f"layout '{name}': {problem}" for problem in layout.check(entry)]
    return problems
