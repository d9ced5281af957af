"""What the scalar ``reconstruct`` step writes (``NXswaxs_volumes``; layout in docs/steps/reconstruct.md).

- ``volumes/<sample>/``: the volumes layout of :mod:`swaxs_plugins.data.volumes` (I[q, z, y, x] with
  errors where the method gives them, and I[region, z, y, x]);
- ``central_slices/<sample>``: NXdata I[q, y, x] of the slice z = K // 2 (a y–x image with a q slider),
  the first sample's linked as ``central_slice``, the entry's default plot;
- ``quality/<sample>``: NXdata of the re-projection residual ρ per q bin, with ``region_names``,
  ``region_residual``, ``projections_used`` and ``tilted_left_out``;
- ``method``, ``engine``, ``sample_names``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import h5py
import numpy as np

from swaxs_plugins.data.volumes import Volume, voxel_axes, write_volumes
from swaxs_plugins.io.nexus import Axis, set_nx_class, write_nxdata
from swaxs_plugins.steps.reconstruct.inputs import Sinograms
from swaxs_plugins.steps.reconstruct.parameters import ReconstructParameters

if TYPE_CHECKING:
    from swaxs_plugins.steps.reconstruct.scalar import BinResult, ScalarReconstruction

@dataclass(frozen=True)
class Quality:
    """One sample's re-projection residuals (scalar module docstring) and the central row's sinograms
    [data, residual] of its first region (of the middle q bin without regions)."""

    name: str
    q: np.ndarray
    residual: np.ndarray
    region_residual: dict[str, float]
    projections_used: int
    tilted_left_out: int
    sinograms: np.ndarray
    sinogram_label: str

    @classmethod
    def of(cls, sample: Sinograms, regions: Mapping[str, tuple[float, float]], bins: Sequence[BinResult]) -> Quality:
        residual_sq = np.array([b.residual_sq for b in bins])
        data_sq = np.array([b.data_sq for b in bins])
        with np.errstate(invalid="ignore", divide="ignore"):
            residual = np.sqrt(residual_sq / data_sq)
            per_region = {name: float(np.sqrt(residual_sq[_inside(sample.q, r)].sum()
                                              / data_sq[_inside(sample.q, r)].sum())) for name, r in regions.items()}
        if regions:
            name, q_range = next(iter(regions.items()))
            members = np.flatnonzero(_inside(sample.q, q_range))
            label = f"{name} {q_range[0]:g}-{q_range[1]:g} 1/Å"
        else:
            members = np.array([sample.q.size // 2])
            label = f"q = {sample.q[members[0]]:.4g} 1/Å"
        sinograms = np.mean([bins[i].central_sinogram for i in members], axis=0)
        return cls(name=sample.name, q=sample.q, residual=residual, region_residual=per_region,
                   projections_used=int(sample.angles.size), tilted_left_out=sample.n_tilted, sinograms=sinograms,
                   sinogram_label=label)


def _inside(q: np.ndarray, q_range: tuple[float, float]) -> np.ndarray:
    return (q >= q_range[0]) & (q <= q_range[1])


def write_entry(entry: h5py.Group, step: ScalarReconstruction, volumes: Sequence[Volume],
                quality: Sequence[Quality]) -> None:
    """Everything in the module docstring."""
    for sample, volume in zip(step.samples, volumes):
        write_volumes(entry, [volume], step.volume_units(sample))
    slices = set_nx_class(entry.create_group("central_slices"), "NXcollection")
    for sample, volume in zip(step.samples, volumes):
        _central_slice(slices, volume, step.volume_units(sample))
    entry["central_slice"] = slices[volumes[0].name]  # a hard link: the entry's default plot
    entry.attrs["default"] = "central_slice"
    slices.attrs["default"] = volumes[0].name
    _quality(entry, quality)
    params = step.params
    entry["method"] = params.method if params.method == "fbp" else \
        f"{step.engine_class.iterative_name} ({params.iterations} iterations)"
    entry["engine"] = step.engine_class.library
    entry["sample_names"] = np.array([v.name for v in volumes], dtype=h5py.string_dtype())


def _central_slice(parent: h5py.Group, volume: Volume, units: str) -> None:
    z = volume.shape[0] // 2
    _, y_axis, x_axis = voxel_axes(volume)
    q_axis = Axis("q", volume.q, "1/angstrom", "q (1/Å)")
    errors = None if volume.errors is None else np.moveaxis(volume.errors[z], 2, 0).astype(np.float32)
    group = write_nxdata(parent, volume.name, np.moveaxis(volume.intensity[z], 2, 0).astype(np.float32),
                         [q_axis, y_axis, x_axis], long_name=f"reconstructed intensity, slice z = {z}", units=units,
                         errors=errors, interpretation="image")
    group.attrs["z_index"] = z


def _quality(entry: h5py.Group, quality: Sequence[Quality]) -> None:
    group = set_nx_class(entry.create_group("quality"), "NXcollection")
    for item in quality:
        data = write_nxdata(group, item.name, item.residual, [Axis("q", item.q, "1/angstrom", "q (1/Å)")],
                            signal_name="residual", long_name="re-projection residual |A f - p| / |p|", units="",
                            interpretation="spectrum")
        names = list(item.region_residual)
        data["region_names"] = np.array(names, dtype=h5py.string_dtype())
        data["region_residual"] = np.array([item.region_residual[n] for n in names], dtype=np.float64)
        data["projections_used"] = np.int64(item.projections_used)
        data["tilted_left_out"] = np.int64(item.tilted_left_out)
    group.attrs["default"] = quality[0].name


def summary_lines(quality: Sequence[Quality], params: ReconstructParameters) -> dict[str, str]:
    """The run summary's lines: residual per region and sample, projections used."""
    def regions(item: Quality) -> str:
        if not item.region_residual:
            return f"{np.nanmax(item.residual):.3g} (largest over q)"
        return ", ".join(f"{n} {v:.3g}" for n, v in item.region_residual.items())

    method = "fbp" if params.method == "fbp" else f"sirt, {params.iterations} iterations"
    return {"re-projection residual |Af - p|/|p|": "; ".join(f"{q.name}: {regions(q)}" for q in quality),
            "untilted projections used": "; ".join(f"{q.name}: {q.projections_used} ({q.tilted_left_out} tilted "
                                                   "left out)" for q in quality),
            "method": method}
