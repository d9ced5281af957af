"""Simulated SAXS tensor tomography of a hard-carbon electrode: segmented projections + truth.

The sample is a spherical cap (dome) of hard carbon on an aluminium pin, in a cube of 1 mm. Every
hard-carbon voxel scatters I(q, n) = m(r, q) f(r, n): a spherical-mean curve m (Porod q^-4,
a micropore Guinier shoulder and a flat term, with amplitudes varying smoothly in space) times a
fibre-symmetric orientation distribution f(n) = 1 + Σ_ℓ β_ℓ P_ℓ(n · u(r)) whose axis u points
radially from the centre of the cap's sphere. The pin only absorbs.

A projection (Liebi et al. 2018) is, for every raster point and azimuthal detector segment χ,
the line integral along the beam of Σ_c a_c(r, q) Y_c(n(χ)), n(χ) the scattering direction
perpendicular to the beam, times the transmission exp(-∫μ) of the ray, with Poisson noise.
Projections are misaligned by known random sub-pixel translations. Conventions, units and file
layout: ``docs/simulation_tomography.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
from tqdm import tqdm

from swaxs_plugins.tomo import harmonics, projector

FIELD_OF_VIEW_MM = 1.0
ENERGY_KEV = 13.2
MAX_SHIFT_PX = 3.0
DIODE_I0_COUNTS = 1.0e6
"""Photons reaching the diode per raster point without sample: transmission noise level."""

MU_HARD_CARBON_PER_MM = 0.13
MU_ALUMINIUM_PER_MM = 3.1
"""Linear attenuation at 13.2 keV (porous hard-carbon electrode ~1 g/cm³, and Al)."""

COMPONENT_NAMES = ("porod", "micropore", "flat")
COMPONENT_COUNTS_PER_MM = (50.0, 2.0e4, 200.0)
"""Nominal amplitude of each curve component: counts per segment per mm of hard carbon."""
POROD_Q0 = 0.1
MICROPORE_RG = 5.0
FIBRE_BETAS = {2: 0.6, 4: 0.2, 6: 0.05}
"""Degree of anisotropy: f(n) = 1 + Σ β_ℓ P_ℓ(n · u); strongest scattering for n along u."""


@dataclass(frozen=True)
class TomographyScale:
    """Sizes of one simulated experiment."""

    n_voxels: int
    n_q: int
    n_segments: int
    ell_max: int
    n_untilted: int
    tilts_deg: tuple[float, ...]
    n_per_tilt: int
    margin_px: int = 4


SCALES = {
    "small": TomographyScale(n_voxels=28, n_q=10, n_segments=8, ell_max=4, n_untilted=72,
                             tilts_deg=(15.0, 30.0, 45.0), n_per_tilt=12),
    "paper": TomographyScale(n_voxels=100, n_q=39, n_segments=16, ell_max=6, n_untilted=72,
                             tilts_deg=(15.0, 30.0, 45.0), n_per_tilt=36),
}


@dataclass(frozen=True)
class TomographyFiles:
    """Where :func:`simulate_tomography` wrote its output."""

    projections: Path
    truth: Path


@dataclass(frozen=True)
class Geometry:
    """Angles of every projection, detector segments and raster size."""

    rotation_deg: np.ndarray
    tilt_deg: np.ndarray
    segment_chi_deg: np.ndarray
    detector_shape: tuple[int, int]


@dataclass(frozen=True)
class Phantom:
    """Ground-truth volumes [X, Y, Z, ...] of the electrode (see the truth-file keys in the docs)."""

    hard_carbon_fraction: np.ndarray
    pin_fraction: np.ndarray
    attenuation: np.ndarray
    component_amplitude: np.ndarray
    component_curve: np.ndarray
    orientation: np.ndarray
    orientation_coefficients: np.ndarray
    q: np.ndarray
    voxel_size_mm: float
    ell_max: int

    @property
    def mask(self) -> np.ndarray:
        """Voxels at least half filled with hard carbon or pin."""
        return self.hard_carbon_fraction + self.pin_fraction >= 0.5

    @property
    def mean_intensity(self) -> np.ndarray:
        """Spherical-mean intensity m(r, q) [X, Y, Z, n_q], counts per segment per mm."""
        return self.component_amplitude @ self.component_curve


@dataclass(frozen=True)
class ForwardModel:
    """The phantom restricted to its support, flattened to [n_voxels, ...] for projecting."""

    centres: np.ndarray
    component_amplitude: np.ndarray
    component_curve: np.ndarray
    orientation_coefficients: np.ndarray
    attenuation: np.ndarray
    voxel_size_mm: float
    ell_max: int


def resolve_scale(scale: str) -> TomographyScale:
    """The sizes for ``scale``; a clear error for an unknown one."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got scale={scale!r}")
    return SCALES[scale]


