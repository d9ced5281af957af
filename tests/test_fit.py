"""The fit step: statistics on simulated curves, batched vs lmfit, and the simulated operando experiment."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest_operando import run_operando_pipeline, shared_operando_folder
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.simulate import physics
from swaxs_plugins.steps.fit.solver import FitStatus, LMOptions, solve, weights_from_errors
from swaxs_plugins.steps.fit.lmfit_engine import solve_lmfit
from swaxs_plugins.steps.fit.models import build_model, initial_values, parameter_arrays
from swaxs_plugins.steps.fit.parameters import FitParameters

Q = np.linspace(1.1, 2.6, 200)
#: A sodiated hard-carbon curve (areas in counts x 1/angstrom): 002, Na metal, pseudo-metal, linear background.
TRUTH = {"c002": (60.0, 1.632, 0.35), "na_metal": (4.0, 2.072, 0.02), "pseudo_metal": (12.0, 2.17, 0.22)}
BACKGROUND = (40.0, -8.0)


def _params(**overrides: object) -> FitParameters:
    values = {"components": list(TRUTH), "background": "linear", "pixel_fixed": [], "shared_shapes": []} | overrides
    return FitParameters.model_validate(values)


def _truth_vector() -> np.ndarray:
    return np.array([v for peak in TRUTH.values() for v in peak] + list(BACKGROUND))


def _noisy_curves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts of the true curve, with errors sqrt(expected counts).

    Errors from the measured counts (sqrt(N)) would bias every fit low by about one count per
    point (Neyman's chi2), a property of those weights, not of the solver under test.
    """
    model = build_model(_params(), Q)
    expected = model(_truth_vector()[np.newaxis])[0][0]
    counts = np.random.default_rng(seed).poisson(expected, (n, Q.size)).astype(float)
    return counts, np.broadcast_to(np.sqrt(expected), counts.shape).copy()


def _fit(curves: np.ndarray, errors: np.ndarray, solver=solve, **overrides: object):
    """Fit with the batched solver (variable projection on the areas and background) or lmfit."""
    params = _params(**overrides)
    model = build_model(params, Q)
    lower, upper, start, vary = parameter_arrays(params, model)
    values, weights = weights_from_errors(curves, errors)
    begin = initial_values(model, start, values, weights)
    shape = begin.shape
    arguments = (model, begin, values, weights, np.broadcast_to(lower, shape), np.broadcast_to(upper, shape),
                 np.broadcast_to(vary, shape), LMOptions(scale_covar=False))
    return solver(*arguments, model.amplitude_index) if solver is solve else solver(*arguments)


def test_parameters_within_two_standard_errors_and_errors_match_scatter() -> None:
    """2000 noise realisations, errors the true Poisson errors (covariance not rescaled by chi2).

    A perfect estimator has |z| <= 2 for 95.45 % of curves, which at 2000 curves fluctuates by
    ±0.47 % (binomial) per parameter: the 95 % criterion holds for all parameters pooled
    (22000 estimates, ±0.14 %), and each parameter must stay within 3 binomial deviations (94 %).
    """
    curves, errors = _noisy_curves(2000, seed=3)
    result = _fit(curves, errors)
    assert np.all(result.status == FitStatus.CONVERGED)
    truth = _truth_vector()
    pulls = (result.params - truth) / result.stderr
    within = np.mean(np.abs(pulls) <= 2.0, axis=0)
    assert np.mean(np.abs(pulls) <= 2.0) >= 0.95
    assert np.all(within >= 0.94), dict(zip(build_model(_params(), Q).names, within))
    scatter = result.params.std(axis=0, ddof=1)
    reported = np.sqrt(np.mean(result.stderr**2, axis=0))
    assert np.all(np.abs(reported / scatter - 1.0) <= 0.2), reported / scatter


def test_batched_and_lmfit_engines_agree() -> None:
    curves, errors = _noisy_curves(25, seed=5)
    batched = _fit(curves, errors)
    reference = _fit(curves, errors, solver=solve_lmfit)
    assert np.all(batched.status == FitStatus.CONVERGED) and np.all(reference.status == FitStatus.CONVERGED)
    difference = np.abs(batched.params - reference.params)
    tolerance = np.maximum(1e-3 * np.abs(reference.params), 0.1 * reference.stderr)
    assert np.all(difference <= tolerance), (difference / tolerance).max(axis=0)
    assert np.allclose(batched.stderr, reference.stderr, rtol=0.02)


def test_variable_projection_and_full_problem_agree() -> None:
    """Eliminating the linear parameters changes the path, not the minimum or its standard errors."""
    curves, errors = _noisy_curves(200, seed=13)
    projected = _fit(curves, errors)
    full = _fit(curves, errors, solver=lambda *arguments: solve(*arguments, linear=None))
    assert np.all(projected.status == FitStatus.CONVERGED) and np.all(full.status == FitStatus.CONVERGED)
    assert np.all(np.abs(projected.params - full.params) <= 0.01 * full.stderr)
    assert np.allclose(projected.stderr, full.stderr, rtol=1e-3)


