"""The curve models of the fit step, vectorised over curves, with analytic Jacobians.

``PeakModel``: a sum of Gaussians, each given by area, centre and FWHM (1/Å), plus a polynomial
background in (q − q_ref). ``PowerLawModel``: I = A q^−α + C. Both evaluate a block of curves at
once (parameters [n, p] → values [n, m] and Jacobian [n, m, p]) for the batched solver, and one
curve at a time for lmfit. Both are linear in their amplitudes once the shape parameters are
fixed, which gives robust, scale-free starting values by linear least squares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from swaxs_plugins.steps.fit.parameters import BACKGROUND_ORDERS, Q_UNITS, FitParameters, parameter_spec
from swaxs_plugins.steps.fit.solver import solve_linear

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
SQRT_2PI = np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class PeakModel:
    """Gaussians ``peaks`` (parameters ``<peak>_area``, ``_centre``, ``_fwhm``) + background ``bkg_c0..``."""

    q: np.ndarray
    peaks: tuple[str, ...]
    background_order: int
    q_ref: float

    @property
    def names(self) -> tuple[str, ...]:
        peak_names = [f"{peak}_{field}" for peak in self.peaks for field in ("area", "centre", "fwhm")]
        return (*peak_names, *(f"bkg_c{k}" for k in range(self.background_order + 1)))

    @property
    def amplitude_index(self) -> np.ndarray:
        """Positions of the parameters the model is linear in (areas, background coefficients)."""
        peaks = [3 * i for i in range(len(self.peaks))]
        return np.array([*peaks, *range(3 * len(self.peaks), len(self.names))])

    def __call__(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values [n, m] and Jacobian [n, m, p] of every curve at once.

        The Jacobian is filled parameter-major ([n, p, m], contiguous rows) and returned as a
        transposed view: writing one column at a time into [n, m, p] strides through memory.
        """
        q = self.q[np.newaxis, :]
        n_peak_params = 3 * len(self.peaks)
        jacobian = np.empty((params.shape[0], params.shape[1], q.shape[1]))
        total = np.zeros((params.shape[0], q.shape[1]))
        for i in range(len(self.peaks)):
            area, centre, fwhm = (params[:, 3 * i + k, np.newaxis] for k in range(3))
            sigma = fwhm * FWHM_TO_SIGMA
            offset = (q - centre) / sigma
            unit = np.exp(-0.5 * offset * offset) / (sigma * SQRT_2PI)
            peak = area * unit
            total += peak
            jacobian[:, 3 * i] = unit
            np.multiply(peak, offset / sigma, out=jacobian[:, 3 * i + 1])
            np.multiply(peak, (offset * offset - 1.0) * (FWHM_TO_SIGMA / sigma), out=jacobian[:, 3 * i + 2])
        for k, power in enumerate(self.background_powers()):
            total += params[:, n_peak_params + k, np.newaxis] * power
            jacobian[:, n_peak_params + k] = power
        return total, jacobian.transpose(0, 2, 1)

    def background_powers(self) -> list[np.ndarray]:
        x = self.q - self.q_ref
        return [x**k for k in range(self.background_order + 1)]

    def components(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """Each peak and the background separately, [n, m] each."""
        parts = {}
        for i, peak in enumerate(self.peaks):
            single = PeakModel(self.q, (peak,), -1, self.q_ref)
            parts[peak] = single(params[:, 3 * i:3 * i + 3])[0]
        coefficients = params[:, 3 * len(self.peaks):]
        parts["background"] = sum(coefficients[:, k, np.newaxis] * power
                                  for k, power in enumerate(self.background_powers()))
        return parts


@dataclass(frozen=True)
class PowerLawModel:
    """I = A q^−α (+ C): parameters ``amplitude``, ``alpha``, ``constant``."""

    q: np.ndarray
    names: tuple[str, ...] = ("amplitude", "alpha", "constant")

    @property
    def amplitude_index(self) -> np.ndarray:
        return np.array([0, 2])

    def __call__(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_q = np.log(self.q)[np.newaxis, :]
        power = np.exp(-params[:, 1, np.newaxis] * log_q)
        law = params[:, 0, np.newaxis] * power
        jacobian = np.stack([power, -law * log_q, np.ones_like(law)], axis=-1)
        return law + params[:, 2, np.newaxis], jacobian

    def components(self, params: np.ndarray) -> dict[str, np.ndarray]:
        law = params[:, 0, np.newaxis] * np.power(self.q[np.newaxis, :], -params[:, 1, np.newaxis])
        return {"power_law": law, "constant": np.broadcast_to(params[:, 2, np.newaxis], law.shape).copy()}

    def log_slope_start(self, values: np.ndarray) -> np.ndarray:
        """α and A from a straight line through log I vs log q of each curve (points with I > 0)."""
        log_q = np.log(self.q)
        starts = np.full((values.shape[0], 3), np.nan)
        for i, curve in enumerate(values):
            good = np.isfinite(curve) & (curve > 0)
            if good.sum() >= 2:
                slope, intercept = np.polyfit(log_q[good], np.log(curve[good]), 1)
                starts[i] = (np.exp(intercept), -slope, 0.0)
        return starts


def linear_amplitudes(model: PeakModel | PowerLawModel, shapes: np.ndarray, values: np.ndarray,
                      weights: np.ndarray) -> np.ndarray:
    """Parameters [n, p] with the amplitudes solved by weighted linear least squares, shapes kept.

    The model is linear in its amplitudes at fixed shapes, so its Jacobian columns for them are the
    basis functions. Curves without data keep their given amplitudes.
    """
    return solve_linear(model, shapes, values, weights, model.amplitude_index)


CurveModel = PeakModel | PowerLawModel


def build_model(params: FitParameters, q: np.ndarray) -> CurveModel:
    """The model the parameters choose, on the q grid ``q`` (background about the middle of ``q``)."""
    if params.model == "saxs_power_law":
        return PowerLawModel(q)
    return PeakModel(q, tuple(params.components), BACKGROUND_ORDERS[params.background],
                     float(0.5 * (q.min() + q.max())))


def parameter_arrays(params: FitParameters, model: CurveModel) -> tuple[np.ndarray, ...]:
    """Lower, upper, start (NaN: from the data) and vary, one entry per model parameter."""
    specs = [parameter_spec(name, params.model, params.peaks, params.power_law) for name in model.names]
    lower = np.array([-np.inf if s.min is None else s.min for s in specs])
    upper = np.array([np.inf if s.max is None else s.max for s in specs])
    start = np.array([np.nan if s.value is None else s.value for s in specs])
    return lower, upper, start, np.array([s.vary for s in specs])


def in_model(model: CurveModel, names: Iterable[str]) -> np.ndarray:
    """[p] bool: which of the model's parameters are named (names of components left out are ignored)."""
    return np.isin(model.names, list(names))


def initial_values(model: CurveModel, start: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Starting values [n, p]: shapes as given (α from the log–log slope if unset), amplitudes by linear LSQ."""
    start = np.array(np.broadcast_to(start, (values.shape[0], start.shape[-1])), dtype=np.float64)
    if isinstance(model, PowerLawModel):
        guess = model.log_slope_start(np.where(weights > 0, values, np.nan))
        start = np.where(np.isnan(start), guess, start)
    start[np.isnan(start)] = 0.0
    return linear_amplitudes(model, start, values, weights)


def presence(model: CurveModel, params: np.ndarray, stderr: np.ndarray, sigmas: float,
             signed: bool = True) -> np.ndarray:
    """[..., n_peaks] bool: the peak's area exceeds ``sigmas`` standard errors (``signed=False``: its magnitude
    does, as for a hump that a background subtraction leaves negative)."""
    if not isinstance(model, PeakModel):
        return np.zeros((*params.shape[:-1], 0), dtype=bool)
    area = params[..., 0:3 * len(model.peaks):3]
    error = stderr[..., 0:3 * len(model.peaks):3]
    with np.errstate(invalid="ignore"):
        significance = np.nan_to_num(area / error, nan=0.0)
    return (significance if signed else np.abs(significance)) > sigmas


def parameter_units(model: CurveModel, intensity: str) -> dict[str, str]:
    """The unit of every model parameter, given the curves' intensity unit."""
    if isinstance(model, PowerLawModel):
        return {"amplitude": f"{intensity} * (1/angstrom)^alpha", "alpha": "", "constant": intensity}
    units = {}
    for peak in model.peaks:
        units.update({f"{peak}_area": f"{intensity} * 1/angstrom", f"{peak}_centre": Q_UNITS, f"{peak}_fwhm": Q_UNITS})
    for k in range(model.background_order + 1):
        units[f"bkg_c{k}"] = intensity if k == 0 else f"{intensity} * angstrom^{k}"
    return units


