"""The simulated SAXS and WAXS detectors, their true geometries and their per-pixel response.

Geometries are pyFAI PONI parameters at 13.2 keV. SAXS: a Pilatus area detector ~1-2 m downstream,
beam on the detector, small tilts, a round beamstop on an arm. WAXS: a Pilatus 300K-W strip 0.55 m
from the sample, beside the beam with the beam off the detector (rot1 ≈ 14°), covering q ≈ 0.95-3.9
1/Å. The response of a pixel is pyFAI's relative solid angle times the polarization factor times the
beamstop shadow, so that pyFAI's integration with the same corrections inverts the rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pyFAI
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile

from .physics import ENERGY_KEV, wavelength_angstrom

SCALES = ("small", "paper")
POLARIZATION = 0.99          # horizontally polarized undulator beam (pyFAI convention, +1 = horizontal)
BEAMSTOP_TRANSMISSION = 1e-3  # fraction of the signal that leaks through the beamstop
GAP_VALUE_UINT32 = np.uint32(0xFFFFFFFF)  # Dectris marks gaps as -1; as uint32 that is 2**32 - 1
PIXEL_MASK_GAP = 1            # NXdetector/pixel_mask bit 0: gap (no sensor)
PIXEL_MASK_USER = 1 << 8      # NXdetector/pixel_mask bit 8: user mask, here the beamstop shadow


@dataclass(frozen=True)
class DetectorSetup:
    """One detector: pyFAI name, true PONI geometry (m, rad), what the beamline records, beamstop."""

    key: str
    detector: str
    dist: float
    poni1: float
    poni2: float
    rot1: float
    rot2: float
    rot3: float = 0.0
    nominal_distance: float = 0.0
    count_time: float = 0.1
    beamstop_radius_px: float = 0.0
    energy_kev: float = ENERGY_KEV
    polarization: float = POLARIZATION

    @property
    def wavelength_m(self) -> float:
        """Wavelength in metres, as pyFAI wants it."""
        return wavelength_angstrom(self.energy_kev) * 1e-10


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is a known simulation scale, else raise a ValueError naming it."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


def saxs_setup(scale: str = "small") -> DetectorSetup:
    """SAXS: Pilatus 200K at 1.10 m (small, fast) or Pilatus 2M at 1.80 m (paper); q ≈ 0.003-0.5 1/Å."""
    px = 172e-6
    if check_scale(scale) == "small":
        return DetectorSetup("saxs", "Pilatus200k", dist=1.1037, poni1=100.3 * px, poni2=120.7 * px,
                             rot1=0.0021, rot2=-0.0032, nominal_distance=1.10, beamstop_radius_px=3.0)
    return DetectorSetup("saxs", "Pilatus2M", dist=1.8046, poni1=915.4 * px, poni2=760.6 * px,
                         rot1=0.0021, rot2=-0.0032, nominal_distance=1.80, beamstop_radius_px=5.0)


def waxs_setup(scale: str = "small") -> DetectorSetup:
    """WAXS: Pilatus 300K-W strip beside the beam (beam off the detector); same at both scales."""
    check_scale(scale)
    return DetectorSetup("waxs", "Pilatus300kw", dist=0.5512, poni1=0.0171, poni2=0.0603,
                         rot1=0.2502, rot2=0.0094, nominal_distance=0.55)


def integrator(setup: DetectorSetup) -> AzimuthalIntegrator:
    """A pyFAI integrator holding the true geometry of ``setup``."""
    return AzimuthalIntegrator(dist=setup.dist, poni1=setup.poni1, poni2=setup.poni2,
                               rot1=setup.rot1, rot2=setup.rot2, rot3=setup.rot3,
                               detector=pyFAI.detector_factory(setup.detector),
                               wavelength=setup.wavelength_m)


def q_map(ai: AzimuthalIntegrator) -> np.ndarray:
    """q (1/Å) at every pixel centre."""
    return ai.array_from_unit(unit="q_A^-1", typ="center")


def gap_mask(ai: AzimuthalIntegrator) -> np.ndarray:
    """True on pixels without sensor (module gaps), from the pyFAI detector definition."""
    mask = ai.detector.mask
    return np.zeros(ai.detector.shape, bool) if mask is None else mask.astype(bool)


def beamstop_mask(setup: DetectorSetup, ai: AzimuthalIntegrator) -> np.ndarray:
    """True in the beamstop shadow: a disc around the direct beam and its arm to the nearest edge."""
    shape = ai.detector.shape
    if setup.beamstop_radius_px <= 0:
        return np.zeros(shape, bool)
    fit2d = ai.getFit2D()
    row0, col0 = fit2d["centerY"], fit2d["centerX"]
    rows, cols = np.indices(shape) + 0.5
    disc = (rows - row0) ** 2 + (cols - col0) ** 2 <= setup.beamstop_radius_px ** 2
    arm = (np.abs(rows - row0) <= setup.beamstop_radius_px / 2) & (cols <= col0)
    return disc | arm


def pixel_mask(setup: DetectorSetup, ai: AzimuthalIntegrator) -> np.ndarray:
    """NXdetector pixel_mask (uint32 bit flags): bit 0 gap, bit 8 beamstop shadow; 0 = good."""
    flags = np.where(gap_mask(ai), PIXEL_MASK_GAP, 0).astype(np.uint32)
    flags[beamstop_mask(setup, ai)] |= PIXEL_MASK_USER
    return flags


def response(setup: DetectorSetup, ai: AzimuthalIntegrator) -> np.ndarray:
    """Per-pixel factor turning I(q) into expected counts per I0: solid angle x polarization x shadow."""
    shadow = np.where(beamstop_mask(setup, ai), BEAMSTOP_TRANSMISSION, 1.0)
    return ai.solidAngleArray() * ai.polarization(factor=setup.polarization) * shadow


def write_poni(ai: AzimuthalIntegrator, path: Path) -> Path:
    """Write the geometry as a PONI file (overwriting; pyFAI's own ``write`` appends)."""
    with open(path, "w") as handle:
        PoniFile(ai).write(handle)
    return path


def poni_dict(setup: DetectorSetup) -> dict[str, float | str]:
    """The PONI parameters of a setup as plain values (for truth files)."""
    return {"detector": setup.detector, "dist": setup.dist, "poni1": setup.poni1,
            "poni2": setup.poni2, "rot1": setup.rot1, "rot2": setup.rot2, "rot3": setup.rot3,
            "wavelength": setup.wavelength_m, "energy_keV": setup.energy_kev,
            "polarization_factor": setup.polarization}


def write_monochromator(instrument: h5py.Group, setup: DetectorSetup) -> None:
    """NXmonochromator with energy (keV) and wavelength (Å)."""
    mono = instrument.create_group("monochromator")
    mono.attrs["NX_class"] = "NXmonochromator"
    mono.create_dataset("energy", data=setup.energy_kev).attrs["units"] = "keV"
    mono.create_dataset("wavelength", data=wavelength_angstrom(setup.energy_kev)).attrs["units"] = "angstrom"


def create_detector(instrument: h5py.Group, setup: DetectorSetup, ai: AzimuthalIntegrator,
                    n_frames: int) -> h5py.Dataset:
    """NXdetector group of ``setup`` with its metadata; returns the empty frame stack to fill.

    Frames are uint32 [n_frames, rows, cols], one bitshuffle-LZ4 chunk per frame; the distance
    written is the nominal (motor) one, not the true geometry.
    """
    group = instrument.create_group(setup.key)
    group.attrs["NX_class"] = "NXdetector"
    rows, cols = ai.detector.shape
    data = group.create_dataset("data", shape=(n_frames, rows, cols), dtype=np.uint32,
                                chunks=(1, rows, cols), **hdf5plugin.Bitshuffle(cname="lz4"))
    data.attrs["interpretation"] = "image"
    group["description"] = setup.detector
    for name, value, units in (("x_pixel_size", ai.detector.pixel2, "m"),
                               ("y_pixel_size", ai.detector.pixel1, "m"),
                               ("distance", setup.nominal_distance, "m"),
                               ("count_time", setup.count_time, "s")):
        group.create_dataset(name, data=value).attrs["units"] = units
    group.create_dataset("pixel_mask", data=pixel_mask(setup, ai), compression="gzip")
    group.create_dataset("saturation_value", data=np.int64(GAP_VALUE_UINT32) - 1)
    return data


def write_raw_entry(handle: h5py.File, title: str, start: str, end: str) -> h5py.Group:
    """The NXentry of a raw file, declaring the NXswaxs_raw_scan layout, with the root's @default."""
    handle.attrs["default"] = "entry"
    entry = handle.create_group("entry")
    entry.attrs.update({"NX_class": "NXentry", "default": "data"})
    entry["definition"] = "NXswaxs_raw_scan"
    entry["title"] = title
    entry["start_time"], entry["end_time"] = start, end
    return entry


def link_frames_for_viewers(entry: h5py.Group, frames: h5py.Dataset) -> None:
    """``entry/data``: an NXdata linking the first detector's frames, so silx shows them as images."""
    data = entry.create_group("data")
    data.attrs.update({"NX_class": "NXdata", "signal": "data"})
    data["data"] = frames


def frame_to_uint32(counts: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Counts as the detector writes them: uint32 with gap pixels set to 2**32 - 1 (-1 as int32)."""
    frame = counts.astype(np.uint32)
    frame[gaps] = GAP_VALUE_UINT32
    return frame
