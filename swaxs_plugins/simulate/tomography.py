"""Simulated SAXS tensor tomography of hard-carbon electrodes: segmented projections or raw scans, + truth.

The samples (:mod:`.samples`) are spherical caps of hard carbon on an aluminium pin, in a cube of
1 mm; the default ``electrode`` is anisotropic (tensor tomography), the ex-situ samples
``low_sodiation`` and ``high_sodiation`` are isotropic with different micropore heterogeneity
(scalar tomography, histograms). Each sample is written in one of two forms:

- segmented projections (:mod:`.tomography_model`): per projection, raster point, azimuthal
  segment and q bin the counts, with the transmission, in one NeXus file per sample whose stem
  names the sample (``tomo/<sample>.nxs``; ``tomo/projections.nxs`` for the default call);
- raw scans (:mod:`.tomography_raw`, ``raw=True``, its own small size): one raster scan of detector
  frames per projection, an empty-beam scan, the integration mask and the true PONI.

Projections are misaligned by known random sub-pixel translations. Conventions, units and file
layouts: ``docs/simulation_tomography.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
from tqdm import tqdm

from . import tomography_raw as raw_form
from .result import prepare_outdir
from .samples import (
    COMPONENT_COUNTS_PER_MM,
    FIELD_OF_VIEW_MM,
    Phantom,
    SampleDefinition,
    component_curves,
    make_phantom,
    resolve_samples,
)
from .tomography_model import (
    SCALES,
    Geometry,
    TomographyScale,
    expected_projection,
    forward_model,
    measurement_geometry,
    q_grid,
    resolve_scale,
)
from .tomography_truth import write_truth

__all__ = ["SCALES", "TomographyFiles", "TomographySample", "measurement_geometry", "resolve_scale",
           "simulate_tomography"]

ENERGY_KEV = 13.2
MAX_SHIFT_PX = SCALES["small"].max_shift_px
DIODE_I0_COUNTS = 1.0e6
"""Photons reaching the diode per raster point without sample: transmission noise level."""
COUNTS_UNITS = "counts/mm"
RAW_UNITS = "1/mm (per I0 count and unit relative solid angle)"
EMPTY_STREAM = 99
"""The raw form's empty-beam noise draws from SeedSequence(seed, spawn_key=(EMPTY_STREAM,))."""


@dataclass(frozen=True)
class TomographySample:
    """One sample's files: its truth, and its segmented projections or its raw scans (one per projection)."""

    name: str
    truth: Path
    projections: Path | None = None
    scans: tuple[Path, ...] = ()


@dataclass(frozen=True)
class TomographyFiles:
    """What :func:`simulate_tomography` wrote; the raw form adds the empty beam, mask and true PONI."""

    samples: tuple[TomographySample, ...]
    empty: Path | None = None
    mask: Path | None = None
    poni: Path | None = None

    @property
    def projections(self) -> Path | None:
        """The first sample's segmented projections."""
        return self.samples[0].projections

    @property
    def truth(self) -> Path:
        """The first sample's truth file."""
        return self.samples[0].truth


@dataclass(frozen=True)
class Streams:
    """One sample's independent random streams: phantom, shifts, noise."""

    phantom: np.random.Generator
    shifts: np.random.Generator
    noise: np.random.Generator


def sample_streams(seed: int, sample: SampleDefinition) -> Streams:
    """``SeedSequence(seed).spawn(3)`` for the default electrode (as before named samples), else the
    three children of ``SeedSequence(seed, spawn_key=(100 + stream,))``: a sample's files depend on
    the seed and its name only, not on which other samples are written."""
    root = np.random.SeedSequence(seed) if sample.stream is None else \
        np.random.SeedSequence(seed, spawn_key=(100 + sample.stream,))
    return Streams(*(np.random.default_rng(child) for child in root.spawn(3)))


