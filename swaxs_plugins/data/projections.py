"""Projections: the SAXS raster scans of a tomography sample at many orientations.

In memory (:class:`Projections`, one per sample) the raster is [k, j]: k up, along the untilted
rotation axis; j horizontal across the beam (docs/simulation_tomography.md has the geometry).
``intensity`` [n, k, j, q] is the azimuthal mean (1-D integration, or the mean of the segments),
``segments`` [n, k, j, s, q] the azimuthal segments when asked for and present; both are the
scattering line integrals, i.e. divided by the transmission of their ray when
``transmission_corrected``.

Read from:

- a raw file in the project's segmented-projections layout (``NXswaxs_segmented_projections``,
  what ``swaxs simulate tomography`` writes): ``frames`` names the data [n, J, K, s, q] (counts),
  whose NXdata also holds ``transmission`` [n, J, K], ``rotation_angle``, ``tilt_angle`` (deg),
  ``j``, ``k`` (mm), ``segment_chi`` (deg) and ``q`` (1/Å); one sample per file, counts divided
  by the transmission here, errors √counts;
- an earlier step's curves layout (integrate, transmission, background): ``maps/curves``
  I[scan, y, x, q] with one scan per projection and the raster y = k, x = j, ``maps/segments``
  when present, ``transmission/T`` when present (a transmission step's curves are corrected), and
  the angles the integrate step copied from the raw files into ``scans/rotation_angle``,
  ``scans/tilt_angle``;
- an earlier step that wrote this layout (e.g. align): ``<entry>/projections/<sample>/``
  (NXcollection) with NXdata ``intensity`` I[projection, q, k, j] (+ I_errors; stored q before the
  raster so that silx opens a projection image with projection and q sliders), optional
  ``segments`` I[projection, segment, q, k, j] and ``transmission`` T[projection, k, j], and the
  fields ``rotation_angle``, ``tilt_angle`` [deg], ``shifts`` [n, 2] (dj, dk px already applied),
  ``transmission_corrected``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401 - the simulator's projections are Bitshuffle/LZ4
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.io.nexus import Axis, ordered_collection, set_nx_class, write_nxdata
from swaxs_plugins.io.raw import RawSource, open_hdf5

PROJECTIONS = "projections"
RAW_DATA = "/entry/data/data"
INTENSITY_UNITS = "counts"


@dataclass(frozen=True)
class Projections:
    """One sample's projections (module docstring): images, angles [deg], q [1/Å], raster step [µm]."""

    name: str
    intensity: np.ndarray
    errors: np.ndarray | None
    q: np.ndarray
    rotation: np.ndarray
    tilt: np.ndarray
    transmission: np.ndarray | None
    pixel_um: float | None
    source: str
    transmission_corrected: bool
    shifts: np.ndarray | None = None
    segments: np.ndarray | None = None
    chi: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.intensity.shape[0]
        if self.rotation.shape != (n,) or self.tilt.shape != (n,):
            raise InputDataError(f"{self.source}: {n} projections but {self.rotation.size} rotation and "
                                 f"{self.tilt.size} tilt angles (datasets rotation_angle, tilt_angle)")
        if self.shifts is None:
            object.__setattr__(self, "shifts", np.zeros((n, 2)))

    @property
    def n(self) -> int:
        return int(self.intensity.shape[0])

    @property
    def raster_shape(self) -> tuple[int, int]:
        """(K, J): raster rows (up) and columns (across the beam)."""
        return int(self.intensity.shape[1]), int(self.intensity.shape[2])

    @property
    def untilted(self) -> np.ndarray:
        """Which projections have the rotation axis vertical (tilt 0)."""
        return np.abs(self.tilt) < 1e-6

    def with_images(self, intensity: np.ndarray, errors: np.ndarray | None, transmission: np.ndarray | None,
                    shifts: np.ndarray, segments: np.ndarray | None = None) -> Projections:
        """The same sample with other images (e.g. aligned), recording the shifts applied so far."""
        return replace(self, intensity=intensity, errors=errors, transmission=transmission, shifts=shifts,
                       segments=segments)


def read_projections(source: RawSource | StepOutputRef, *, segments: bool = False) -> list[Projections]:
    """Every sample of a raw segmented-projections source (one per file) or of an earlier step."""
    if isinstance(source, RawSource):
        return [read_raw_file(path, source.frames or RAW_DATA, segments=segments) for path in source.files]
    with h5py.File(source.path, "r") as handle:
        entry = handle[source.entry]
        if PROJECTIONS in entry:
            return [_read_written(entry[PROJECTIONS][name], _where(source, f"{PROJECTIONS}/{name}"), segments)
                    for name in entry[PROJECTIONS]]
        return [_read_curves(entry, source, segments)]


def _where(ref: StepOutputRef, dataset: str) -> str:
    return f"{ref.path}::/{ref.entry}/{dataset} (step '{ref.step_id}')"


