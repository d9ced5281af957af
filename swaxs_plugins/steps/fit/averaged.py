"""The region-averaged fits of the ``fit`` step and the checks that say when one cannot be trusted.

Every scan's region-averaged curve is fitted before any pixel, and every pixel fit of that scan
starts from it, so a wrong averaged fit spoils a whole scan without a single pixel fit failing.
Three things keep it right or make it say so:

1. **Several starts.** A peak whose position moves with the chemistry (the pseudo-metal, 2.08-2.2
   1/Å and beyond) can leave a fit from one start in a local minimum in which the 002 peak widens to
   cover it. Each start of ``averaged_starts`` (the spec start with one parameter changed) is fitted
   too, all curves and starts in one batched solve, and the lowest χ² is kept.
2. **Absent components held.** A component whose area is not significant (|area| ≤
   ``presence_sigma`` standard errors; a hump left negative by a background subtraction is there)
   has no position or width to fit: free, they wander to a bound or to the iteration limit. So
   has one that is significant only with its shape run onto a bound: at high counts a broad
   pseudo-metal at its widest fills what the quadratic background misses of the electrolyte's
   hump at 3 1/Å (seen on the simulated paper-scale electrode average). Their centres and FWHMs
   are held at the spec start and the curve fitted again; a component on a bound that is still
   significant with its start shape is really there, and keeps its shape free.
3. **Checks.** A fit that stopped at the iteration limit, failed or had no data; a varied parameter
   at one of its bounds; a reduced χ² above ``max_reduced_chi2``: each is a problem of that scan,
   which the step reports as a warning and with which it flags the scan's pixel fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from swaxs_plugins.steps.fit.models import CurveModel, initial_values, presence
from swaxs_plugins.steps.fit.solver import STATUS_MEANINGS, FitStatus, LMResult

#: fit(start [n, p], values [n, m], weights [n, m], vary [n, p]) -> result of n curves.
Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], LMResult]


@dataclass(frozen=True)
class AveragedProblem:
    """What the averaged fits share: the model, the spec starts and bounds, and how to fit."""

    fit: Fitter
    model: CurveModel
    start: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    extra_starts: Sequence[tuple[int, float]]
    presence_sigma: float


def region_average(values: np.ndarray, errors: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean curve of the region's pixels per scan [scan, q], error sqrt(Σσ²)/N over finite points."""
    inside = region[..., np.newaxis] & np.isfinite(values) & np.isfinite(errors)
    count = inside.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(inside, values, 0.0).sum(axis=(1, 2)) / count
        error = np.sqrt(np.where(inside, errors**2, 0.0).sum(axis=(1, 2))) / count
    return mean, error


def fit_averaged(problem: AveragedProblem, values: np.ndarray, weights: np.ndarray, vary: np.ndarray,
                 shared: np.ndarray) -> tuple[LMResult, np.ndarray]:
    """Every scan's averaged curve [scan, m]; the ``shared`` shapes fitted on the first, held in the others.

    Returns the fits and which parameters each scan's fit varied [scan, p].
    """
    start = np.repeat(problem.start[np.newaxis], values.shape[0], axis=0)
    first, first_vary = fit_curves(problem, start[:1], values[:1], weights[:1], np.broadcast_to(vary, (1, vary.size)))
    if values.shape[0] == 1:
        return first, first_vary
    rest_vary = np.broadcast_to(vary, start[1:].shape)
    if shared.any() and np.all(np.isfinite(first.params[0, shared])):
        start[1:, shared] = first.params[0, shared]
        rest_vary = rest_vary & ~shared
    rest, rest_vary = fit_curves(problem, start[1:], values[1:], weights[1:], rest_vary)
    joined = LMResult(*(np.concatenate([getattr(first, f.name), getattr(rest, f.name)]) for f in fields(LMResult)))
    return joined, np.concatenate([first_vary, rest_vary])


def fit_curves(problem: AveragedProblem, start: np.ndarray, values: np.ndarray, weights: np.ndarray,
               vary: np.ndarray) -> tuple[LMResult, np.ndarray]:
    """Best of several starts for each curve, then a refit with the shapes of absent components held.

    Absent: not significant, or significant only with its shape run onto a bound (a broad Gaussian
    filling what the background polynomial misses) and not with its shape at the start. A component
    on a bound that stays significant at its start shape is really there: its shape stays free, and
    the checks report the bound.
    """
    best = multistart(problem, start, values, weights, vary)
    significant = presence(problem.model, best.params, best.stderr, problem.presence_sigma, signed=False)
    on_bound = shapes_on_bound(problem, best.params, vary)
    absent = ~significant | on_bound
    trial, trial_vary = hold_shapes(problem, best, start, values, weights, vary, absent)
    there = on_bound & presence(problem.model, trial.params, trial.stderr, problem.presence_sigma, signed=False)
    if not there.any():
        return trial, trial_vary
    return hold_shapes(problem, best, start, values, weights, vary, absent & ~there)