def simulate_tomography(
    outdir: str | Path,
    *,
    seed: int = 0,
    scale: str = "small",
    samples: Sequence[str] | None = None,
    raw: bool = False,
    noise: bool = True,
    misalign: bool = True,
    anisotropy: float | None = None,
) -> TomographyFiles:
    """Simulate ``samples`` (default: the ``electrode``, written as ``tomo/projections.nxs`` and
    ``truth/tomography_truth.h5``) as segmented projections at ``scale``, or as raw scans (``raw``,
    at the raw form's own size: ``scale`` must then be "small").

    ``noise`` adds Poisson noise (counts or frames, and diode counts); ``misalign`` translates every
    projection by a random (dj, dk) within the size's ±max_shift_px; ``anisotropy`` replaces every
    sample's factor on the fibre β_ℓ. Phantom, shifts and noise draw from their own streams, so
    switching one off leaves the others unchanged. Bad arguments raise a ValueError naming them.
    """
    definitions = resolve_samples(("electrode",) if samples is None else tuple(samples))
    sizes = resolve_scale(scale)
    if raw and scale != "small":
        raise ValueError(f"the raw form has one size (16³ voxels, 24 projections); scale must be 'small', "
                         f"got scale={scale!r} with raw=True")
    for sample in definitions:  # checked before anything is written
        sample.betas((raw_form.RAW_SCALE if raw else sizes).ell_max, anisotropy)
    outdir = prepare_outdir(outdir)
    (outdir / "truth").mkdir(exist_ok=True)
    options = {"seed": seed, "noise": noise, "misalign": misalign, "anisotropy": anisotropy}
    if raw:
        return _simulate_raw(outdir, definitions, legacy=samples is None, **options)
    written = tuple(_simulate_segmented(outdir, sizes, scale, sample, legacy=samples is None, **options)
                    for sample in definitions)
    return TomographyFiles(written)


def _shifts(streams: Streams, sizes: TomographyScale, n_projections: int, misalign: bool) -> np.ndarray:
    drawn = streams.shifts.uniform(-sizes.max_shift_px, sizes.max_shift_px, (n_projections, 2))
    return drawn if misalign else np.zeros_like(drawn)


def _simulate_segmented(outdir: Path, sizes: TomographyScale, scale: str, sample: SampleDefinition, *, seed: int,
                        noise: bool, misalign: bool, anisotropy: float | None, legacy: bool) -> TomographySample:
    """One sample's segmented projections, written one projection at a time, and its truth."""
    streams = sample_streams(seed, sample)
    q = q_grid(sizes.n_q)
    phantom = make_phantom(sizes.n_voxels, q, component_curves(q), sizes.ell_max, sample, streams.phantom,
                           anisotropy=anisotropy)
    geometry = measurement_geometry(sizes)
    shifts = _shifts(streams, sizes, len(geometry.rotation_deg), misalign)
    stem, suffix = ("projections", "") if legacy else (sample.name, f"_{sample.name}")
    files = TomographySample(sample.name, outdir / "truth" / f"tomography_truth{suffix}.h5",
                             projections=outdir / "tomo" / f"{stem}.nxs")
    model = forward_model(phantom)
    files.projections.parent.mkdir(exist_ok=True)
    with h5py.File(files.projections, "w") as nexus:
        data, transmission = _create_projection_file(nexus, geometry, phantom, sample, scale, seed)
        for index in tqdm(range(len(geometry.rotation_deg)), desc="tomography projections", disable=None):
            counts, trans = expected_projection(model, geometry, index, tuple(shifts[index]))
            if noise:
                counts = streams.noise.poisson(counts)
                trans = streams.noise.poisson(trans * DIODE_I0_COUNTS) / DIODE_I0_COUNTS
            data[index] = counts
            transmission[index] = trans
    attributes = {"seed": seed, "scale": scale, "sample": sample.name, "diode_i0_counts": DIODE_I0_COUNTS}
    write_truth(files.truth, phantom, _geometry_truth(geometry, shifts), attributes, geometry.detector_shape,
                COUNTS_UNITS)
    return files


