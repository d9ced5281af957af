"""difference/regions on the simulated experiment: mean micropore and 002 D per scan within 1 % of
the truth, onsets of pseudo-metal and plating (scan and place), outputs, cycler logs, bad input.

Onset test design: before their onsets the pseudo-metal and plating regions show -0.4 % to -3 % D
(the 002 tail shrinks), and the plating region already rises by ~44 % at op3 from the pseudo-metal
hump's tail. So a pixel's onset needs a POSITIVE change above 10 % and 5 standard errors, and the
plating signal is the sharp peak's excess above a straight line through flanks 2.00-2.04 and
2.11-2.15 1/Å, in which the broad pseudo-metal hump cancels to first order (truth: pre-onset excess
changes by < 2 % of the region mean, +300 % at op4 at the interface).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest_operando import operando_run, run_step, step_ref  # noqa: F401  (fixture)
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.data.curves import parse_time
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.steps.cycler import read_cycler_log
from swaxs_plugins.steps.difference import RegionDifference, onset_map, peak_excess, relative_change


def test_mean_micropore_and_002_changes_match_the_truth_within_1_percent(operando_run):
    handle, entry = operando_run.entry("differences")
    with handle:
        series = {name: entry[f"time_series/{name}"][()] for name in ("micropores", "c002")}
        assert entry.attrs["default"] == "time_series"
    truth = operando_run.truth["json"]["relative_change"]
    for name, values in series.items():
        np.testing.assert_allclose(values, 100 * np.asarray(truth[name]), atol=1.0, err_msg=name)  # D in %
    assert truth["micropores"][-1] < -0.3  # the known answer is not trivially zero


def test_onsets_are_the_true_scans_at_the_collector_side(operando_run):
    handle, entry = operando_run.entry("differences")
    labels = operando_run.truth["json"]["labels"]
    interface = operando_run.truth["masks"]["collector_interface"]
    with handle:
        for name in ("pseudo_metal", "plating"):
            group = entry[f"differences/onset_{name}"]
            onset = group.attrs["onset_scan"]
            assert labels[onset] == operando_run.truth["json"]["onset"][name], name
            first = group["scan"][()] == onset
            assert group.attrs["onset_distance"] < group.attrs["mask_distance"], name
            assert first[interface].all(), name          # every interface pixel shows it at the onset
        plating = entry["differences/onset_plating/scan"][()]
    np.testing.assert_array_equal(plating >= 0, interface)  # plating only next to the collector


def test_outputs_stacks_series_log_figures_and_validity(operando_run):
    handle, entry = operando_run.entry("differences")
    with handle:
        stack = entry["differences/micropores"]
        assert stack["D"].shape == (4, 6, 10) and stack["D"].attrs["interpretation"] == "image"  # no reference
        assert stack.attrs["reference_scan"] == 0 and stack["D"].attrs["units"] == "%"
        assert [a for a in stack.attrs["axes"]] == ["time", "y", "x"]
        assert stack["time"].attrs["units"] == "h" and stack["x"].attrs["long_name"]
        outside = ~operando_run.truth["masks"]["electrode"]
        assert np.isnan(stack["D"][0][outside]).all()
        np.testing.assert_allclose(entry["regions/micropores"].attrs["q_range"], [0.12, 0.4])
        log = entry["cycler_log"]
        assert log["voltage"].attrs["units"] == "V" and log["time"][0] == 0.0
        error_bar = entry["time_series/micropores_errors"][()]
        np.testing.assert_allclose(error_bar, np.nanstd(stack["D"][0][~outside]), rtol=1e-6)
    for what in ("maps", "series", "scatter"):
        assert (operando_run.steps["differences"].parent / f"differences_{what}.png").stat().st_size > 10_000
    assert all(r.ok for r in validate_file(operando_run.steps["differences"]))


def test_relative_change_pixel_and_mean_reference_on_known_maps():
    maps = np.array([[[2.0, 4.0]], [[3.0, 2.0]]])
    errors = np.full(maps.shape, 0.1)
    mask = np.array([[True, True]])
    change, sigma = relative_change(maps, errors, mask, 0, "pixel")
    np.testing.assert_allclose(change[1], [[0.5, -0.5]])
    np.testing.assert_allclose(sigma[1, 0, 0], np.hypot(0.1 / 2, 3 * 0.1 / 4))
    change, _ = relative_change(maps, errors, mask, 0, "mean")
    np.testing.assert_allclose(change[1], [[0.0, -1 / 3]])


def test_onset_map_needs_a_significant_positive_change():
    change = np.array([[0.0, 0.0], [-0.03, 0.2], [0.3, 0.5]])[:, None, :]
    sigma = np.array([[0.0, 0.0], [0.01, 0.1], [0.01, 0.01]])[:, None, :]
    assert onset_map(change, sigma, 0.1, 5).tolist() == [[2, 2]]


def test_biologic_mpt_and_csv_logs_are_placed_on_the_scan_clock(tmp_path):
    mpt = tmp_path / "cell.mpt"
    header = ["EC-Lab ASCII FILE", "Nb header lines : 6", "", "Galvanostatic Cycling with Potential Limitation",
              "Acquisition started on : 01/15/2025 10:05:00.000",
              "mode\tox/red\ttime/s\tcontrol/mA\tEwe/V\t<I>/mA\tcycle number"]
    rows = ["1\t0\t0.0\t-0.05\t2.5000\t-0.0500\t0", "1\t0\t10,0\t-0.05\t2.4900\t-0.0500\t0"]
    mpt.write_text("\n".join(header + rows) + "\n", encoding="latin-1")
    scans = [parse_time("2025-01-15T10:00:00+00:00")]
    log = read_cycler_log(mpt, None, scans)
    np.testing.assert_allclose(log.time_s, [300.0, 310.0])
    np.testing.assert_allclose(log.voltage, [2.5, 2.49])
    np.testing.assert_allclose(log.current, [-0.05, -0.05])
    csv = tmp_path / "log.csv"
    csv.write_text("time_s,voltage_V,current_mA\n0.0,2.5,0.0\n10.0,2.4,-0.05\n")
    log = read_cycler_log(csv, "2025-01-15T09:59:00+00:00", scans)
    np.testing.assert_allclose(log.time_s, [-60.0, -50.0])
    csv.write_text("t,U\n0,1\n")
    with pytest.raises(InputDataError, match=r"log.csv: cycler log without column\(s\) time_s"):
        read_cycler_log(csv, None, scans)


def test_peak_excess_cancels_a_straight_background():
    from swaxs_plugins.io.nexus import Axis
    from swaxs_plugins.data.curves import Curves

    q = np.linspace(1.9, 2.3, 401)
    line = 1.0 + 2.0 * q
    peak = 0.5 * np.exp(-0.5 * ((q - 2.075) / 0.005) ** 2)
    intensity = np.array([line, line + peak])[:, None, None, :]
    axes = tuple(Axis(n, np.arange(s), "", n) for n, s in zip(("scan", "y", "x"), (2, 1, 1))) + (
        Axis("q", q, "1/angstrom", "q"),)
    curves = Curves(intensity, np.zeros_like(intensity), axes, "a.u.", step_ref(None, "x"))
    excess, _ = peak_excess(curves, (2.05, 2.1), ((2.0, 2.04), (2.11, 2.15)), "test")
    assert abs(excess[0, 0, 0]) < 1e-9
    assert excess[1, 0, 0] == pytest.approx(peak[(q >= 2.05) & (q <= 2.1)].mean(), rel=1e-6)


def inputs(operando_run, **extra):
    refs = {"saxs": step_ref(operando_run.steps["saxs_transmission"], "saxs_transmission", "transmission"),
            "masks": step_ref(operando_run.steps["map_masks"], "map_masks", "mask")}
    return {**refs, **extra}


def test_bad_input_errors_name_step_and_parameter(operando_run, tmp_path):
    with pytest.raises(SwaxsError, match=r"step 'd', parameter 'regions.c002': q-range \[1.2, 1.9\] is outside"):
        run_step(RegionDifference, {"regions": {"c002": [1.2, 1.9]}}, inputs(operando_run), tmp_path / "d.nxs", "d")
    empty = tmp_path / "masks.nxs"
    with h5py.File(empty, "w") as handle:
        handle["m/masks/electrode/mask"] = np.zeros((6, 10), np.uint8)
    with pytest.raises(SwaxsError, match=r"parameter 'mask': mask 'electrode' in .*masks.nxs is empty"):
        run_step(RegionDifference, {"regions": {"micropores": [0.12, 0.4]}},
                 inputs(operando_run, masks=step_ref(empty, "m", "mask")), tmp_path / "d.nxs", "d")
    other = tmp_path / "other_masks.nxs"
    with h5py.File(other, "w") as handle:
        handle["m/masks/electrode/mask"] = np.ones((5, 10), np.uint8)
    with pytest.raises(InputDataError, match=r"saxs_transmission.nxs holds scans of shape \(5, 6, 10\), the mask is"):
        run_step(RegionDifference, {"regions": {"micropores": [0.12, 0.4]}},
                 inputs(operando_run, masks=step_ref(other, "m", "mask")), tmp_path / "d.nxs", "d")
