"""Fast azimuthal integration of many frames: pyFAI's own sparse matrix, applied pixel-major.

pyFAI's ("<split>", "csr", "cython") integrator is a sparse matrix ``A`` (bins x pixels) whose
coefficient ``c`` is the fraction of a pixel falling in a bin; the static mask and the radial and
azimuthal ranges are already built into it. For every bin pyFAI then computes, per frame

    signal  = Σ c·x             variance = Σ c²·max(x, 1)        (error_model="poisson")
    norm    = Σ c·ω·monitor     ω = solid angle · polarization    (0 for invalid pixels)
    I       = signal / norm     σ = sqrt(variance) / norm

(``pyFAI.engines.CSR_engine.CSRIntegrator.integrate``). We take ``A`` from a warmed-up pyFAI
integrator once, precompute ``A·ω`` (the normalisation does not depend on the frame), store ``A`` and
column-major (CSC) and apply it to each frame as it lies in memory, signal and variance in one
compiled pass (numba): the pass streams the frame's pixels in order, reading the detector's integer
counts directly, and scatters into a few thousand bins that stay in cache.

Pixels invalid in a single frame add nothing to signal and variance, and their weight c·ω is taken
out of that frame's normalisation, as pyFAI's dynamic mask does (:class:`Validity`): a value x is
valid only if ``low <= x < high`` and it is not the ``dummy`` (``|x - dummy| <= delta_dummy``, as
pyFAI's ``dummy``/``delta_dummy``). ``low`` is 0 (``mask_negative``: Pilatus −1/−2) or −max float;
``high`` is the maximum of an integer frame type (``mask_overflow``: 4294967295 of an Eiger2's
uint32 frames, 65535 of 16-bit ones, 2147483647 of int32 ones) or +inf — so NaN and ±inf are never
valid. A bin whose every pixel is invalid in a frame is empty (NaN), like pyFAI's count == 0: its
loss is the same float64 products summed in the same pixel order as its static Σc·ω (``np.bincount``),
so the difference is exactly 0. Per frame the kernel counts the invalid pixels it met (those the
static mask and the ranges had not already excluded) and the ±inf ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.method_registry import IntegrationMethod

from swaxs_plugins.core.errors import SwaxsError


@dataclass(frozen=True)
class Validity:
    """Which values of a frame are invalid in that frame, on top of the static mask (see the module text)."""

    mask_negative: bool = True
    mask_overflow: bool = True
    dummy: float | None = None
    delta_dummy: float | None = None

    def bounds(self, dtype: np.dtype) -> tuple[float, float]:
        """(low, high): a value x of this frame type is valid only if ``low <= x < high`` (never NaN)."""
        dtype = np.dtype(dtype)
        low = 0.0 if self.mask_negative else -float(np.finfo(np.float64).max)
        high = float(np.iinfo(dtype).max) if self.mask_overflow and dtype.kind in "iu" else np.inf
        return low, high

    def dummy_test(self, dtype: np.dtype) -> tuple[float, float, bool]:
        """(dummy, delta_dummy, use): the dummy in the frame's own float type, as pyFAI compares it."""
        if self.dummy is None:
            return 0.0, 0.0, False
        dtype = np.dtype(dtype)
        value = float(dtype.type(self.dummy)) if dtype.kind == "f" else float(self.dummy)
        return value, float(self.delta_dummy or 0.0), True

    def invalid(self, frame: np.ndarray) -> np.ndarray:
        """The kernel's test in numpy: True where a pixel of ``frame`` is invalid in it."""
        low, high = (np.float64(bound) for bound in self.bounds(frame.dtype))  # compared in float64, as the kernel
        with np.errstate(invalid="ignore"):
            bad = ~((frame >= low) & (frame < high))
            dummy, delta, use = self.dummy_test(frame.dtype)
            if use:
                bad |= np.abs(frame.astype(np.float64) - dummy) <= delta
        return bad


@dataclass(frozen=True)
class Binning:
    """The output grid of an integration: radial (and azimuthal) bin centres and edges."""

    radial: np.ndarray
    radial_edges: np.ndarray
    azimuthal: np.ndarray | None = None
    azimuthal_edges: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Bins of one frame: (radial,) or (azimuthal, radial) like pyFAI's integrate2d_ng."""
        if self.azimuthal is None:
            return (len(self.radial),)
        return (len(self.azimuthal), len(self.radial))


@dataclass(frozen=True)
class BatchResult:
    """Integrated intensities of a batch of frames: I and σ [frames, *bins], Σc·ω per bin, the bins, and per
    frame the number of pixels invalid in it beyond the static mask (of which ±inf)."""

    intensity: np.ndarray
    sigma: np.ndarray
    norm: np.ndarray
    binning: Binning | None = None
    invalid_pixels: np.ndarray | None = None
    infinite_pixels: np.ndarray | None = None


