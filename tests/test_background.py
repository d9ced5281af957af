"""background/subtract: the electrolyte-subtracted mean electrode curve against the true one within
its error bars, errors and negatives, the other sources (box, curve file, another step), bad input."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest_operando import operando_run, run_step, step_ref  # noqa: F401  (fixture)
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.data.curves import Curves, check_same_normalisation, read_curves
from swaxs_plugins.io.nexus import Axis
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.simulate.operando import params_at
from swaxs_plugins.simulate.physics import model_curve
from swaxs_plugins.steps.background import SubtractBackground


def true_mean_curve(truth, mask, scan, edges):
    """Mean true curve over the mask's points, averaged within each q bin (fine grid)."""
    fine = np.concatenate([np.linspace(lo, hi, 9) for lo, hi in zip(edges[:-1], edges[1:])])
    points = np.argwhere(mask)
    params = {k: v[scan] for k, v in truth["params"].items()}
    curves = np.mean([model_curve(fine, params_at(params, tuple(p))) for p in points], axis=0)
    return curves.reshape(-1, 9).mean(axis=1)


@pytest.mark.parametrize("detector", ["saxs", "waxs"])
def test_subtracted_electrode_curve_is_the_true_one_within_its_error_bars(operando_run, detector):
    step_id = f"{detector}_subtracted"
    handle, entry = operando_run.entry(step_id)
    with handle:
        q, intensity, errors = (entry[f"maps/curves/{n}"][()] for n in ("q", "I", "I_errors"))
        background_errors = entry["background/I_errors"][0]
    with h5py.File(operando_run.steps[f"{detector}_curves"], "r") as handle:
        edges = handle[f"{detector}_curves/integrated/radial_axis_edges"][()]
    electrode, electrolyte = operando_run.truth["masks"]["electrode"], operando_run.truth["masks"]["electrolyte"]
    measured = intensity[0][electrode].mean(axis=0)
    # Every pixel's error holds the background's in quadrature; the background is the same curve for
    # all pixels, so its error does not average down over the electrode: add it once, fully correlated.
    own_variance = (errors[0][electrode] ** 2 - background_errors**2).sum(axis=0) / electrode.sum() ** 2
    sigma = np.sqrt(own_variance + background_errors**2)
    expected = (true_mean_curve(operando_run.truth, electrode, 0, edges)
                - true_mean_curve(operando_run.truth, electrolyte, 0, edges))
    valid = np.isfinite(measured) & (q > (0.01 if detector == "saxs" else 0))  # beamstop edge: q^-4 inside a bin
    z = (measured - expected)[valid] / sigma[valid]
    assert np.mean(np.abs(z) < 3) > 0.98, np.sort(np.abs(z))[-10:]
    assert 0.5 < np.std(z) < 1.5
    assert np.any(expected < 0) or detector == "saxs"  # WAXS: 0.4 - 1.0 electrolyte gives negatives, kept


