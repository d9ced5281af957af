"""Geometry shared by every stage of the calibration: the calibrant's rings, the beam centre and
direct distance of a PONI geometry, the free parameters and their bounds.

Two conventions meet here. pyFAI's points (``Geometry.tth(d1, d2)``) put a pixel's centre at its
integer index; a beam centre is a continuous coordinate in which pixel i spans [i, i + 1), taken
in the image as stored (pyFAI's ``getFit2D`` gives it for the unflipped image: for a detector
``orientation`` other than 3 it is flipped here, so that a centre read off the image is the
centre the calibration uses and reports). At small angles the PONI and the tilts are degenerate, so a calibration is judged by
the direct-beam centre and the direct distance D (sample to the beam's impact point), not the PONI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyFAI.detectors
from pyFAI.calibrant import CALIBRANT_FACTORY, Calibrant
from pyFAI.geometry import Geometry

GEOMETRY_NAMES: tuple[str, ...] = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3")
DEFAULT_ROTATION_BOUND = 0.1  # rad: free tilts stay within this of their guess unless bounds say otherwise
DEFAULT_DISTANCE_RANGE = (0.75, 1.33)  # free distance stays within these factors of its guess


def calibrant_at(name: str, wavelength_m: float) -> Calibrant:
    """pyFAI's calibrant ``name`` at a wavelength [m]."""
    calibrant = CALIBRANT_FACTORY(name)
    calibrant.wavelength = wavelength_m
    return calibrant


@dataclass(frozen=True)
class Rings:
    """The calibrant's reachable rings, sorted by 2θ [rad], with pyFAI's ring ids (indices into
    ``Calibrant.get_2th()``, which control points carry)."""

    two_theta: np.ndarray
    ids: np.ndarray

    @classmethod
    def of(cls, calibrant: str, wavelength_m: float) -> Rings:
        values = calibrant_at(calibrant, wavelength_m).get_2th()
        ids = np.array([i for i, t in enumerate(values) if t is not None], dtype=np.int64)
        two_theta = np.array([values[i] for i in ids], dtype=np.float64)
        order = np.argsort(two_theta, kind="stable")
        return cls(two_theta[order], ids[order])

    def by_id(self, ring_ids: np.ndarray) -> np.ndarray:
        """2θ [rad] of rings given by pyFAI id."""
        lookup = dict(zip(self.ids.tolist(), self.two_theta.tolist()))
        return np.array([lookup[int(i)] for i in ring_ids], dtype=np.float64)

    def nearest(self, two_theta: np.ndarray) -> np.ndarray:
        """Index (into this sorted list) of the ring nearest to every value."""
        upper = np.clip(np.searchsorted(self.two_theta, two_theta), 1, len(self.two_theta) - 1)
        lower = upper - 1
        closer_low = np.abs(two_theta - self.two_theta[lower]) <= np.abs(two_theta - self.two_theta[upper])
        return np.where(closer_low, lower, upper) if len(self.two_theta) > 1 else np.zeros(two_theta.shape, int)


def flipped_center(center: Sequence[float], detector: pyFAI.detectors.Detector) -> tuple[float, float]:
    """A beam centre (row, col) between the image as stored and pyFAI's unflipped convention
    (either way: the flip is its own inverse). pyFAI's orientations: 2 flips rows, 4 columns, 1 both."""
    rows, cols = detector.shape
    orientation = int(detector.orientation)
    row = rows - center[0] if orientation in (1, 2) else center[0]
    col = cols - center[1] if orientation in (1, 4) else center[1]
    return float(row), float(col)


def geometry_from_beam_center(detector: pyFAI.detectors.Detector, wavelength_m: float, distance: float,
                              beam_center: Sequence[float], rot1: float, rot2: float, rot3: float) -> Geometry:
    """A pyFAI geometry with the given distance and tilts whose direct beam hits ``beam_center``
    (row, col) px of the image: the PONI is a translation in the detector plane, which moves the
    centre alike."""
    geometry = Geometry(dist=distance, poni1=0.0, poni2=0.0, rot1=rot1, rot2=rot2, rot3=rot3,
                        detector=detector, wavelength=wavelength_m)
    geometry.auto_gc = False  # pyFAI would run the garbage collector (0.1 s) at every change
    fit2d = geometry.getFit2D()
    row, col = flipped_center(beam_center, detector)
    geometry.poni1 = (row - fit2d["centerY"]) * detector.pixel1
    geometry.poni2 = (col - fit2d["centerX"]) * detector.pixel2
    return geometry


