"""Fast azimuthal integration of many frames: pyFAI's own CSR matrix applied to a batch at once.

pyFAI's ("<split>", "csr", "cython") integrator is a sparse matrix ``A`` (bins x pixels) whose
coefficient ``c`` is the fraction of a pixel falling in a bin; the static mask and the radial and
azimuthal ranges are already built into it. For every bin pyFAI then computes, per frame

    signal  = Σ c·x             variance = Σ c²·max(x, 1)        (error_model="poisson")
    norm    = Σ c·ω·monitor     ω = solid angle · polarization    (0 for invalid pixels)
    I       = signal / norm     σ = sqrt(variance) / norm

(``pyFAI.engines.CSR_engine.CSRIntegrator.integrate``). We take ``A`` from a warmed-up pyFAI
integrator once, precompute ``A·ω``, and apply ``A`` and ``A²`` to a whole block of frames with a
sparse matrix–dense matrix product: one pass over the matrix for all frames of the block instead of
one per frame. Pixels invalid in a single frame (negative or dummy) are zeroed in signal and
variance, and their weight is taken out of that frame's normalisation, as pyFAI's dynamic mask does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.method_registry import IntegrationMethod

TRANSPOSE_CHUNK = 4096
"""Pixels per chunk when frames are transposed to [pixels, frames]: a chunk stays in cache."""


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
        """Build the matrix through pyFAI itself (one warm-up integration of an empty frame)."""
        self.shape = tuple(shape)
        split = "full" if split == "pseudo" else split
        dim = 2 if segments else 1
        method = IntegrationMethod.select_method(dim, split, "csr", "cython")[0]
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
        coefficients = np.asarray(data, dtype=np.float64)
        n_pixels = int(np.prod(self.shape))
        self.matrix = sp.csr_matrix((coefficients, indices, indptr), shape=(len(indptr) - 1, n_pixels))
        self.matrix_sq = sp.csr_matrix((coefficients**2, indices, indptr), shape=self.matrix.shape)
        weights = np.ones(self.shape, dtype=np.float32)
        if solid_angle:
            weights = weights * ai.solidAngleArray(self.shape)
        if polarization_factor is not None:
            weights = weights * ai.polarization(self.shape, polarization_factor)
        self.weights = weights.astype(np.float64).ravel()
        self.static_mask = np.zeros(n_pixels, bool) if mask is None else np.asarray(mask, bool).ravel()
        self.norm = self.matrix @ self.weights

    def integrate(self, frames: np.ndarray, monitor: np.ndarray | None = None, *, mask_negative: bool = True,
                  dummy: float | None = None) -> BatchResult:
        """Integrate frames [n, rows, cols]; ``monitor`` [n] divides each frame's intensities."""
        n = frames.shape[0]
        stack = frames.reshape(n, -1)
        signal, variance, invalid = self._transpose(stack, mask_negative, dummy)
        summed = self.matrix @ signal
        summed_variance = self.matrix_sq @ variance
        norm = np.repeat(self.norm[:, np.newaxis], n, axis=1)
        if invalid is not None:
            norm -= (self.matrix @ invalid).toarray()
        if monitor is not None:
            norm = norm * np.asarray(monitor, dtype=np.float64)[np.newaxis, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            empty = norm == 0
            intensity = np.where(empty, np.nan, summed / norm)
            sigma = np.where(empty, np.nan, np.sqrt(summed_variance) / norm)
        bins = self.binning.shape
        if len(bins) == 2:
            # pyFAI's 2D CSR rows run radial-major ([radial, azimuthal]); its result is [azimuthal, radial].
            reorder = (2, 1, 0)
            intensity = intensity.reshape(bins[1], bins[0], n).transpose(reorder)
            sigma = sigma.reshape(bins[1], bins[0], n).transpose(reorder)
            static_norm = self.norm.reshape(bins[1], bins[0]).T
        else:
            intensity, sigma, static_norm = intensity.T, sigma.T, self.norm
        return BatchResult(np.ascontiguousarray(intensity), np.ascontiguousarray(sigma), static_norm, self.binning)

    def _transpose(self, stack: np.ndarray, mask_negative: bool,
                   dummy: float | None) -> tuple[np.ndarray, np.ndarray, sp.csc_matrix | None]:
        """Frames [n, pixels] → signal and Poisson variance [pixels, n] (float64), in cache-sized chunks.

        Also returns, as a sparse [pixels, n] matrix of weights ω, the pixels that are invalid in a
        frame but not in the static mask (None when there are none), to take out of the norm.
        """
        n, n_pixels = stack.shape
        signal = np.empty((n_pixels, n))
        variance = np.empty((n_pixels, n))
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        for start in range(0, n_pixels, TRANSPOSE_CHUNK):
            stop = min(start + TRANSPOSE_CHUNK, n_pixels)
            chunk = np.array(stack[:, start:stop].T, dtype=np.float64, order="C")
            bad = np.zeros(chunk.shape, bool)
            if mask_negative:
                bad |= chunk < 0
            if dummy is not None:
                bad |= chunk == dummy
            bad |= ~np.isfinite(chunk)
            chunk[bad] = 0.0
            signal[start:stop] = chunk
            np.maximum(chunk, 1.0, out=chunk)
            chunk[bad] = 0.0
            variance[start:stop] = chunk
            bad &= ~self.static_mask[start:stop, np.newaxis]
            if bad.any():
                pix, frame = np.nonzero(bad)
                rows.append(pix + start)
                cols.append(frame)
        if not rows:
            return signal, variance, None
        pix, frame = np.concatenate(rows), np.concatenate(cols)
        invalid = sp.csc_matrix((self.weights[pix], (pix, frame)), shape=(n_pixels, n))
        return signal, variance, invalid
