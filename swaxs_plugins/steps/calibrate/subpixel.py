"""Stage 3 of the calibration: rings located to a few hundredths of a pixel, the geometry fitted to them.

Picked points sit on pixels. Around each ring the geometry predicts, every valid pixel gets its
offset Δ = (2θ − 2θ_ring) / |∇2θ| (px along the 2θ gradient); the band is cut by χ into sectors of
SECTOR_PX of arc, and each sector's radial profile is fitted with a Gaussian on a line,

    I(Δ) = b₀ + b₁Δ + A / (w√(2π)) · exp(−(Δ − Δ₀)² / 2w²),

unweighted first, then weighted as Poisson counts of that model. The point where Δ = Δ₀ on the
sector's mid-line is a control point with standard error σ(Δ₀). The free parameters p then
minimise Σ ((2θ(point; p) − 2θ_ring) / (σ |∇2θ|))² (weighted least squares, bounded), again
without points beyond 5 robust σ, and the whole is repeated with the refined geometry until the
centre and distance move less than SUBPIXEL_CONVERGED_PX.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry
from scipy.optimize import curve_fit, least_squares

from .deadline import Deadline
from .geometry import GEOMETRY_NAMES, FreeParameters, Rings, movement_px, two_theta, two_theta_slope

RING_WINDOW_PX = 12.0  # half-width (px along the 2θ gradient) of the band fitted around a ring
SECTOR_PX = 24.0  # arc length (px) of the ring sector whose radial profile gives one control point
MAX_SECTORS = 90  # per ring: on large rings sectors are 4° wide instead
MIN_SECTOR_PIXELS = 40
MIN_RING_PIXELS = 4 * MIN_SECTOR_PIXELS  # a ring crossing fewer valid pixels is out of range
SUBPIXEL_ROUNDS = 4  # at most this many fit-profiles-then-geometry rounds
SUBPIXEL_CONVERGED_PX = 0.003  # stop when centre + distance move less than this (px) between rounds
SIGMA_FLOOR_PX = 0.005  # no control point is trusted to better than this, so none dominates the fit
MIN_CONTROL_POINTS = 6


@dataclass(frozen=True)
class RingCoordinates:
    """Where every pixel centre lies for a geometry: 2θ [rad], the 2θ gradient (row, col) and its
    magnitude ``slope`` [rad/px], and χ [rad]."""

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
    """Centre, its standard error, and width (px) of a Gaussian on a line fitted to a radial
    profile (points Δ, counts); None when there is no significant peak well inside the band.
    The error is scaled by the scatter, for detectors whose counts are not exactly Poisson."""
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
    SECTOR_PX of arc, at most MAX_SECTORS. Cutting the χ order, not χ itself, needs no ring
    radius and keeps an arc across χ = ±π whole."""
    per_sector = SECTOR_PX * 2 * float(np.abs(delta).max())
    count = int(np.clip(round(len(flat) / per_sector), 1, MAX_SECTORS))
    return np.array_split(np.argsort(chi.ravel()[flat], kind="stable"), count)


def sector_point(geometry: Geometry, coordinates: RingCoordinates, flat: np.ndarray, delta: np.ndarray,
                 centre_px: float, ring: float) -> tuple[float, float]:
    """(row, col) in pyFAI's point convention on the sector's mid-line where Δ equals the fitted
    centre: from the sector's mean position along the 2θ gradient, then two Newton steps with the
    exact 2θ, so that the arc's curvature leaves no bias."""
    rows, cols = np.unravel_index(flat, coordinates.two_theta.shape)
    point = np.array([rows.mean(), cols.mean()])
    pixel = (int(round(point[0])), int(round(point[1])))
    gradient = np.array([coordinates.gradient[0][pixel], coordinates.gradient[1][pixel]])
    direction = gradient / np.hypot(*gradient)
    point += (centre_px - delta.mean()) * direction
    for _ in range(2):
        reached = (float(two_theta(geometry, point[:1], point[1:])[0]) - ring) / np.hypot(*gradient)
        point += (centre_px - reached) * direction
    return float(point[0]), float(point[1])


@dataclass(frozen=True)
class RingPoints:
    """Sub-pixel control points (row, col, ring id) with their radial standard errors [px], the
    ids of the rings examined (in range, among the first ``max_rings`` fitted) and of those found."""

    points: np.ndarray
    errors: np.ndarray
    examined: tuple[int, ...]
    found: tuple[int, ...]


