"""Alignment images of one sample's projections, binned about the rotation axis, and sub-pixel shifts.

An image is [n, K, J] (k up, j across the beam): the mean scattered intensity in a q-range (the
projections are transmission-corrected line integrals of the scattering), or the absorbance
−ln T (a line integral of the attenuation). Both are projections of a scalar volume, which the
consistency loop reconstructs; the segment mean of an anisotropic sample is so only approximately
(docs/simulation_tomography.md, the note on the segment mean).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.data.projections import Projections

SMALLEST_TRANSMISSION = 1e-6
"""T below this (noise, a blocked beam) is taken as this in −ln T: absorbance at most 13.8."""


def check_sample(sample: Projections, image: str, q_range: tuple[float, float]) -> None:
    """Projections the step can align into ``image``, or an error naming the file and dataset (the pipeline
    adds the step)."""
    where = sample.source
    if sample.errors is not None and sample.errors.shape != sample.intensity.shape:
        raise InputDataError(f"{where}: projections of different shapes: errors {sample.errors.shape}, intensity "
                             f"{sample.intensity.shape}")
    if sample.transmission is not None and sample.transmission.shape != sample.intensity.shape[:3]:
        raise InputDataError(f"{where}: projections of different shapes: transmission {sample.transmission.shape}, "
                             f"intensity {sample.intensity.shape[:3]} [projection, k, j]")
    if not sample.untilted.any():
        raise InputDataError(f"{where}: no untilted projection (tilt_angle 0): the reconstruction that the "
                             "projections are registered to needs some")
    if min(sample.raster_shape) < 4:
        raise InputDataError(f"{where}: a raster of {sample.raster_shape} (k, j) points is too small to align")
    if image == "absorbance" and sample.transmission is None:
        raise InputDataError(f"{where}: image 'absorbance' needs the transmission, which this input lacks "
                             "(parameter 'image'; use 'intensity')")
    if image == "intensity" and not in_q_range(sample, q_range).any():
        raise InputDataError(f"{where}: q_range {list(q_range)} 1/angstrom (parameter 'q_range') holds none of "
                             f"the data's q bins ({sample.q.min():.4g}-{sample.q.max():.4g} 1/angstrom)")


def in_q_range(sample: Projections, q_range: tuple[float, float]) -> np.ndarray:
    """Which q bins lie within ``q_range`` (bounds included)."""
    return (sample.q >= q_range[0]) & (sample.q <= q_range[1])


def alignment_images(sample: Projections, image: str, q_range: tuple[float, float]) -> np.ndarray:
    """[n, K, J] float64: the mean intensity over the q bins in ``q_range``, or −ln T; non-finite values 0.

    The sample must have passed :func:`check_sample` for this image.
    """
    if image == "absorbance":
        values = -np.log(np.clip(sample.transmission.astype(np.float64), SMALLEST_TRANSMISSION, None))
    else:
        values = sample.intensity[..., in_q_range(sample, q_range)].astype(np.float64).mean(axis=-1)
    return np.where(np.isfinite(values), values, 0.0)


def non_finite_points(sample: Projections, image: str, q_range: tuple[float, float]) -> int:
    """Raster points whose alignment value was NaN or infinite (set to 0): reported, not hidden."""
    if image == "absorbance":
        return int(np.count_nonzero(~np.isfinite(sample.transmission))) if sample.transmission is not None else 0
    inside = in_q_range(sample, q_range)
    return int(np.count_nonzero(~np.all(np.isfinite(sample.intensity[..., inside]), axis=-1)))


def binned(images: np.ndarray, factor: int) -> np.ndarray:
    """Images [n, K, J] binned ``factor`` × ``factor`` about the raster centre (the rotation axis).

    The binned raster's centre is the original's: when the points left over on an axis are odd, the
    images are first shifted by half a point (the binned pixels then straddle the original centre).
    """
    if factor == 1:
        return images
    result = images
    for axis in (1, 2):
        size = result.shape[axis]
        remainder = size - factor * (size // factor)
        if remainder % 2:
            shift = [0.0, 0.0, 0.0]
            shift[axis] = -0.5
            result = ndimage.shift(result, shift, order=1, mode="nearest")
        start = remainder // 2
        result = np.take(result, np.arange(start, start + factor * (size // factor)), axis=axis)
    n, n_k, n_j = result.shape
    return result.reshape(n, n_k // factor, factor, n_j // factor, factor).mean(axis=(2, 4))


def shift_images(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Every image [n, K, J, ...] translated by its (dj, dk) (content to larger j, k), by cubic B-spline
    interpolation; trailing axes (q, segments) are carried along.

    The spline prefilter does not depend on the shift, so it runs once over a block of projections
    and the four-point B-spline sums use each projection's own weights: the same interpolation as
    ``scipy.ndimage.shift(order=3)``, without its per-image set-up (≈ 1 ms per image, which dominated).
    Edges continue the nearest value (T ≈ 1 and scattering ≈ 0 beyond the sample: nothing is
    invented there). Non-finite points stay non-finite at their shifted place (nearest point) and
    are interpolated as 0, so that one NaN does not spread along a line through the prefilter.
    """
    out = np.empty_like(images)
    for first in range(0, images.shape[0], SHIFT_BLOCK):
        block = slice(first, first + SHIFT_BLOCK)
        values = images[block].astype(np.float64)
        finite = np.isfinite(values)
        all_finite = bool(finite.all())
        values[~finite] = 0.0
        for axis, column in ((1, 1), (2, 0)):
            values = _spline_shift(values, shifts[block, column], axis)
            if not all_finite:
                finite = _gather(finite, np.round(-shifts[block, column]), axis)
        out[block] = values if all_finite else np.where(finite, values, np.nan)
    return out


