"""The ``calibrate`` step: detector geometry (a pyFAI PONI) from one calibrant frame, headless.

The recipe: mask gaps and bad pixels; when no beam centre is given, find it where the bright
ring pixels are most concentrated in radius (a Hough transform for circles of any radius), then
find the distance that puts the calibrant's rings on the peaks of the radial profile. Then, as
pyFAI's own calibration does, pick control points on the rings predicted by the current geometry
(``SingleGeometry.extract_cp``), refine (``GeometryRefinement.refine3``, fixed and bounded
parameters), drop outlying points, and pick again with the refined geometry, on more rings each
time, until the beam centre and distance no longer move. Picked points sit on pixels, so a final
stage locates the rings to a few hundredths of a pixel: around each ring predicted by the geometry,
the radial profile of every short arc sector is fitted with a Gaussian on a line, and the geometry
is fitted by weighted least squares to those sector positions, repeated until stable.

At small angles the PONI and the tilts are degenerate, so the result is judged by what is not:
the direct-beam centre, the direct distance, and the residual of the control points.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyFAI
import pyFAI.detectors
from pydantic import field_validator, model_validator
from pyFAI.calibrant import CALIBRANT_FACTORY, Calibrant
from pyFAI.geometry import Geometry
from pyFAI.goniometer import SingleGeometry
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile
from scipy import constants
from scipy.ndimage import gaussian_filter, uniform_filter1d
from scipy.optimize import curve_fit, least_squares, minimize

from swaxs_plugins import __version__
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepContext, StepParameters, parameter
from swaxs_plugins.io.nexus import Axis, StepWriter, set_nx_class
from swaxs_plugins.io.raw import FrameFile, frame_files, is_hdf5, split_location

GeometryName = Literal["dist", "poni1", "poni2", "rot1", "rot2", "rot3"]
GEOMETRY_NAMES: tuple[str, ...] = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3")
HC_KEV_ANGSTROM = constants.h * constants.c / constants.e / 1e3 * 1e10  # λ[Å] = HC / E[keV]
DEFAULT_ROTATION_BOUND = 0.1  # rad: free tilts stay within this of their guess unless bounds say otherwise
DEFAULT_DISTANCE_RANGE = (0.7, 1.3)  # free distance stays within these factors of its guess
MIN_CONTROL_POINTS = 6
CONVERGED_PX = 0.05  # stop when centre + distance move less than this (px) between pickings
PICKING_SEED = 0  # pyFAI's peak picking shuffles with numpy's global generator; seeded for repeatability
RING_WINDOW_PX = 12.0  # sub-pixel stage: half-width (px along the 2θ gradient) of the band fitted around a ring
SECTOR_PX = 24.0  # arc length (px) of the ring sector whose radial profile gives one sub-pixel control point
MAX_SECTORS = 90  # per ring: on large rings sectors are 4° wide instead
MIN_SECTOR_PIXELS = 40
SUBPIXEL_ROUNDS = 4  # at most this many fit-profiles-then-geometry rounds
SUBPIXEL_CONVERGED_PX = 0.003  # stop when centre + distance move less than this (px) between rounds
SIGMA_FLOOR_PX = 0.005  # no control point is trusted to better than this, so none dominates the fit


# --------------------------------------------------------------------------------------------------
# Inputs: names, wavelength, frames, masks
# --------------------------------------------------------------------------------------------------

def check_calibrant(name: str) -> str:
    """Return ``name`` if pyFAI knows the calibrant, else raise a SwaxsError listing some it knows."""
    if name not in CALIBRANT_FACTORY:
        known = ", ".join(sorted(CALIBRANT_FACTORY.keys(), key=str.lower)[:12])
        raise SwaxsError(f"calibrant {name!r} is unknown to pyFAI; known ones include {known}, ...")
    return name


def make_detector(name: str) -> pyFAI.detectors.Detector:
    """A fresh pyFAI detector by name; a SwaxsError naming it when pyFAI does not know it."""
    registry = pyFAI.detectors.Detector.registry
    lowered = name.lower()
    if lowered not in registry and lowered.replace(" ", "_") not in registry:
        raise SwaxsError(f"detector {name!r} is unknown to pyFAI (e.g. Pilatus2M, Pilatus300kw, Eiger9M)")
    return pyFAI.detector_factory(name)


def wavelength_angstrom(wavelength: float | None, energy: float | None) -> float:
    """The wavelength in Å from exactly one of wavelength [Å] or energy [keV]."""
    if (wavelength is None) == (energy is None):
        raise SwaxsError("give exactly one of wavelength [Å] or energy [keV]")
    return float(wavelength) if wavelength is not None else HC_KEV_ANGSTROM / float(energy)


def read_image(location: str | Path) -> np.ndarray:
    """The first frame of an image file (fabio) or of ``file.h5::/dataset``."""
    path, dataset = split_location(str(location))
    if not path.exists():
        raise InputDataError(f"{path}: file not found")
    if dataset is None and is_hdf5(path):
        raise InputDataError(f"{path}: an HDF5 file; name the frames as {path}::/path/to/dataset")
    return FrameFile(path, dataset).read(0, 1)[0]


def invalid_pixels(frame: np.ndarray, detector: pyFAI.detectors.Detector,
                   extra: np.ndarray | None = None) -> np.ndarray:
    """True where a pixel cannot be used: detector gaps, negative (Pilatus -1) or overflow values,
    non-finite values, and the optional extra mask (nonzero = masked)."""
    if frame.shape != tuple(detector.shape):
        raise InputDataError(f"frame shape {frame.shape} does not match detector {detector.name} {detector.shape}")
    mask = ~np.isfinite(frame) if frame.dtype.kind == "f" else np.zeros(frame.shape, bool)
    mask |= frame < 0
    if frame.dtype.kind in "iu":
        mask |= frame == np.iinfo(frame.dtype).max
    if detector.mask is not None:
        mask |= detector.mask.astype(bool)
    if extra is not None:
        if extra.shape != frame.shape:
            raise InputDataError(f"mask shape {extra.shape} does not match the frame {frame.shape}")
        mask |= extra.astype(bool)
    return mask


# --------------------------------------------------------------------------------------------------
# The initial guess: beam centre from ring symmetry, distance from the radial profile
# --------------------------------------------------------------------------------------------------

def ridge_image(frame: np.ndarray, mask: np.ndarray, sigma: float = 6.0) -> np.ndarray:
    """Rings as a local z-score: log(counts), lightly smoothed, minus its masked local mean, over
    the local noise, so that faint rings on a low background count as much as bright ones."""
    weight = (~mask).astype(np.float64)
    image = np.where(mask, 0.0, np.log1p(np.clip(np.nan_to_num(frame.astype(np.float64)), 0, None)))

    def local_mean(values: np.ndarray, width: float) -> np.ndarray:
        return gaussian_filter(values * weight, width) / np.maximum(gaussian_filter(weight, width), 1e-6)

    ridge = local_mean(image, 1.0) - local_mean(image, sigma)
    noise = np.sqrt(local_mean(ridge ** 2, 4 * sigma))
    return np.where(mask, 0.0, ridge / np.maximum(noise, 1e-12))


def background_removed(frame: np.ndarray, mask: np.ndarray, sigma: float = 8.0) -> np.ndarray:
    """Counts minus their masked local mean: a sloping background no longer pulls ring maxima
    towards the beam, where peak picking would otherwise find them."""
    weight = (~mask).astype(np.float64)
    image = np.where(mask, 0.0, np.nan_to_num(frame.astype(np.float64)))
    local = gaussian_filter(image, sigma) / np.maximum(gaussian_filter(weight, sigma), 1e-6)
    return np.where(mask, 0.0, image - local)


def ring_pixels(ridge: np.ndarray, mask: np.ndarray, fraction: float = 0.03,
                max_points: int = 20000) -> np.ndarray:
    """(row, col) centres of the brightest ``fraction`` of ridge pixels, evenly thinned to ``max_points``."""
    threshold = np.quantile(ridge[~mask], 1.0 - fraction)
    points = np.argwhere((ridge > threshold) & ~mask).astype(np.float64) + 0.5
    return points[:: max(1, len(points) // max_points)]


def radius_concentration(points: np.ndarray, centres: np.ndarray, bin_px: float) -> np.ndarray:
    """For each candidate centre, how peaked the histogram of point radii is (Σ of its squared
    deviation from a 9-bin running mean): large when the points lie on circles around it."""
    scores = np.empty(len(centres))
    for start in range(0, len(centres), 64):
        chunk = centres[start:start + 64]
        radii = np.hypot(points[None, :, 0] - chunk[:, 0, None], points[None, :, 1] - chunk[:, 1, None])
        bins = (radii / bin_px).astype(np.int64)
        n_bins = int(bins.max()) + 1
        counts = np.bincount((bins + n_bins * np.arange(len(chunk))[:, None]).ravel(), minlength=n_bins * len(chunk))
        histogram = counts.reshape(len(chunk), n_bins).astype(np.float64)
        scores[start:start + 64] = ((histogram - uniform_filter1d(histogram, 9, axis=1)) ** 2).sum(axis=1)
    return scores


def estimate_beam_center(frame: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Direct-beam centre (row, col) px, pyFAI convention (pixel i spans [i, i+1)), from the rings.

    A coarse-to-fine search over the detector for the centre around which the bright ring pixels
    have the most concentrated radii. Needs the beam on (or near) the detector and whole arcs.
    """
    points = ring_pixels(ridge_image(frame, mask), mask)
    if len(points) < 50:
        raise SwaxsError("cannot estimate the beam centre: too few bright ring pixels; give beam_center")
    rows, cols = frame.shape
    step = max(rows, cols) / 64.0
    low, high = np.array([0.0, 0.0]), np.array([rows, cols], dtype=np.float64)
    best = (low + high) / 2
    while step > 0.2:
        grid_r = np.arange(low[0], high[0] + step / 2, step)
        grid_c = np.arange(low[1], high[1] + step / 2, step)
        centres = np.stack(np.meshgrid(grid_r, grid_c, indexing="ij"), axis=-1).reshape(-1, 2)
        best = centres[np.argmax(radius_concentration(points, centres, max(step, 0.5)))]
        low, high = best - 2 * step, best + 2 * step
        step /= 4.0
    return float(best[0]), float(best[1])


