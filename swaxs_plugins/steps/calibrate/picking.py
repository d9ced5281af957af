"""Stage 2 of the calibration: pyFAI's own control-point picking and refinement, from the search's geometry.

As pyFAI's calibration does: pick control points on the rings the current geometry predicts
(``SingleGeometry.extract_cp``), refine (``GeometryRefinement.refine3``, fixed and bounded
parameters), then refine again with every ring's points weighted by 1/σ of that ring's residuals
and without outliers (|r − median| > 5σ); pick again with the refined geometry until the beam
centre and distance move less than CONVERGED_PX between pickings. The search has put every ring
within a pixel or two of its place, so the first picking already takes every ring up to
``max_rings`` (pyFAI's own recipe, from a rough guess, widens from 2 rings to more).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyFAI.detectors
from pyFAI.geometry import Geometry
from pyFAI.goniometer import SingleGeometry

from .deadline import Deadline
from .geometry import GEOMETRY_NAMES, calibrant_at, movement_px

MIN_CONTROL_POINTS = 6
CONVERGED_PX = 0.05     # stop when centre + distance move less than this (px) between pickings
PICKING_SEED = 0        # pyFAI's peak picking shuffles with numpy's global generator; seeded for repeatability
REFINE_ITERATIONS = 200  # SLSQP iterations per refine3 (its default, 10⁶, let one frame run for minutes)


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


def pick_control_points(image: np.ndarray, geometry: Geometry, calibrant: str, detector: pyFAI.detectors.Detector,
                        max_rings: int, pts_per_deg: float) -> SingleGeometry:
    """Control points on the first ``max_rings`` rings the geometry predicts on the detector."""
    single = SingleGeometry("calibrant", image=image, calibrant=calibrant_at(calibrant, geometry.wavelength),
                            detector=detector, geometry=geometry)
    single.geometry_refinement.auto_gc = False  # refine3 changes it many times; each would collect garbage
    with seeded_numpy_random(PICKING_SEED):
        single.extract_cp(max_rings=max_rings, pts_per_deg=pts_per_deg)
    return single


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
           start: Geometry) -> Geometry | None:
    """refine3 with fixed and bounded parameters, then again weighted per ring and without
    outliers; None when too few control points were picked."""
    refinement = single.geometry_refinement
    if refinement.data is None or len(refinement.data) < MIN_CONTROL_POINTS:
        return None
    apply_bounds(refinement, bounds)
    fixed = [*fix, "wavelength"]
    refinement.refine3(maxiter=REFINE_ITERATIONS, fix=fixed)
    weights, keep = ring_weights(two_theta_residuals(refinement), refinement.data[:, 2])
    if keep.sum() >= MIN_CONTROL_POINTS:
        refinement.data = np.column_stack([refinement.data[:, :3], weights])[keep]
        refinement.refine3(maxiter=REFINE_ITERATIONS, fix=fixed)
    config = refinement.get_config()
    geometry = Geometry(**{k: config[k] for k in (*GEOMETRY_NAMES, "wavelength")}, detector=start.detector)
    geometry.auto_gc = False
    return geometry


@dataclass(frozen=True)
class Picked:
    """The geometry after picking and refining, its control points (row, col, ring id), the
    number of pickings and whether centre and distance settled."""

    geometry: Geometry
    points: np.ndarray
    iterations: int
    converged: bool


def pick_and_refine(image: np.ndarray, geometry: Geometry, calibrant: str, detector: pyFAI.detectors.Detector,
                    fix: Sequence[str], bounds: Mapping[str, tuple[float, float]], max_rings: int, iterations: int,
                    pts_per_deg: float, deadline: Deadline) -> Picked:
    """Pick on the first ``max_rings`` rings and refine, until stable or ``iterations`` are spent;
    a picking that finds too few points keeps the geometry it started from."""
    points = np.empty((0, 3))
    for iteration in range(1, iterations + 1):
        deadline.check("pyFAI's control-point picking and refinement")
        single = pick_control_points(image, geometry, calibrant, detector, max_rings, pts_per_deg)
        refined = refine(single, fix, bounds, geometry)
        if refined is None:
            return Picked(geometry, points, iteration, False)
        moved = movement_px(geometry, refined)
        geometry, points = refined, np.asarray(single.geometry_refinement.data[:, :3], dtype=np.float64)
        if moved < CONVERGED_PX:
            return Picked(geometry, points, iteration, True)
    return Picked(geometry, points, iterations, False)
