"""Calibrant frames with a known geometry: AgBh on the SAXS detector, LaB6 on the WAXS strip.

Each frame is the calibrant's ring curve (pyFAI calibrant d-spacings, Gaussian rings of finite
width on a flat background) averaged over the area of every pixel (SUPERSAMPLE x SUPERSAMPLE
sub-pixels, each at its own q), times the pixel response (solid angle, polarization, beamstop
shadow), times the monitor count, blurred by the detector's point spread (a Gaussian of
PSF_SIGMA_PX, charge shared between neighbours), with Poisson noise. A calibration fitted to these
frames therefore cannot succeed by inverting the same q-at-pixel-centre formula that made them.
Gap pixels hold -1 as a Pilatus writes them (int32 images) or 2**32 - 1 in the uint32 NeXus frames.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import fabio
import h5py
import numpy as np
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from . import detectors as det
from .physics import AGBH, LAB6, ring_curve, wavelength_angstrom
from .result import SimulationResult, prepare_outdir

CALIBRANT_MONITOR = 2.0e7  # I0 counts of one calibrant exposure (a long one: calibrants are counted well)

#: (detector key, calibrant, ring FWHM 1/Å, ring area, flat background) per calibrant frame
CALIBRANT_FRAMES = (
    ("saxs", AGBH, 0.0025, 1.3e-6, 1.0e-5),
    ("waxs", LAB6, 0.012, 1.3e-6, 2.0e-5),
)


SUPERSAMPLE = 4      # sub-pixels per side over which the ring curve is averaged in each pixel
PSF_SIGMA_PX = 0.5   # detector point spread: Gaussian standard deviation in pixels


def pixel_averaged(curve: Callable[[np.ndarray], np.ndarray], ai: AzimuthalIntegrator,
                   supersample: int = SUPERSAMPLE) -> np.ndarray:
    """I(q) averaged over every pixel's area: the mean of ``curve`` at the q of supersample²
    sub-pixel centres per pixel. A flat detector's pixel positions are affine in (row, col), so
    the sub-pixel positions come from three of pyFAI's (pixel centres at integer d1, d2)."""
    if not ai.detector.IS_FLAT or ai.detector.splinefile:
        raise ValueError(f"detector {ai.detector.name}: pixel-area rendering needs a flat detector without distortion")
    rows, cols = ai.detector.shape
    origin, along_row, along_col = (np.array(ai.calc_pos_zyx(d1=np.array([d1]), d2=np.array([d2]))).ravel()
                                    for d1, d2 in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)))
    d1, d2 = np.indices((rows, cols), dtype=np.float64)
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    total = np.zeros((rows, cols))
    for offset1 in offsets:
        for offset2 in offsets:
            z, y, x = (origin[k] + (d1 + offset1) * (along_row[k] - origin[k]) + (d2 + offset2) * (along_col[k] - origin[k])
                       for k in range(3))
            two_theta = np.arctan2(np.hypot(x, y), z)
            total += curve(4.0 * np.pi * np.sin(two_theta / 2.0) / (ai.wavelength * 1e10))
    return total / supersample**2


def expected_counts(curve_at_pixels: np.ndarray, pixel_response: np.ndarray, monitor: float,
                    psf_sigma_px: float = PSF_SIGMA_PX) -> np.ndarray:
    """Mean counts per pixel: I(q) over the pixel x response x monitor, spread by the point spread."""
    counts = curve_at_pixels * pixel_response * monitor
    return gaussian_filter(counts, psf_sigma_px, mode="nearest") if psf_sigma_px > 0 else counts