def resolve_method(method: str | tuple[str, ...] | list[str], dim: int) -> IntegrationMethod:
    """pyFAI's integration method for a name ("csr", "splitpixel") or a (split, algo, impl) tuple."""
    request = tuple(method) if isinstance(method, (list, tuple)) else method
    try:
        found = IntegrationMethod.select_one_available(request, dim=dim, degradable=True)
    except ValueError as error:
        raise SwaxsError(f"parameter 'method' {method!r}: {error}") from error
    if found is None:
        raise SwaxsError(f"parameter 'method' {method!r}: pyFAI has no such {dim}D integration method")
    return found


def edges_from_centres(centres: np.ndarray) -> np.ndarray:
    """Bin edges of pyFAI's uniform bins from their centres."""
    if len(centres) < 2:
        raise ValueError("at least two bins are needed to derive bin edges")
    step = (centres[-1] - centres[0]) / (len(centres) - 1)
    return np.concatenate([centres - step / 2, [centres[-1] + step / 2]])


class SparseIntegrator:
    """pyFAI's CSR matrix for one geometry, mask and binning, applied to blocks of frames."""

    def __init__(self, ai: AzimuthalIntegrator, shape: tuple[int, int], npt: int, *, unit: str,
                 split: str = "bbox", segments: int = 0, radial_range: tuple[float, float] | None = None,
                 azimuth_range: tuple[float, float] | None = None, mask: np.ndarray | None = None,
                 solid_angle: bool = True, polarization_factor: float | None = None) -> None:
        """Build the matrix through pyFAI itself: one warm-up integration of an empty frame with its
        column-major (CSC) engine, whose matrix is pixel by pixel as the kernel reads it."""
        self.shape = tuple(shape)
        split = "full" if split == "pseudo" else split
        dim = 2 if segments else 1
        method = IntegrationMethod.select_method(dim, split, "csc", "cython")[0]
        blank = np.zeros(self.shape, dtype=np.float32)
        common = {"unit": unit, "method": method, "mask": mask, "radial_range": radial_range,
                  "correctSolidAngle": solid_angle, "polarization_factor": polarization_factor}
        if segments:
            result = ai.integrate2d_ng(blank, npt, segments, azimuth_range=azimuth_range, **common)
            self.binning = Binning(np.asarray(result.radial, float), edges_from_centres(result.radial),
                                   np.asarray(result.azimuthal, float), edges_from_centres(result.azimuthal))
        else:
            result = ai.integrate1d_ng(blank, npt, azimuth_range=azimuth_range, **common)
            self.binning = Binning(np.asarray(result.radial, float), edges_from_centres(result.radial))
        data, indices, indptr = ai.engines[method].engine.lut
        self.n_bins = int(np.prod(self.binning.shape))
        self.indptr = np.asarray(indptr)
        self.bins = np.asarray(indices).astype(np.uint16 if self.n_bins <= np.iinfo(np.uint16).max else np.int32)
        self.coefficients = np.asarray(data, dtype=np.float32)  # pyFAI's own float32 coefficients
        weights = np.ones(self.shape, dtype=np.float32)
        if solid_angle:
            weights = weights * ai.solidAngleArray(self.shape)
        if polarization_factor is not None:
            weights = weights * ai.polarization(self.shape, polarization_factor)
        self.weights = weights.astype(np.float64).ravel()
        self.norm = np.bincount(self.bins, self.coefficients * np.repeat(self.weights, np.diff(self.indptr)),
                                minlength=self.n_bins)

    @property
    def integrated(self) -> np.ndarray:
        """True for the pixels that feed some bin (not masked, inside the ranges), frame-shaped."""
        return (np.diff(self.indptr) > 0).reshape(self.shape)

    @property
    def pixels(self) -> int:
        """How many pixels feed some bin: what a frame's invalid-pixel count is out of."""
        return int(np.count_nonzero(np.diff(self.indptr)))

    def integrate(self, frames: np.ndarray, monitor: np.ndarray | None = None,
                  validity: Validity = Validity()) -> BatchResult:
        """Integrate frames [n, rows, cols]; ``monitor`` [n] divides each frame's intensities."""
        n = frames.shape[0]
        sums = np.zeros((n, self.n_bins))
        variances = np.zeros_like(sums)
        norm_loss = np.zeros_like(sums)
        counts = np.zeros((2, n), dtype=np.int64)
        low, high = validity.bounds(frames.dtype)
        dummy, delta_dummy, use_dummy = validity.dummy_test(frames.dtype)
        for index, frame in enumerate(frames.reshape(n, -1)):
            counts[:, index] = _accumulate_frame(self.indptr, self.bins, self.coefficients, self.weights, frame,
                                                 low, high, dummy, delta_dummy, use_dummy, sums[index],
                                                 variances[index], norm_loss[index])
        norm = self.norm[np.newaxis, :] - norm_loss
        if monitor is not None:
            norm = norm * np.asarray(monitor, dtype=np.float64)[:, np.newaxis]
        with np.errstate(divide="ignore", invalid="ignore"):
            empty = norm == 0
            intensity = np.where(empty, np.nan, sums / norm)
            sigma = np.where(empty, np.nan, np.sqrt(variances) / norm)
        bins = self.binning.shape
        if len(bins) == 2:
            # pyFAI's 2D CSR rows run radial-major ([radial, azimuthal]); its result is [azimuthal, radial].
            intensity = intensity.reshape(n, bins[1], bins[0]).transpose(0, 2, 1)
            sigma = sigma.reshape(n, bins[1], bins[0]).transpose(0, 2, 1)
            static_norm = self.norm.reshape(bins[1], bins[0]).T
        else:
            static_norm = self.norm
        return BatchResult(np.ascontiguousarray(intensity), np.ascontiguousarray(sigma), static_norm, self.binning,
                           counts[0], counts[1])



