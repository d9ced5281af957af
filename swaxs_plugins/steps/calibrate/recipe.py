"""The whole calibration, stage by stage, within a time limit.

0. inputs (:mod:`.frame`): invalid pixels masked, ring pixels found;
1. search (:mod:`.search`): beam centre and distance from the rings, never from a guess alone;
2. picking (:mod:`.picking`): pyFAI's control points and refinement from the search's geometry;
3. sub-pixel (:mod:`.subpixel`): rings located per arc sector, the geometry fitted to them;
4. gate (:mod:`.gate`): the figures decide whether the geometry can be trusted.

Stages 2–4 run from the search's best candidate; when the gate refuses it, the next plausible
candidates follow (a different ring-order assignment), and the first one the gate accepts wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyFAI.detectors
from pyFAI.geometry import Geometry
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from swaxs_plugins.core.errors import SwaxsError

from .deadline import Deadline
from .frame import background_removed, check_calibrant, invalid_pixels, make_detector, ridge_image, ring_pixels
from .gate import CENTER_SEARCH_PX, MIN_SIGNIFICANCE, NoRingsFound, PoorCalibration, Quality, QualityLimits
from .geometry import (GEOMETRY_NAMES, Rings, beam_center_and_direct_distance, default_bounds,
                       geometry_from_beam_center, two_theta, two_theta_slope)
from .picking import pick_and_refine
from .result import CalibrationResult
from .search import Candidate, SearchSpace, centre_from_symmetry, grid_offsets, search
from .subpixel import refine_subpixel

CENTER_STEP_PX = 4.0       # its grid step
SYMMETRY_REFINE_PX = 6.0   # search radius around a centre found from the rings' symmetry
SYMMETRY_MARGIN = 0.25     # the symmetry search reaches this fraction of the detector beyond its edges
DISTANCE_FACTORS = (0.8, 1.25)  # the distance search spans these factors of the guess (within its bounds)
MAX_TRIED = 3              # candidates taken through stages 2-4 at most
PLAUSIBLE = 0.5            # a further candidate is tried only above this share of the best one's significance


@dataclass(frozen=True)
class Frame:
    """A calibrant frame ready for the stages: the detector, the same detector masking the invalid
    pixels (pyFAI picks none there), the image pyFAI picks on (background removed), the ring
    pixels, and a name for messages."""

    values: np.ndarray
    detector: pyFAI.detectors.Detector
    masked_detector: pyFAI.detectors.Detector
    invalid: np.ndarray
    picking_image: np.ndarray
    ring_points: np.ndarray
    source: str


def prepare(frame: np.ndarray, detector: str, orientation: int | None, mask: np.ndarray | None,
            source: str) -> Frame:
    """Stage 0: invalid pixels, ring pixels."""
    det, masked = make_detector(detector, orientation), make_detector(detector, orientation)
    invalid = invalid_pixels(frame, det, mask)
    masked.mask = invalid.astype(np.int8)
    points = ring_pixels(ridge_image(frame, invalid), invalid)
    if len(points) == 0:
        raise NoRingsFound(f"no calibrant rings found in {source}: the frame holds no bright pixels "
                           f"({int((~invalid).sum())} valid pixels)")
    return Frame(frame, det, masked, invalid, background_removed(frame, invalid), points, source)


def search_space(frame: Frame, wavelength_m: float, distance: float, beam_center: Sequence[float] | None,
                 rotations: Sequence[float], fix: Sequence[str], bounds: Mapping[str, tuple[float, float]] | None,
                 center_search_px: float, deadline: Deadline) -> SearchSpace:
    """Where stage 1 looks: around the given centre, or around the centre of the rings' symmetry."""
    if beam_center is None:
        deadline.check("the beam-centre search from the rings' symmetry")
        margin = SYMMETRY_MARGIN * max(frame.values.shape)
        centre, radius, step = centre_from_symmetry(frame.ring_points, frame.values.shape, margin), \
            SYMMETRY_REFINE_PX, SYMMETRY_REFINE_PX / 3
    else:
        centre, radius, step = tuple(beam_center), center_search_px, CENTER_STEP_PX
    start = geometry_from_beam_center(frame.masked_detector, wavelength_m, distance, centre, *rotations)
    limits = default_bounds(start, bounds, fix)
    if {"poni1", "poni2"} <= set(fix):
        radius = 0.0
    factors = (1.0, 1.0) if "dist" in fix else tuple(
        float(np.clip(f, *(np.array(limits["dist"]) / distance))) for f in DISTANCE_FACTORS)
    return SearchSpace(start, grid_offsets(radius, step), step, factors, tuple(fix), limits)


