"""The scikit-image engine (``reconstruct/skimage``): ``iradon`` (ramp filter) and ``iradon_sart``, slice by slice.

scikit-image puts the rotation axis on pixel J // 2 of the projections and of the image, half a
pixel off the raster centre (J − 1)/2 when J is even, and has no parameter for it. This engine
handles it honestly with Fourier shifts (exact for band-limited data, with ringing at sharp edges):
the projections move by +½ px (zero-padded to 2J, so nothing wraps) before ``iradon``, and the image
moves by −½ px along y and x afterwards (zero-padded likewise); ``iradon_sart`` is given
``projection_shifts = +½`` for the same purpose and its image moves back the same way, clipped at 0
again when non-negativity is asked (the shift's ringing makes small negatives). For odd J no shift
is needed and ``iradon`` equals :class:`~.engines.SlicesEngine`'s FBP to round-off.

scikit-image's FBP weights every angle by π/N (evenly spread angles over 180°); SART works
projection by projection (relaxation 0.15, its default), one sweep over all angles per iteration,
from zero (its default: started from the FBP volume it rippled more, 2.9 % against 2.0 % on a disc).
On analytic projections of a disc its ripple grows with the iterations (2 % after one, 3 % after ten
for odd J; 7 % after ten for even J, where the half-pixel shifts add interpolation):
``benchmarks/reconstruction.py`` compares it with the default engine.
"""

from __future__ import annotations

import warnings

import numpy as np

from swaxs_plugins.steps.reconstruct.engines import Engine
from swaxs_plugins.steps.reconstruct.scalar import ScalarReconstruction


def fourier_shift(values: np.ndarray, shift: float, axes: tuple[int, ...]) -> np.ndarray:
    """``values`` moved by ``shift`` px to larger indices along ``axes`` (zero padding to twice the size)."""
    pad = [(0, values.shape[a]) if a in axes else (0, 0) for a in range(values.ndim)]
    spectrum = np.fft.fftn(np.pad(values, pad), axes=axes)
    for axis in axes:
        frequency = np.fft.fftfreq(2 * values.shape[axis])
        shape = [1] * values.ndim
        shape[axis] = frequency.size
        spectrum = spectrum * np.exp(-2j * np.pi * frequency * shift).reshape(shape)
    moved = np.real(np.fft.ifftn(spectrum, axes=axes))
    return moved[tuple(slice(0, values.shape[a]) for a in range(values.ndim))]


class SkimageEngine(Engine):
    """scikit-image's radon-transform reconstructions in the raster's own centre (module docstring)."""

    name = "skimage"
    library = "scikit-image"
    iterative_name = "SART"

    def __init__(self, width: int, angles_deg: np.ndarray, *, errors: bool = False) -> None:
        super().__init__(width, angles_deg)
        self.half = 0.5 if self.width % 2 == 0 else 0.0

    def _fbp_on_skimage_grid(self, sinogram: np.ndarray) -> np.ndarray:
        """One slice [J, J] centred on pixel J // 2 from projections [n, J] of the raster."""
        from skimage.transform import iradon

        columns = sinogram.T if not self.half else fourier_shift(sinogram.T, self.half, (0,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return iradon(columns, theta=self.angles, filter_name="ramp", circle=True, output_size=self.width)

    def _to_raster(self, image: np.ndarray) -> np.ndarray:
        return image if not self.half else fourier_shift(image, -self.half, (0, 1))

    def fbp(self, sinograms: np.ndarray) -> np.ndarray:
        return np.stack([self._to_raster(self._fbp_on_skimage_grid(sinograms[:, s])) for s in
                         range(sinograms.shape[1])])

    def iterative(self, sinograms: np.ndarray, iterations: int, nonnegative: bool) -> np.ndarray:
        from skimage.transform import iradon_sart

        clip = (0.0, np.inf) if nonnegative else None
        shifts = np.full(self.angles.size, self.half)
        out = np.empty((sinograms.shape[1], self.width, self.width))
        for s in range(sinograms.shape[1]):
            columns, image = sinograms[:, s].T.astype(np.float64), None
            for _ in range(iterations):
                image = iradon_sart(columns, theta=self.angles, image=image, projection_shifts=shifts, clip=clip)
            out[s] = self._to_raster(image)
        return np.maximum(out, 0.0) if nonnegative else out


class SkimageReconstruction(ScalarReconstruction):
    """The scalar reconstruction on scikit-image's iradon (FBP) and iradon_sart (SART)."""

    engine_class = SkimageEngine
