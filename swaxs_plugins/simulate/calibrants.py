"""Calibrant frames with a known geometry: AgBh on the SAXS detector, LaB6 on the WAXS strip.

Each frame is the calibrant's ring curve (pyFAI calibrant d-spacings, Gaussian rings of finite
width on a flat background) evaluated at every pixel's q, times the pixel response (solid angle,
polarization, beamstop shadow), times the monitor count, with Poisson noise. Gap pixels hold -1
as a Pilatus writes them (int32 images) or 2**32 - 1 in the uint32 NeXus frames.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import fabio
import h5py
import numpy as np
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


def expected_counts(curve_at_pixels: np.ndarray, pixel_response: np.ndarray, monitor: float) -> np.ndarray:
    """Mean counts per pixel: I(q_pixel) x response x monitor."""
    return curve_at_pixels * pixel_response * monitor


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
        curve = ring_curve(det.q_map(ai), calibrant, wavelength_angstrom(setup.energy_kev), fwhm, area, flat)
        counts = rng.poisson(expected_counts(curve, det.response(setup, ai), CALIBRANT_MONITOR))
        gaps = det.gap_mask(ai)
        stem = f"calibrant_{calibrant.lower()}_{key}"
        raw.append(write_calibrant_nexus(outdir / f"{stem}.nxs", det.frame_to_uint32(counts, gaps),
                                         setup, ai, calibrant, when))
        images.append(write_image(outdir / f"{stem}.edf", counts, gaps, setup))
        masks[key] = write_mask(outdir / f"mask_{key}.edf", setup, ai)
        poni[key] = det.write_poni(ai, outdir / "truth" / f"{key}.poni")
    return SimulationResult(outdir=outdir, raw=tuple(raw), images=tuple(images), masks=masks,
                            poni=poni, truth=tuple(poni.values()))