def with_parameters(geometry: Geometry, values: Mapping[str, float]) -> Geometry:
    """A copy of ``geometry`` with some PONI parameters replaced."""
    current = {name: float(values.get(name, getattr(geometry, name))) for name in GEOMETRY_NAMES}
    copy = Geometry(**current, detector=geometry.detector, wavelength=geometry.wavelength)
    copy.auto_gc = False
    return copy


def beam_center_and_direct_distance(geometry: Geometry) -> tuple[tuple[float, float], float]:
    """Direct-beam centre (row, col) px in the image and direct sample–detector distance [m]."""
    fit2d = geometry.getFit2D()
    centre = flipped_center((fit2d["centerY"], fit2d["centerX"]), geometry.detector)
    return centre, float(fit2d["directDist"]) * 1e-3


def mean_pixel(detector: pyFAI.detectors.Detector) -> float:
    """Geometric mean pixel size [m]."""
    return float(np.sqrt(detector.pixel1 * detector.pixel2))


def movement_px(before: Geometry, after: Geometry) -> float:
    """How far a refinement moved: beam-centre shift in px plus direct-distance change in
    px-equivalents (1e-3 of the distance per px)."""
    (c0, d0), (c1, d1) = beam_center_and_direct_distance(before), beam_center_and_direct_distance(after)
    return float(np.hypot(c1[0] - c0[0], c1[1] - c0[1]) + abs(d1 - d0) / d0 * 1e3)


def default_bounds(guess: Geometry, bounds: Mapping[str, tuple[float, float]] | None,
                   fix: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Bounds of the free parameters, set once around the first guess: those given, else tilts
    within ± DEFAULT_ROTATION_BOUND and the distance within DEFAULT_DISTANCE_RANGE of the guess.
    With few rings (a WAXS strip) the geometry is degenerate and would otherwise wander off."""
    result = {name: (getattr(guess, name) - DEFAULT_ROTATION_BOUND, getattr(guess, name) + DEFAULT_ROTATION_BOUND)
              for name in ("rot1", "rot2", "rot3")}
    result["dist"] = (guess.dist * DEFAULT_DISTANCE_RANGE[0], guess.dist * DEFAULT_DISTANCE_RANGE[1])
    result.update(bounds or {})
    return {name: (float(low), float(high)) for name, (low, high) in result.items() if name not in fix}


def two_theta(geometry: Geometry, rows: np.ndarray, cols: np.ndarray,
              parameters: Sequence[float] | None = None) -> np.ndarray:
    """2θ [rad] at points (pyFAI's convention), with other PONI ``parameters`` if given: the
    detector's pixel positions (its orientation included) minus the PONI, turned by pyFAI's
    rotation matrix, as pyFAI's numpy path computes it. ``Geometry.tth`` reaches the same numbers
    through OpenMP kernels that cost ~40 times more for the few thousand points of a calibration."""
    values = [getattr(geometry, name) for name in GEOMETRY_NAMES] if parameters is None else list(parameters[:6])
    dist, poni1, poni2 = values[:3]
    p1, p2, p3 = geometry.detector.calc_cartesian_positions(np.asarray(rows, float), np.asarray(cols, float))
    along_beam = np.full(np.shape(p1), dist) if p3 is None else dist + p3
    t1, t2, t3 = np.tensordot(geometry.rotation_matrix(values), np.stack([p1 - poni1, p2 - poni2, along_beam]), axes=1)
    return np.arctan2(np.hypot(t1, t2), t3)


def two_theta_slope(geometry: Geometry, points: np.ndarray) -> np.ndarray:
    """|∇2θ| [rad per px] at every point (row, col): turns 2θ residuals into pixels."""
    rows, cols = points[:, 0], points[:, 1]
    along_row = two_theta(geometry, rows + 0.5, cols) - two_theta(geometry, rows - 0.5, cols)
    along_col = two_theta(geometry, rows, cols + 0.5) - two_theta(geometry, rows, cols - 0.5)
    return np.hypot(along_row, along_col)


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
        pixel = mean_pixel(geometry.detector)
        scale = [direct * 1e-3 if n == "dist" else pixel if n.startswith("poni") else pixel / direct for n in names]
        return cls(geometry, names, np.array(scale))

    def values(self, x: np.ndarray) -> list[float]:
        """All six PONI parameters (GEOMETRY_NAMES order) at offsets ``x``."""
        moved = {n: getattr(self.start, n) + xi * sc for n, xi, sc in zip(self.names, x, self.scale)}
        return [moved.get(n, getattr(self.start, n)) for n in GEOMETRY_NAMES]

    def geometry(self, x: np.ndarray) -> Geometry:
        return with_parameters(self.start, dict(zip(GEOMETRY_NAMES, self.values(x))))

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
