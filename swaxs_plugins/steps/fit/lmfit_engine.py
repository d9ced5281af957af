"""The ``engine: lmfit`` solver: one ``lmfit.minimize`` per curve, the reference the batched solver is tested against."""

from __future__ import annotations

from typing import Any

import numpy as np

from swaxs_plugins.steps.fit.models import CurveModel, PeakModel
from swaxs_plugins.steps.fit.solver import FitStatus, LMOptions, LMResult


def solve_lmfit(model: CurveModel, start: np.ndarray, values: np.ndarray, weights: np.ndarray, lower: np.ndarray,
                upper: np.ndarray, vary: np.ndarray, options: LMOptions) -> LMResult:
    """One ``lmfit.minimize(method='leastsq')`` per curve; same inputs and result as :func:`.solver.solve`."""
    n, n_params = start.shape
    out = {key: np.full((n, n_params) if key in ("params", "stderr") else n, np.nan)
           for key in ("params", "stderr", "chi2", "redchi")}
    status = np.full(n, FitStatus.FAILED, dtype=np.int8)
    n_data = np.count_nonzero(weights, axis=1)
    iterations = np.zeros(n, dtype=np.int32)
    for i in range(n):
        if n_data[i] == 0:
            status[i] = FitStatus.NO_DATA
            continue
        fitted = _lmfit_one(model, start[i], values[i], weights[i], lower[i], upper[i], vary[i], options)
        if fitted is not None:
            out["params"][i], out["stderr"][i], out["chi2"][i], out["redchi"][i], status[i], iterations[i] = fitted
    return LMResult(out["params"], out["stderr"], out["chi2"], out["redchi"], n_data, iterations, status)


def _lmfit_one(model: CurveModel, start: np.ndarray, values: np.ndarray, weights: np.ndarray, lower: np.ndarray,
               upper: np.ndarray, vary: np.ndarray, options: LMOptions) -> tuple[Any, ...] | None:
    import lmfit

    names, used = model.names, weights > 0
    if used.sum() <= vary.sum():
        return None
    parameters = lmfit.Parameters()
    for name, value, low, high, free in zip(names, start, lower, upper, vary):
        parameters.add(name, value=value, min=low, max=high, vary=bool(free))
    sub_model = type(model)(model.q[used], *_model_fields(model))

    def residual(p: lmfit.Parameters) -> np.ndarray:
        vector = np.array([p[name].value for name in names])[np.newaxis]
        return (values[used] - sub_model(vector)[0][0]) * weights[used]

    result = lmfit.minimize(residual, parameters, method="leastsq", scale_covar=options.scale_covar,
                            max_nfev=options.max_iterations * (len(names) + 1))
    best = np.array([result.params[name].value for name in names])
    if not np.all(np.isfinite(best)):
        return None
    at_bound = vary & (np.isclose(best, lower, rtol=1e-9, atol=0) | np.isclose(best, upper, rtol=1e-9, atol=0))
    errors = np.array([np.nan if result.params[name].stderr is None else result.params[name].stderr for name in names])
    errors[~vary | at_bound] = np.nan
    state = FitStatus.AT_BOUND if at_bound.any() else FitStatus.CONVERGED if result.success else FitStatus.NOT_CONVERGED
    return best, errors, result.chisqr, result.redchi, state, result.nfev


def _model_fields(model: CurveModel) -> tuple[Any, ...]:
    return (model.peaks, model.background_order, model.q_ref) if isinstance(model, PeakModel) else ()