def radial_profile(ridge: np.ndarray, mask: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """Mean ridge value in 1-px radius bins around ``centre`` (NaN where no pixel falls)."""
    rows, cols = np.indices(ridge.shape, dtype=np.float64) + 0.5
    radius = np.hypot(rows - centre[0], cols - centre[1])[~mask].astype(np.int64)
    total = np.bincount(radius, weights=ridge[~mask])
    count = np.bincount(radius)
    return np.where(count > 10, total / np.maximum(count, 1), np.nan)


def estimate_direct_distance(profile: np.ndarray, two_theta: np.ndarray, pixel: float, guess: float,
                             span: float = 0.3) -> float:
    """The direct distance [m] within ``guess`` x (1 ± span) whose predicted ring radii
    (D tan 2θ / pixel) fall on the brightest part of the radial profile, on average over rings."""
    valid = np.flatnonzero(np.isfinite(profile))
    radii_axis = np.arange(len(profile)) + 0.5
    values = np.interp(radii_axis, radii_axis[valid], profile[valid])
    candidates = guess * np.exp(np.arange(np.log(1 - span), np.log(1 + span), 2e-4))
    radii = candidates[:, None] * np.tan(two_theta)[None, :] / pixel
    inside = (radii > 3) & (radii < valid.max())
    score = np.where(inside, np.interp(radii, radii_axis, values), 0.0).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)
    return float(candidates[np.argmax(np.where(inside.sum(axis=1) >= 1, score, -np.inf))])


def geometry_from_beam_center(detector: pyFAI.detectors.Detector, wavelength_m: float, distance: float,
                              beam_center: Sequence[float], rot1: float, rot2: float, rot3: float) -> Geometry:
    """A pyFAI geometry with the given distance and tilts whose direct beam hits ``beam_center``
    (row, col) px: the PONI is a translation in the detector plane, which moves the centre alike."""
    geometry = Geometry(dist=distance, poni1=0.0, poni2=0.0, rot1=rot1, rot2=rot2, rot3=rot3,
                        detector=detector, wavelength=wavelength_m)
    geometry.auto_gc = False  # pyFAI would run the garbage collector (0.1 s) at every change
    fit2d = geometry.getFit2D()
    geometry.poni1 = (beam_center[0] - fit2d["centerY"]) * detector.pixel1
    geometry.poni2 = (beam_center[1] - fit2d["centerX"]) * detector.pixel2
    return geometry


def beam_center_and_direct_distance(geometry: Geometry) -> tuple[tuple[float, float], float]:
    """Direct-beam centre (row, col) px and direct sample–detector distance [m] of a geometry."""
    fit2d = geometry.getFit2D()
    return (float(fit2d["centerY"]), float(fit2d["centerX"])), float(fit2d["directDist"]) * 1e-3


