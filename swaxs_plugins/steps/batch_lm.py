"""A Levenberg–Marquardt solver vectorised across many curves at once (numpy).

Fitting a map means thousands of small, independent weighted least-squares problems with the same
model and the same q grid. Solving them one by one (lmfit, MINPACK) pays Python overhead per curve
and per iteration; here every iteration is a handful of numpy operations on arrays
``[curves, q, parameters]``, so that overhead is paid once per block. Each curve keeps its own
damping factor and stops on its own; bounds are enforced by projection (clipping) of each step.

The damping is Marquardt's (``J^T W J + λ diag(J^T W J)``), solved in Jacobi-scaled form so that
parameters of very different magnitude (areas ~1e-5, centres ~1) do not spoil the conditioning.
Standard errors come from the inverse of ``J^T W J`` at the minimum, scaled by the reduced χ²
when ``scale_covar`` (as lmfit does by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

#: model(params [n, p]) -> (values [n, m], jacobian [n, m, p]), on the problem's q grid.
ModelFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class FitStatus(IntEnum):
    """Outcome of one curve's fit, as stored in the status maps."""

    CONVERGED = 0
    AT_BOUND = 1
    NOT_CONVERGED = 2
    FAILED = 3
    NO_DATA = 4


STATUS_MEANINGS = {
    FitStatus.CONVERGED: "converged",
    FitStatus.AT_BOUND: "converged with a varied parameter at a bound (its standard error is NaN)",
    FitStatus.NOT_CONVERGED: "stopped at the iteration limit",
    FitStatus.FAILED: "failed: non-finite model, singular normal matrix or too few data points (NaN)",
    FitStatus.NO_DATA: "no data: the curve holds no finite point with a positive error (NaN)",
}


@dataclass(frozen=True)
class LMResult:
    """Fits of n curves: best parameters, standard errors, χ² and status, each [n, ...]."""

    params: np.ndarray
    stderr: np.ndarray
    chi2: np.ndarray
    redchi: np.ndarray
    n_data: np.ndarray
    iterations: np.ndarray
    status: np.ndarray


@dataclass(frozen=True)
class LMOptions:
    """Stopping rules (MINPACK's default tolerances, as lmfit uses) and error scaling."""

    max_iterations: int = 200
    ftol: float = 1.5e-8
    xtol: float = 1.5e-8
    lambda_start: float = 1e-3
    lambda_max: float = 1e12
    scale_covar: bool = True


