"""transmission/diode on the simulated operando experiment: T against the raw counts and the truth,
corrected curves, errors, NeXus validity, and bad input (zero/NaN counters, missing reference)."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from conftest_operando import operando_run, run_step, step_ref  # noqa: F401  (fixture)
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.steps.transmission import DiodeTransmission, correct, counting_ratio


def raw_counts(outdir, label):
    with h5py.File(outdir / "raw" / f"scan_{label}.nxs", "r") as handle:
        return handle["entry/instrument/diode/data"][()], handle["entry/instrument/i0/data"][()]


def test_transmission_map_is_diode_over_i0_of_the_empty_beam_and_matches_the_truth(operando_run):
    diode, i0 = raw_counts(operando_run.outdir, "empty")
    reference = np.mean(diode / i0)
    expected = np.array([np.divide(*raw_counts(operando_run.outdir, label)) / reference
                         for label in operando_run.truth["json"]["labels"]]).reshape(-1, 6, 10)
    for step_id in ("saxs_transmission", "waxs_transmission"):
        handle, entry = operando_run.entry(step_id)
        with handle:
            t = entry["transmission/T"][()]
            assert entry.attrs["default"] == "transmission"
            assert entry["transmission"].attrs["invalid_points"] == 0
        np.testing.assert_allclose(t, expected, rtol=1e-6)
        # the diode carries 0.1 % gain noise and is rounded to counts: T = 0.04 is 2000 counts
        np.testing.assert_allclose(t, operando_run.truth["transmission"], rtol=5e-3)


def test_corrected_curves_are_integrated_curves_over_t_with_propagated_errors(operando_run):
    with h5py.File(operando_run.steps["waxs_curves"], "r") as handle:
        raw = handle["waxs_curves/maps/curves/I"][()].astype(np.float64)
        raw_errors = handle["waxs_curves/maps/curves/I_errors"][()].astype(np.float64)
    handle, entry = operando_run.entry("waxs_transmission")
    with handle:
        t, t_err = entry["transmission/T"][()], entry["transmission/T_errors"][()]
        curves = entry["maps/curves"]
        corrected, errors = curves["I"][()], curves["I_errors"][()]
        assert [a.decode() if isinstance(a, bytes) else a for a in curves.attrs["axes"]] == ["scan", "y", "x", "q"]
        assert curves["q"].attrs["units"] == "1/angstrom" and curves["q"].attrs["long_name"]
        assert "timestamp" in entry["scans"]
    np.testing.assert_allclose(corrected, raw / t[..., None], rtol=1e-5, equal_nan=True)
    expected_errors = np.sqrt((raw_errors / t[..., None]) ** 2 + (raw * t_err[..., None] / t[..., None] ** 2) ** 2)
    np.testing.assert_allclose(errors, expected_errors, rtol=1e-5, equal_nan=True)
    # relative T error from counting: sqrt(1/diode + 1/I0) with diode ~ 5e4 T
    assert 3e-3 < np.nanmax(t_err / t) < 3e-2


def test_corrected_electrode_curve_is_the_true_unattenuated_curve(operando_run):
    handle, entry = operando_run.entry("waxs_transmission")
    with handle:
        q, curves = entry["maps/curves/q"][()], entry["maps/curves/I"][0]
    electrode = operando_run.truth["masks"]["electrode"]
    with h5py.File(operando_run.outdir / "truth" / "operando_truth.h5", "r") as truth:
        true_curves = truth["curves"][0][electrode]
    measured = np.nanmean(curves[electrode], axis=0)
    expected = np.interp(q, operando_run.truth["q"], true_curves.mean(axis=0))
    valid = np.isfinite(measured)
    assert abs(np.median(measured[valid] / expected[valid]) - 1) < 5e-3


def test_correct_propagates_errors_against_a_hand_computed_case():
    corrected, sigma = correct(np.array([[[[10.0]]]]), np.array([[[[1.0]]]]), np.array([[[0.5]]]),
                               np.array([[[0.01]]]), thickness=2.0)
    assert corrected.item() == pytest.approx(10.0)
    assert sigma.item() == pytest.approx(np.hypot(1.0, 10.0 * 0.01 / 0.5) / 1.0)


def test_counting_ratio_masks_zero_negative_and_nan_points():
    ratio, bad = counting_ratio(np.array([5.0, 0.0, -1.0, np.nan, 8.0]), np.array([10.0, 10.0, 10.0, 10.0, 0.0]))
    assert bad.tolist() == [False, True, True, True, True]
    assert ratio.value[0] == 0.5 and np.isnan(ratio.value[1:]).all()


def damaged_curves(operando_run, tmp_path, values):
    """A copy of the WAXS integrate file with diode values replaced at points 0..len(values)-1."""
    path = tmp_path / "waxs_curves.nxs"
    shutil.copy(operando_run.steps["waxs_curves"], path)
    with h5py.File(path, "r+") as handle:
        diode = handle["waxs_curves/diode/data"]
        data = diode[()]
        data[: len(values)] = values
        diode[...] = data
    return step_ref(path, "waxs_curves")


def empty_source(operando_run):
    return RawSource(files=[operando_run.outdir / "raw" / "scan_empty.nxs"], monitor="/entry/instrument/i0/data",
                     diode="/entry/instrument/diode/data")


def test_bad_diode_points_are_masked_counted_and_valid(operando_run, tmp_path):
    inputs = {"curves": damaged_curves(operando_run, tmp_path, [0.0, -3.0, np.nan]), "empty": empty_source(operando_run)}
    out = run_step(DiodeTransmission, {}, inputs, tmp_path / "t.nxs", "t")
    with h5py.File(out, "r") as handle:
        t = handle["t/transmission/T"][()]
        assert handle["t/transmission"].attrs["invalid_points"] == 3
        assert np.isnan(t[0, 0, :3]).all() and np.isfinite(t[0, 0, 3:]).all()
        assert np.isnan(handle["t/maps/curves/I"][0, 0, :3]).all()
    assert all(r.ok for r in validate_file(out)), [r.messages for r in validate_file(out)]


def test_zero_diode_everywhere_and_a_bad_reference_are_errors_naming_file_and_dataset(operando_run, tmp_path):
    inputs = {"curves": damaged_curves(operando_run, tmp_path, [0.0] * 300), "empty": empty_source(operando_run)}
    with pytest.raises(InputDataError, match=r"waxs_curves.nxs::/waxs_curves/diode/data.*every point"):
        run_step(DiodeTransmission, {}, inputs, tmp_path / "t.nxs", "t")
    bad_empty = tmp_path / "empty.nxs"
    shutil.copy(operando_run.outdir / "raw" / "scan_empty.nxs", bad_empty)
    with h5py.File(bad_empty, "r+") as handle:
        handle["entry/instrument/i0/data"][0] = 0
    source = RawSource(files=[bad_empty], monitor="/entry/instrument/i0/data", diode="/entry/instrument/diode/data")
    inputs = {"curves": step_ref(operando_run.steps["waxs_curves"], "waxs_curves"), "empty": source}
    with pytest.raises(InputDataError, match=r"empty.nxs.*/entry/instrument/i0/data.*1 of 4 points"):
        run_step(DiodeTransmission, {}, inputs, tmp_path / "t.nxs", "t")


def test_reference_must_be_given_exactly_once(operando_run, tmp_path):
    inputs = {"curves": step_ref(operando_run.steps["waxs_curves"], "waxs_curves"), "empty": empty_source(operando_run)}
    with pytest.raises(SwaxsError, match="exactly one reference.*empty, reference_value"):
        run_step(DiodeTransmission, {"reference_value": 0.5}, inputs, tmp_path / "t.nxs", "t")


def test_reference_box_and_value_give_the_same_t_as_the_empty_beam_where_they_agree(operando_run, tmp_path):
    diode, i0 = raw_counts(operando_run.outdir, "empty")
    inputs = {"curves": step_ref(operando_run.steps["waxs_curves"], "waxs_curves")}
    out = run_step(DiodeTransmission, {"reference_value": float(np.mean(diode / i0))}, inputs, tmp_path / "v.nxs", "v")
    with h5py.File(out, "r") as handle, h5py.File(operando_run.steps["waxs_transmission"], "r") as ref:
        np.testing.assert_allclose(handle["v/transmission/T"][()], ref["waxs_transmission/transmission/T"][()], rtol=1e-12)
    # the electrolyte column x = 6 as reference: T there is 1 by construction, the collector 0.04/0.80
    out = run_step(DiodeTransmission, {"reference_box": [0, 6, 6, 7]}, inputs, tmp_path / "b.nxs", "b")
    with h5py.File(out, "r") as handle:
        t = handle["b/transmission/T"][()]
    assert np.allclose(t[:, :, 6].mean(axis=1), 1.0, atol=1e-12)
    collector = operando_run.truth["masks"]["current_collector"]
    assert np.allclose(t[0][collector], 0.04 / 0.80, rtol=5e-3)
