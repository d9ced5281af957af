"""Demo rows of the map steps: transmission, mask IoU, micropore and 002 changes per scan, onsets.

Keyed on the step ids of the default operando pipeline: ``saxs_transmission``, ``map_masks``,
``differences``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from swaxs_plugins.demo.checks import Comparison


def comparisons(steps: Mapping[str, Path], truth_dir: Path) -> list[Comparison]:
    """Recovered vs true for every map quantity whose step ran."""
    facts = json.loads((truth_dir / "operando_truth.json").read_text())
    with h5py.File(truth_dir / "operando_truth.h5", "r") as truth:
        true_t = truth["transmission"][()]
        masks = {name: truth[f"masks/{name}"][()] for name in truth["masks"]}
    rows: list[Comparison] = []
    if "saxs_transmission" in steps:
        with h5py.File(steps["saxs_transmission"], "r") as handle:
            t = handle["saxs_transmission/transmission/T"][()]
        rows.append(Comparison("transmission, max |T/T_true - 1| (diode noise 0.1 %)",
                               float(np.nanmax(np.abs(t / true_t - 1))), 0.0, 5e-3, "relative"))
    if "map_masks" in steps:
        with h5py.File(steps["map_masks"], "r") as handle:
            group = handle["map_masks/masks"]
            for name in ("current_collector", "electrode", "electrolyte", "collector_interface"):
                if name in group:
                    mask = group[f"{name}/mask"][()].astype(bool)
                    iou = (mask & masks[name]).sum() / (mask | masks[name]).sum()
                    rows.append(Comparison(f"mask IoU {name}", float(iou), 1.0, 0.02, "IoU"))
    if "differences" in steps:
        rows += _difference_rows(steps["differences"], facts)
    return rows


def _difference_rows(path: Path, facts: dict) -> list[Comparison]:
    rows = []
    labels = facts["labels"]
    with h5py.File(path, "r") as handle:
        entry = handle["differences"]
        for region in ("micropores", "c002"):
            series = entry[f"time_series/{region}"][()]
            for k, label in enumerate(labels[1:], 1):
                rows.append(Comparison(f"D {region} {label} (electrode mean)", float(series[k]),
                                       100 * facts["relative_change"][region][k], 1.0, "%"))
        for signal in ("pseudo_metal", "plating"):
            name = f"differences/onset_{signal}"
            if name not in entry:
                continue
            group = entry[name]
            onset = int(group.attrs["onset_scan"])
            rows.append(Comparison(f"{signal} onset scan", float(onset), float(labels.index(facts["onset"][signal])),
                                   0.0, "scan"))
            if "onset_distance" in group.attrs:
                rows.append(Comparison(f"{signal} onset distance from collector - electrode mean",
                                       float(group.attrs["onset_distance"] - group.attrs["mask_distance"]), -1.0, 1.0,
                                       "points"))
    return rows
