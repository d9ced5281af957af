"""Stage 0 of the calibration: the inputs — calibrant, detector, wavelength, the frame and its invalid pixels,
and the ring pixels every later stage starts from.

Ring pixels are found on a local z-score of log(counts): z = (m₁ − m_σ) / √⟨(m₁ − m_σ)²⟩, with m_w the
masked Gaussian mean of log(1 + counts) over w px. Faint rings on a low background then count as
much as bright ones, and a smooth background counts for nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyFAI
import pyFAI.detectors
from pyFAI.calibrant import CALIBRANT_FACTORY
from scipy import constants
from scipy.ndimage import gaussian_filter

from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.io.raw import FrameFile, is_hdf5, split_location

HC_KEV_ANGSTROM = constants.h * constants.c / constants.e / 1e3 * 1e10  # λ[Å] = HC / E[keV]
ORIENTATIONS = (1, 2, 3, 4)  # pyFAI's detector orientations (EXIF 1-4); 3 is pyFAI's default


def check_calibrant(name: str) -> str:
    """Return ``name`` if pyFAI knows the calibrant, else raise a SwaxsError listing some it knows."""
    if name not in CALIBRANT_FACTORY:
        known = ", ".join(sorted(CALIBRANT_FACTORY.keys(), key=str.lower)[:12])
        raise SwaxsError(f"calibrant {name!r} is unknown to pyFAI; known ones include {known}, ...")
    return name


def make_detector(name: str, orientation: int | None = None) -> pyFAI.detectors.Detector:
    """A fresh pyFAI detector by name, in pyFAI's ``orientation`` (1-4: how the image is flipped;
    None: the detector's default); a SwaxsError naming the detector when pyFAI does not know it."""
    registry = pyFAI.detectors.Detector.registry
    lowered = name.lower()
    if lowered not in registry and lowered.replace(" ", "_") not in registry:
        raise SwaxsError(f"detector {name!r} is unknown to pyFAI (e.g. Pilatus2M, Pilatus300kw, Eiger9M)")
    if orientation is None:
        return pyFAI.detector_factory(name)
    if orientation not in ORIENTATIONS:
        raise SwaxsError(f"orientation {orientation} is not one of pyFAI's detector orientations 1-4")
    return pyFAI.detector_factory(name, config={"orientation": int(orientation)})


def wavelength_angstrom(wavelength: float | None, energy: float | None) -> float:
    """The wavelength in Å from exactly one of wavelength [Å] or energy [keV]."""
    if (wavelength is None) == (energy is None):
        raise SwaxsError("give exactly one of wavelength [Å] or energy [keV]")
    return float(wavelength) if wavelength is not None else HC_KEV_ANGSTROM / float(energy)


def read_image(location: str | Path) -> np.ndarray:
    """The first frame of an image file (fabio) or of ``file.h5::/dataset``."""
    path, dataset = split_location(str(location))
    if not path.exists():
        raise InputDataError(f"{path}: file not found")
    if dataset is None and is_hdf5(path):
        raise InputDataError(f"{path}: an HDF5 file; name the frames as {path}::/path/to/dataset")
    return FrameFile(path, dataset).read(0, 1)[0]


def invalid_pixels(frame: np.ndarray, detector: pyFAI.detectors.Detector,
                   extra: np.ndarray | None = None) -> np.ndarray:
    """True where a pixel cannot be used: detector gaps, negative (Pilatus -1, -2) or overflow values
    (an unsigned frame's largest value, as Eiger writes it), NaN and ±inf, and the optional extra
    mask (nonzero = masked)."""
    if frame.shape != tuple(detector.shape):
        raise InputDataError(f"frame shape {frame.shape} does not match detector {detector.name} {detector.shape}")
    mask = ~np.isfinite(frame) if frame.dtype.kind == "f" else np.zeros(frame.shape, bool)
    mask |= frame < 0
    if frame.dtype.kind == "u":
        mask |= frame == np.iinfo(frame.dtype).max
    if detector.mask is not None:
        mask |= detector.mask.astype(bool)
    if extra is not None:
        if extra.shape != frame.shape:
            raise InputDataError(f"mask shape {extra.shape} does not match the frame {frame.shape}")
        mask |= extra.astype(bool)
    return mask


def masked_mean(values: np.ndarray, weight: np.ndarray, width: float) -> np.ndarray:
    """Gaussian mean of ``values`` over ``width`` px counting only pixels of weight 1."""
    return gaussian_filter(values * weight, width) / np.maximum(gaussian_filter(weight, width), 1e-6)


def ridge_image(frame: np.ndarray, mask: np.ndarray, sigma: float = 6.0) -> np.ndarray:
    """Rings as a local z-score of log(counts) (module docstring); 0 on masked pixels."""
    weight = (~mask).astype(np.float64)
    image = np.where(mask, 0.0, np.log1p(np.clip(np.nan_to_num(frame.astype(np.float64)), 0, None)))
    ridge = masked_mean(image, weight, 1.0) - masked_mean(image, weight, sigma)
    noise = np.sqrt(masked_mean(ridge ** 2, weight, 4 * sigma))
    return np.where(mask, 0.0, ridge / np.maximum(noise, 1e-12))


def background_removed(frame: np.ndarray, mask: np.ndarray, sigma: float = 8.0) -> np.ndarray:
    """Counts minus their masked local mean: a sloping background no longer pulls ring maxima
    towards the beam, where peak picking would otherwise find them."""
    weight = (~mask).astype(np.float64)
    image = np.where(mask, 0.0, np.nan_to_num(frame.astype(np.float64)))
    return np.where(mask, 0.0, image - masked_mean(image, weight, sigma))


def ring_pixels(ridge: np.ndarray, mask: np.ndarray, fraction: float = 0.03, max_points: int = 20000) -> np.ndarray:
    """(row, col) of the brightest ``fraction`` of ridge pixels, evenly thinned to ``max_points``, in
    pyFAI's point convention (a pixel's centre at its integer index, as ``Geometry.tth(d1, d2)``)."""
    valid = ridge[~mask]
    if valid.size == 0 or not np.any(valid > 0):
        return np.empty((0, 2))
    threshold = np.quantile(valid, 1.0 - fraction)
    points = np.argwhere((ridge > max(threshold, 0.0)) & ~mask).astype(np.float64)
    return points[:: max(1, len(points) // max_points)]