def hold_shapes(problem: AveragedProblem, best: LMResult, start: np.ndarray, values: np.ndarray,
                weights: np.ndarray, vary: np.ndarray, peaks: np.ndarray) -> tuple[LMResult, np.ndarray]:
    """Refit the curves where ``peaks`` [n, n_peaks] marks a peak: its centre and FWHM held at the spec start."""
    held = peak_shapes(peaks, best.params.shape) & vary
    again = np.flatnonzero(held.any(axis=1))
    if again.size == 0:
        return best, np.array(vary)
    fitted = np.where(np.isfinite(best.params[again]), best.params[again], start[again])
    restart = np.where(held[again], problem.start, fitted)
    refit = problem.fit(initial_values(problem.model, restart, values[again], weights[again]), values[again],
                        weights[again], vary[again] & ~held[again])
    return replace_rows(best, again, refit), np.array(vary) & ~held


def multistart(problem: AveragedProblem, start: np.ndarray, values: np.ndarray, weights: np.ndarray,
               vary: np.ndarray) -> LMResult:
    """Fit from ``start`` and from every extra start of a varied parameter; keep each curve's lowest χ²."""
    extra = [(column, value) for column, value in problem.extra_starts if np.all(vary[:, column])]
    starts = np.repeat(start[np.newaxis], 1 + len(extra), axis=0)
    for k, (column, value) in enumerate(extra, start=1):
        starts[k, :, column] = value
    n, n_trials = start.shape[0], len(starts)
    tiled_values, tiled_weights = np.tile(values, (n_trials, 1)), np.tile(weights, (n_trials, 1))
    begin = initial_values(problem.model, starts.reshape(n * n_trials, -1), tiled_values, tiled_weights)
    trials = problem.fit(begin, tiled_values, tiled_weights, np.tile(vary, (n_trials, 1)))
    chi2 = np.where(np.isfinite(trials.chi2), trials.chi2, np.inf).reshape(n_trials, n)
    chosen = np.argmin(chi2, axis=0) * n + np.arange(n)
    return LMResult(*(getattr(trials, f.name)[chosen] for f in fields(LMResult)))


def peak_shapes(peaks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """[n, p] bool: the centre and FWHM columns of the peaks marked in ``peaks`` [n, n_peaks]."""
    columns = np.zeros(shape, dtype=bool)
    for k in range(peaks.shape[1]):
        columns[:, 3 * k + 1:3 * k + 3] = peaks[:, k, np.newaxis]
    return columns


def shapes_on_bound(problem: AveragedProblem, params: np.ndarray, vary: np.ndarray) -> np.ndarray:
    """[n, n_peaks] bool: a varied centre or FWHM of the peak sits on one of its bounds."""
    n_peaks = len(getattr(problem.model, "peaks", ()))
    on = vary & (np.isclose(params, problem.lower, rtol=1e-9, atol=0)
                 | np.isclose(params, problem.upper, rtol=1e-9, atol=0))
    return on[:, 1:3 * n_peaks:3] | on[:, 2:3 * n_peaks:3]


def replace_rows(result: LMResult, rows: np.ndarray, replacement: LMResult) -> LMResult:
    """``result`` with the curves ``rows`` taken from ``replacement``."""
    merged = {}
    for f in fields(LMResult):
        array = np.array(getattr(result, f.name))
        array[rows] = getattr(replacement, f.name)
        merged[f.name] = array
    return LMResult(**merged)


def problems(result: LMResult, vary: np.ndarray, names: Sequence[str], lower: np.ndarray, upper: np.ndarray,
             max_reduced_chi2: float) -> list[str]:
    """Per curve: what makes its fit untrustworthy, '' when nothing does."""
    found = []
    for k in range(result.status.shape[0]):
        parts = []
        if result.status[k] in (FitStatus.NOT_CONVERGED, FitStatus.FAILED, FitStatus.NO_DATA):
            parts.append(f"{STATUS_MEANINGS[FitStatus(result.status[k])]} (status {int(result.status[k])})")
        parts += bound_problems(result.params[k], vary[k], names, lower, upper)
        if np.isfinite(result.redchi[k]) and result.redchi[k] > max_reduced_chi2:
            parts.append(f"reduced chi2 {result.redchi[k]:.3g} above max_reduced_chi2 {max_reduced_chi2:g}")
        found.append("; ".join(parts))
    return found


def bound_problems(params: np.ndarray, vary: np.ndarray, names: Sequence[str], lower: np.ndarray,
                   upper: np.ndarray) -> list[str]:
    """'<name> at its lower bound <value>' for every varied parameter of one fit that sits on a bound."""
    found = []
    for name, value, free, low, high in zip(names, params, vary, lower, upper):
        for side, bound in (("lower", low), ("upper", high)):
            if free and np.isfinite(bound) and np.isclose(value, bound, rtol=1e-9, atol=0):
                found.append(f"{name} at its {side} bound {bound:g}")
    return found
