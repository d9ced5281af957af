"""The outcome of a calibration: the refined geometry, its control points and residuals, its
quality figures and, when the user accepted a poor result, what the gate found wrong."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile

from .gate import Quality
from .geometry import beam_center_and_direct_distance


@dataclass(frozen=True)
class CalibrationResult:
    """A refined geometry, with the control points it was fitted to and their residuals.

    ``control_points`` rows are (row, col, ring id) in pyFAI's point convention;
    ``residual_two_theta`` [rad] and ``residual_px`` (along the 2θ gradient) are per point.
    ``beam_center_error`` (row, col) [px] and ``direct_distance_error`` [m] are standard errors from
    the sub-pixel fit's covariance (None when the geometry comes from peak picking alone).
    ``problems`` lists the failed quality limits of a result accepted although poor (else empty).
    """

    geometry: AzimuthalIntegrator
    calibrant: str
    control_points: np.ndarray
    residual_two_theta: np.ndarray
    residual_px: np.ndarray
    mask: np.ndarray
    iterations: int
    converged: bool
    quality: Quality
    beam_center_error: tuple[float, float] | None = None
    direct_distance_error: float | None = None
    problems: tuple[str, ...] = ()

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
        """Ids of the calibrant rings that hold control points."""
        return np.unique(self.control_points[:, 2].astype(int))

    def poni_text(self) -> str:
        """The PONI file pyFAI writes for this geometry."""
        buffer = io.StringIO()
        PoniFile(self.geometry).write(buffer)
        return buffer.getvalue()