def q_grid(n_q: int) -> np.ndarray:
    """Logarithmically spaced q bin centres from 0.01 to 0.5 1/Å."""
    return np.geomspace(0.01, 0.5, n_q)


def component_curves(q: np.ndarray) -> np.ndarray:
    """Shapes [3, n_q] of the curve components: (q0/q)^4, exp(-(q Rg)²/3), 1."""
    return np.stack([(POROD_Q0 / q) ** 4, np.exp(-((q * MICROPORE_RG) ** 2) / 3), np.ones_like(q)])


def measurement_geometry(scale: TomographyScale) -> Geometry:
    """Untilted rotations over [0, 180)°, then each tilt with rotations over [0, 360)°."""
    rotations = [np.arange(scale.n_untilted) * 180.0 / scale.n_untilted]
    tilts = [np.zeros(scale.n_untilted)]
    for tilt in scale.tilts_deg:
        rotations.append(np.arange(scale.n_per_tilt) * 360.0 / scale.n_per_tilt)
        tilts.append(np.full(scale.n_per_tilt, tilt))
    side = scale.n_voxels + 2 * scale.margin_px
    return Geometry(
        rotation_deg=np.concatenate(rotations),
        tilt_deg=np.concatenate(tilts),
        segment_chi_deg=(np.arange(scale.n_segments) + 0.5) * 180.0 / scale.n_segments,
        detector_shape=(side, side),
    )


