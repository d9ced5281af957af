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
counts directly, and scatters into a few thousand bins that stay in cache. Pixels invalid in a
single frame (negative, NaN or dummy) add nothing to signal and variance, and their weight is taken
out of that frame's normalisation, as pyFAI's dynamic mask does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.method_registry import IntegrationMethod

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
    """Integrated intensities of a batch of frames: I and σ [frames, *bins], Σc·ω per bin, and the bins."""

    intensity: np.ndarray
    sigma: np.ndarray
    norm: np.ndarray
    binning: Binning | None = None


def resolve_method(method: str | tuple[str, ...] | list[str], dim: int) -> IntegrationMethod:
    """pyFAI's integration method for a name ("csr", "splitpixel") or a (split, algo, impl) tuple."""
    request = tuple(method) if isinstance(method, (list, tuple)) else method
    found = IntegrationMethod.select_one_available(request, dim=dim, degradable=True)
    if found is None:
        raise ValueError(f"method {method!r}: pyFAI has no such {dim}D integration method")
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

    def integrate(self, frames: np.ndarray, monitor: np.ndarray | None = None, *, mask_negative: bool = True,
                  dummy: float | None = None) -> BatchResult:
        """Integrate frames [n, rows, cols]; ``monitor`` [n] divides each frame's intensities."""
        n = frames.shape[0]
        sums = np.zeros((n, self.n_bins))
        variances = np.zeros_like(sums)
        norm_loss = np.zeros_like(sums)
        use_dummy = dummy is not None
        for index, frame in enumerate(frames.reshape(n, -1)):
            _accumulate_frame(self.indptr, self.bins, self.coefficients, self.weights, frame,
                              mask_negative, float(dummy) if use_dummy else 0.0, use_dummy,
                              sums[index], variances[index], norm_loss[index])
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
        return BatchResult(np.ascontiguousarray(intensity), np.ascontiguousarray(sigma), static_norm, self.binning)


@numba.njit(nogil=True, cache=True)
def _accumulate_frame(indptr: np.ndarray, bins: np.ndarray, coefficients: np.ndarray, weights: np.ndarray,
                      frame: np.ndarray, mask_negative: bool, dummy: float, use_dummy: bool, sums: np.ndarray,
                      variances: np.ndarray, norm_loss: np.ndarray) -> None:  # pragma: no cover - compiled
    """One frame through the CSC matrix: Σc·x, Σc²·max(x, 1), and Σc·ω of the frame's invalid pixels."""
    for pixel in range(indptr.size - 1):
        start, stop = indptr[pixel], indptr[pixel + 1]
        if start == stop:
            continue
        x = np.float64(frame[pixel])
        if x != x or (mask_negative and x < 0.0) or (use_dummy and x == dummy):
            for k in range(start, stop):
                norm_loss[bins[k]] += np.float64(coefficients[k]) * weights[pixel]
            continue
        variance = x if x > 1.0 else 1.0
        for k in range(start, stop):
            c = np.float64(coefficients[k])
            sums[bins[k]] += c * x
            variances[bins[k]] += c * c * variance
