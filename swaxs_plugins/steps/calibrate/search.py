"""Stage 1 of the calibration: a global search for the beam centre and the distance, so that pyFAI's
peak picking and refinement are never handed a wrong assignment of ring orders.

Moving a flat detector along the beam keeps the beam's impact pixel and translates every pixel
by ΔD along the beam; moving the impact point by δ pixels translates every pixel by −δ·e in the
detector plane (e: the lab vector of one pixel step). So for a candidate centre, a ring pixel at
lab position (z, ρ) — along and across the beam — lies on ring n (2θₙ) at exactly one direct
distance

    Dₙ = D₀ + ρ / tan 2θₙ − z,

and it stays within w px of that ring while |ΔD| ≤ w · pixel / tan 2θₙ. Every (pixel, ring) pair
thus votes for a short interval of log D; the number of votes over D counts the ring pixels that
the candidate (centre, D) puts on a ring, for all distances at once (a Hough transform in D).
Candidates on a grid of centres around the guess (or around a centre found from the rings'
symmetry) are ranked by that count, and the best few are refined on the ring pixels, each pixel
assigned to its nearest ring, by robust least squares with shrinking widths. A candidate explains
a share of the ring pixels; chance alone (the same votes from random pixels) explains a smaller
share, and how many binomial standard deviations separate the two says whether rings were found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry
from scipy.ndimage import uniform_filter1d
from scipy.optimize import least_squares

from .deadline import Deadline
from .geometry import (FreeParameters, Rings, beam_center_and_direct_distance, geometry_from_beam_center, mean_pixel,
                       two_theta, two_theta_slope)

SEARCH_POINTS = 4000          # ring pixels used by the search (evenly thinned)
LOG_DISTANCE_STEP = 1e-4      # resolution of the vote histogram in log D
COARSE_WIDTH_PX = 4.0         # votes count a pixel within this of a ring on the coarse grid
REFINE_WIDTHS_PX = (4.0, 2.0, 1.0)  # widths of the robust refinement of each candidate
CANDIDATES = 6                # candidates refined after the coarse grid
CHANCE_SEED = 12345           # random pixels that estimate what chance alone explains


@dataclass(frozen=True)
class Candidate:
    """A geometry from the search: the share of ring pixels it puts within 1 px of a ring, which
    rings hold them, and how far above chance that share is (binomial standard deviations)."""

    geometry: Geometry
    explained: float
    rings_hit: tuple[int, ...]
    significance: float


# --------------------------------------------------------------------------------------------------
# The centre from the rings' symmetry (when no centre is known)
# --------------------------------------------------------------------------------------------------

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


def centre_from_symmetry(points: np.ndarray, shape: Sequence[int], margin: float) -> tuple[float, float]:
    """Direct-beam centre (row, col) px (pixel i spans [i, i+1)) around which the ring pixels
    have the most concentrated radii: a coarse-to-fine search over the detector and ``margin`` px
    beyond its edges. Needs rings that are nearly circles (small tilts) and long arcs."""
    centres_of_pixels = points + 0.5
    low = np.array([-margin, -margin])
    high = np.array([shape[0] + margin, shape[1] + margin], dtype=np.float64)
    step = max(high - low) / 64.0
    best = (low + high) / 2
    while step > 0.2:
        grid = [np.arange(low[k], high[k] + step / 2, step) for k in range(2)]
        centres = np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1).reshape(-1, 2)
        best = centres[np.argmax(radius_concentration(centres_of_pixels, centres, max(step, 0.5)))]
        low, high = best - 2 * step, best + 2 * step
        step /= 4.0
    return float(best[0]), float(best[1])


# --------------------------------------------------------------------------------------------------
# Votes for the distance, for one centre
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabPoints:
    """Ring pixels in the lab frame of a start geometry (z along the beam, y, x; m), the lab vectors
    of one pixel step along rows and columns, and the start's direct distance."""

    zyx: np.ndarray
    along_row: np.ndarray
    along_col: np.ndarray
    direct: float
    pixel: float

    @classmethod
    def of(cls, geometry: Geometry, points: np.ndarray) -> LabPoints:
        zyx = np.stack(geometry.calc_pos_zyx(d1=points[:, 0], d2=points[:, 1]), axis=-1)
        probe = np.stack(geometry.calc_pos_zyx(d1=np.array([0.0, 1.0, 0.0]), d2=np.array([0.0, 0.0, 1.0])), axis=-1)
        _, direct = beam_center_and_direct_distance(geometry)
        return cls(zyx, probe[1] - probe[0], probe[2] - probe[0], direct, mean_pixel(geometry.detector))

    def moved(self, offset: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """(z, ρ) of every point when the beam centre moves by ``offset`` (row, col) px."""
        zyx = self.zyx - offset[0] * self.along_row - offset[1] * self.along_col
        return zyx[:, 0], np.hypot(zyx[:, 1], zyx[:, 2])


@dataclass(frozen=True)
class DistanceGrid:
    """log D bins [m] over which votes are counted."""

    log_low: float
    n_bins: int

    @classmethod
    def around(cls, direct: float, factors: tuple[float, float]) -> DistanceGrid:
        log_low, log_high = np.log(direct * factors[0]), np.log(direct * factors[1])
        return cls(float(log_low), max(1, int(np.ceil((log_high - log_low) / LOG_DISTANCE_STEP))))

    def distance(self, index: int | np.ndarray) -> float | np.ndarray:
        return np.exp(self.log_low + (np.asarray(index) + 0.5) * LOG_DISTANCE_STEP)


def distance_votes(z: np.ndarray, rho: np.ndarray, direct: float, pixel: float, tan_rings: np.ndarray,
                   grid: DistanceGrid, width_px: float) -> np.ndarray:
    """Per log-D bin, how many (pixel, ring) pairs put the pixel within ``width_px`` of its ring
    (module docstring): each pair adds 1 over its interval, via a difference array."""
    distances = direct + rho[:, None] / tan_rings[None, :] - z[:, None]
    usable = distances > 0
    log_d = np.log(np.where(usable, distances, 1.0))
    half = width_px * pixel / (tan_rings[None, :] * np.where(usable, distances, 1.0))
    low = np.floor((log_d - half - grid.log_low) / LOG_DISTANCE_STEP).astype(np.int64)
    high = np.floor((log_d + half - grid.log_low) / LOG_DISTANCE_STEP).astype(np.int64)
    inside = usable & (high >= 0) & (low < grid.n_bins)
    low, high = np.clip(low[inside], 0, grid.n_bins - 1), np.clip(high[inside], 0, grid.n_bins - 1)
    edges = np.bincount(low, minlength=grid.n_bins + 1) - np.bincount(high + 1, minlength=grid.n_bins + 2)[:-1]
    return np.cumsum(edges)[:grid.n_bins]


def rings_in_reach(lab: LabPoints, rings: Rings, offsets: np.ndarray, factors: tuple[float, float]) -> np.ndarray:
    """tan 2θ of the rings that some point can reach from some candidate centre and distance."""
    reach = []
    for offset in offsets[[0, -1]] if len(offsets) > 1 else offsets:
        z, rho = lab.moved(offset)
        reach += [np.min(rho / (z + lab.direct * (factors[1] - 1))), np.max(rho / (z + lab.direct * (factors[0] - 1)))]
    tan_rings = np.tan(rings.two_theta[rings.two_theta < np.radians(89.0)])
    margin = 1.5
    return tan_rings[(tan_rings >= min(reach) / margin) & (tan_rings <= max(reach) * margin)]


# --------------------------------------------------------------------------------------------------
# The coarse grid of candidates
# --------------------------------------------------------------------------------------------------

def grid_offsets(radius_px: float, step_px: float) -> np.ndarray:
    """Centre offsets (row, col) px on a square grid within ``radius_px`` of the guess."""
    if radius_px <= 0:
        return np.zeros((1, 2))
    axis = np.arange(-radius_px, radius_px + step_px / 2, step_px)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)


