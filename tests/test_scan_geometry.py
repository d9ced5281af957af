"""Scan geometry from motor positions (swaxs_plugins.io.scan_geometry): the raster of a map scan with encoder
jitter, its axes, which motor ran fastest and whether it snaked, and positions that draw no raster."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.io.scan_geometry import declared_order, raster_from_positions, read_raster

STEP_Y, STEP_X, JITTER = 0.05, 0.02, 0.001          # mm; the jitter is 5 % of the finer step


def grid(n_y: int = 10, n_x: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(1.0 + np.arange(n_y) * STEP_Y, -0.3 + np.arange(n_x) * STEP_X, indexing="ij")
    return y + rng.normal(0, JITTER, y.shape), x + rng.normal(0, JITTER, x.shape)


@pytest.mark.parametrize("seed", range(3))
def test_a_raster_with_jitter_gives_its_shape_and_axes(seed: int) -> None:
    """10 lines of 24 points, x fastest: shape (10, 24), axes the line and column means (within 4 jitter σ
    of the nominal positions: means of 24 and 10 values, σ/√10 each, bound 4σ is far above)."""
    y, x = grid(seed=seed)
    raster = raster_from_positions(y, x, "scan", ("mm", "mm"))
    assert raster.shape == (10, 24) and (raster.y_units, raster.x_units) == ("mm", "mm")
    np.testing.assert_allclose(raster.y, 1.0 + np.arange(10) * STEP_Y, atol=4 * JITTER)
    np.testing.assert_allclose(raster.x, -0.3 + np.arange(24) * STEP_X, atol=4 * JITTER)


def test_a_single_line_and_a_single_column_are_rasters() -> None:
    assert raster_from_positions(np.zeros(7), np.arange(7.0), "line").shape == (1, 7)
    assert raster_from_positions(np.arange(5.0), np.zeros(5), "column").shape == (5, 1)


@pytest.mark.parametrize("shape", [(10, 24), (24, 10), (2, 5)])
@pytest.mark.parametrize(("fast_axis", "snake"), [("x", False), ("x", True), ("y", False), ("y", True)])
def test_the_positions_say_which_motor_is_fast_and_whether_the_scan_snakes(shape, fast_axis, snake):
    """A raster acquired x or y fastest, line by line or serpentine: the map shape, the frame of every map point
    and the axes (within 4 jitter σ, as above) come back from the positions alone."""
    y, x = grid(*shape)
    order = declared_order(shape, fast_axis, snake)
    acquired_y, acquired_x = np.empty(y.size), np.empty(x.size)
    acquired_y[order], acquired_x[order] = y.ravel(), x.ravel()
    raster = raster_from_positions(acquired_y, acquired_x, "scan")
    assert (raster.shape, raster.fast_axis, raster.snake) == (shape, fast_axis, snake)
    np.testing.assert_array_equal(raster.order, order)
    np.testing.assert_allclose(raster.y, 1.0 + np.arange(shape[0]) * STEP_Y, atol=4 * JITTER)
    np.testing.assert_allclose(raster.x, -0.3 + np.arange(shape[1]) * STEP_X, atol=4 * JITTER)


def test_declared_order_walks_the_map_as_the_motors_did():
    """2 lines of 3 points: x fastest in order; serpentine reverses the second line; y fastest fills columns."""
    np.testing.assert_array_equal(declared_order((2, 3)), [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(declared_order((2, 3), "x", True), [0, 1, 2, 5, 4, 3])
    np.testing.assert_array_equal(declared_order((2, 3), "y"), [0, 2, 4, 1, 3, 5])
    np.testing.assert_array_equal(declared_order((2, 3), "y", True), [0, 3, 4, 1, 2, 5])


@pytest.mark.parametrize(("layout", "message"), [
    ("incomplete", "y first moves after 24 frames, which do not divide the 237 frames"),
    ("lengths", "the positions y and x hold 240 and 239 values"),
    ("scrambled", "the positions form no raster"),
])
def test_positions_that_draw_no_raster_are_refused(layout: str, message: str) -> None:
    y, x = grid()
    if layout == "incomplete":
        y, x = y.ravel()[:-3], x.ravel()[:-3]
    elif layout == "lengths":
        x = x.ravel()[:-1]
    elif layout == "scrambled":
        permutation = np.random.default_rng(0).permutation(y.size)
        y, x = y.ravel()[permutation], x.ravel()[permutation]
    with pytest.raises(InputDataError, match=f"^scan: {message}"):
        raster_from_positions(y, x, "scan")


def test_axis_units_from_the_datasets_or_declared(tmp_path):
    """The positions' @units name the axes; a raw input's position_units serves where they carry none, and one
    that contradicts them is an error naming the field."""
    y, x = grid(3, 4)
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as handle:
        handle["y"], handle["x"] = y.ravel(), x.ravel()
        handle["x"].attrs["units"] = "mm"
    positions = {"y": "/y", "x": "/x"}
    raster = read_raster(path, positions, "mm")
    assert (raster.y_units, raster.x_units) == ("mm", "mm")
    assert read_raster(path, positions).y_units == ""
    with pytest.raises(InputDataError, match=r"'/x' is in mm, not um \(field 'position_units'\)"):
        read_raster(path, positions, "um")
