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

Separable problems (variable projection, Golub & Pereyra 1973, with Kaufman's Jacobian): the caller
names the parameters the model is linear in (peak areas, background coefficients, power-law
amplitude and constant); those that are free and unbounded in every curve are eliminated: the
damped steps move only the other parameters, and after each step the eliminated ones are solved
exactly by weighted linear least squares. A bounded or fixed amplitude simply stays among the
damped parameters (the model is linear in the eliminated ones whatever the others are), so a bound
such as ``area >= 0`` costs one more damped parameter, never the elimination of the others. The
minimum is the same as the full problem's; the search runs in a space of a third of the dimension
and without the long, narrow valleys that strongly correlated amplitudes make, which is where the
plain iteration spent most of its steps (curves where a component is absent ran into the iteration
limit).

A parameter the data say nothing about at the minimum (its Jacobian column is zero: the centre or
width of a peak whose area sits at a bound of 0) gets a NaN standard error; it does not make the
curve's fit fail.
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
    NOT_EVALUATED = 5


STATUS_MEANINGS = {
    FitStatus.CONVERGED: "converged",
    FitStatus.AT_BOUND: "converged with a varied parameter at a bound (its standard error is NaN)",
    FitStatus.NOT_CONVERGED: "stopped at the iteration limit",
    FitStatus.FAILED: "failed: non-finite model, singular normal matrix or too few data points (NaN)",
    FitStatus.NO_DATA: "no data: the curve holds no finite point with a positive error (NaN)",
    FitStatus.NOT_EVALUATED: "not evaluated: outside the fitted region (NaN)",
}
#: The outcomes that give no usable fit of a curve that was fitted.
FAILED_STATUSES = (FitStatus.NOT_CONVERGED, FitStatus.FAILED, FitStatus.NO_DATA)


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
          upper: np.ndarray, vary: np.ndarray, options: LMOptions = LMOptions(),
          linear: np.ndarray | None = None) -> LMResult:
    """Minimise Σ (w (y − f(p)))² for every curve at once.

    ``start``, ``lower``, ``upper``: [n, p]; ``vary``: [n, p] bool (fixed parameters keep their start
    value); ``values``, ``weights``: [n, m] (weight 0 drops a point); ``linear``: indices of the
    parameters the model is linear in (variable projection on those free and unbounded in every curve).
    Never raises on a bad curve: its parameters become NaN and its status says why.
    """
    n = start.shape[0]
    params = np.clip(start.astype(np.float64), lower, upper)
    vary = np.broadcast_to(vary, params.shape)
    linear = separable_index(linear, lower, upper, vary)
    if linear.size:
        params = solve_linear(model, params, values, weights, linear)
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
        done = _iterate(model, params, chi2, damping, index, values, weights, lower, upper, vary, options, linear)
        iterations[index] += 1
        status[index[done]] = FitStatus.CONVERGED
        active[index[done]] = False
    return _finish(model, params, chi2, n_data, dof, iterations, status, values, weights, lower, upper, vary,
                   options)


def separable_index(linear: np.ndarray | None, lower: np.ndarray, upper: np.ndarray, vary: np.ndarray) -> np.ndarray:
    """The linear parameters to eliminate: those of ``linear`` free and unbounded in every curve."""
    if linear is None or len(linear) == 0:
        return np.zeros(0, dtype=int)
    linear = np.asarray(linear)
    eligible = (np.all(vary[:, linear], axis=0) & np.all(np.isneginf(lower[:, linear]), axis=0)
                & np.all(np.isposinf(upper[:, linear]), axis=0))
    return linear[eligible]


def solve_linear(model: ModelFunction, params: np.ndarray, values: np.ndarray, weights: np.ndarray,
                 linear: np.ndarray) -> np.ndarray:
    """``params`` with the parameters ``linear`` solved by weighted linear least squares, the others kept.

    The model is linear in them, so its Jacobian columns are their basis functions and the rest of
    the model is f − basis · p_linear. Curves without data or with a singular basis keep their values.
    """
    return _solve_linear(model, params, values, weights, linear)[0]