# --------------------------------------------------------------------------------------------------
# The raw segmented-projections file
# --------------------------------------------------------------------------------------------------

def read_raw_file(path: Path, dataset: str, *, segments: bool = False) -> Projections:
    """One sample from a segmented-projections file (module docstring); counts divided by T."""
    with open_hdf5(Path(path)) as handle:
        data = handle.get(dataset)
        if not isinstance(data, h5py.Dataset) or data.ndim != 5:
            raise InputDataError(f"{path}: no segmented projections [n, J, K, segment, q] at '{dataset}' "
                                 "(field 'frames')")
        group = data.parent
        where = f"{path}::{group.name}"
        fields = {name: _raw_field(group, name, where) for name in
                  ("rotation_angle", "tilt_angle", "transmission", "j", "q", "segment_chi")}
        mean, errors, kept = _raw_images(data, fields["transmission"], segments)
    step_mm = np.diff(fields["j"]).mean() if fields["j"].size > 1 else np.nan
    return Projections(
        name=Path(path).stem, intensity=mean, errors=errors, q=fields["q"], rotation=fields["rotation_angle"],
        tilt=fields["tilt_angle"], transmission=np.swapaxes(fields["transmission"], 1, 2), source=f"{path}::{dataset}",
        pixel_um=float(step_mm * 1e3) if np.isfinite(step_mm) else None, transmission_corrected=True,
        segments=kept, chi=fields["segment_chi"] if segments else None)


def _raw_field(group: h5py.Group, name: str, where: str) -> np.ndarray:
    if name not in group:
        what = "projections without angles" if name.endswith("angle") else f"no '{name}'"
        raise InputDataError(f"{where}: {what}: the segmented-projections layout needs '{name}' beside the data")
    return np.asarray(group[name][()], dtype=np.float64)