def render_calibrant(ai: AzimuthalIntegrator, calibrant: str, fwhm: float, area: float, flat: float,
                     pixel_response: np.ndarray, monitor: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts of a calibrant frame with geometry ``ai`` (rings of ``fwhm`` 1/Å, ``area``,
    on ``flat``): pixel-area averaged, point-spread blurred (see the module docstring)."""
    wavelength = ai.wavelength * 1e10
    q_max = 4.0 * np.pi / wavelength  # every reachable q; tabulated finely, the rings cost one interpolation
    table = np.arange(0.0, q_max + fwhm, fwhm / 40.0)
    values = ring_curve(table, calibrant, wavelength, fwhm, area, flat)
    curve = pixel_averaged(lambda q: np.interp(q, table, values), ai)
    return rng.poisson(expected_counts(curve, pixel_response, monitor))


def write_image(path: Path, counts: np.ndarray, gaps: np.ndarray, setup: det.DetectorSetup) -> Path:
    """An EDF image as a Pilatus writes it (int32, gaps = -1) with the beamline metadata in its header."""
    image = counts.astype(np.int32)
    image[gaps] = -1
    header = {"detector": setup.detector, "energy_keV": str(setup.energy_kev),
              "wavelength_angstrom": repr(wavelength_angstrom(setup.energy_kev)),
              "distance_m": str(setup.nominal_distance), "pixel_size_m": "172e-6",
              "count_time_s": str(setup.count_time)}
    fabio.edfimage.EdfImage(data=image, header=header).write(str(path))
    return path


def write_mask(path: Path, setup: det.DetectorSetup, ai) -> Path:
    """EDF mask for pyFAI (1 = masked): gaps and the beamstop shadow."""
    mask = (det.pixel_mask(setup, ai) != 0).astype(np.int8)
    fabio.edfimage.EdfImage(data=mask, header={"detector": setup.detector}).write(str(path))
    return path


def write_calibrant_nexus(path: Path, frame: np.ndarray, setup: det.DetectorSetup, ai,
                          calibrant: str, when: datetime) -> Path:
    """One calibrant frame as NeXus: /entry/instrument/<saxs|waxs>/data [1, rows, cols] + metadata."""
    with h5py.File(path, "w") as handle:
        entry = det.write_raw_entry(handle, f"{calibrant} calibrant on {setup.key.upper()} ({setup.detector})",
                                    when.isoformat(), when.isoformat())
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        det.write_monochromator(instrument, setup)
        frames = det.create_detector(instrument, setup, ai, 1)
        frames[0] = frame
        det.link_frames_for_viewers(entry, frames)
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample["name"] = calibrant
    return path


def simulate_calibrants(outdir: str | Path, *, seed: int = 0, scale: str = "small") -> SimulationResult:
    """Write an AgBh SAXS frame and a LaB6 WAXS frame (NeXus + EDF), their masks and TRUE PONI files.

    Files: ``calibrant_agbh_saxs.{nxs,edf}``, ``calibrant_lab6_waxs.{nxs,edf}``,
    ``mask_saxs.edf``, ``mask_waxs.edf``, ``truth/saxs.poni``, ``truth/waxs.poni``.
    """
    setups = {"saxs": det.saxs_setup(scale), "waxs": det.waxs_setup(scale)}
    outdir = prepare_outdir(outdir)
    (outdir / "truth").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    when = datetime(2025, 1, 15, 9, 30, tzinfo=timezone.utc)
    raw, images, masks, poni = [], [], {}, {}
    for key, calibrant, fwhm, area, flat in tqdm(CALIBRANT_FRAMES, desc="calibrants", disable=None):
        setup = setups[key]
        ai = det.integrator(setup)
        counts = render_calibrant(ai, calibrant, fwhm, area, flat, det.response(setup, ai), CALIBRANT_MONITOR, rng)
        gaps = det.gap_mask(ai)
        stem = f"calibrant_{calibrant.lower()}_{key}"
        raw.append(write_calibrant_nexus(outdir / f"{stem}.nxs", det.frame_to_uint32(counts, gaps),
                                         setup, ai, calibrant, when))
        images.append(write_image(outdir / f"{stem}.edf", counts, gaps, setup))
        masks[key] = write_mask(outdir / f"mask_{key}.edf", setup, ai)
        poni[key] = det.write_poni(ai, outdir / "truth" / f"{key}.poni")
    return SimulationResult(outdir=outdir, raw=tuple(raw), images=tuple(images), masks=masks,
                            poni=poni, truth=tuple(poni.values()))
