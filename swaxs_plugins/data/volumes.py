"""Volumes: reconstructed intensities per voxel and q, and per named q-region, one per sample.

In memory (:class:`Volume`) the intensity is [z, y, x, q]: z up along the rotation axis, x across
the beam and y along it at rotation 0 (the sample frame of docs/simulation_tomography.md), voxels
centred on the rotation axis, ``voxel_um`` apart. On file, under ``<entry>/volumes/<sample>/``
(NXcollection):

- ``intensity`` (NXdata) I[q, z, y, x] (+ I_errors when the method gives them), axes q (1/Å) and
  z, y, x (µm): q before the voxels so that silx opens a y–x slice with q and z sliders;
- ``regions`` (NXdata) I[region, z, y, x], the mean over the q bins of each named q-region, with
  ``region_names``, ``region_q_min``, ``region_q_max``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.io.nexus import Axis, ordered_collection, set_nx_class, text, write_nxdata

VOLUMES = "volumes"


@dataclass(frozen=True)
class Volume:
    """One sample's reconstruction (module docstring); ``regions`` maps names to (q_min, q_max) [1/Å]."""

    name: str
    intensity: np.ndarray
    q: np.ndarray
    voxel_um: float | None
    source: str
    errors: np.ndarray | None = None
    regions: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.intensity.shape[:3])  # type: ignore[return-value]

    def q_bins(self, q_range: tuple[float, float], what: str) -> np.ndarray:
        """Indices of the q bins within ``q_range``; an error naming ``what`` when there is none."""
        inside = np.flatnonzero((self.q >= q_range[0]) & (self.q <= q_range[1]))
        if inside.size == 0:
            raise InputDataError(f"{what}: q-range {list(q_range)} holds none of the volume's q bins "
                                 f"({self.q.min():.4g}-{self.q.max():.4g} 1/angstrom, {self.source})")
        return inside

    def region_mean(self, q_range: tuple[float, float], what: str = "q-region") -> np.ndarray:
        """Mean intensity [z, y, x] over the q bins within ``q_range``."""
        return self.intensity[..., self.q_bins(q_range, what)].mean(axis=-1)


def voxel_axes(volume: Volume) -> list[Axis]:
    """The z, y, x axes [µm] (voxel indices when the voxel size is unknown), centred."""
    step, units = (volume.voxel_um, "um") if volume.voxel_um else (1.0, "")
    label = "µm" if units else "voxel"
    return [Axis(name, (np.arange(size) - (size - 1) / 2) * step, units, f"{name} ({label})")
            for name, size in zip("zyx", volume.shape)]


def write_volumes(entry: h5py.Group, volumes: Sequence[Volume], units: str) -> h5py.Group:
    """``<entry>/volumes/<sample>/`` for every sample (module docstring)."""
    collection = ordered_collection(entry, VOLUMES)
    for volume in volumes:
        group = set_nx_class(collection.create_group(volume.name), "NXcollection")
        axes = voxel_axes(volume)
        q_axis = Axis("q", volume.q, "1/angstrom", "q (1/Å)")
        errors = None if volume.errors is None else np.moveaxis(volume.errors, 3, 0).astype(np.float32)
        write_nxdata(group, "intensity", np.moveaxis(volume.intensity, 3, 0).astype(np.float32), [q_axis, *axes],
                     long_name="reconstructed intensity", units=units, errors=errors, interpretation="image",
                     chunks=(1, 1, *volume.shape[1:]))
        if volume.regions:
            names = list(volume.regions)
            stack = np.stack([volume.region_mean(volume.regions[n], f"region '{n}'") for n in names])
            region_axis = Axis("region", np.arange(len(names), dtype=np.float64), "", "q-region index")
            regions = write_nxdata(group, "regions", stack.astype(np.float32), [region_axis, *axes],
                                   long_name="mean reconstructed intensity of the q-region", units=units,
                                   interpretation="image")
            regions["region_names"] = np.array(names, dtype=h5py.string_dtype())
            for name, column in (("region_q_min", 0), ("region_q_max", 1)):
                regions.create_dataset(name, data=[volume.regions[n][column] for n in names]).attrs["units"] = \
                    "1/angstrom"
        group.attrs["default"] = "regions" if volume.regions else "intensity"
    return collection


def read_volumes(ref: StepOutputRef) -> list[Volume]:
    """Every sample's volume an earlier step wrote, in the order written; an error names file, dataset and
    step if absent."""
    with h5py.File(ref.path, "r") as handle:
        collection = handle[ref.entry].get(VOLUMES)
        if not isinstance(collection, h5py.Group) or not len(collection):
            raise InputDataError(f"{ref.path}::/{ref.entry}/{VOLUMES} (step '{ref.step_id}'): no volumes; expected "
                                 "the output of a reconstruct step")
        return [_read_volume(collection[name], f"{ref.path}::{collection[name].name} (step '{ref.step_id}')")
                for name in collection]


def _read_volume(group: h5py.Group, where: str) -> Volume:
    data = group["intensity"]
    step = data["x"][()]
    voxel = float(np.diff(step).mean()) if step.size > 1 and text(data["x"].attrs.get("units", "")) == "um" else None
    regions: dict[str, tuple[float, float]] = {}
    if "regions" in group:
        node = group["regions"]
        names = [text(n) for n in node["region_names"][()]]
        regions = {n: (float(lo), float(hi)) for n, lo, hi in zip(names, node["region_q_min"][()],
                                                                     node["region_q_max"][()])}
    errors = np.moveaxis(data["I_errors"][()], 0, 3) if "I_errors" in data else None
    return Volume(name=group.name.rsplit("/", 1)[-1], intensity=np.moveaxis(data["I"][()], 0, 3), q=data["q"][()],
                  voxel_um=voxel, source=where, errors=errors, regions=regions)
