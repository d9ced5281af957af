"""Masks: named boolean maps of the scan points, what a ``mask`` step writes and map steps read.

Layout (``masks``): ``<entry>/masks/<name>`` (NXdata, one per mask, in the order the rules were
given) with signal ``mask`` [y, x] (uint8, 1 = inside; a 1-D series [point], whose line axis is left
out as ``write_nxdata`` does) and the map axes, @rule (the rule that made it) and @scan (the scan it
was evaluated on). The entry's ``mask`` links the first one (its default plot).

Example::

    from swaxs_plugins.data.masks import read_masks
    masks = read_masks(context.inputs["masks"])          # {"electrode": bool [y, x], ...}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.curves import where
from swaxs_plugins.io.nexus import Axis, read_signal, set_nx_class, write_nxdata

MASKS = "masks"


def read_masks(ref: StepOutputRef) -> dict[str, np.ndarray]:
    """Every mask [y, x] (bool) an earlier step wrote, by name (a series' [point] as [1, point])."""
    with h5py.File(ref.path, "r") as handle:
        group = handle.get(f"{ref.entry}/{MASKS}")
        if group is None:
            raise InputDataError(f"{where(ref, MASKS)}: no masks; expected the output of a mask step")
        return {name: read_signal(group[name], "mask").astype(bool) for name in group}


def write_masks(entry: h5py.Group, masks: Mapping[str, np.ndarray], axes: Sequence[Axis],
                rules: Mapping[str, str] | None = None, scan: int = 0) -> h5py.Group:
    """``<entry>/masks`` with one NXdata per mask (the first the entry's default plot); returns the group."""
    group = set_nx_class(entry.create_group(MASKS), "NXcollection")
    for name, mask in masks.items():
        data = write_nxdata(group, name, np.asarray(mask).astype(np.uint8), list(axes), signal_name="mask",
                            long_name=name, units="", interpretation="image")
        data.attrs["rule"] = (rules or {}).get(name, "")
        data.attrs["scan"] = scan
    first = next(iter(masks))
    entry["mask"] = group[first]  # a hard link: the entry's default plot
    entry.attrs["default"] = "mask"
    group.attrs["default"] = first
    return group