def on_detector(beam_center: Sequence[float], shape: Sequence[int]) -> bool:
    return 0 <= beam_center[0] <= shape[0] and 0 <= beam_center[1] <= shape[1]


def nearest_ring_offset(two_theta: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """|2θ − 2θ of the nearest ring| for every value (``rings`` sorted ascending)."""
    index = np.clip(np.searchsorted(rings, two_theta), 1, len(rings) - 1)
    return np.minimum(np.abs(two_theta - rings[index - 1]), np.abs(two_theta - rings[index]))


def align_to_rings(points: np.ndarray, geometry: Geometry, rings: np.ndarray,
                   bounds: Mapping[str, tuple[float, float]], widths_px: Sequence[float] = (12.0, 4.0, 1.5)) -> Geometry:
    """Move the free parameters (the keys of ``bounds``) so that the bright ring pixels ``points``
    (row, col centres) fall on the calibrant rings: maximise Σ exp(−½ (Δ2θ / w)²) over the points,
    Δ2θ to the nearest ring, for shrinking widths w. Brings a guess several ring widths off close
    enough for peak picking, which only searches near the predicted rings."""
    names = list(bounds)
    if not names:
        return geometry
    _, direct = beam_center_and_direct_distance(geometry)
    pixel = float(np.sqrt(geometry.detector.pixel1 * geometry.detector.pixel2))
    scale = np.array([direct * 2e-3 if n == "dist" else pixel if n.startswith("poni") else pixel / direct
                      for n in names])
    start = np.array([getattr(geometry, n) for n in names])
    limits = [((bounds[n][0] - s0) / sc, (bounds[n][1] - s0) / sc) for n, s0, sc in zip(names, start, scale)]
    d1, d2 = points[:, 0] - 0.5, points[:, 1] - 0.5

    def params(x: np.ndarray) -> list[float]:
        values = dict(zip(names, start + x * scale))
        return [values.get(n, getattr(geometry, n)) for n in GEOMETRY_NAMES]

    x = np.zeros(len(names))
    for width in widths_px:
        w = width * pixel / direct

        def cost(x: np.ndarray) -> float:
            offset = nearest_ring_offset(geometry.tth(d1, d2, params(x)), rings)
            return -float(np.exp(-0.5 * (offset / w) ** 2).sum())

        x = minimize(cost, x, method="Nelder-Mead", bounds=limits,
                     options={"initial_simplex": np.vstack([x, x + width * np.eye(len(names))]),
                              "xatol": 0.05, "fatol": 1e-3}).x
    values = params(x)
    return Geometry(**dict(zip(GEOMETRY_NAMES, values)), detector=geometry.detector, wavelength=geometry.wavelength)


# --------------------------------------------------------------------------------------------------
# Control points and refinement (pyFAI)
# --------------------------------------------------------------------------------------------------

@contextmanager
def seeded_numpy_random(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for a block and restore its state afterwards (pyFAI's peak
    picking shuffles with it; this makes the picked points repeatable without leaking state)."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def calibrant_at(name: str, wavelength_m: float) -> Calibrant:
    calibrant = CALIBRANT_FACTORY(name)
    calibrant.wavelength = wavelength_m
    return calibrant


def ring_two_theta(calibrant: str, wavelength_m: float, ring_ids: np.ndarray) -> np.ndarray:
    """2θ [rad] of the calibrant rings with pyFAI's ids ``ring_ids`` (indices into ``get_2th()``)."""
    two_theta = calibrant_at(calibrant, wavelength_m).get_2th()
    return np.array([two_theta[int(i)] for i in ring_ids], dtype=np.float64)


def pick_control_points(image: np.ndarray, geometry: Geometry, calibrant: str, detector: pyFAI.detectors.Detector,
                        max_rings: int, pts_per_deg: float) -> SingleGeometry:
    """Control points on the first ``max_rings`` rings the geometry predicts on the detector."""
    single = SingleGeometry("calibrant", image=image, calibrant=calibrant_at(calibrant, geometry.wavelength),
                            detector=detector, geometry=geometry)
    single.geometry_refinement.auto_gc = False  # refine3 changes it many times; each would collect garbage
    with seeded_numpy_random(PICKING_SEED):
        single.extract_cp(max_rings=max_rings, pts_per_deg=pts_per_deg)
    return single


def default_bounds(guess: Geometry, bounds: Mapping[str, tuple[float, float]] | None,
                   fix: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Bounds of the free parameters, fixed once around the first guess: those given, else tilts
    within ± DEFAULT_ROTATION_BOUND and the distance within DEFAULT_DISTANCE_RANGE of the guess.
    With few rings (a WAXS strip) the geometry is degenerate and would otherwise wander off."""
    result = {name: (getattr(guess, name) - DEFAULT_ROTATION_BOUND, getattr(guess, name) + DEFAULT_ROTATION_BOUND)
              for name in ("rot1", "rot2", "rot3")}
    result["dist"] = (guess.dist * DEFAULT_DISTANCE_RANGE[0], guess.dist * DEFAULT_DISTANCE_RANGE[1])
    result.update(bounds or {})
    return {name: (float(low), float(high)) for name, (low, high) in result.items() if name not in fix}


def apply_bounds(refinement: Any, bounds: Mapping[str, tuple[float, float]]) -> None:
    """Set (low, high) bounds of named parameters on a pyFAI GeometryRefinement."""
    for name, (low, high) in bounds.items():
        setattr(refinement, f"{name}_min", low)
        setattr(refinement, f"{name}_max", high)


def two_theta_residuals(refinement: Any) -> np.ndarray:
    """Measured minus expected 2θ [rad] of every control point."""
    data = refinement.data
    return refinement.tth(data[:, 0], data[:, 1]) - refinement.calc_2th(data[:, 2])


def ring_weights(residual: np.ndarray, rings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point: 1/σ of its ring (robust σ of that ring's residuals, normalised to mean 1) and
    whether it lies within 5 σ of its ring's median (outliers are hot pixels, spots, wrong maxima)."""
    weights = np.ones(len(residual))
    keep = np.ones(len(residual), bool)
    for ring in np.unique(rings):
        on_ring = rings == ring
        offset = residual[on_ring] - np.median(residual[on_ring])
        sigma = max(1.4826 * float(np.median(np.abs(offset))), 1e-7)
        weights[on_ring] = 1.0 / sigma
        keep[on_ring] = np.abs(offset) <= 5 * sigma
    return weights / weights[keep].mean(), keep


def refine(single: SingleGeometry, fix: Sequence[str], bounds: Mapping[str, tuple[float, float]],
           start: Geometry) -> Geometry:
    """refine3 with fixed and bounded parameters; then again, weighted: each ring's points by the
    inverse scatter of that ring (sharp inner rings count more than faint, noisy outer ones), and
    without outliers."""
    refinement = single.geometry_refinement
    if refinement.data is None or len(refinement.data) < MIN_CONTROL_POINTS:
        raise SwaxsError(f"found {0 if refinement.data is None else len(refinement.data)} control points "
                         "on the calibrant rings; check calibrant, wavelength, distance and beam centre")
    apply_bounds(refinement, bounds)
    fixed = [*fix, "wavelength"]
    refinement.refine3(fix=fixed)
    weights, keep = ring_weights(two_theta_residuals(refinement), refinement.data[:, 2])
    if keep.sum() >= MIN_CONTROL_POINTS:
        refinement.data = np.column_stack([refinement.data[:, :3], weights])[keep]
        refinement.refine3(fix=fixed)
    config = refinement.get_config()
    return Geometry(**{k: config[k] for k in (*GEOMETRY_NAMES, "wavelength")}, detector=start.detector)


# --------------------------------------------------------------------------------------------------
# Sub-pixel ring positions: radial profiles fitted per ring sector, geometry fitted to them
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RingCoordinates:
    """Where every pixel centre lies for a geometry: 2θ [rad], the 2θ gradient (row, col) and its
    magnitude ``slope`` [rad/px], and χ [rad]. Profiles across a ring are taken in
    Δ = (2θ − 2θ_ring) / slope, px along the gradient."""

    two_theta: np.ndarray
    gradient: tuple[np.ndarray, np.ndarray]
    slope: np.ndarray
    chi: np.ndarray

    @classmethod
    def of(cls, geometry: Geometry) -> RingCoordinates:
        two_theta = geometry.center_array(unit="2th_rad", scale=False)
        gradient = tuple(np.gradient(two_theta))
        return cls(two_theta, gradient, np.hypot(*gradient), geometry.center_array(unit="chi_rad", scale=False))


def gaussian_on_line(x: np.ndarray, b0: float, b1: float, area: float, centre: float, width: float) -> np.ndarray:
    """A Gaussian peak of given area, centre and standard deviation on a linear background."""
    return b0 + b1 * x + area / (width * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - centre) / width) ** 2)


def gaussian_on_line_jacobian(x: np.ndarray, b0: float, b1: float, area: float, centre: float,
                              width: float) -> np.ndarray:
    """Derivatives of ``gaussian_on_line`` by its five parameters (columns), for fast fits."""
    u = (x - centre) / width
    shape = np.exp(-0.5 * u ** 2) / (width * np.sqrt(2 * np.pi))
    return np.column_stack([np.ones_like(x), x, shape, area * shape * u / width, area * shape * (u ** 2 - 1) / width])


def fit_peak(delta: np.ndarray, values: np.ndarray, width: float,
             half_width: float) -> tuple[float, float, float] | None:
    """Centre, its standard error, and width (px) of a Gaussian on a linear background fitted to a
    radial profile (points Δ, counts); None when there is no significant peak well inside the band.
    Fitted twice (Levenberg–Marquardt): unweighted for a start, then weighted as Poisson counts of
    that model (the peak top is noisier than its background); the error is scaled by the scatter,
    for detectors whose counts are not exactly Poisson."""
    outer = np.abs(delta) > 0.6 * half_width
    background = float(np.median(values[outer])) if outer.any() else float(values.min())
    best = [background, 0.0, max(float(values.mean() - background) * 2 * half_width, 1e-6), 0.0, width]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a flat or one-sided profile: caught below by its errors
        try:
            best, _ = curve_fit(gaussian_on_line, delta, values, p0=best, jac=gaussian_on_line_jacobian, method="lm")
            sigma = np.sqrt(np.maximum(gaussian_on_line(delta, *best), 1.0))
            best, covariance = curve_fit(gaussian_on_line, delta, values, p0=best, sigma=sigma,
                                         jac=gaussian_on_line_jacobian, method="lm")
        except (RuntimeError, ValueError):
            return None
    errors = np.sqrt(np.diag(covariance))
    _, _, area, centre, width = best
    if not np.all(np.isfinite(errors)) or not 0.25 < width < half_width or area < 4 * errors[2] \
            or abs(centre) > half_width / 2 - width / 2:
        return None
    return float(centre), float(errors[3]), float(width)


def ring_band(coordinates: RingCoordinates, valid: np.ndarray, rings: np.ndarray,
              index: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and Δ [px] of the valid pixels within the fitting band of ring ``index`` (2θ
    sorted ``rings``): at most RING_WINDOW_PX, and under 40 % of the way to a neighbouring ring."""
    offset = coordinates.two_theta - rings[index]
    near = valid & (np.abs(offset) < RING_WINDOW_PX * coordinates.slope)
    flat = np.flatnonzero(near)
    if len(flat) == 0:
        return flat, np.empty(0)
    slope = coordinates.slope.ravel()[flat]
    gaps = np.abs(np.delete(rings, index) - rings[index])
    gaps = gaps[gaps > 0]
    half_width = min(RING_WINDOW_PX, 0.4 * float(gaps.min() / np.median(slope))) if len(gaps) else RING_WINDOW_PX
    delta = offset.ravel()[flat] / slope
    inside = np.abs(delta) <= half_width
    return flat[inside], delta[inside]


def ring_sectors(flat: np.ndarray, delta: np.ndarray, chi: np.ndarray) -> list[np.ndarray]:
    """The band's pixels (positions in ``flat``) ordered by χ and cut into sectors of about
    SECTOR_PX of arc (the band is 2 max|Δ| px wide, so a sector holds SECTOR_PX x that many
    pixels), at most MAX_SECTORS. Cutting the χ order, not χ itself, needs no ring radius and
    keeps an arc across χ = ±π whole."""
    per_sector = SECTOR_PX * 2 * float(np.abs(delta).max())
    count = int(np.clip(round(len(flat) / per_sector), 1, MAX_SECTORS))
    return np.array_split(np.argsort(chi.ravel()[flat], kind="stable"), count)


def sector_point(geometry: Geometry, coordinates: RingCoordinates, flat: np.ndarray, delta: np.ndarray,
                 centre_px: float, ring: float) -> tuple[float, float]:
    """(row, col) in pyFAI's point convention (pixel centre at its index) on the sector's mid-line
    where Δ equals the fitted centre: from the sector's mean position along the 2θ gradient, then
    two Newton steps with the exact 2θ, so that the arc's curvature leaves no bias."""
    rows, cols = np.unravel_index(flat, coordinates.two_theta.shape)
    point = np.array([rows.mean(), cols.mean()])
    pixel = (int(round(point[0])), int(round(point[1])))
    gradient = np.array([coordinates.gradient[0][pixel], coordinates.gradient[1][pixel]])
    direction = gradient / np.hypot(*gradient)
    point += (centre_px - delta.mean()) * direction
    for _ in range(2):
        reached = (float(geometry.tth(point[:1], point[1:])[0]) - ring) / np.hypot(*gradient)
        point += (centre_px - reached) * direction
    return float(point[0]), float(point[1])


def subpixel_points(frame: np.ndarray, invalid: np.ndarray, geometry: Geometry, rings: np.ndarray,
                    ring_ids: np.ndarray, max_rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel control points (row, col, ring id) and their radial standard errors [px]: on each
    of the first ``max_rings`` rings (2θ sorted ``rings``, pyFAI ids ``ring_ids``) in the frame, a
    Gaussian + line fitted to the radial profile of every sector of SECTOR_PX of arc."""
    coordinates = RingCoordinates.of(geometry)
    values, valid = frame.astype(np.float64).ravel(), ~invalid
    points, errors, used = [], [], 0
    for index in range(len(rings)):
        if used == max_rings:
            break
        flat, delta = ring_band(coordinates, valid, rings, index)
        if len(flat) < 4 * MIN_SECTOR_PIXELS:
            continue
        half_width = float(np.abs(delta).max())
        whole = fit_peak(delta, values[flat], 2.0, half_width)
        if whole is None:
            continue
        used += 1
        for member in ring_sectors(flat, delta, coordinates.chi):
            if len(member) < MIN_SECTOR_PIXELS:
                continue
            fit = fit_peak(delta[member], values[flat[member]], whole[2], half_width)
            if fit is not None:
                points.append((*sector_point(geometry, coordinates, flat[member], delta[member], fit[0], rings[index]),
                               ring_ids[index]))
                errors.append(max(fit[1], SIGMA_FLOOR_PX))
    return np.array(points, dtype=np.float64).reshape(-1, 3), np.array(errors, dtype=np.float64)


@dataclass(frozen=True)
class FreeParameters:
    """The free geometry parameters as offsets x from a start, scaled so that one unit moves the
    rings by about a pixel (distance by 1e-3 of the direct distance): least squares then steps
    alike in every direction."""

    start: Geometry
    names: tuple[str, ...]
    scale: np.ndarray

    @classmethod
    def of(cls, geometry: Geometry, fix: Sequence[str]) -> FreeParameters:
        names = tuple(name for name in GEOMETRY_NAMES if name not in fix)
        _, direct = beam_center_and_direct_distance(geometry)
        pixel = float(np.sqrt(geometry.detector.pixel1 * geometry.detector.pixel2))
        scale = [direct * 1e-3 if n == "dist" else pixel if n.startswith("poni") else pixel / direct for n in names]
        return cls(geometry, names, np.array(scale))

    def values(self, x: np.ndarray) -> list[float]:
        """All six PONI parameters (GEOMETRY_NAMES order) at offsets ``x``."""
        moved = {n: getattr(self.start, n) + xi * sc for n, xi, sc in zip(self.names, x, self.scale)}
        return [moved.get(n, getattr(self.start, n)) for n in GEOMETRY_NAMES]

    def geometry(self, x: np.ndarray) -> Geometry:
        geometry = Geometry(**dict(zip(GEOMETRY_NAMES, self.values(x))), detector=self.start.detector,
                            wavelength=self.start.wavelength)
        geometry.auto_gc = False
        return geometry

    def limits(self, bounds: Mapping[str, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        """``bounds`` (absent: unbounded) as (low, high) offsets."""
        edges = np.array([bounds.get(n, (-np.inf, np.inf)) for n in self.names], dtype=np.float64).reshape(-1, 2)
        start = np.array([getattr(self.start, n) for n in self.names])
        return (edges[:, 0] - start) / self.scale, (edges[:, 1] - start) / self.scale

    def centre_errors(self, x: np.ndarray, jacobian: np.ndarray, chi2_per_dof: float) -> tuple[float, float, float]:
        """Standard errors of the beam centre (row, col) [px] and the direct distance [m]: the least
        squares covariance (inflated by χ²/dof when above 1) carried through the centre's derivatives."""
        covariance = np.linalg.pinv(jacobian.T @ jacobian, rcond=1e-12) * max(chi2_per_dof, 1.0)
        step = 1e-3

        def centre(offset: np.ndarray) -> np.ndarray:
            (row, col), direct = beam_center_and_direct_distance(self.geometry(offset))
            return np.array([row, col, direct])

        derivatives = np.column_stack([(centre(x + step * e) - centre(x - step * e)) / (2 * step)
                                       for e in np.eye(len(x))])
        row, col, direct = np.sqrt(np.diag(derivatives @ covariance @ derivatives.T))
        return float(row), float(col), float(direct)


@dataclass(frozen=True)
class GeometryFit:
    """A geometry fitted to control points: which points it kept, and the standard errors of its
    beam centre (row, col) [px] and direct distance [m]."""

    geometry: Geometry
    keep: np.ndarray
    errors: tuple[float, float, float]


def fit_geometry(points: np.ndarray, errors_px: np.ndarray, expected: np.ndarray, geometry: Geometry,
                 fix: Sequence[str], bounds: Mapping[str, tuple[float, float]]) -> GeometryFit:
    """Weighted least squares of the free parameters on the control points' 2θ residuals, each over
    its standard error (px times the local 2θ slope), within ``bounds``; then again without the
    points beyond 5 robust standard deviations (hot pixels, a neighbouring spot)."""
    free = FreeParameters.of(geometry, fix)
    low, high = free.limits(bounds)
    sigma = errors_px / residuals_px(geometry, points, np.ones(len(points)))  # px times 2θ per px

    def residual(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return (geometry.tth(points[keep, 0], points[keep, 1], free.values(x)) - expected[keep]) / sigma[keep]

    everything = np.ones(len(points), bool)
    first = least_squares(residual, np.clip(np.zeros(len(low)), low, high), bounds=(low, high), args=(everything,))
    normalised = residual(first.x, everything)
    keep = np.abs(normalised) <= 5 * max(1.4826 * float(np.median(np.abs(normalised))), 1.0)
    final = least_squares(residual, first.x, bounds=(low, high), args=(keep,))
    chi2_per_dof = 2 * final.cost / max(int(keep.sum()) - len(low), 1)
    return GeometryFit(free.geometry(final.x), keep, free.centre_errors(final.x, final.jac, chi2_per_dof))


def refine_subpixel(frame: np.ndarray, invalid: np.ndarray, geometry: Geometry, calibrant: str, fix: Sequence[str],
                    bounds: Mapping[str, tuple[float, float]],
                    max_rings: int) -> tuple[GeometryFit, np.ndarray, bool] | None:
    """The final stage: sub-pixel control points from ring-sector profiles, the geometry fitted to
    them, and again with the refined geometry until it is stable. Peak picking finds the rings to a
    pixel; the profiles locate them to a few hundredths. Returns the last fit, its control points
    (row, col, ring id) and whether it converged; None when too few profiles could be fitted."""
    two_theta = calibrant_at(calibrant, geometry.wavelength).get_2th()
    ring_ids = np.array([i for i, t in enumerate(two_theta) if t is not None])
    rings = np.array([two_theta[i] for i in ring_ids])
    fit, points = None, np.empty((0, 3))
    for _ in range(SUBPIXEL_ROUNDS):
        found, errors = subpixel_points(frame, invalid, geometry, rings, ring_ids, max_rings)
        if len(found) < max(MIN_CONTROL_POINTS, 2 * (len(GEOMETRY_NAMES) - len(fix))):
            return None if fit is None else (fit, points, False)
        expected = np.array([two_theta[int(i)] for i in found[:, 2]])
        fit = fit_geometry(found, errors, expected, geometry, fix, bounds)
        moved, geometry, points = _movement(geometry, fit.geometry), fit.geometry, found[fit.keep]
        if moved < SUBPIXEL_CONVERGED_PX:
            return fit, points, True
    return fit, points, False


# --------------------------------------------------------------------------------------------------
# The result and the whole recipe
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalibrationResult:
    """A refined geometry, with the control points it was fitted to and their residuals.

    ``control_points`` rows are (row, col, ring index) in pyFAI's pixel convention;
    ``residual_two_theta`` [rad] and ``residual_px`` (along the 2θ gradient) are per point.
    ``beam_center_error`` (row, col) [px] and ``direct_distance_error`` [m] are standard errors from
    the sub-pixel fit's covariance (None when the geometry comes from peak picking alone).
    """

    geometry: AzimuthalIntegrator
    calibrant: str
    control_points: np.ndarray
    residual_two_theta: np.ndarray
    residual_px: np.ndarray
    mask: np.ndarray
    iterations: int
    converged: bool
    beam_center_error: tuple[float, float] | None = None
    direct_distance_error: float | None = None

    @property
    def beam_center(self) -> tuple[float, float]:
        """Direct-beam centre (row, col) px."""
        return beam_center_and_direct_distance(self.geometry)[0]

    @property
    def direct_distance(self) -> float:
        """Sample to direct-beam point on the detector [m]."""
        return beam_center_and_direct_distance(self.geometry)[1]

    @property
    def rms_px(self) -> float:
        return float(np.sqrt(np.mean(self.residual_px ** 2)))

    @property
    def rms_two_theta_deg(self) -> float:
        return float(np.degrees(np.sqrt(np.mean(self.residual_two_theta ** 2))))

    @property
    def rings(self) -> np.ndarray:
        """Indices of the calibrant rings that hold control points."""
        return np.unique(self.control_points[:, 2].astype(int))

    def poni_text(self) -> str:
        """The PONI file pyFAI writes for this geometry."""
        buffer = io.StringIO()
        PoniFile(self.geometry).write(buffer)
        return buffer.getvalue()


def residuals_px(geometry: Geometry, points: np.ndarray, residual_two_theta: np.ndarray) -> np.ndarray:
    """2θ residuals turned into pixels by the local 2θ gradient at each point."""
    rows, cols = points[:, 0], points[:, 1]
    grad_row = geometry.tth(rows + 0.5, cols) - geometry.tth(rows - 0.5, cols)
    grad_col = geometry.tth(rows, cols + 0.5) - geometry.tth(rows, cols - 0.5)
    return residual_two_theta / np.hypot(grad_row, grad_col)


def initial_geometry(frame: np.ndarray, mask: np.ndarray, detector: pyFAI.detectors.Detector, calibrant: str,
                     wavelength_m: float, distance: float, beam_center: Sequence[float] | None,
                     rotations: tuple[float, float, float], fix: Sequence[str]) -> Geometry:
    """The starting geometry: the beam centre given or estimated; when it lies on the detector and
    the distance is free, the distance that puts the calibrant rings on the radial-profile peaks."""
    centre = tuple(beam_center) if beam_center is not None else estimate_beam_center(frame, mask)
    geometry = geometry_from_beam_center(detector, wavelength_m, distance, centre, *rotations)
    if "dist" in fix or not on_detector(centre, frame.shape):
        return geometry
    _, direct = beam_center_and_direct_distance(geometry)
    two_theta = np.array([t for t in calibrant_at(calibrant, wavelength_m).get_2th() if t is not None])
    profile = radial_profile(ridge_image(frame, mask), mask, centre)
    found = estimate_direct_distance(profile, two_theta, float(np.sqrt(detector.pixel1 * detector.pixel2)), direct)
    return geometry_from_beam_center(detector, wavelength_m, distance * found / direct, centre, *rotations)


def calibrate_frame(frame: np.ndarray, calibrant: str, detector: str, wavelength: float, distance: float,
                    beam_center: Sequence[float] | None = None, *, rot1: float = 0.0, rot2: float = 0.0,
                    rot3: float = 0.0, fix: Sequence[str] = ("rot3",),
                    bounds: Mapping[str, tuple[float, float]] | None = None, mask: np.ndarray | None = None,
                    max_rings: int = 8, iterations: int = 6, pts_per_deg: float = 1.0) -> CalibrationResult:
    """Refine the geometry of ``frame`` (a calibrant image) from a guess.

    ``wavelength`` in Å; ``distance`` in m (sample to detector plane); ``beam_center`` (row, col)
    px in pyFAI's convention, estimated from the rings when None; rotations in rad; ``fix`` names
    parameters among dist, poni1, poni2, rot1, rot2, rot3 held at their guess (the wavelength is
    always held); ``bounds`` maps names to (low, high) in m or rad; ``mask`` nonzero = masked.
    Control points are picked on 2, 4, 8, ... rings up to ``max_rings``, re-picked with each
    refined geometry until centre and distance are stable or ``iterations`` are spent; then the
    rings are located to sub-pixel precision per arc sector and the geometry fitted to those
    points (``converged`` then says whether that stage settled; it falls back to the picked points
    when too few sector profiles fit).
    """
    check_calibrant(calibrant)
    unknown = sorted(set(fix) - set(GEOMETRY_NAMES)) + sorted(set(bounds or {}) - set(GEOMETRY_NAMES))
    if unknown:
        raise SwaxsError(f"fix/bounds name unknown parameters {unknown}; use {', '.join(GEOMETRY_NAMES)}")
    det = make_detector(detector)
    invalid = invalid_pixels(frame, det, mask)
    det.mask = invalid.astype(np.int8)
    image = background_removed(frame, invalid)
    wavelength_m = wavelength * 1e-10
    geometry = initial_geometry(frame, invalid, det, calibrant, wavelength_m, distance, beam_center,
                                (rot1, rot2, rot3), fix)
    limits = default_bounds(geometry, bounds, fix)
    rings = np.unique([t for t in calibrant_at(calibrant, wavelength_m).get_2th() if t is not None])
    geometry = align_to_rings(ring_pixels(ridge_image(frame, invalid), invalid), geometry, rings, limits)
    converged, n_rings, single = False, 0, None
    for iteration in range(1, iterations + 1):
        n_rings = min(max_rings, 2 ** iteration)
        single = pick_control_points(image, geometry, calibrant, det, n_rings, pts_per_deg)
        refined = refine(single, fix, limits, geometry)
        moved = _movement(geometry, refined)
        geometry = refined
        every_ring = n_rings == max_rings or len(np.unique(single.geometry_refinement.data[:, 2])) < n_rings
        if every_ring and moved < CONVERGED_PX:
            converged = True
            break
    assert single is not None
    subpixel = refine_subpixel(frame, invalid, geometry, calibrant, fix, limits, max_rings)
    if subpixel is None:
        picked = np.asarray(single.geometry_refinement.data[:, :3], dtype=np.float64)
        return _result(geometry, picked, calibrant, detector, invalid, iteration, converged)
    fit, points, settled = subpixel
    return _result(fit.geometry, points, calibrant, detector, invalid, iteration, settled, fit.errors)


def _movement(before: Geometry, after: Geometry) -> float:
    """How far a refinement moved: beam-centre shift in px plus direct-distance change in px-equivalents."""
    (c0, d0), (c1, d1) = beam_center_and_direct_distance(before), beam_center_and_direct_distance(after)
    return float(np.hypot(c1[0] - c0[0], c1[1] - c0[1]) + abs(d1 - d0) / d0 * 1e3)


def _result(geometry: Geometry, points: np.ndarray, calibrant: str, detector: str, mask: np.ndarray,
            iterations: int, converged: bool, errors: tuple[float, float, float] | None = None) -> CalibrationResult:
    integrator = AzimuthalIntegrator(dist=geometry.dist, poni1=geometry.poni1, poni2=geometry.poni2,
                                     rot1=geometry.rot1, rot2=geometry.rot2, rot3=geometry.rot3,
                                     detector=make_detector(detector), wavelength=geometry.wavelength)
    residual = integrator.tth(points[:, 0], points[:, 1]) - ring_two_theta(calibrant, geometry.wavelength, points[:, 2])
    return CalibrationResult(integrator, calibrant, points, residual, residuals_px(integrator, points, residual),
                             mask, iterations, converged, None if errors is None else errors[:2],
                             None if errors is None else errors[2])


# --------------------------------------------------------------------------------------------------
# Pictures: the frame with its fitted rings
# --------------------------------------------------------------------------------------------------

def ring_map(geometry: Geometry, calibrant: str, width_px: float = 1.0) -> np.ndarray:
    """1 on pixels within ``width_px`` of a calibrant ring of the geometry, else 0."""
    two_theta = geometry.center_array(unit="2th_rad", scale=False)
    rings = np.unique([t for t in calibrant_at(calibrant, geometry.wavelength).get_2th() if t is not None])
    gradient = np.hypot(*np.gradient(two_theta))
    return (nearest_ring_offset(two_theta, rings) < width_px * gradient).astype(np.int8)


def save_picture(path: Path, frame: np.ndarray, result: CalibrationResult, rings: np.ndarray) -> Path:
    """PNG of the frame (log scale) with the fitted rings and the control points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 10 * frame.shape[0] / frame.shape[1] + 1.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(np.log10(np.clip(np.where(result.mask, np.nan, frame), 1, None)), cmap="gray", origin="upper")
    axes.imshow(np.ma.masked_equal(rings, 0), cmap="autumn", alpha=0.8, origin="upper", interpolation="nearest")
    axes.plot(result.control_points[:, 1], result.control_points[:, 0], "c.", ms=2)
    row, col = result.beam_center
    axes.set_title(f"{result.calibrant}: beam centre ({row:.2f}, {col:.2f}) px, direct distance "
                   f"{result.direct_distance * 1e3:.2f} mm, rms {result.rms_px:.2f} px", fontsize=9)
    axes.set_xlabel("column (pixel)")
    axes.set_ylabel("row (pixel)")
    figure.savefig(path, dpi=100)
    return path


# --------------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------------

class CalibrateParameters(StepParameters):
    """Calibrant, detector, the initial guess, and what to fix or bound."""

    calibrant: str = parameter(description="pyFAI calibrant name: AgBh, LaB6, CeO2, Si, ...")
    detector: str = parameter(description="pyFAI detector name, e.g. Pilatus2M, Pilatus300kw, Eiger9M")
    wavelength: float | None = parameter(None, description="X-ray wavelength (or give energy)", unit="angstrom", gt=0)
    energy: float | None = parameter(None, description="X-ray energy (or give wavelength)", unit="keV", gt=0)
    distance: float = parameter(description="sample to detector-plane distance (guess)", unit="m", gt=0)
    beam_center: tuple[float, float] | None = parameter(
        None, description="direct-beam centre [row, col] (guess); estimated from the rings when absent", unit="pixel")
    rot1: float = parameter(0.0, description="pyFAI rot1 (guess)", unit="rad")
    rot2: float = parameter(0.0, description="pyFAI rot2 (guess)", unit="rad")
    rot3: float = parameter(0.0, description="pyFAI rot3 (guess)", unit="rad")
    fix: list[GeometryName] = parameter(["rot3"], description="parameters held at their guess (wavelength always is)")
    bounds: dict[GeometryName, tuple[float, float]] | None = parameter(
        None, description="(low, high) per parameter, m or rad; default: tilts ±0.1 rad, distance x0.7-1.3")
    max_rings: int = parameter(8, description="control points on at most this many rings", ge=1)
    iterations: int = parameter(6, description="at most this many pick-and-refine rounds", ge=1)
    mask_file: Path | None = parameter(None, description="mask image or file.h5::/dataset, nonzero = masked")

    @field_validator("calibrant")
    @classmethod
    def _known_calibrant(cls, value: str) -> str:
        try:
            return check_calibrant(value)
        except SwaxsError as error:
            raise ValueError(str(error)) from error

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str) -> str:
        try:
            make_detector(value)
        except SwaxsError as error:
            raise ValueError(str(error)) from error
        return value

    @model_validator(mode="after")
    def _one_of_wavelength_energy(self) -> CalibrateParameters:
        if (self.wavelength is None) == (self.energy is None):
            raise ValueError("give exactly one of wavelength [angstrom] or energy [keV]")
        return self


class PyFAICalibrate(Step):
    """Refine the detector geometry from the first frame of a calibrant measurement."""

    Parameters: ClassVar[type[StepParameters]] = CalibrateParameters
    inputs: ClassVar[Mapping[str, InputSpec]] = {
        "image": InputSpec("calibrant frames; the first frame of the first file is used", source="raw")}
    definition: ClassVar[str] = "NXswaxs_calibration"

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        frames = input_shapes.get("image", {}).get("frames")
        if not frames:
            return Estimate()
        shape = tuple(frames[1:])
        return Estimate(outputs={"frame": shape}, memory_bytes=int(np.prod(shape)) * 8 * 12)

    def setup(self, context: StepContext) -> None:
        p: CalibrateParameters = self.params  # type: ignore[assignment]
        self._context = context
        self._frame = frame_files(context.inputs["image"])[0].read(0, 1)[0]
        mask = read_image(p.mask_file) if p.mask_file is not None else None
        self._result = calibrate_frame(
            self._frame, p.calibrant, p.detector, wavelength_angstrom(p.wavelength, p.energy), p.distance,
            p.beam_center, rot1=p.rot1, rot2=p.rot2, rot3=p.rot3, fix=p.fix, bounds=p.bounds, mask=mask,
            max_rings=p.max_rings, iterations=p.iterations)
        context.geometry = self._result.geometry

    def finalize(self, results: list[Any], writer: StepWriter) -> None:
        result, context = self._result, self._context
        poni = result.poni_text()
        writer.entry["poni"] = poni
        (context.workdir / f"{context.step_id}.poni").write_text(poni)
        write_geometry(writer.entry, result)
        write_control_points(writer, result)
        rings = ring_map(result.geometry, result.calibrant)
        rows, cols = self._frame.shape
        group = writer.nxdata("frame", np.where(result.mask, np.nan, self._frame).astype(np.float32),
                              [Axis("row", np.arange(rows, dtype=np.float64) + 0.5, "pixel", "row (pixel)"),
                               Axis("col", np.arange(cols, dtype=np.float64) + 0.5, "pixel", "column (pixel)")],
                              default=True, signal_name="data", long_name="calibrant frame", units="counts",
                              interpretation="image", auxiliary={"fitted_rings": rings}, chunks=(rows, cols))
        group["fitted_rings"].attrs.update({"units": "", "long_name": "pixels on the fitted calibrant rings"})
        save_picture(context.workdir / f"{context.step_id}.png", self._frame, result, rings)


def write_geometry(entry: Any, result: CalibrationResult) -> None:
    """``<entry>/geometry`` (NXcollection): PONI parameters, beam centre, direct distance, residuals."""
    group = set_nx_class(entry.create_group("geometry"), "NXcollection")
    g = result.geometry
    (row, col), direct = result.beam_center, result.direct_distance
    fields = {"dist": (g.dist, "m"), "poni1": (g.poni1, "m"), "poni2": (g.poni2, "m"), "rot1": (g.rot1, "rad"),
              "rot2": (g.rot2, "rad"), "rot3": (g.rot3, "rad"), "wavelength": (g.wavelength * 1e10, "angstrom"),
              "beam_center_row": (row, "pixel"), "beam_center_col": (col, "pixel"), "direct_distance": (direct, "m"),
              "residual_rms_px": (result.rms_px, "pixel"), "residual_rms_two_theta": (result.rms_two_theta_deg, "deg")}
    if result.beam_center_error is not None and result.direct_distance_error is not None:
        fields.update({"beam_center_row_error": (result.beam_center_error[0], "pixel"),
                       "beam_center_col_error": (result.beam_center_error[1], "pixel"),
                       "direct_distance_error": (result.direct_distance_error, "m")})
    for name, (value, units) in fields.items():
        group.create_dataset(name, data=float(value)).attrs["units"] = units
    group["n_control_points"] = np.int64(len(result.control_points))
    group["n_rings"] = np.int64(len(result.rings))
    group["iterations"] = np.int64(result.iterations)
    group["converged"] = bool(result.converged)
    group["calibrant"] = result.calibrant
    group["detector"] = g.detector.name


def write_control_points(writer: StepWriter, result: CalibrationResult) -> None:
    """``<entry>/control_points`` (NXdata): residual px per point, with row, col, ring, residual 2θ."""
    points = result.control_points
    group = writer.nxdata("control_points", result.residual_px,
                          [Axis("point", np.arange(len(points), dtype=np.int64), "", "control point index")],
                          signal_name="residual", long_name="residual along the 2θ gradient", units="pixel")
    for name, values, units, long_name in (("row", points[:, 0] + 0.5, "pixel", "row (pixel)"),
                                           ("col", points[:, 1] + 0.5, "pixel", "column (pixel)"),
                                           ("ring", points[:, 2].astype(np.int64), "", "calibrant ring index"),
                                           ("residual_two_theta", np.degrees(result.residual_two_theta), "deg",
                                            "residual 2θ")):
        group.create_dataset(name, data=values).attrs.update({"units": units, "long_name": long_name})


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    return [StepImpl(kind="calibrate", name="pyfai", cls=PyFAICalibrate, version=__version__,
                     description="geometry (PONI) from a calibrant frame: automatic ring picking and "
                                 "refinement with pyFAI", default=True)]