def test_errors_add_in_quadrature_and_negatives_are_kept(operando_run):
    handle, entry = operando_run.entry("waxs_subtracted")
    with handle:
        subtracted, errors = entry["maps/curves/I"][()], entry["maps/curves/I_errors"][()]
        background, b_err = entry["background/I"][()], entry["background/I_errors"][()]
        assert entry.attrs["default"] == "mean_curves"  # the view: the electrode's mean subtracted curve
        view, view_points = entry["mean_curves/I"][()], entry["mean_curves"].attrs["points"]
    with h5py.File(operando_run.steps["map_masks"], "r") as handle:
        electrode = handle["map_masks/masks/electrode/mask"][()].astype(bool)
    assert view_points == electrode.sum()
    np.testing.assert_allclose(view, np.nanmean(subtracted[:, electrode], axis=1), rtol=1e-4, atol=1e-9)
    with h5py.File(operando_run.steps["waxs_transmission"], "r") as handle:
        corrected = handle["waxs_transmission/maps/curves/I"][()]
        c_err = handle["waxs_transmission/maps/curves/I_errors"][()]
    electrolyte = operando_run.truth["masks"]["electrolyte"]
    np.testing.assert_allclose(background, np.nanmean(corrected[:, electrolyte], axis=1), rtol=1e-5)
    np.testing.assert_allclose(subtracted, corrected - background[:, None, None], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(errors, np.sqrt(c_err**2 + b_err[:, None, None] ** 2), rtol=1e-5)
    assert np.nanmin(subtracted) < 0
    assert all(r.ok for r in validate_file(operando_run.steps["waxs_subtracted"]))


def test_without_view_region_the_view_is_the_mean_outside_the_background(operando_run):
    handle, entry = operando_run.entry("saxs_subtracted")
    with handle:
        subtracted, view = entry["maps/curves/I"][()], entry["mean_curves/I"][()]
        log_log = json.loads(entry["mean_curves"].attrs["SILX_style"])
    with h5py.File(operando_run.steps["map_masks"], "r") as handle:
        outside = ~handle["map_masks/masks/electrolyte/mask"][()].astype(bool)
    np.testing.assert_allclose(view, np.nanmean(subtracted[:, outside], axis=1), rtol=1e-4, atol=1e-9)
    assert log_log == {"signal_scale_type": "log", "axes_scale_types": ["log", "log"]}  # SAXS: log-log


def test_box_curve_file_and_other_step_give_the_expected_background(operando_run, tmp_path):
    curves = step_ref(operando_run.steps["waxs_transmission"], "waxs_transmission", "transmission")
    out = run_step(SubtractBackground, {"box": [0, 6, 6, 8], "background_scan": 0}, {"curves": curves},
                   tmp_path / "b.nxs", "b")
    with h5py.File(out, "r") as handle, h5py.File(curves.path, "r") as source:
        corrected = source["waxs_transmission/maps/curves/I"][()]
        q = source["waxs_transmission/maps/curves/q"][()]
        expected = np.nanmean(corrected[0, :, 6:8].reshape(-1, q.size), axis=0)
        np.testing.assert_allclose(handle["b/background/I"][()], np.tile(expected, (5, 1)), rtol=1e-5)
    table = tmp_path / "curve.txt"
    np.savetxt(table, np.column_stack([[0.5, 4.5], [2.0, 2.0]]))
    out = run_step(SubtractBackground, {"curve": table}, {"curves": curves}, tmp_path / "c.nxs", "c")
    with h5py.File(out, "r") as handle:
        np.testing.assert_allclose(handle["c/maps/curves/I"][()], corrected - 2.0, rtol=1e-4, atol=1e-7)
    out = run_step(SubtractBackground, {}, {"curves": curves, "other": curves}, tmp_path / "o.nxs", "o")
    with h5py.File(out, "r") as handle:
        np.testing.assert_allclose(handle["o/background/I"][()],
                                   np.nanmean(corrected.reshape(5, -1, q.size), axis=1), rtol=1e-5)


def test_bad_input_errors_name_step_and_parameter(operando_run, tmp_path):
    curves = step_ref(operando_run.steps["waxs_transmission"], "waxs_transmission", "transmission")
    with pytest.raises(SwaxsError, match="exactly one background.*given: none"):
        run_step(SubtractBackground, {}, {"curves": curves}, tmp_path / "b.nxs", "b")
    with pytest.raises(SwaxsError, match=r"step 'b': parameter 'box' \[0, 0, 0, 0\] selects no point"):
        run_step(SubtractBackground, {"box": [0, 0, 0, 0]}, {"curves": curves}, tmp_path / "b.nxs", "b")
    table = tmp_path / "short.txt"
    np.savetxt(table, np.column_stack([[1.0, 2.0], [1.0, 1.0]]))
    with pytest.raises(InputDataError, match=r"short.txt: needs columns q, I covering"):
        run_step(SubtractBackground, {"curve": table}, {"curves": curves}, tmp_path / "b.nxs", "b")
    saxs = step_ref(operando_run.steps["saxs_transmission"], "saxs_transmission", "transmission")
    with pytest.raises(InputDataError, match=r"input 'other'.*saxs_transmission.nxs has another q grid"):
        run_step(SubtractBackground, {}, {"curves": curves, "other": saxs}, tmp_path / "b.nxs", "b")


def test_curves_of_another_normalisation_are_refused_naming_both_steps(operando_run, tmp_path):
    """The integrate step's curves (monitor-normalised, not transmission-corrected) as the background of the
    transmission step's: an error naming both steps; the flags as each step wrote them."""
    corrected = step_ref(operando_run.steps["waxs_transmission"], "waxs_transmission", "transmission")
    raw = step_ref(operando_run.steps["waxs_curves"], "waxs_curves", "integrate")
    flags = [(c.monitor_normalised, c.transmission_corrected) for c in map(read_curves, (raw, corrected))]
    assert flags == [(True, False), (True, True)]
    with pytest.raises(InputDataError, match=r"step 'b', inputs 'curves' and 'other': the curves of step "
                                             r"'waxs_transmission' are divided by their transmission, those of step "
                                             r"'waxs_curves' are not"):
        run_step(SubtractBackground, {}, {"curves": corrected, "other": raw}, tmp_path / "b.nxs", "b")
    assert not (tmp_path / "b.nxs").exists()


def test_monitor_normalised_and_raw_counts_do_not_mix() -> None:
    """check_same_normalisation: a monitor-normalised and a raw set differ, whichever comes first; unknown
    flags (files of other programs) are not checked."""
    from dataclasses import replace

    from swaxs_plugins.core.step import StepOutputRef

    def curves(step: str, monitor: bool | None) -> Curves:
        axes = tuple(Axis(n, np.arange(2.0), "", n) for n in ("scan", "y", "x", "q"))
        return Curves(np.ones((2, 2, 2, 2)), np.ones((2, 2, 2, 2)), axes, "counts",
                      StepOutputRef(step, "integrate", Path(f"{step}.nxs"), step), monitor_normalised=monitor)

    normalised, counts = curves("with_i0", True), curves("counts", False)
    for first, second in ((normalised, counts), (counts, normalised)):
        with pytest.raises(InputDataError, match="step 'with_i0' are divided by the incident-beam monitor, those "
                                                 "of step 'counts' are not"):
            check_same_normalisation(first, second, "here")
    check_same_normalisation(normalised, replace(counts, monitor_normalised=None), "here")
