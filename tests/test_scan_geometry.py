"""Scan geometry from motor positions (swaxs_plugins.io.scan_geometry): the raster of a map scan with encoder
jitter, its axes, and the layouts C order would scramble (snake, y fastest), each refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.io.scan_geometry import raster_from_positions

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


@pytest.mark.parametrize(("layout", "message"), [
    ("snake", "a serpentine \\(snake\\) scan, every other line running backwards: not handled yet"),
    ("y fastest", "y changes fastest \\(10 points per column\\): not handled yet"),
    ("incomplete", "y first moves after 24 frames, which do not divide the 237 frames"),
    ("lengths", "the positions y and x hold 240 and 239 values"),
])
def test_layouts_that_c_order_would_scramble_are_refused(layout: str, message: str) -> None:
    y, x = grid()
    if layout == "snake":
        x[1::2] = x[1::2, ::-1]
    elif layout == "y fastest":
        y, x = y.T, x.T
    elif layout == "incomplete":
        y, x = y.ravel()[:-3], x.ravel()[:-3]
    elif layout == "lengths":
        x = x.ravel()[:-1]
    with pytest.raises(InputDataError, match=f"^scan: {message}"):
        raster_from_positions(y, x, "scan")
