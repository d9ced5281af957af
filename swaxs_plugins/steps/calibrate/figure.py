"""The picture of a calibration: the frame with its fitted rings and control points, and the control
points' residuals against the azimuth, ring by ring — what a scientist looks at to trust a PONI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyFAI.geometry import Geometry

from swaxs_plugins.io.figures import new_figure, save_figure

from .geometry import Rings
from .result import CalibrationResult


def ring_map(geometry: Geometry, calibrant: str, width_px: float = 1.0) -> np.ndarray:
    """1 on pixels within ``width_px`` of a calibrant ring of the geometry, else 0."""
    two_theta = geometry.center_array(unit="2th_rad", scale=False)
    rings = Rings.of(calibrant, geometry.wavelength)
    nearest = rings.two_theta[rings.nearest(two_theta)]
    return (np.abs(two_theta - nearest) < width_px * np.hypot(*np.gradient(two_theta))).astype(np.int8)


def save_picture(path: Path, frame: np.ndarray, result: CalibrationResult, rings: np.ndarray) -> Path:
    """PNG: the frame (log scale, colour bar) with the fitted rings, control points and beam
    centre; below, every control point's residual [px] against χ, coloured by ring."""
    from matplotlib.colors import ListedColormap

    rows, cols = frame.shape
    figure = new_figure(figsize=(10, 10 * rows / cols + 4.2), layout="constrained")
    image_axes, residual_axes = figure.subplots(2, 1, height_ratios=[max(rows / cols, 0.2) * 10, 3.0])
    counts = np.log10(np.clip(np.where(result.mask, np.nan, frame.astype(np.float64)), 1, None))
    shown = image_axes.imshow(counts, cmap="gray", origin="upper", interpolation="nearest")
    figure.colorbar(shown, ax=image_axes, label="log10(counts)", fraction=0.04, pad=0.01)
    image_axes.imshow(np.ma.masked_equal(rings, 0), cmap=ListedColormap(["red"]), alpha=0.7, origin="upper",
                      interpolation="nearest")
    image_axes.plot([], [], color="red", lw=2, label="fitted rings")
    points = result.control_points
    image_axes.plot(points[:, 1], points[:, 0], "c.", ms=3, label=f"control points ({len(points)})")
    row, col = result.beam_center
    if 0 <= row <= rows and 0 <= col <= cols:
        image_axes.plot(col, row, "r+", ms=12, mew=2, label="beam centre")
    image_axes.set_xlim(-0.5, cols - 0.5)
    image_axes.set_ylim(rows - 0.5, -0.5)
    image_axes.legend(loc="upper right", fontsize=8, framealpha=0.8)
    image_axes.set_xlabel("column (pixel)")
    image_axes.set_ylabel("row (pixel)")
    verdict = "" if not result.problems else "  —  POOR, accepted: " + "; ".join(p.split(":")[0] for p in result.problems)
    image_axes.set_title(f"{result.calibrant}: beam centre (row {row:.2f}, col {col:.2f}) px, direct distance "
                         f"{result.direct_distance * 1e3:.3f} mm{verdict}", fontsize=9,
                         color="C3" if result.problems else "k")
    plot_residuals(residual_axes, result)
    return save_figure(figure, path)


def plot_residuals(axes, result: CalibrationResult) -> None:
    """Residual [px] of every control point against its azimuth χ, one colour per ring, ± rms."""
    points = result.control_points
    chi = np.degrees(result.geometry.chi(points[:, 0], points[:, 1]))
    for k, ring in enumerate(result.rings):
        on_ring = points[:, 2].astype(int) == ring
        axes.plot(chi[on_ring], result.residual_px[on_ring], ".", ms=4, color=f"C{k % 10}", label=f"ring {ring + 1}")
    for sign in (-1, 1):
        axes.axhline(sign * result.rms_px, color="k", lw=0.8, ls="--")
    axes.axhline(0, color="k", lw=0.5)
    axes.set_xlabel("χ (deg)")
    axes.set_ylabel("residual (pixel)")
    axes.set_title(f"residuals: rms {result.rms_px:.3g} px ({result.rms_two_theta_deg:.3g}° 2θ), "
                   f"{len(points)} points on {len(result.rings)} rings (dashed: ± rms)", fontsize=9)
    axes.legend(fontsize=7, ncol=min(len(result.rings), 8), loc="upper right")