def integrate_with_pyfai(ai: AzimuthalIntegrator, frames: np.ndarray, npt: int, *, method: IntegrationMethod,
                         unit: str, counted: np.ndarray, segments: int = 0, mask: np.ndarray | None = None,
                         radial_range: tuple[float, float] | None = None,
                         azimuth_range: tuple[float, float] = (-180.0, 180.0), solid_angle: bool = True,
                         polarization_factor: float | None = None, monitor: np.ndarray | None = None,
                         validity: Validity = Validity()) -> BatchResult:
    """pyFAI's own integrate1d_ng/integrate2d_ng frame by frame, the reference the sparse engine must equal.

    Each frame's invalid pixels (:meth:`Validity.invalid`, tested on the frame's own type before pyFAI
    converts it to float32, where 4294967295 would become 4294967296) go in as pyFAI's ``dummy``;
    they are counted among the ``counted`` pixels (those the sparse engine integrates).
    """
    marker = np.float32(-1.0e30)
    kwargs = {"unit": unit, "method": method, "mask": mask, "radial_range": radial_range,
              "correctSolidAngle": solid_angle, "polarization_factor": polarization_factor,
              "error_model": "poisson", "dummy": marker}
    results, counts = [], []
    for index, raw in enumerate(frames):
        invalid = validity.invalid(raw)
        counts.append((np.count_nonzero(invalid & counted), np.count_nonzero(np.isinf(raw) & counted)))
        frame = raw.astype(np.float32)
        frame[invalid] = marker
        scale = 1.0 if monitor is None else float(monitor[index])
        if segments:
            result = ai.integrate2d_ng(frame, npt, segments, azimuth_range=azimuth_range,
                                       normalization_factor=scale, **kwargs)
        else:
            result = ai.integrate1d_ng(frame, npt, normalization_factor=scale, **kwargs)
        norm = np.asarray(result.sum_normalization, np.float64)
        empty = norm == 0
        results.append((np.where(empty, np.nan, result.intensity), np.where(empty, np.nan, result.sigma),
                        norm / scale))
    intensity, sigma, norm = (np.stack(r) for r in zip(*results))
    invalid_pixels, infinite_pixels = np.asarray(counts, dtype=np.int64).reshape(-1, 2).T
    return BatchResult(intensity.astype(np.float64), sigma.astype(np.float64), norm[0], None, invalid_pixels,
                       infinite_pixels)

@numba.njit(nogil=True, cache=True)
def _accumulate_frame(indptr: np.ndarray, bins: np.ndarray, coefficients: np.ndarray, weights: np.ndarray,
                      frame: np.ndarray, low: float, high: float, dummy: float, delta_dummy: float, use_dummy: bool,
                      sums: np.ndarray, variances: np.ndarray,
                      norm_loss: np.ndarray) -> tuple[int, int]:  # pragma: no cover - compiled
    """One frame through the CSC matrix: Σc·x, Σc²·max(x, 1), and Σc·ω of the frame's invalid pixels;
    returns (invalid pixels, ±inf pixels) among those integrated."""
    invalid = 0
    infinite = 0
    for pixel in range(indptr.size - 1):
        start, stop = indptr[pixel], indptr[pixel + 1]
        if start == stop:
            continue
        x = np.float64(frame[pixel])
        if not (x >= low and x < high) or (use_dummy and abs(x - dummy) <= delta_dummy):
            invalid += 1
            if x == np.inf or x == -np.inf:
                infinite += 1
            for k in range(start, stop):
                norm_loss[bins[k]] += np.float64(coefficients[k]) * weights[pixel]
            continue
        variance = x if x > 1.0 else 1.0
        for k in range(start, stop):
            c = np.float64(coefficients[k])
            sums[bins[k]] += c * x
            variances[bins[k]] += c * c * variance
    return invalid, infinite