def test_failed_and_empty_curves_are_nan_with_a_status() -> None:
    curves, errors = _noisy_curves(3, seed=7)
    curves[1] = np.nan
    curves[2, :] = 0.0
    errors[2, :] = 1.0
    result = _fit(curves, errors)
    assert result.status[0] == FitStatus.CONVERGED
    assert result.status[1] == FitStatus.NO_DATA and np.all(np.isnan(result.params[1]))
    assert result.status[2] != FitStatus.CONVERGED or np.all(np.isfinite(result.params[2]))


def test_power_law_recovers_alpha() -> None:
    q = np.geomspace(0.006, 0.04, 120)
    expected = 2e-3 * q**-3.3 + 50.0
    rng = np.random.default_rng(11)
    curves = rng.poisson(expected, (200, q.size)).astype(float)
    params = FitParameters(model="saxs_power_law")
    model = build_model(params, q)
    lower, upper, start, vary = parameter_arrays(params, model)
    values, weights = weights_from_errors(curves, np.sqrt(curves))
    begin = initial_values(model, start, values, weights)
    result = solve(model, begin, values, weights, np.broadcast_to(lower, begin.shape),
                   np.broadcast_to(upper, begin.shape), np.broadcast_to(vary, begin.shape))
    pulls = (result.params[:, 1] - 3.3) / result.stderr[:, 1]
    assert np.mean(np.abs(pulls) <= 2) >= 0.95
    assert abs(result.params[:, 1].std() / result.stderr[:, 1].mean() - 1) <= 0.2


#: The fit steps as in the default operando pipeline (the snippet given in docs/steps/fit.md).
FIT_STEPS = """
  - id: waxs_fit_background
    kind: background
    inputs: {curves: waxs_transmission, masks: map_masks}
    params: {mask: electrolyte, background_scan: 0}
  - id: waxs_fit
    kind: fit
    inputs: {curves: waxs_fit_background, mask: map_masks}
    params: {model: waxs_peaks, mask_name: electrode}
  - id: saxs_fit
    kind: fit
    inputs: {curves: saxs_transmission, mask: map_masks}
    params: {model: saxs_power_law, mask_name: electrode}
"""


@pytest.fixture(scope="module")
def operando(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """The session's simulated operando experiment (true geometries) and its map steps, then fitted."""
    folder = shared_operando_folder(tmp_path_factory)
    return folder, run_operando_pipeline(folder, extra_steps=FIT_STEPS)


def test_operando_d002_shift_per_scan(operando: tuple[Path, dict[str, Path]]) -> None:
    """The d002 shift of the electrode-averaged curve against the truth's electrode mean, every scan."""
    folder, steps = operando
    with h5py.File(steps["waxs_fit"], "r") as handle:
        shift = handle["waxs_fit/series/d002_shift"][()]
    with h5py.File(folder / "truth" / "operando_truth.h5", "r") as truth:
        true_d = truth["d002"][()]
    assert np.all(np.abs(shift - (true_d - true_d[0])) <= 0.002), shift - (true_d - true_d[0])


def test_operando_pseudo_metal_only_where_present(operando: tuple[Path, dict[str, Path]]) -> None:
    """Found in every electrode pixel and scan where the truth holds a detectable amount, nowhere else."""
    folder, steps = operando
    with h5py.File(steps["waxs_fit"], "r") as handle:
        found = handle["waxs_fit/maps/pseudo_metal_present/pseudo_metal_present"][()].astype(bool)
        status = handle["waxs_fit/maps/status/status"][()]
    with h5py.File(folder / "truth" / "operando_truth.h5", "r") as truth:
        area = truth["params/pseudo_metal_area"][()]
        electrode = truth["masks/electrode"][()]
    assert not np.any(found & (area == 0)), np.argwhere(found & (area == 0))
    detectable = area > 2e-6
    assert detectable.any() and np.all(found[detectable])
    assert np.all(status[:, electrode] <= FitStatus.AT_BOUND)


def test_operando_outputs_validate_and_plot(operando: tuple[Path, dict[str, Path]]) -> None:
    folder, steps = operando
    for step_id in ("waxs_fit", "saxs_fit"):
        reports = validate_file(steps[step_id])
        assert all(r.ok for r in reports), [r.messages for r in reports]
        assert (steps[step_id].parent / f"{step_id}_averaged_fits.png").is_file()
    assert (steps["waxs_fit"].parent / "waxs_fit_d002.png").is_file()
    with h5py.File(steps["saxs_fit"], "r") as handle:
        alpha = handle["saxs_fit/series/alpha"][()]
        maps = handle["saxs_fit/maps/alpha/alpha"]
        assert maps.shape[0] == len(alpha) and maps.attrs["units"] == ""
        assert handle["saxs_fit/maps/alpha/y"].attrs["long_name"]
    assert np.all(np.abs(alpha - physics.CurveParams().particle_exponent) < 0.1), alpha