SHIFT_BLOCK = 16
"""Projections interpolated together: bounds the float64 working copy (16 paper-scale segment stacks ≈ 0.6 GB)."""


def _spline_shift(values: np.ndarray, amounts: np.ndarray, axis: int) -> np.ndarray:
    """values[p] translated by amounts[p] along ``axis``: out(i) = Σ_τ c(i + n₀ + τ) β₃(t − τ), τ = −1…2, c the
    spline coefficients, −amount = n₀ + t with t in [0, 1). The integer part n₀ is one gather, the four taps
    are views of it padded by its edge values."""
    coefficients = ndimage.spline_filter1d(values, order=3, axis=axis, mode="nearest")
    start = np.floor(-amounts)
    t = (-amounts - start)[:, np.newaxis]
    weights = ((1 - t) ** 3 / 6, (4 - 6 * t**2 + 3 * t**3) / 6, (1 + 3 * t + 3 * t**2 - 3 * t**3) / 6, t**3 / 6)
    padding = [(1, 2) if dim == axis else (0, 0) for dim in range(values.ndim)]
    padded = np.pad(_gather(coefficients, start, axis), padding, mode="edge")
    size = values.shape[axis]
    result = np.zeros_like(values)
    for tap, weight in zip(range(-1, 3), weights):
        window = [slice(None)] * values.ndim
        window[axis] = slice(1 + tap, 1 + tap + size)
        result += padded[tuple(window)] * _along(weight, values.ndim, axis)
    return result


def _gather(values: np.ndarray, offsets: np.ndarray, axis: int) -> np.ndarray:
    """values[p, ..., clip(i + offsets[p]), ...] along ``axis`` (edges continued)."""
    size = values.shape[axis]
    index = np.clip(np.arange(size)[np.newaxis, :] + offsets.astype(np.int64)[:, np.newaxis], 0, size - 1)
    return np.take_along_axis(values, _along(index, values.ndim, axis), axis=axis)


def _along(per_projection: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """[n, size] arranged to broadcast over an array of ``ndim`` dimensions with ``size`` on ``axis``."""
    shape = [1] * ndim
    shape[0], shape[axis] = per_projection.shape
    return per_projection.reshape(shape)