def electrode_fractions(n_voxels: int, subsamples: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Volume fractions of hard carbon and pin per voxel, and the cap's sphere centre (voxels).

    Shapes are in units of the half width h of the cube: an Al pin of radius 0.15 h along z,
    slightly off the rotation axis, from z = -0.85 h to 0.05 h; a hard-carbon cap, the part
    above z = 0 of a sphere of radius 0.7 h centred 0.1 h below it on the pin axis. Fractions
    are averaged over ``subsamples``³ points per voxel.
    """
    half = n_voxels / 2
    axis_xy = np.array([0.10, -0.06]) * half
    centre = np.array([*axis_xy, -0.1 * half])
    centres = projector.voxel_centres((n_voxels,) * 3)
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    cap = np.zeros(len(centres))
    pin = np.zeros(len(centres))
    for offset in np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3):
        point = centres + offset
        in_cap = (np.linalg.norm(point - centre, axis=1) <= 0.7 * half) & (point[:, 2] >= 0)
        radial = np.linalg.norm(point[:, :2] - axis_xy, axis=1)
        in_pin = (radial <= 0.15 * half) & (point[:, 2] >= -0.85 * half) & (point[:, 2] <= 0.05 * half)
        cap += in_cap
        pin += in_pin & ~in_cap
    shape = (n_voxels,) * 3
    return (cap / subsamples**3).reshape(shape), (pin / subsamples**3).reshape(shape), centre


def smooth_field(points: np.ndarray, rng: np.random.Generator, n_waves: int = 6) -> np.ndarray:
    """A smooth random field of zero mean and unit variance at ``points`` [n, 3] (in mm).

    A sum of plane waves with at most 1.5 periods across the field of view, so the same seed
    gives the same field at every grid resolution.
    """
    frequencies = rng.uniform(-1.5, 1.5, (n_waves, 3)) / FIELD_OF_VIEW_MM
    phases = rng.uniform(0, 2 * np.pi, n_waves)
    return np.cos(2 * np.pi * points @ frequencies.T + phases).sum(axis=1) * np.sqrt(2 / n_waves)


def make_phantom(scale: TomographyScale, rng: np.random.Generator) -> Phantom:
    """The electrode: fractions, attenuation, curve amplitudes and orientation per voxel."""
    n = scale.n_voxels
    voxel_size = FIELD_OF_VIEW_MM / n
    cap, pin, sphere_centre = electrode_fractions(n)
    centres = projector.voxel_centres(cap.shape)
    variation = [smooth_field(centres * voxel_size, rng) for _ in COMPONENT_NAMES[:2]]
    relative = np.stack([np.clip(1 + 0.3 * v, 0.2, None) for v in variation] + [np.ones(len(centres))], axis=1)
    amplitude = relative * np.array(COMPONENT_COUNTS_PER_MM) * cap.reshape(-1, 1)
    radial = centres - sphere_centre
    orientation = radial / np.linalg.norm(radial, axis=1, keepdims=True)
    q = q_grid(scale.n_q)
    return Phantom(
        hard_carbon_fraction=cap,
        pin_fraction=pin,
        attenuation=MU_HARD_CARBON_PER_MM * cap + MU_ALUMINIUM_PER_MM * pin,
        component_amplitude=amplitude.reshape(*cap.shape, len(COMPONENT_NAMES)),
        component_curve=component_curves(q),
        orientation=orientation.reshape(*cap.shape, 3),
        orientation_coefficients=harmonics.fibre_coefficients(orientation, FIBRE_BETAS, scale.ell_max).reshape(
            *cap.shape, -1
        ),
        q=q,
        voxel_size_mm=voxel_size,
        ell_max=scale.ell_max,
    )


def forward_model(phantom: Phantom) -> ForwardModel:
    """Keep only voxels holding material: projecting empty voxels costs time and adds nothing."""
    support = (phantom.hard_carbon_fraction + phantom.pin_fraction).ravel() > 0
    n_coefficients = phantom.orientation_coefficients.shape[-1]
    return ForwardModel(
        centres=projector.voxel_centres(phantom.attenuation.shape)[support],
        component_amplitude=phantom.component_amplitude.reshape(-1, len(COMPONENT_NAMES))[support],
        component_curve=phantom.component_curve,
        orientation_coefficients=phantom.orientation_coefficients.reshape(-1, n_coefficients)[support],
        attenuation=phantom.attenuation.ravel()[support],
        voxel_size_mm=phantom.voxel_size_mm,
        ell_max=phantom.ell_max,
    )


def scattering_directions(rotation_deg: float, tilt_deg: float, chi_deg: np.ndarray) -> np.ndarray:
    """Scattering-vector directions [n_seg, 3] in the sample frame: cos χ ĵ + sin χ k̂.

    At small angles q is perpendicular to the beam; χ = 0 is along +j, χ = 90° along +k.
    """
    j_hat, k_hat, _ = projector.detector_frame(rotation_deg, tilt_deg)
    chi = np.deg2rad(chi_deg)[:, None]
    return np.cos(chi) * j_hat + np.sin(chi) * k_hat


def expected_projection(
    model: ForwardModel, geometry: Geometry, index: int, offset: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free counts [J, K, n_seg, n_q] and transmission [J, K] of projection ``index``.

    The orientation factor f(r, n_s) = Σ_c b_c(r) Y_c(n_s) is evaluated per voxel and segment;
    because m(r, q) = Σ_k A_k(r) curve_k(q), only the products A_k f are projected, and the q
    dependence is applied on the raster.
    """
    rotation, tilt = geometry.rotation_deg[index], geometry.tilt_deg[index]
    matrix = projector.projection_matrix(model.centres, geometry.detector_shape, rotation, tilt, offset)
    directions = scattering_directions(rotation, tilt, geometry.segment_chi_deg)
    orientation_factor = model.orientation_coefficients @ harmonics.real_sph_harm(model.ell_max, directions).T
    weighted = model.component_amplitude[:, :, None] * orientation_factor[:, None, :]
    line = projector.forward_project(matrix, weighted, geometry.detector_shape) * model.voxel_size_mm
    transmission = np.exp(-projector.forward_project(matrix, model.attenuation, geometry.detector_shape)
                          * model.voxel_size_mm)
    counts = np.einsum("jkcs,cq->jksq", line, model.component_curve) * transmission[:, :, None, None]
    return counts, transmission


def simulate_tomography(
    outdir: str | Path,
    *,
    seed: int = 0,
    scale: str = "small",
    noise: bool = True,
    misalign: bool = True,
) -> TomographyFiles:
    """Simulate the tomography experiment; write ``tomo/projections.nxs`` and ``truth/tomography_truth.h5``.

    ``noise`` adds Poisson noise (scattering counts, and diode counts at DIODE_I0_COUNTS);
    ``misalign`` translates every projection by a random (dj, dk) in ±MAX_SHIFT_PX pixels. Both
    draw from their own random streams, so switching one off leaves the others unchanged.
    """
    sizes = resolve_scale(scale)
    phantom_rng, shift_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    phantom = make_phantom(sizes, phantom_rng)
    geometry = measurement_geometry(sizes)
    n_projections = len(geometry.rotation_deg)
    drawn_shifts = shift_rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, (n_projections, 2))
    shifts = drawn_shifts if misalign else np.zeros_like(drawn_shifts)
    files = TomographyFiles(
        projections=Path(outdir) / "tomo" / "projections.nxs",
        truth=Path(outdir) / "truth" / "tomography_truth.h5",
    )
    model = forward_model(phantom)
    files.projections.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(files.projections, "w") as nexus:
        data, transmission = _create_projection_file(nexus, geometry, phantom, scale, seed)
        for index in tqdm(range(n_projections), desc="tomography projections", disable=None):
            counts, trans = expected_projection(model, geometry, index, tuple(shifts[index]))
            if noise:
                counts = noise_rng.poisson(counts)
                trans = noise_rng.poisson(trans * DIODE_I0_COUNTS) / DIODE_I0_COUNTS
            data[index] = counts
            transmission[index] = trans
    files.truth.parent.mkdir(parents=True, exist_ok=True)
    write_truth(files.truth, phantom, geometry, shifts, seed, scale)
    return files


