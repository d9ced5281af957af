"""Stage 4 of the calibration: the quality gate. A geometry is trusted only when its figures say so.

The figures: the residual rms of the control points (px along the 2θ gradient), how many rings
hold them, the share of the calibrant's rings in range that were found (a wrong ring order or
calibrant leaves predicted rings empty), free parameters stopped at their bounds, the standard
errors of the beam centre and of the direct distance (rings that do not determine the geometry
leave them large), and how far above chance the rings explain the frame's bright pixels. Where
one fails its limit, the calibration is refused with a message naming the figure and what to
try, unless the user accepts a poor result explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

from swaxs_plugins.core.errors import SwaxsError

MIN_SIGNIFICANCE = 10.0  # binomial standard deviations above chance for "calibrant rings were found"
CENTER_SEARCH_PX = 40.0  # default radius of the centre search around a given guess (the search stage's bound)


class NoRingsFound(SwaxsError):
    """The frame shows no rings of the calibrant."""


class PoorCalibration(SwaxsError):
    """A geometry was found but its quality figures do not allow trusting it."""


@dataclass(frozen=True)
class QualityLimits:
    """Limits of the gate; every one is a step parameter and a ``swaxs calibrate`` option."""

    max_rms_px: float = 0.5
    min_rings: int = 2
    min_ring_share: float = 0.5
    max_center_error_px: float = 1.0
    max_distance_error: float = 1e-3  # relative standard error of the direct distance


@dataclass(frozen=True)
class Quality:
    """The figures of one calibration (module docstring)."""

    rms_px: float
    n_points: int
    rings_used: tuple[int, ...]
    rings_examined: tuple[int, ...]
    at_bounds: tuple[str, ...]
    center_error_px: tuple[float, float] | None
    distance_error: float | None
    significance: float

    @property
    def rings_found_in_range(self) -> int:
        """How many of the rings examined (in range) hold control points."""
        return len(set(self.rings_used) & set(self.rings_examined))

    @property
    def ring_share(self) -> float:
        """Share of the rings in range (the first examined) that hold control points."""
        return self.rings_found_in_range / max(len(self.rings_examined), 1)

    def problems(self, limits: QualityLimits) -> list[str]:
        """One sentence per failed limit, naming the figure and what to try; empty when trusted."""
        found: list[str] = []
        if not self.rms_px <= limits.max_rms_px:
            found.append(f"residual rms {self.rms_px:.3g} px exceeds {limits.max_rms_px:g} px: the rings are not "
                         "where the geometry puts them (check calibrant, wavelength and mask)")
        if len(self.rings_used) < limits.min_rings:
            found.append(f"only {len(self.rings_used)} ring(s) hold control points (at least {limits.min_rings} "
                         "needed): fix the parameters the rings cannot determine, or use more rings")
        if self.ring_share < limits.min_ring_share:
            found.append(f"{self.rings_found_in_range} of the first {len(self.rings_examined)} calibrant rings in range "
                         f"were found ({self.ring_share:.0%} < {limits.min_ring_share:.0%}): a wrong ring order, "
                         "calibrant or wavelength")
        if self.at_bounds:
            found.append(f"{', '.join(self.at_bounds)} stopped at a bound: widen 'bounds' or fix at a known value")
        if self.center_error_px is not None and max(self.center_error_px) > limits.max_center_error_px:
            found.append(f"beam centre uncertain by ({self.center_error_px[0]:.2g}, {self.center_error_px[1]:.2g}) px "
                         f"(limit {limits.max_center_error_px:g} px): the rings do not determine it; give "
                         "beam_center and fix poni1, poni2")
        if self.distance_error is not None and self.distance_error > limits.max_distance_error:
            found.append(f"direct distance uncertain by {self.distance_error:.2%} (limit "
                         f"{limits.max_distance_error:.2%}): fix dist at a known value or use more rings")
        return found

    def summary(self) -> str:
        """The figures in one line, as printed after a calibration."""
        centre = "" if self.center_error_px is None else \
            f", beam centre ± ({self.center_error_px[0]:.2g}, {self.center_error_px[1]:.2g}) px"
        distance = "" if self.distance_error is None else f", distance ± {self.distance_error:.2g} (relative)"
        bounds = f", at bounds: {', '.join(self.at_bounds)}" if self.at_bounds else ""
        return (f"residual rms {self.rms_px:.3g} px, {self.n_points} points on {len(self.rings_used)} rings "
                f"({self.rings_found_in_range} of {len(self.rings_examined)} in range found){centre}{distance}{bounds}; "
                f"rings {self.significance:.0f} σ above chance")