def coarse_candidates(lab: LabPoints, rings: Rings, offsets: np.ndarray, factors: tuple[float, float],
                      step_px: float, deadline: Deadline) -> list[tuple[np.ndarray, float, int]]:
    """(centre offset, direct distance, votes) of the best-voted distinct grid cells: every centre's
    best distances, kept when no better cell lies within two grid steps and 1 % in distance."""
    grid = DistanceGrid.around(lab.direct, factors)
    tan_rings = rings_in_reach(lab, rings, offsets, factors)
    found = []
    for offset in offsets:
        deadline.check("the search over beam centre and distance")
        z, rho = lab.moved(offset)
        votes = distance_votes(z, rho, lab.direct, lab.pixel, tan_rings, grid, max(COARSE_WIDTH_PX, step_px))
        for index in _peaks(votes, max(1, int(0.01 / LOG_DISTANCE_STEP)), 2):
            found.append((offset, float(grid.distance(index)), int(votes[index])))
    found.sort(key=lambda item: -item[2])
    chosen: list[tuple[np.ndarray, float, int]] = []
    for offset, distance, votes in found:
        near = any(np.max(np.abs(offset - o)) <= 2 * step_px and abs(np.log(distance / d)) < 0.01 for o, d, _ in chosen)
        if not near:
            chosen.append((offset, distance, votes))
        if len(chosen) == CANDIDATES:
            break
    return chosen


def _peaks(values: np.ndarray, separation: int, count: int) -> list[int]:
    """Indices of the ``count`` largest values at least ``separation`` bins apart."""
    order = np.argsort(values)[::-1]
    peaks: list[int] = []
    for index in order:
        if values[index] <= 0 or len(peaks) == count:
            break
        if all(abs(int(index) - p) >= separation for p in peaks):
            peaks.append(int(index))
    return peaks


# --------------------------------------------------------------------------------------------------
# Refinement of a candidate on the ring pixels, and its figures
# --------------------------------------------------------------------------------------------------