def _raw_images(data: h5py.Dataset, transmission: np.ndarray,
                segments: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Segment mean I/T [n, K, J, q] and its error √(Σ counts)/(s T), projection by projection; the
    segments I/T [n, K, J, s, q] when asked."""
    n, n_j, n_k, n_seg, n_q = data.shape
    if transmission.shape != (n, n_j, n_k):
        raise InputDataError(f"{data.file.filename}::{data.parent.name}/transmission: shape {transmission.shape}, "
                             f"the data hold {(n, n_j, n_k)} rays")
    mean = np.empty((n, n_k, n_j, n_q), np.float32)
    errors = np.empty_like(mean)
    kept = np.empty((n, n_k, n_j, n_seg, n_q), np.float32) if segments else None
    with np.errstate(divide="ignore", invalid="ignore"):
        for index in range(n):
            counts = np.swapaxes(data[index].astype(np.float64), 0, 1)
            t = np.swapaxes(transmission[index], 0, 1)[:, :, np.newaxis]
            mean[index] = counts.mean(axis=2) / t
            errors[index] = np.sqrt(np.clip(counts, 0, None).sum(axis=2)) / n_seg / t
            if kept is not None:
                kept[index] = counts / t[..., np.newaxis]
    return mean, errors, kept


# --------------------------------------------------------------------------------------------------
# An earlier step's curves layout
# --------------------------------------------------------------------------------------------------

def _read_curves(entry: h5py.Group, ref: StepOutputRef, segments: bool) -> Projections:
    curves = entry.get("maps/curves")
    if not isinstance(curves, h5py.Group) or "I" not in curves or curves["I"].ndim != 4:
        raise InputDataError(f"{_where(ref, 'maps/curves')}: neither projections nor curves I[scan, y, x, q]; "
                             "expected an integrate, transmission, background or align step")
    angles = [_angle(entry, name, ref) for name in ("rotation_angle", "tilt_angle")]
    transmission = entry["transmission"]["T"][()] if "transmission" in entry and "T" in entry["transmission"] else None
    chi, kept = None, None
    if segments and "maps/segments" in entry:
        kept = entry["maps/segments"]["I"][()].astype(np.float32)
        chi = entry["maps/segments"]["chi"][()].astype(np.float64)
    return Projections(
        name=ref.step_id, intensity=curves["I"][()].astype(np.float32),
        errors=curves["I_errors"][()].astype(np.float32) if "I_errors" in curves else None,
        q=curves["q"][()].astype(np.float64), rotation=angles[0], tilt=angles[1],
        transmission=None if transmission is None else transmission.astype(np.float32),
        pixel_um=_raster_step(entry), source=_where(ref, "maps/curves"),
        transmission_corrected=transmission is not None, segments=kept, chi=chi)


def _angle(entry: h5py.Group, name: str, ref: StepOutputRef) -> np.ndarray:
    node = entry.get(f"scans/{name}")
    if node is None:
        if name == "tilt_angle" and "scans/rotation_angle" in entry:
            return np.zeros(entry["scans/rotation_angle"].shape[0])
        raise InputDataError(f"{_where(ref, f'scans/{name}')}: projections without angles: give the raw input's "
                             f"'{name}' (the dataset of each scan file holding its angle) to the integrate step")
    return np.ravel(node[()]).astype(np.float64)


def _raster_step(entry: h5py.Group) -> float | None:
    node = entry.get("scans/raster_step")
    return float(node[()]) if node is not None else None


# --------------------------------------------------------------------------------------------------
# This layout, written and read back
# --------------------------------------------------------------------------------------------------

def raster_axes(sample: Projections) -> tuple[Axis, Axis]:
    """The k and j axes [µm] (pixel indices when the raster step is unknown), centred on the raster."""
    n_k, n_j = sample.raster_shape
    step, units = (sample.pixel_um, "um") if sample.pixel_um else (1.0, "")
    label = "µm" if units else "raster point"
    return (Axis("k", (np.arange(n_k) - (n_k - 1) / 2) * step, units, f"k, up ({label})"),
            Axis("j", (np.arange(n_j) - (n_j - 1) / 2) * step, units, f"j, across the beam ({label})"))


def write_projections(entry: h5py.Group, samples: Sequence[Projections], intensity_units: str = INTENSITY_UNITS,
                      ) -> h5py.Group:
    """``<entry>/projections/<sample>/`` for every sample (module docstring)."""
    collection = ordered_collection(entry, PROJECTIONS)
    for sample in samples:
        group = set_nx_class(collection.create_group(sample.name), "NXcollection")
        k_axis, j_axis = raster_axes(sample)
        index = Axis("projection", np.arange(sample.n, dtype=np.float64), "", "projection index")
        q_axis = Axis("q", sample.q, "1/angstrom", "q (1/Å)")
        images = np.moveaxis(sample.intensity, 3, 1)
        errors = None if sample.errors is None else np.moveaxis(sample.errors, 3, 1)
        write_nxdata(group, "intensity", images.astype(np.float32), [index, q_axis, k_axis, j_axis],
                     long_name="scattered intensity", units=intensity_units,
                     errors=None if errors is None else errors.astype(np.float32), interpretation="image",
                     chunks=(1, 1, *sample.raster_shape))
        if sample.segments is not None and sample.chi is not None:
            chi = Axis("segment_chi", sample.chi, "deg", "segment centre χ (deg)")
            write_nxdata(group, "segments", np.moveaxis(sample.segments, (3, 4), (1, 2)).astype(np.float32),
                         [index, chi, q_axis, k_axis, j_axis], long_name="scattered intensity per segment",
                         units=intensity_units, interpretation="image", chunks=(1, 1, 1, *sample.raster_shape))
        if sample.transmission is not None:
            write_nxdata(group, "transmission", sample.transmission.astype(np.float32), [index, k_axis, j_axis],
                         signal_name="T", long_name="transmission", units="", interpretation="image")
        for name, values, units, long_name in (("rotation_angle", sample.rotation, "deg", "rotation angle (deg)"),
                                               ("tilt_angle", sample.tilt, "deg", "tilt angle (deg)"),
                                               ("shifts", sample.shifts, "pixel", "applied (dj, dk) shift (px)")):
            group.create_dataset(name, data=values).attrs.update({"units": units, "long_name": long_name})
        group["transmission_corrected"] = bool(sample.transmission_corrected)
        if sample.pixel_um:
            group.create_dataset("raster_step", data=sample.pixel_um).attrs["units"] = "um"
        group.attrs["default"] = "intensity"
    return collection


def _read_written(group: h5py.Group, where: str, segments: bool) -> Projections:
    images = group["intensity"]
    errors = np.moveaxis(images["I_errors"][()], 1, 3) if "I_errors" in images else None
    kept, chi = None, None
    if segments and "segments" in group:
        kept = np.moveaxis(group["segments"]["I"][()], (1, 2), (3, 4))
        chi = group["segments"]["segment_chi"][()]
    return Projections(
        name=group.name.rsplit("/", 1)[-1], intensity=np.moveaxis(images["I"][()], 1, 3), errors=errors,
        q=images["q"][()], rotation=group["rotation_angle"][()], tilt=group["tilt_angle"][()],
        transmission=group["transmission"]["T"][()] if "transmission" in group else None,
        pixel_um=float(group["raster_step"][()]) if "raster_step" in group else None, source=where,
        transmission_corrected=bool(group["transmission_corrected"][()]), shifts=group["shifts"][()],
        segments=kept, chi=chi)


def sample_names(samples: Sequence[Projections]) -> list[str]:
    """The samples' names, checked unique (they name groups in the files written)."""
    names = [s.name for s in samples]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputDataError(f"samples named alike: {', '.join(duplicated)}; give each projection file its own name")
    return names