def _simulate_raw(outdir: Path, definitions: Sequence[SampleDefinition], *, seed: int, noise: bool, misalign: bool,
                  anisotropy: float | None, legacy: bool) -> TomographyFiles:
    """Every sample's raw scans and truth, then the shared empty beam, mask and true PONI."""
    sizes, folder = raw_form.RAW_SCALE, outdir / "tomo_raw"
    detector = raw_form.raw_detector()
    edges = raw_form.q_edges()
    q = (edges[:-1] + edges[1:]) / 2
    counts_per_mm = np.array(COMPONENT_COUNTS_PER_MM) * raw_form.INTENSITY_PER_COUNT
    geometry = measurement_geometry(sizes)
    written = []
    for sample in definitions:
        streams = sample_streams(seed, sample)
        phantom = make_phantom(sizes.n_voxels, q, raw_form.annulus_means(edges), sizes.ell_max, sample,
                               streams.phantom, anisotropy=anisotropy, counts_per_mm=counts_per_mm)
        shifts = _shifts(streams, sizes, len(geometry.rotation_deg), misalign)
        scans, truth = raw_form.write_projection_scans(
            folder / sample.name, sample.description, forward_model(phantom), geometry, shifts, detector,
            phantom.voxel_size_mm, streams.noise, noise)
        path = outdir / "truth" / f"tomography_raw_truth{'' if legacy else '_' + sample.name}.h5"
        arrays = {**_geometry_truth(geometry, shifts), **_raw_truth_arrays(truth, edges)}
        attributes = {"seed": seed, "scale": "raw", "sample": sample.name, "i0_mean": raw_form.I0_MEAN,
                      "diode_counts_per_i0": raw_form.DIODE_COUNTS_PER_I0,
                      "integrate": json.dumps({**raw_form.INTEGRATE, "mask": "tomo_raw/mask_saxs.edf"})}
        write_truth(path, phantom, arrays, attributes, geometry.detector_shape, RAW_UNITS)
        written.append(TomographySample(sample.name, path, scans=scans))
    reference_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(EMPTY_STREAM,)))
    empty, mask, poni = raw_form.write_reference_files(folder, outdir / "truth", detector, sizes.raster,
                                                       FIELD_OF_VIEW_MM / sizes.n_voxels, reference_rng, noise)
    return TomographyFiles(tuple(written), empty=empty, mask=mask, poni=poni)


def _geometry_truth(geometry: Geometry, shifts: np.ndarray) -> dict[str, tuple[np.ndarray, str, str]]:
    return {
        "shifts": (shifts, "pixel", "applied (dj, dk) translation of each projection"),
        "rotation_angle": (geometry.rotation_deg, "deg", "rotation angle"),
        "tilt_angle": (geometry.tilt_deg, "deg", "tilt angle"),
        "segment_chi": (geometry.segment_chi_deg, "deg", "segment centre chi"),
    }


def _raw_truth_arrays(truth: raw_form.RawTruth, edges: np.ndarray) -> dict[str, tuple[np.ndarray, str, str]]:
    return {
        "expected_segments": (truth.intensity, RAW_UNITS, ("expected integrate (segments) -> transmission "
                                                           "intensity [projection, k, j, segment, q]: bin means")),
        "expected_intensity": (truth.intensity.mean(axis=3), RAW_UNITS, ("expected integrate (1D) -> transmission "
                                                                         "intensity [projection, k, j, q]")),
        "transmission": (truth.transmission, "", "true transmission [projection, k, j]"),
        "i0": (truth.i0, "counts", "I0 the frames were rendered with [projection, k, j]"),
        "q_edges": (edges, "1/angstrom", "edges of the q bins"),
    }