def assigned_residuals(geometry: Geometry, points: np.ndarray, rings: Rings) -> tuple[np.ndarray, np.ndarray]:
    """Per point: the index of its nearest ring and its distance to it along the 2θ gradient [px]."""
    angles = two_theta(geometry, points[:, 0], points[:, 1])
    nearest = rings.nearest(angles)
    return nearest, (angles - rings.two_theta[nearest]) / two_theta_slope(geometry, points)


def refine_on_points(geometry: Geometry, points: np.ndarray, rings: Rings, fix: Sequence[str],
                     bounds: Mapping[str, tuple[float, float]], widths: Sequence[float] = REFINE_WIDTHS_PX) -> Geometry:
    """The free parameters fitted to the ring pixels, each assigned to its nearest ring, by robust
    least squares (soft L1 at scale w) on the pixels within 3w of their ring, for shrinking w."""
    for width in widths:
        nearest, residual = assigned_residuals(geometry, points, rings)
        near = np.abs(residual) < 3 * width
        if near.sum() < 10:
            break
        free = FreeParameters.of(geometry, fix)
        if not free.names:
            break
        low, high = free.limits(bounds)
        target, slope = rings.two_theta[nearest[near]], two_theta_slope(geometry, points[near])
        d1, d2 = points[near, 0], points[near, 1]

        def misfit(x: np.ndarray) -> np.ndarray:
            return (two_theta(geometry, d1, d2, free.values(x)) - target) / slope

        start = np.clip(np.zeros(len(low)), low, high)
        fitted = least_squares(misfit, start, bounds=(low, high), loss="soft_l1", f_scale=width, x_scale=1.0)
        geometry = free.geometry(fitted.x)
    return geometry


def explained_share(geometry: Geometry, points: np.ndarray, rings: Rings,
                    width_px: float) -> tuple[float, tuple[int, ...]]:
    """Share of points within ``width_px`` of a ring, and the rings (sorted indices) holding at
    least 2 % of the points or 20 of them."""
    nearest, residual = assigned_residuals(geometry, points, rings)
    close = np.abs(residual) <= width_px
    counts = np.bincount(nearest[close], minlength=len(rings.two_theta))
    hit = np.flatnonzero(counts >= max(20, 0.02 * len(points)))
    return float(close.mean()) if len(points) else 0.0, tuple(int(i) for i in hit)


def chance_share(geometry: Geometry, valid: np.ndarray, rings: Rings, width_px: float, n: int) -> float:
    """Share of ``n`` random valid pixels within ``width_px`` of a ring: what chance explains."""
    candidates = np.argwhere(valid)
    rng = np.random.default_rng(CHANCE_SEED)
    sample = candidates[rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)].astype(np.float64)
    return explained_share(geometry, sample, rings, width_px)[0]


# --------------------------------------------------------------------------------------------------
# The whole stage
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchSpace:
    """Where the search looks: the start geometry, centre offsets (row, col) px around its centre,
    the distance factors around its direct distance, and the free parameters with their bounds."""

    start: Geometry
    offsets: np.ndarray
    step_px: float
    factors: tuple[float, float]
    fix: tuple[str, ...]
    bounds: Mapping[str, tuple[float, float]]


def search(points: np.ndarray, valid: np.ndarray, rings: Rings, space: SearchSpace,
           deadline: Deadline) -> list[Candidate]:
    """Distinct candidates, ranked best first (most significant share of ring pixels on rings)."""
    thinned = points[:: max(1, len(points) // SEARCH_POINTS)]
    lab = LabPoints.of(space.start, thinned)
    (row, col), _ = beam_center_and_direct_distance(space.start)
    start = space.start
    candidates: list[Candidate] = []
    for offset, distance, _ in coarse_candidates(lab, rings, space.offsets, space.factors, space.step_px, deadline):
        deadline.check("the refinement of the search's candidates")
        distance = lab.direct if "dist" in space.fix else distance
        geometry = geometry_from_beam_center(start.detector, start.wavelength, start.dist * distance / lab.direct,
                                             (row + offset[0], col + offset[1]), start.rot1, start.rot2, start.rot3)
        geometry = refine_on_points(geometry, thinned, rings, space.fix, space.bounds)
        if any(same_geometry(geometry, other.geometry) for other in candidates):
            continue
        explained, hit = explained_share(geometry, thinned, rings, 1.0)
        chance = chance_share(geometry, valid, rings, 1.0, len(thinned))
        spread = np.sqrt(max(chance * (1 - chance), 1e-12) / max(len(thinned), 1))
        candidates.append(Candidate(geometry, explained, hit, (explained - chance) / spread))
    return sorted(candidates, key=lambda c: -c.significance)


def same_geometry(first: Geometry, second: Geometry, centre_px: float = 0.5, distance: float = 5e-4) -> bool:
    """Whether two geometries share their beam centre (within ``centre_px``) and direct distance
    (within ``distance``, relative): two candidates that refined to the same place."""
    (c1, d1), (c2, d2) = beam_center_and_direct_distance(first), beam_center_and_direct_distance(second)
    return bool(np.hypot(c1[0] - c2[0], c1[1] - c2[1]) <= centre_px and abs(d1 / d2 - 1) <= distance)