def subpixel_points(frame: np.ndarray, invalid: np.ndarray, geometry: Geometry, rings: Rings,
                    max_rings: int) -> RingPoints:
    """On each ring in the frame until ``max_rings`` are found, a Gaussian + line fitted to the
    radial profile of every sector of SECTOR_PX of arc (a ring whose whole band shows no peak
    counts as examined, not found)."""
    coordinates = RingCoordinates.of(geometry)
    values, valid = frame.astype(np.float64).ravel(), ~invalid
    points, errors, examined, found = [], [], [], []
    for index in range(len(rings.two_theta)):
        if len(found) == max_rings:
            break
        flat, delta = ring_band(coordinates, valid, rings.two_theta, index)
        if len(flat) < MIN_RING_PIXELS:
            continue
        ring_id = int(rings.ids[index])
        examined.append(ring_id)
        half_width = float(np.abs(delta).max())
        whole = fit_peak(delta, values[flat], 2.0, half_width)
        if whole is None:
            continue
        found.append(ring_id)
        for member in ring_sectors(flat, delta, coordinates.chi):
            if len(member) < MIN_SECTOR_PIXELS:
                continue
            fit = fit_peak(delta[member], values[flat[member]], whole[2], half_width)
            if fit is not None:
                points.append((*sector_point(geometry, coordinates, flat[member], delta[member], fit[0],
                                             rings.two_theta[index]), ring_id))
                errors.append(max(fit[1], SIGMA_FLOOR_PX))
    return RingPoints(np.array(points, dtype=np.float64).reshape(-1, 3), np.array(errors, dtype=np.float64),
                      tuple(examined), tuple(found))


@dataclass(frozen=True)
class GeometryFit:
    """A geometry fitted to control points: which points it kept, the standard errors of its beam
    centre (row, col) [px] and direct distance [m], and the free parameters at a bound."""

    geometry: Geometry
    keep: np.ndarray
    errors: tuple[float, float, float]
    at_bounds: tuple[str, ...]


def fit_geometry(points: np.ndarray, errors_px: np.ndarray, expected: np.ndarray, geometry: Geometry,
                 fix: Sequence[str], bounds: Mapping[str, tuple[float, float]]) -> GeometryFit:
    """Weighted least squares of the free parameters on the control points' 2θ residuals, each over
    its standard error (px times the local 2θ slope), within ``bounds``; then again without the
    points beyond 5 robust standard deviations (hot pixels, a neighbouring spot)."""
    free = FreeParameters.of(geometry, fix)
    low, high = free.limits(bounds)
    sigma = errors_px * two_theta_slope(geometry, points)

    def residual(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return (two_theta(geometry, points[keep, 0], points[keep, 1], free.values(x)) - expected[keep]) / sigma[keep]

    everything = np.ones(len(points), bool)
    first = least_squares(residual, np.clip(np.zeros(len(low)), low, high), bounds=(low, high), args=(everything,))
    normalised = residual(first.x, everything)
    keep = np.abs(normalised) <= 5 * max(1.4826 * float(np.median(np.abs(normalised))), 1.0)
    final = least_squares(residual, first.x, bounds=(low, high), args=(keep,))
    chi2_per_dof = 2 * final.cost / max(int(keep.sum()) - len(low), 1)
    span = np.maximum(high - low, 1e-9)
    at_bounds = tuple(name for name, x, lo, hi, width in zip(free.names, final.x, low, high, span)
                      if np.isfinite(width) and min(x - lo, hi - x) <= 1e-6 * width)
    return GeometryFit(free.geometry(final.x), keep, free.centre_errors(final.x, final.jac, chi2_per_dof), at_bounds)


@dataclass(frozen=True)
class SubpixelFit:
    """The last fit of the stage, its control points, the rings examined and found, and whether
    the rounds converged."""

    fit: GeometryFit
    points: RingPoints
    converged: bool


def refine_subpixel(frame: np.ndarray, invalid: np.ndarray, geometry: Geometry, rings: Rings, fix: Sequence[str],
                    bounds: Mapping[str, tuple[float, float]], max_rings: int,
                    deadline: Deadline) -> SubpixelFit | None:
    """Sub-pixel control points, the geometry fitted to them, repeated with the refined geometry
    until stable; None when too few sector profiles could be fitted in the first round."""
    result: SubpixelFit | None = None
    minimum = max(MIN_CONTROL_POINTS, 2 * (len(GEOMETRY_NAMES) - len(fix)))
    for _ in range(SUBPIXEL_ROUNDS):
        deadline.check("the sub-pixel ring fits")
        found = subpixel_points(frame, invalid, geometry, rings, max_rings)
        if len(found.points) < minimum:
            return None if result is None else SubpixelFit(result.fit, result.points, False)
        fit = fit_geometry(found.points, found.errors, rings.by_id(found.points[:, 2]), geometry, fix, bounds)
        moved, geometry = movement_px(geometry, fit.geometry), fit.geometry
        kept = RingPoints(found.points[fit.keep], found.errors[fit.keep], found.examined, found.found)
        result = SubpixelFit(fit, kept, moved < SUBPIXEL_CONVERGED_PX)
        if result.converged:
            return result
    return result