def _axis(group: h5py.Group, name: str, values: np.ndarray, units: str, long_name: str) -> None:
    """Write a 1-D axis with the attributes silx needs."""
    dataset = group.create_dataset(name, data=values)
    dataset.attrs["units"] = units
    dataset.attrs["long_name"] = long_name


def _create_projection_file(nexus: h5py.File, geometry: Geometry, phantom: Phantom, sample: SampleDefinition,
                            scale: str, seed: int) -> tuple[h5py.Dataset, h5py.Dataset]:
    """NeXus skeleton of the projection file; returns the (empty) data and transmission datasets."""
    n_projections = len(geometry.rotation_deg)
    n_j, n_k = geometry.detector_shape
    n_seg, n_q = len(geometry.segment_chi_deg), len(phantom.q)
    nexus.attrs["default"] = "entry"
    entry = nexus.create_group("entry")
    entry.attrs.update(NX_class="NXentry", default="data")
    entry["title"] = f"Simulated SAXS tensor tomography of a hard-carbon electrode (sample={sample.name}, " \
                     f"scale={scale}, seed={seed})"
    entry["definition"] = "NXswaxs_segmented_projections"
    entry["definition"].attrs["description"] = (
        "raw azimuthally segmented SAXS projections for alignment and tensor tomography; "
        "project application definition, conventions in docs/simulation_tomography.md"
    )
    group_sample = entry.create_group("sample")
    group_sample.attrs["NX_class"] = "NXsample"
    group_sample["name"] = sample.description
    energy = entry.create_group("instrument").create_group("monochromator")
    entry["instrument"].attrs["NX_class"] = "NXinstrument"
    energy.attrs["NX_class"] = "NXmonochromator"
    energy["energy"] = ENERGY_KEV
    energy["energy"].attrs["units"] = "keV"

    group = entry.create_group("data")
    group.attrs.update(
        NX_class="NXdata",
        signal="data",
        axes=["rotation_angle", "j", "k", "segment_chi", "q"],
        interpretation="image",
        rotation_angle_indices=0,
        tilt_angle_indices=0,
        j_indices=1,
        k_indices=2,
        segment_chi_indices=3,
        q_indices=4,
    )
    data = group.create_dataset(
        "data", shape=(n_projections, n_j, n_k, n_seg, n_q), dtype="float32",
        chunks=(1, n_j, n_k, n_seg, n_q), **hdf5plugin.Bitshuffle(cname="lz4"),
    )
    data.attrs.update(units="counts", long_name="segmented scattered intensity (counts per segment)")
    transmission = group.create_dataset(
        "transmission", shape=(n_projections, n_j, n_k), dtype="float32",
        chunks=(1, n_j, n_k), **hdf5plugin.Bitshuffle(cname="lz4"),
    )
    transmission.attrs.update(units="", long_name="transmission (diode / I0)")
    pixel_mm = phantom.voxel_size_mm
    _axis(group, "rotation_angle", geometry.rotation_deg, "deg", "rotation angle about the sample axis")
    _axis(group, "tilt_angle", geometry.tilt_deg, "deg", "tilt angle of the rotation axis")
    _axis(group, "j", (np.arange(n_j) - (n_j - 1) / 2) * pixel_mm, "mm", "j (horizontal, across the beam)")
    _axis(group, "k", (np.arange(n_k) - (n_k - 1) / 2) * pixel_mm, "mm", "k (vertical)")
    _axis(group, "segment_chi", geometry.segment_chi_deg, "deg", "azimuthal segment centre chi")
    _axis(group, "q", phantom.q, "1/angstrom", "q")

    images = entry.create_group("transmission")
    images.attrs.update(NX_class="NXdata", signal="transmission", axes=["rotation_angle", "j", "k"],
                        interpretation="image")
    for name in ("transmission", "rotation_angle", "tilt_angle", "j", "k"):
        images[name] = group[name]
    images.attrs.update(rotation_angle_indices=0, tilt_angle_indices=0, j_indices=1, k_indices=2)
    return data, transmission