def _axis(group: h5py.Group, name: str, values: np.ndarray, units: str, long_name: str) -> None:
    """Write a 1-D axis with the attributes silx needs."""
    dataset = group.create_dataset(name, data=values)
    dataset.attrs["units"] = units
    dataset.attrs["long_name"] = long_name


def _create_projection_file(
    nexus: h5py.File, geometry: Geometry, phantom: Phantom, scale: str, seed: int
) -> tuple[h5py.Dataset, h5py.Dataset]:
    """NeXus skeleton of the projection file; returns the (empty) data and transmission datasets."""
    n_projections = len(geometry.rotation_deg)
    n_j, n_k = geometry.detector_shape
    n_seg, n_q = len(geometry.segment_chi_deg), len(phantom.q)
    nexus.attrs["default"] = "entry"
    entry = nexus.create_group("entry")
    entry.attrs.update(NX_class="NXentry", default="data")
    entry["title"] = f"Simulated SAXS tensor tomography of a hard-carbon electrode (scale={scale}, seed={seed})"
    entry["definition"] = "NXswaxs_segmented_projections"
    entry["definition"].attrs["description"] = (
        "raw azimuthally segmented SAXS projections for alignment and tensor tomography; "
        "project application definition, conventions in docs/simulation_tomography.md"
    )
    sample = entry.create_group("sample")
    sample.attrs["NX_class"] = "NXsample"
    sample["name"] = "hard-carbon cap on an aluminium pin (simulated)"
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


def write_truth(
    path: Path, phantom: Phantom, geometry: Geometry, shifts: np.ndarray, seed: int, scale: str
) -> None:
    """Ground truth for testing align and reconstruct steps; no pipeline reads this file."""
    ells, ms = harmonics.degrees_and_orders(phantom.ell_max)
    datasets = {
        "mask": (phantom.mask, "", "voxels at least half filled with hard carbon or pin"),
        "hard_carbon_fraction": (phantom.hard_carbon_fraction, "", "volume fraction of hard carbon"),
        "pin_fraction": (phantom.pin_fraction, "", "volume fraction of the aluminium pin"),
        "attenuation": (phantom.attenuation, "1/mm", "linear attenuation coefficient"),
        "mean_intensity": (phantom.mean_intensity, "counts/mm", "spherical-mean intensity m per q bin"),
        "orientation": (phantom.orientation, "", "unit fibre axis u (x, y, z in the sample frame)"),
        "orientation_coefficients": (phantom.orientation_coefficients, "",
                                     "SH coefficients b of f(n); full coefficients a = m[..., q, None] * b"),
        "component_amplitude": (phantom.component_amplitude, "counts/mm", "amplitude A_k of each curve component"),
        "component_curve": (phantom.component_curve, "", "shape of each curve component; m = A @ curve"),
        "sh_degree": (ells, "", "degree l of each coefficient"),
        "sh_order": (ms, "", "order m of each coefficient"),
        "shifts": (shifts, "pixel", "applied (dj, dk) translation of each projection"),
        "rotation_angle": (geometry.rotation_deg, "deg", "rotation angle"),
        "tilt_angle": (geometry.tilt_deg, "deg", "tilt angle"),
        "segment_chi": (geometry.segment_chi_deg, "deg", "segment centre chi"),
        "q": (phantom.q, "1/angstrom", "q bin centre"),
        "fibre_degree": (np.array(sorted(FIBRE_BETAS)), "", "degrees l of the fibre distribution"),
        "fibre_beta": (np.array([FIBRE_BETAS[ell] for ell in sorted(FIBRE_BETAS)]), "",
                       "f(n) = 1 + sum beta_l P_l(n . u), truncated at ell_max"),
    }
    with h5py.File(path, "w") as truth:
        truth.attrs.update(
            seed=seed, scale=scale, voxel_size_mm=phantom.voxel_size_mm, ell_max=phantom.ell_max,
            component_names=list(COMPONENT_NAMES), diode_i0_counts=DIODE_I0_COUNTS,
            sh_normalisation="real, even l, orthonormal on the unit sphere; coefficient 0 = sqrt(4 pi) x mean",
        )
        for name, (values, units, description) in datasets.items():
            dataset = truth.create_dataset(name, data=values, compression="gzip" if np.ndim(values) >= 3 else None)
            dataset.attrs.update(units=units, description=description)
