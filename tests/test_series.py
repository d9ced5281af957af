"""A 1-D series of frames (no map) is a scan like any other: curves I[scan, point, q] through transmission,
mask, background, difference and fit, each giving what the same frames give as a map.

The series are the simulated operando scans (pristine and the last) read without scan_shape or positions;
their results are compared, point by point, with the map pipeline's on the same frames, and the fitted
d002 shift with the simulation's truth (the tolerance of tests/test_fit.py).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest_operando import operando_run  # noqa: F401 - the shared fixture
from conftest_operando import OperandoRun, run_operando_pipeline

SCANS = [0, 4]                 # pristine and op4 of the map pipeline's five
SERIES = Path(__file__).parent / "data" / "operando_series.yaml"


@pytest.fixture(scope="module")
def series(operando_run: OperandoRun) -> dict[str, Path]:  # noqa: F811 - the fixture above
    return run_operando_pipeline(operando_run.outdir, SERIES)


def read(path: Path, name: str) -> np.ndarray:
    with h5py.File(path, "r") as handle:
        return handle[name][()]


def as_series(maps: np.ndarray) -> np.ndarray:
    """The map result of the scans SCANS, its points in frame order (x fastest): [scan, point, ...]."""
    picked = maps[SCANS]
    return picked.reshape(len(SCANS), -1, *picked.shape[3:])


def test_series_curves_and_transmission_are_the_maps_frame_by_frame(series, operando_run):
    """I[scan, point, q] with axes scan, point, q (no map axes), T[scan, point]: the map's values, in frame order."""
    with h5py.File(series["saxs_transmission"], "r") as handle:
        curves = handle["saxs_transmission/maps/curves"]
        assert [a.decode() if isinstance(a, bytes) else a for a in curves.attrs["axes"]] == ["scan", "point", "q"]
        intensity, t = curves["I"][()], handle["saxs_transmission/transmission/T"][()]
    assert intensity.ndim == 3 and t.ndim == 2
    maps = operando_run.steps["saxs_transmission"]
    np.testing.assert_array_equal(intensity, as_series(read(maps, "saxs_transmission/maps/curves/I")))
    np.testing.assert_array_equal(t, as_series(read(maps, "saxs_transmission/transmission/T")))


def test_series_masks_follow_the_same_rules(series, operando_run):
    """The point-wise electrolyte rule selects the same points as on the map; the electrode, without the map's
    'largest' (a line has other neighbours), holds the truth's electrode points (IoU >= 0.95)."""
    electrolyte = read(series["point_masks"], "point_masks/masks/electrolyte/mask").astype(bool)
    electrode = read(series["point_masks"], "point_masks/masks/electrode/mask").astype(bool)
    assert electrolyte.shape == electrode.shape == (operando_run.truth["masks"]["electrode"].size,)
    map_electrolyte = read(operando_run.steps["map_masks"], "map_masks/masks/electrolyte/mask").astype(bool)
    np.testing.assert_array_equal(electrolyte, map_electrolyte.ravel())
    truth = operando_run.truth["masks"]["electrode"].ravel().astype(bool)
    assert (electrode & truth).sum() / (electrode | truth).sum() >= 0.95


def test_series_background_subtraction_equals_the_maps(series, operando_run):
    """The electrolyte's mean curve per scan, subtracted: the map pipeline's result, point by point (float32)."""
    found = read(series["saxs_subtracted"], "saxs_subtracted/maps/curves/I")
    expected = as_series(read(operando_run.steps["saxs_subtracted"], "saxs_subtracted/maps/curves/I"))
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6 * np.nanmax(np.abs(expected)))


def test_series_differences_equal_the_maps_inside_both_electrodes(series, operando_run):
    """D = (M - R)/R per point against the pristine scan: the map's values where both electrode masks hold."""
    found = read(series["differences"], "differences/differences/micropores/D")
    expected = read(operando_run.steps["differences"], "differences/differences/micropores/D")
    expected = expected.reshape(expected.shape[0], -1)[[k - 1 for k in SCANS[1:]]]  # the stacks leave out scan 0
    both = np.isfinite(found[0]) & np.isfinite(expected[0])
    assert both.sum() >= 0.9 * np.isfinite(expected[0]).sum()
    np.testing.assert_allclose(found[0][both], expected[0][both], rtol=1e-5)


def test_series_fit_finds_the_d002_shift(series, operando_run):
    """The waxs_peaks fit of the electrode-averaged series: d002 shift against pristine within 0.002 Å of the
    truth's electrode mean (as the map's, tests/test_fit.py), with per-point maps [scan, point]."""
    shift = read(series["waxs_fit"], "waxs_fit/series/d002_shift")
    d002_map = read(series["waxs_fit"], "waxs_fit/maps/d002/d002")
    with h5py.File(operando_run.outdir / "truth" / "operando_truth.h5", "r") as truth:
        true_d = truth["d002"][()][SCANS]
    assert d002_map.shape == (len(SCANS), operando_run.truth["masks"]["electrode"].size)
    assert np.all(np.abs(shift - (true_d - true_d[0])) <= 0.002), shift - (true_d - true_d[0])
