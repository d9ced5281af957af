"""The raw form of the simulated tomography: one raster scan of detector frames per projection.

Each projection is a NeXus raw scan (the operando scans' layout, ``NXswaxs_raw_scan``) of K × J
points, rows k up, columns j across the beam (point k·J + j), with the projection's rotation and
tilt angles in ``/entry/sample``. Every point's frame is rendered from the point's scattering
pattern P(q, χ) = Σ_kc L_kc curve_k(q) Y_c(n(χ)) (L the line integrals of A_k b_c, see
:func:`.tomography_model.coefficient_line_integrals`) at each pixel's q and χ from pyFAI, times
the pixel response (solid angle × polarization), I0 and the transmission, with Poisson noise.

The small detector (two modules of 172 µm pixels, 0.117 m from the sample) has its PONI on the
bottom edge, so it sees the upper half of the pattern, χ = 0–180° (pyFAI's χ at orientation 3 is
the simulator's: 0 along +j, 90° up), which is all of it (I(χ) = I(χ + 180°)). Integrating with the
true PONI, the mask file and the :data:`INTEGRATE` parameters, then dividing by the transmission,
gives the bin means the truth file states: per q bin the mean of each curve over the annulus
(weight q dq) and per segment the mean of each harmonic over the segment's χ width
(docs/simulation_tomography.md has the measured discretisation error, ≤ 0.1 % in 1D).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import fabio
import h5py
import numpy as np
from pyFAI.detectors import Detector
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from tqdm import tqdm

from swaxs_plugins.tomo import harmonics
from swaxs_plugins.tomo.segments import scattering_directions

from . import detectors as det
from .samples import component_functions
from .tomography_model import (
    ForwardModel,
    Geometry,
    TomographyScale,
    coefficient_line_integrals,
    segment_harmonics,
)

RAW_SCALE = TomographyScale(n_voxels=16, n_q=12, n_segments=8, ell_max=4, n_untilted=24, tilts_deg=(),
                            n_per_tilt=0, margin_px=1, max_shift_px=1.5)
"""16³ voxels, 24 untilted projections of 18 × 18 points: the sample's projection reaches 6.97 px from
the axis, so a 1 px margin holds it whole for shifts up to ±1.5 px."""
Q_RANGE = (0.05, 0.53)
INTEGRATE = {"npt": RAW_SCALE.n_q, "unit": "q_A^-1", "radial_range": Q_RANGE, "segments": RAW_SCALE.n_segments,
             "azimuth_range": (0.0, 180.0), "polarization": det.POLARIZATION}
"""integrate parameters (with the mask file) whose bins are the truth's."""
INTENSITY_PER_COUNT = 1.0e-7
"""Raw intensity (per I0 count and unit relative solid angle) per count per segment of the segmented form."""
I0_MEAN = 1.0e5
I0_JITTER = 0.005
DIODE_COUNTS_PER_I0 = 10.0
"""Diode counts per I0 count without sample (10⁶ per point: the segmented form's transmission noise)."""
POINT_TIME_S = 0.1
EMPTY_POINTS = 4
TIME_ORIGIN = datetime(2025, 2, 1, 9, 0, tzinfo=timezone.utc)
PIXEL_M = 172e-6
MODULE_ROWS, GAP_ROWS, COLUMNS = (56, 2), 2, 110
SETUP = det.DetectorSetup("saxs", "Detector", dist=0.11695, poni1=0.0, poni2=55 * PIXEL_M, rot1=0.0, rot2=0.0,
                          nominal_distance=0.12)
"""The true geometry; the nominal (motor) distance is the rounded one."""


@dataclass(frozen=True)
class RawDetector:
    """The small detector with its true geometry and per-pixel q, χ, response and masks."""

    ai: AzimuthalIntegrator
    q: np.ndarray
    chi_deg: np.ndarray
    response: np.ndarray
    gaps: np.ndarray
    mask: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.gaps.shape)  # type: ignore[return-value]


def raw_detector() -> RawDetector:
    """Two modules of 56 and 2 rows × 110 columns with a 2-row gap between them (2³²−1 in the frames).

    The integration ``mask`` holds the gaps and every pixel whose centre q is outside Q_RANGE: pyFAI
    counts a pixel that straddles a radial_range edge wholly inside the range, which biases the edge
    bins by up to 2 %; without those pixels the edge bins agree with the annulus means to 0.1 %.
    """
    gaps = np.zeros((sum(MODULE_ROWS) + GAP_ROWS, COLUMNS), bool)
    gaps[MODULE_ROWS[0]:MODULE_ROWS[0] + GAP_ROWS] = True
    detector = Detector(pixel1=PIXEL_M, pixel2=PIXEL_M, max_shape=gaps.shape)
    detector.mask = gaps.astype(np.int8)
    ai = AzimuthalIntegrator(dist=SETUP.dist, poni1=SETUP.poni1, poni2=SETUP.poni2, rot1=SETUP.rot1,
                             rot2=SETUP.rot2, rot3=SETUP.rot3, detector=detector, wavelength=SETUP.wavelength_m)
    q = ai.center_array(unit="q_A^-1")
    response = ai.solidAngleArray() * ai.polarization(factor=SETUP.polarization)
    mask = gaps | (q < Q_RANGE[0]) | (q > Q_RANGE[1])
    return RawDetector(ai, q, np.rad2deg(ai.center_array(unit="chi_rad")), response, gaps, mask)