def _solve_linear(model: ModelFunction, params: np.ndarray, values: np.ndarray, weights: np.ndarray,
                  linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_linear` and the χ² of its result (from the same model evaluation)."""
    fitted, jacobian = model(params)
    basis = jacobian[:, :, linear]
    rest = fitted - np.einsum("kml,kl->km", basis, params[:, linear])
    weighted = basis * weights[..., np.newaxis]
    amplitudes = _scaled_lstsq(weighted, ((values - rest) * weights)[..., np.newaxis])[..., 0]
    result = params.copy()
    solved = np.all(np.isfinite(amplitudes), axis=1) & np.any(weights > 0, axis=1)
    result[np.ix_(solved, linear)] = amplitudes[solved]
    residual = (values - rest - np.einsum("kml,kl->km", basis, result[:, linear])) * weights
    return result, np.sum(residual**2, axis=1)


def _scaled_lstsq(basis: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares solutions X [k, l, c] of basis [k, m, l] · X = target [k, m, c] (Jacobi-scaled normal equations)."""
    normal = np.matmul(basis.transpose(0, 2, 1), basis)
    scale = np.sqrt(np.einsum("kll->kl", normal))
    scale[scale == 0] = 1.0
    scaled = normal / (scale[:, :, np.newaxis] * scale[:, np.newaxis, :]) + 1e-12 * np.eye(normal.shape[1])
    rhs = np.matmul(basis.transpose(0, 2, 1), target) / scale[..., np.newaxis]
    return np.linalg.solve(scaled, rhs) / scale[..., np.newaxis]


def _chi2(model: ModelFunction, params: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    fitted, _ = model(params)
    return np.sum(((values - fitted) * weights) ** 2, axis=1)


def _normal_equations(model: ModelFunction, params: np.ndarray, values: np.ndarray, weights: np.ndarray,
                      vary: np.ndarray, linear: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """J^T W J [k, p, p] and J^T W r [k, p] with fixed parameters' rows and columns zero.

    Only the columns some curve varies are multiplied out. With ``linear`` (amplitudes already at
    their optimum, not in ``vary``), the varied columns are projected onto the complement of the
    linear parameters' basis: Kaufman's Jacobian of the variable-projection residual.
    """
    fitted, jacobian = model(params)
    residual = (values - fitted) * weights
    columns = np.flatnonzero(vary.any(axis=0))
    weighted = jacobian[:, :, columns] * (weights[..., np.newaxis] * vary[:, np.newaxis, columns])
    if linear is not None and linear.size:
        basis = jacobian[:, :, linear] * weights[..., np.newaxis]
        weighted -= np.matmul(basis, _scaled_lstsq(basis, weighted))
    normal = np.zeros((*params.shape, params.shape[1]))
    gradient = np.zeros(params.shape)
    normal[:, columns[:, np.newaxis], columns] = np.matmul(weighted.transpose(0, 2, 1), weighted)
    gradient[:, columns] = np.einsum("kmp,km->kp", weighted, residual)
    return normal, gradient


def _iterate(model: ModelFunction, params: np.ndarray, chi2: np.ndarray, damping: np.ndarray, index: np.ndarray,
             values: np.ndarray, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray, vary: np.ndarray,
             options: LMOptions, linear: np.ndarray) -> np.ndarray:
    """One damped step for the curves in ``index`` (updated in place); returns which of them converged."""
    current, y, w = params[index], values[index], weights[index]
    v = vary[index].copy()
    v[:, linear] = False
    normal, gradient = _normal_equations(model, current, y, w, v, linear)
    scale = np.sqrt(np.einsum("kpp->kp", normal))
    scale[scale == 0] = 1.0
    scaled = normal / (scale[:, :, np.newaxis] * scale[:, np.newaxis, :])
    lam = damping[index]
    system = scaled + (lam[:, np.newaxis, np.newaxis] + (~v)[:, :, np.newaxis] * 1.0) * np.eye(scaled.shape[1])
    step = np.linalg.solve(system, (gradient / scale)[..., np.newaxis])[..., 0] / scale
    trial = np.where(v, np.clip(current + step, lower[index], upper[index]), current)
    if linear.size:
        trial, trial_chi2 = _solve_linear(model, trial, y, w, linear)
    else:
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
        informed = free[index] & (np.einsum("kpp->kp", normal) > 0)
        normal *= informed[:, :, np.newaxis] & informed[:, np.newaxis, :]
        free[index] = informed
        variance, singular = _inverse_diagonal(normal, informed)
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