def weights_from_errors(values: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Data with NaNs zeroed and weights 1/σ (0 where the point is unusable)."""
    usable = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
    weights = np.zeros(values.shape)
    np.divide(1.0, errors, out=weights, where=usable)
    return np.where(usable, values, 0.0), weights


def solve(model: ModelFunction, start: np.ndarray, values: np.ndarray, weights: np.ndarray, lower: np.ndarray,
          upper: np.ndarray, vary: np.ndarray, options: LMOptions = LMOptions()) -> LMResult:
    """Minimise Σ (w (y − f(p)))² for every curve at once.

    ``start``, ``lower``, ``upper``: [n, p]; ``vary``: [n, p] bool (fixed parameters keep their start
    value); ``values``, ``weights``: [n, m] (weight 0 drops a point). Never raises on a bad curve:
    its parameters become NaN and its status says why.
    """
    n, p_count = start.shape
    params = np.clip(start.astype(np.float64), lower, upper)
    vary = np.broadcast_to(vary, params.shape)
    n_data = np.count_nonzero(weights, axis=1)
    dof = n_data - vary.sum(axis=1)
    status = np.full(n, FitStatus.NOT_CONVERGED, dtype=np.int8)
    status[n_data == 0] = FitStatus.NO_DATA
    status[(n_data > 0) & (dof <= 0)] = FitStatus.FAILED
    active = status == FitStatus.NOT_CONVERGED
    chi2 = np.full(n, np.nan)
    chi2[active] = _chi2(model, params[active], values[active], weights[active])
    active &= np.isfinite(chi2)
    status[~np.isfinite(chi2) & (status == FitStatus.NOT_CONVERGED)] = FitStatus.FAILED
    damping = np.full(n, options.lambda_start)
    iterations = np.zeros(n, dtype=np.int32)
    for _ in range(options.max_iterations):
        index = np.flatnonzero(active)
        if index.size == 0:
            break
        done = _iterate(model, params, chi2, damping, index, values, weights, lower, upper, vary, options)
        iterations[index] += 1
        status[index[done]] = FitStatus.CONVERGED
        active[index[done]] = False
    return _finish(model, params, chi2, n_data, dof, iterations, status, values, weights, lower, upper, vary,
                   options)


def _chi2(model: ModelFunction, params: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    fitted, _ = model(params)
    return np.sum(((values - fitted) * weights) ** 2, axis=1)


def _normal_equations(model: ModelFunction, params: np.ndarray, values: np.ndarray, weights: np.ndarray,
                      vary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """J^T W J [k, p, p] and J^T W r [k, p] with fixed parameters' columns zeroed."""
    fitted, jacobian = model(params)
    residual = (values - fitted) * weights
    weighted = jacobian * (weights[..., np.newaxis] * vary[:, np.newaxis, :])
    normal = np.matmul(weighted.transpose(0, 2, 1), weighted)
    gradient = np.einsum("kmp,km->kp", weighted, residual)
    return normal, gradient


def _iterate(model: ModelFunction, params: np.ndarray, chi2: np.ndarray, damping: np.ndarray, index: np.ndarray,
             values: np.ndarray, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray, vary: np.ndarray,
             options: LMOptions) -> np.ndarray:
    """One damped step for the curves in ``index`` (updated in place); returns which of them converged."""
    current, y, w, v = params[index], values[index], weights[index], vary[index]
    normal, gradient = _normal_equations(model, current, y, w, v)
    scale = np.sqrt(np.einsum("kpp->kp", normal))
    scale[scale == 0] = 1.0
    scaled = normal / (scale[:, :, np.newaxis] * scale[:, np.newaxis, :])
    lam = damping[index]
    system = scaled + (lam[:, np.newaxis, np.newaxis] + (~v)[:, :, np.newaxis] * 1.0) * np.eye(scaled.shape[1])
    step = np.linalg.solve(system, (gradient / scale)[..., np.newaxis])[..., 0] / scale
    trial = np.where(v, np.clip(current + step, lower[index], upper[index]), current)
    trial_chi2 = _chi2(model, trial, y, w)
    better = np.isfinite(trial_chi2) & (trial_chi2 <= chi2[index])
    decrease = (chi2[index] - trial_chi2) / np.maximum(chi2[index], np.finfo(float).tiny)
    moved = np.abs(trial - current) <= options.xtol * (np.abs(current) + options.xtol)
    converged = better & ((decrease <= options.ftol) | np.all(moved, axis=1))
    params[index[better]] = trial[better]
    chi2[index[better]] = trial_chi2[better]
    damping[index] = np.where(better, np.maximum(lam / 10.0, 1e-12), lam * 10.0)
    stalled = ~better & (damping[index] > options.lambda_max)
    return converged | stalled


def _finish(model: ModelFunction, params: np.ndarray, chi2: np.ndarray, n_data: np.ndarray, dof: np.ndarray,
            iterations: np.ndarray, status: np.ndarray, values: np.ndarray, weights: np.ndarray, lower: np.ndarray,
            upper: np.ndarray, vary: np.ndarray, options: LMOptions) -> LMResult:
    """Standard errors from the normal matrix at the minimum; NaN for failed curves and bound parameters."""
    at_bound = vary & (np.isclose(params, lower, rtol=1e-9, atol=0) | np.isclose(params, upper, rtol=1e-9, atol=0))
    free = vary & ~at_bound
    fitted = np.isin(status, (FitStatus.CONVERGED, FitStatus.NOT_CONVERGED))
    stderr = np.full(params.shape, np.nan)
    redchi = np.where(dof > 0, chi2 / np.maximum(dof, 1), np.nan)
    index = np.flatnonzero(fitted)
    if index.size:
        normal, _ = _normal_equations(model, params[index], values[index], weights[index], free[index])
        variance, singular = _inverse_diagonal(normal, free[index])
        if options.scale_covar:
            variance *= redchi[index, np.newaxis]
        stderr[index] = np.where(free[index], np.sqrt(variance), np.nan)
        status[index[singular]] = FitStatus.FAILED
    bound_hit = np.any(at_bound, axis=1) & (status == FitStatus.CONVERGED)
    status[bound_hit] = FitStatus.AT_BOUND
    failed = np.isin(status, (FitStatus.FAILED, FitStatus.NO_DATA))
    params = params.copy()
    params[failed], stderr[failed], chi2[failed], redchi[failed] = np.nan, np.nan, np.nan, np.nan
    return LMResult(params, stderr, chi2, redchi, n_data, iterations, status)


def _inverse_diagonal(normal: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal of the inverse of each normal matrix over its free parameters, and which are singular."""
    scale = np.sqrt(np.einsum("kpp->kp", normal))
    scale[~free | (scale == 0)] = 1.0
    scaled = normal / (scale[:, :, np.newaxis] * scale[:, np.newaxis, :]) + (~free)[:, :, np.newaxis] * np.eye(
        normal.shape[1])
    singular_values = np.linalg.svd(scaled, compute_uv=False)
    singular = singular_values[:, -1] <= 1e-12 * singular_values[:, 0]
    safe = np.where(singular[:, np.newaxis, np.newaxis], np.eye(normal.shape[1]), scaled)
    inverse = np.einsum("kpp->kp", np.linalg.inv(safe)) / scale**2
    inverse[singular] = np.nan
    return inverse, singular