def q_edges() -> np.ndarray:
    """Edges of the integrate step's linear q bins over Q_RANGE."""
    return np.linspace(*Q_RANGE, RAW_SCALE.n_q + 1)


def annulus_means(edges: np.ndarray, nodes: int = 16) -> np.ndarray:
    """Each curve component's mean over each q bin weighted by q dq [3, n_bins]: what integrating a
    flat detector's pixels of the bin gives (their number per dq grows as q at small angles)."""
    points, weights = np.polynomial.legendre.leggauss(nodes)
    half = np.diff(edges)[:, None] / 2
    q = (edges[:-1, None] + edges[1:, None]) / 2 + half * points
    weight = weights * q * half
    return np.stack([(function(q) * weight).sum(axis=1) / weight.sum(axis=1) for function in component_functions()])


def used_coefficients(model: ForwardModel) -> np.ndarray:
    """Indices of the harmonics any voxel has (an isotropic sample: only the first)."""
    return np.flatnonzero(np.abs(model.orientation_coefficients).max(axis=0) > 0)


def expected_frames(raw: RawDetector, model: ForwardModel, geometry: Geometry, index: int,
                    offset: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unattenuated pattern per I0 [K·J, pixels], the line integrals L [K, J, 3, n_used] and T [K, J].

    Points are row-major over (K, J), the scan's order; the pattern includes the pixel response.
    """
    used = used_coefficients(model)
    line, transmission = coefficient_line_integrals(model, geometry, index, offset)
    line = np.swapaxes(line[..., used], 0, 1)
    directions = scattering_directions(geometry.rotation_deg[index], geometry.tilt_deg[index], raw.chi_deg.ravel())
    sph = harmonics.real_sph_harm(0 if used.max() == 0 else model.ell_max, directions)[:, used]
    curves = np.stack([function(raw.q.ravel()) for function in component_functions()])
    basis = (curves[:, None, :] * sph.T[None, :, :] * raw.response.ravel()).astype(np.float32)
    pattern = line.reshape(-1, basis.shape[0] * basis.shape[1]).astype(np.float32) @ basis.reshape(-1, basis.shape[2])
    return pattern, line, np.swapaxes(transmission, 0, 1)


def expected_intensities(line: np.ndarray, model: ForwardModel, geometry: Geometry,
                         index: int) -> np.ndarray:
    """What integrate (segments) → transmission gives in expectation [K, J, n_seg, n_q]: the bin means."""
    segment_sph = segment_harmonics(geometry, index, model.ell_max)[:, used_coefficients(model)]
    return np.einsum("kjac,aq,sc->kjsq", line, model.component_curve, segment_sph)


@dataclass(frozen=True)
class ScanCounts:
    """What one raw scan records per point: frames [n, rows, cols] uint32, I0 and diode [n]."""

    frames: np.ndarray
    i0: np.ndarray
    diode: np.ndarray


def measure(pattern: np.ndarray, transmission: np.ndarray, raw: RawDetector, rng: np.random.Generator,
            noise: bool) -> ScanCounts:
    """I0 per point (0.5 % jitter), frames Poisson(I0 T P), diode Poisson(10 I0 T); rounded means without noise."""
    n = pattern.shape[0]
    t = transmission.ravel()
    i0 = np.rint(I0_MEAN * (1 + I0_JITTER * rng.standard_normal(n))) if noise else np.full(n, I0_MEAN)
    mean_frames = pattern * (i0 * t)[:, None].astype(np.float32)
    frames = rng.poisson(mean_frames) if noise else np.rint(mean_frames)
    diode_mean = DIODE_COUNTS_PER_I0 * i0 * t
    diode = rng.poisson(diode_mean) if noise else np.rint(diode_mean)
    stack = frames.astype(np.uint32).reshape(n, *raw.shape)
    stack[:, raw.gaps] = det.GAP_VALUE_UINT32
    return ScanCounts(stack, i0, diode.astype(np.float64))


def write_scan(path: Path, counts: ScanCounts, raw: RawDetector, raster: tuple[int, int], pixel_mm: float,
               start_s: float, title: str, sample: str, angles: tuple[float, float] | None) -> Path:
    """One raw scan file (NXswaxs_raw_scan plus NXsample with the projection's angles)."""
    n = counts.i0.size
    with h5py.File(path, "w") as handle:
        entry = det.write_raw_entry(handle, title, (TIME_ORIGIN + timedelta(seconds=start_s)).isoformat(),
                                    (TIME_ORIGIN + timedelta(seconds=start_s + n * POINT_TIME_S)).isoformat())
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        det.write_monochromator(instrument, SETUP)
        stack = det.create_detector(instrument, SETUP, raw.ai, n)
        stack[...] = counts.frames
        det.link_frames_for_viewers(entry, stack)
        for name, values in (("i0", counts.i0), ("diode", counts.diode)):
            monitor = instrument.create_group(name)
            monitor.attrs["NX_class"] = "NXmonitor"
            monitor.create_dataset("data", data=values).attrs["units"] = "counts"
        _write_positions(entry, raster, pixel_mm, n)
        group = entry.create_group("sample")
        group.attrs["NX_class"] = "NXsample"
        group["name"] = sample
        for name, value in zip(("rotation_angle", "tilt_angle"), angles or ()):
            group.create_dataset(name, data=float(value)).attrs["units"] = "deg"
    return path


def _write_positions(entry: h5py.Group, raster: tuple[int, int], pixel_mm: float, n: int) -> None:
    """``scan``: y (k, up) and x (j, across) per point in mm about the raster centre, shape [K, J]."""
    scan = entry.create_group("scan")
    scan.attrs["NX_class"] = "NXcollection"
    n_j, n_k = raster
    if n == n_j * n_k:
        k, j = np.indices((n_k, n_j))
        scan["shape"] = np.array([n_k, n_j])
        positions = ((k - (n_k - 1) / 2) * pixel_mm, (j - (n_j - 1) / 2) * pixel_mm)
    else:
        scan["shape"] = np.array([1, n])
        positions = (np.zeros(n), (n_j / 2 + 1 + np.arange(n)) * pixel_mm)  # off the sample, beside the raster
    for name, values in zip(("y", "x"), positions):
        scan.create_dataset(name, data=np.ravel(values)).attrs["units"] = "mm"


def write_reference_files(folder: Path, truth_folder: Path, raw: RawDetector, raster: tuple[int, int],
                          pixel_mm: float, rng: np.random.Generator, noise: bool) -> tuple[Path, Path, Path]:
    """The empty-beam scan (no scattering: only gaps and counters), the integration mask (EDF, 1 =
    masked) and the true PONI; returns their paths."""
    pattern = np.zeros((EMPTY_POINTS, raw.q.size), np.float32)
    counts = measure(pattern, np.ones(EMPTY_POINTS), raw, rng, noise)
    empty = write_scan(folder / "scan_empty.nxs", counts, raw, raster, pixel_mm, -60.0,
                       "empty beam (T = 1 reference)", "empty beam", None)
    mask = folder / "mask_saxs.edf"
    fabio.edfimage.EdfImage(data=raw.mask.astype(np.int8), header={"detector": "Detector"}).write(str(mask))
    poni = det.write_poni(raw.ai, truth_folder / "tomography_raw.poni")
    return empty, mask, poni



@dataclass(frozen=True)
class RawTruth:
    """Per ray, in the scans' layout [projection, K, J, ...]: the expected integrate (segments) →
    transmission intensities [.., n_seg, n_q], the true transmission and the I0 the frames got."""

    intensity: np.ndarray
    transmission: np.ndarray
    i0: np.ndarray


def write_projection_scans(folder: Path, sample: str, model: ForwardModel, geometry: Geometry, shifts: np.ndarray,
                           raw: RawDetector, pixel_mm: float, rng: np.random.Generator,
                           noise: bool) -> tuple[tuple[Path, ...], RawTruth]:
    """``folder/scan_NNN.nxs`` for every projection (acquisition order), and their per-ray truth."""
    folder.mkdir(parents=True, exist_ok=True)
    n_points = int(np.prod(geometry.detector_shape))
    paths, intensity, transmission, i0 = [], [], [], []
    for index in tqdm(range(len(geometry.rotation_deg)), desc="tomography raw scans", disable=None):
        pattern, line, t = expected_frames(raw, model, geometry, index, tuple(shifts[index]))
        counts = measure(pattern, t, raw, rng, noise)
        angles = (float(geometry.rotation_deg[index]), float(geometry.tilt_deg[index]))
        title = f"tomography projection {index}: rotation {angles[0]:g} deg, tilt {angles[1]:g} deg"
        paths.append(write_scan(folder / f"scan_{index:03d}.nxs", counts, raw, geometry.detector_shape, pixel_mm,
                                index * (n_points * POINT_TIME_S + 20.0), title, sample, angles))
        intensity.append(expected_intensities(line, model, geometry, index).astype(np.float32))
        transmission.append(t)
        i0.append(counts.i0.reshape(t.shape))
    return tuple(paths), RawTruth(np.stack(intensity), np.stack(transmission), np.stack(i0))
