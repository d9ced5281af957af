"""Rendering and writing the raster scan files of the operando experiment (:mod:`.operando`).

Frames are rendered once per term: each basis curve of :mod:`.physics` is evaluated at every
pixel's q and multiplied by the pixel response; a frame is a linear combination of these images
(the 002 basis is rendered once per distinct centre), scaled by I0 x T x thickness, with Poisson
noise. Integrating a frame with the true geometry and ``normalization_factor = I0 * T * thickness``
returns the truth curve :func:`physics.model_curve` within Poisson noise.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from . import detectors as det
from .operando_plan import THICKNESS_MM, TIME_ORIGIN
from .physics import AMPLITUDES, FWHM002, Q002_PRISTINE, CurveParams, gaussian, unit_terms

D002_GROWTH = 0.015           # relative growth of d002 at full local progress
Q002_LEVELS = 16              # distinct 002 centres rendered (progress quantised to 1/15)


@dataclass(frozen=True)
class Bases:
    """Rendered unit images of one detector, flattened: fixed-shape terms [K, npix] and the 002 term
    at each quantised progress level in use (float32, to keep a Pilatus 2M in memory);
    ``gaps`` marks pixels without sensor."""

    names: tuple[str, ...]
    fixed: np.ndarray
    c002: dict[int, np.ndarray]
    gaps: np.ndarray
    shape: tuple[int, int]


def q002_level(q002: np.ndarray) -> np.ndarray:
    """Index of the quantised progress level of a 002 centre (inverse of :func:`q002_at`)."""
    return np.rint((Q002_PRISTINE / np.asarray(q002) - 1.0) / D002_GROWTH * (Q002_LEVELS - 1)).astype(int)


def q002_at(level: np.ndarray) -> np.ndarray:
    """002 centre (1/Å) at a quantised progress in [0, 1]: d002 grows by D002_GROWTH x progress."""
    return Q002_PRISTINE / (1.0 + D002_GROWTH * np.asarray(level))


def render_bases(setup: det.DetectorSetup, levels: np.ndarray) -> Bases:
    """Evaluate every unit term at the pixels' q, times the pixel response (solid angle,
    polarization, beamstop); the 002 term once per level in ``levels``."""
    ai = det.integrator(setup)
    q = det.q_map(ai).ravel()
    pixel_response = det.response(setup, ai).ravel()
    names = tuple(name for name in AMPLITUDES if name != "c002_area")
    unit = unit_terms(q, CurveParams())
    fixed = np.stack([unit[name] * pixel_response for name in names]).astype(np.float32)
    c002 = {int(level): (gaussian(q, 1.0, float(q002_at(level / (Q002_LEVELS - 1))), FWHM002)
                         * pixel_response).astype(np.float32)
            for level in np.unique(levels)}
    return Bases(names, fixed, c002, det.gap_mask(ai).ravel(), ai.detector.shape)


def expected_frames(bases: Bases, params: dict[str, np.ndarray], points: np.ndarray,
                    scale: np.ndarray) -> np.ndarray:
    """Mean counts [len(points), npix] of flat point indices: scale x (Σ amplitude x unit image
    + 002 area x the 002 image at the point's centre)."""
    weights = np.stack([params[name].ravel()[points] for name in bases.names], axis=1).astype(np.float32)
    frames = weights @ bases.fixed
    levels = q002_level(params["q002"].ravel()[points])
    for row, (level, area) in enumerate(zip(levels, params["c002_area"].ravel()[points])):
        frames[row] += area * bases.c002[int(level)]
    frames *= scale[:, None].astype(np.float32)
    return frames

@dataclass(frozen=True)
class ScanJob:
    """Everything one worker needs to render and write one scan file."""

    path: Path
    title: str
    scale: str
    start_s: float
    point_period_s: float
    params: dict[str, np.ndarray]
    transmission: np.ndarray
    positions: tuple[np.ndarray, np.ndarray]
    i0: np.ndarray
    diode: np.ndarray
    noise_seed: np.random.SeedSequence


def write_group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    """A child group with its NX_class."""
    group = parent.create_group(name)
    group.attrs["NX_class"] = nx_class
    return group


def write_scan(job: ScanJob, chunk: int = 8) -> Path:
    """Render and write one raster scan (the raw layout of docs/simulation.md).

    Points are row-major (x fastest); per point the SAXS then the WAXS frame draws its Poisson noise
    from the job's own seed, so the file does not depend on which process writes it.
    """
    setups = (det.saxs_setup(job.scale), det.waxs_setup(job.scale))
    integrators = [det.integrator(s) for s in setups]
    bases = [render_bases(s, q002_level(job.params["q002"])) for s in setups]
    rng = np.random.default_rng(job.noise_seed)
    n = job.i0.size
    scale = job.i0 * job.transmission.ravel() * THICKNESS_MM
    with h5py.File(job.path, "w") as handle:
        entry = det.write_raw_entry(
            handle, job.title, (TIME_ORIGIN + timedelta(seconds=job.start_s)).isoformat(),
            (TIME_ORIGIN + timedelta(seconds=job.start_s + n * job.point_period_s)).isoformat())
        instrument = write_group(entry, "instrument", "NXinstrument")
        det.write_monochromator(instrument, setups[0])
        stacks = [det.create_detector(instrument, s, ai, n) for s, ai in zip(setups, integrators)]
        det.link_frames_for_viewers(entry, stacks[0])
        for name, values in (("i0", job.i0), ("diode", job.diode)):
            write_group(instrument, name, "NXmonitor").create_dataset("data", data=values).attrs["units"] = "counts"
        scan = write_group(entry, "scan", "NXcollection")
        for name, values in zip(("y", "x"), job.positions):
            scan.create_dataset(name, data=values.ravel()).attrs["units"] = "mm"
        scan["shape"] = np.array(job.positions[0].shape)
        for first in range(0, n, chunk):
            points = np.arange(first, min(first + chunk, n))
            means = [expected_frames(b, job.params, points, scale[points]) for b in bases]
            for row, k in enumerate(points):
                for stack, b, mean in zip(stacks, bases, means):
                    stack[k] = det.frame_to_uint32(rng.poisson(mean[row]), b.gaps).reshape(b.shape)
    return job.path


def run_jobs(jobs: list[ScanJob], workers: int) -> list[Path]:
    """Write every scan with a tqdm bar over scans: in this process (workers = 1) or in ``workers``
    spawned processes (fresh interpreters: forking after pyFAI's OpenMP has run can hang)."""
    bar = tqdm(total=len(jobs), desc="operando scans", unit="scan", disable=None)
    with bar:
        if workers == 1:
            paths = []
            for job in jobs:
                paths.append(write_scan(job))
                bar.update()
            return paths
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(write_scan, job) for job in jobs]
            for future in as_completed(futures):
                future.result()
                bar.update()
        return [future.result() for future in futures]