def calibrate_frame(frame: np.ndarray, calibrant: str, detector: str, wavelength: float, distance: float,
                    beam_center: Sequence[float] | None = None, *, rot1: float = 0.0, rot2: float = 0.0,
                    rot3: float = 0.0, fix: Sequence[str] = ("rot3",),
                    bounds: Mapping[str, tuple[float, float]] | None = None, mask: np.ndarray | None = None,
                    orientation: int | None = None, max_rings: int = 8, iterations: int = 3,
                    pts_per_deg: float = 1.0, center_search_px: float = CENTER_SEARCH_PX,
                    limits: QualityLimits = QualityLimits(), accept_poor: bool = False, time_limit: float = 60.0,
                    source: str = "the frame") -> CalibrationResult:
    """The geometry of ``frame`` (a calibrant image) from a guess, or an error saying why not.

    ``wavelength`` in Å; ``distance`` in m (sample to detector plane, within ±15 % or so);
    ``beam_center`` (row, col) px in pyFAI's convention, searched within ``center_search_px`` of
    the guess (found from the rings' symmetry when None); rotations in rad; ``fix`` names the
    parameters held at their guess (the wavelength always is); ``bounds`` maps names to (low,
    high) in m or rad; ``mask`` nonzero = masked; ``orientation`` is pyFAI's detector orientation
    (1-4) of the image. Raises :class:`NoRingsFound`, :class:`PoorCalibration` (unless
    ``accept_poor``: then the result lists its ``problems``) or a timeout after ``time_limit`` s.
    """
    check_calibrant(calibrant)
    unknown = sorted(set(fix) - set(GEOMETRY_NAMES)) + sorted(set(bounds or {}) - set(GEOMETRY_NAMES))
    if unknown:
        raise SwaxsError(f"fix/bounds name unknown parameters {unknown}; use {', '.join(GEOMETRY_NAMES)}")
    deadline = Deadline(time_limit)
    prepared = prepare(frame, detector, orientation, mask, source)
    wavelength_m = wavelength * 1e-10
    rings = Rings.of(calibrant, wavelength_m)
    space = search_space(prepared, wavelength_m, distance, beam_center, (rot1, rot2, rot3), fix, bounds,
                         center_search_px, deadline)
    candidates = search(prepared.ring_points, ~prepared.invalid, rings, space, deadline)
    if not candidates or candidates[0].significance < MIN_SIGNIFICANCE:
        best = max((c.significance for c in candidates), default=0.0)
        raise NoRingsFound(f"no calibrant rings found in {source}: the best geometry puts the bright pixels on "
                           f"{calibrant} rings only {best:.1f} σ above chance (at least {MIN_SIGNIFICANCE:g} needed); "
                           "check the calibrant, wavelength, distance guess and mask")
    tried: list[CalibrationResult] = []
    for candidate in plausible(candidates):
        if tried and deadline.expired:
            break
        result = refine_candidate(prepared, candidate, calibrant, rings, space, max_rings, iterations,
                                  pts_per_deg, limits, deadline)
        if not result.problems:
            return result
        tried.append(result)
    best_result = min(tried, key=lambda r: (len(r.problems), r.rms_px))
    if accept_poor:
        return best_result
    raise PoorCalibration(f"calibration of {source} is not trustworthy: {'; '.join(best_result.problems)}. "
                          "To use it anyway, accept it explicitly (--accept-poor, parameter accept_poor)")


def plausible(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates worth refining: at most MAX_TRIED, each within PLAUSIBLE of the best's significance."""
    return [c for c in candidates[:MAX_TRIED] if c.significance >= PLAUSIBLE * candidates[0].significance]


def refine_candidate(frame: Frame, candidate: Candidate, calibrant: str, rings: Rings, space: SearchSpace,
                     max_rings: int, iterations: int, pts_per_deg: float, limits: QualityLimits,
                     deadline: Deadline) -> CalibrationResult:
    """Stages 2-4 from one candidate of the search."""
    picked = pick_and_refine(frame.picking_image, candidate.geometry, calibrant, frame.masked_detector, space.fix,
                             space.bounds, max_rings, iterations, pts_per_deg, deadline)
    subpixel = refine_subpixel(frame.values, frame.invalid, picked.geometry, rings, space.fix, space.bounds,
                               max_rings, deadline)
    if subpixel is None:
        if len(picked.points) == 0:
            raise NoRingsFound(f"no calibrant rings found in {frame.source}: no control points could be picked "
                               "on the rings the search predicts; check the calibrant and the mask")
        return finish(picked.geometry, picked.points, calibrant, frame, picked.iterations, picked.converged,
                      candidate, limits, rings_examined=tuple(int(i) for i in np.unique(picked.points[:, 2])))
    fit = subpixel.fit
    return finish(fit.geometry, subpixel.points.points, calibrant, frame, picked.iterations, subpixel.converged,
                  candidate, limits, errors=fit.errors, at_bounds=fit.at_bounds,
                  rings_examined=subpixel.points.examined)


def finish(geometry: Geometry, points: np.ndarray, calibrant: str, frame: Frame, iterations: int, converged: bool,
           candidate: Candidate, limits: QualityLimits, *, rings_examined: tuple[int, ...],
           errors: tuple[float, float, float] | None = None, at_bounds: tuple[str, ...] = ()) -> CalibrationResult:
    """The result of a geometry and its control points, with its quality figures and problems."""
    integrator = AzimuthalIntegrator(dist=geometry.dist, poni1=geometry.poni1, poni2=geometry.poni2,
                                     rot1=geometry.rot1, rot2=geometry.rot2, rot3=geometry.rot3,
                                     detector=frame.detector, wavelength=geometry.wavelength)
    rings = Rings.of(calibrant, geometry.wavelength)
    residual = two_theta(integrator, points[:, 0], points[:, 1]) - rings.by_id(points[:, 2])
    residual_px = residual / two_theta_slope(integrator, points)
    _, direct = beam_center_and_direct_distance(integrator)
    quality = Quality(rms_px=float(np.sqrt(np.mean(residual_px ** 2))), n_points=len(points),
                      rings_used=tuple(int(i) for i in np.unique(points[:, 2])), rings_examined=rings_examined,
                      at_bounds=at_bounds, center_error_px=None if errors is None else errors[:2],
                      distance_error=None if errors is None else errors[2] / direct,
                      significance=candidate.significance)
    return CalibrationResult(integrator, calibrant, points, residual, residual_px, frame.invalid, iterations,
                             converged, quality, None if errors is None else errors[:2],
                             None if errors is None else errors[2], tuple(quality.problems(limits)))
