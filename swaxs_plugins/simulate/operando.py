"""Operando raster scans of a sodiating hard-carbon electrode in a capillary cell, with their truth.

The map (x fastest) crosses, left to right: the steel current collector (T ≈ 0.04), the dip-coated
hard-carbon electrode, the electrolyte and the quartz capillary wall. The map is repeated at a
pristine state and at op1..opN during a galvanostatic sodiation. A local progress p in [0, 1] runs
faster near the collector; with it the micropore term first rises a few percent then falls (≈ -45 %
at p = 1), the 002 peak loses 30 % and d002 grows 1.5 %, the particle surface (SEI) term rises,
pseudo-metallic Na grows for p > 0.7 and Na metal plates on the collector interface in the last
fifth of the sodiation.

Frames are rendered once per term: each basis curve of :mod:`.physics` is evaluated at every
pixel's q and multiplied by the pixel response; a frame is a linear combination of these images
(the 002 basis is rendered once per distinct centre), scaled by I0 x T x thickness, with Poisson
noise. Integrating a frame with the true geometry and ``normalization_factor = I0 * T * thickness``
returns the truth curve :func:`physics.model_curve` within Poisson noise.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from . import detectors as det
from .physics import (AMPLITUDES, FWHM002, Q002_PRISTINE, CurveParams, gaussian, hard_carbon, model_curve,
                      unit_terms)
from .result import SimulationResult, prepare_outdir

TIME_ORIGIN = datetime(2025, 1, 15, 10, 0, tzinfo=timezone.utc)
ELECTRODE_FRACTION = 0.6      # carbon fraction of the beam path in the electrode (rest: electrolyte)
D002_GROWTH = 0.015           # relative growth of d002 at full local progress
Q002_LEVELS = 16              # distinct 002 centres rendered (progress quantised to 1/15)
THICKNESS_MM = 1.0            # inner diameter of the capillary: the sample thickness everywhere
DIODE_GAIN = 0.5
REGIONS = {                   # q-regions (1/Å) whose electrode means the truth reports
    "particle_surface": (0.0045, 0.007),
    "micropores": (0.12, 0.4),
    "c002": (1.2, 1.9),
    "pseudo_metal": (2.1, 2.3),
    "plating": (2.05, 2.1),
}


@dataclass(frozen=True)
class ScanPlan:
    """Size and timing of the experiment at one scale."""

    nx: int
    ny: int
    n_operando: int
    n_empty: int = 4
    width_mm: float = 1.5
    height_mm: float = 1.0
    point_period_s: float = 0.25
    scan_interval_s: float = 600.0
    i0_mean: float = 1.0e5

    @property
    def labels(self) -> tuple[str, ...]:
        return ("pristine",) + tuple(f"op{k}" for k in range(1, self.n_operando + 1))

    @property
    def n_points(self) -> int:
        return self.nx * self.ny

    @property
    def duration_s(self) -> float:
        return self.n_points * self.point_period_s


PLANS = {"small": ScanPlan(nx=10, ny=6, n_operando=4), "paper": ScanPlan(nx=60, ny=20, n_operando=8)}


# ---------------------------------------------------------------- the sample and its evolution


def sample_layout(nx: int, ny: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Masks [ny, nx] of the four materials, the normalised depth in the electrode (0 at the
    collector, 1 at the electrolyte) and the collector-interface pixels (first electrode column).

    Interfaces are slightly wavy along y so that masks are not plain rectangles.
    """
    v, u = (np.indices((ny, nx)) + 0.5) / np.array([ny, nx])[:, None, None]
    collector_edge = 0.17 + 0.05 * np.sin(2 * np.pi * v)
    electrode_edge = 0.50 + 0.05 * np.cos(2 * np.pi * v)
    masks = {"current_collector": u < collector_edge, "capillary": u >= 0.84}
    masks["electrode"] = ~masks["current_collector"] & (u < electrode_edge)
    masks["electrolyte"] = ~(masks["current_collector"] | masks["electrode"] | masks["capillary"])
    depth = np.clip((u - collector_edge) / (electrode_edge - collector_edge), 0.0, 1.0)
    interface = masks["electrode"] & np.roll(masks["current_collector"], 1, axis=1)
    return masks, depth, interface


def local_progress(depth: np.ndarray, tau: float) -> np.ndarray:
    """Sodiation progress p in [0, 1] at time fraction tau: 25 % ahead at the collector, 10 % behind far."""
    return np.clip(tau * (1.25 - 0.35 * depth), 0.0, 1.0)


def micropore_change(p: np.ndarray) -> np.ndarray:
    """Relative micropore intensity change: +2.5 % near p = 0.19 (early pore filling), -45 % at p = 1."""
    return 0.27 * p - 0.72 * p**2


def point_params(masks: dict[str, np.ndarray], depth: np.ndarray, interface: np.ndarray,
                 tau: float) -> dict[str, np.ndarray]:
    """Per-point CurveParams fields [ny, nx] at time fraction tau (0 pristine, 1 end of sodiation)."""
    shape = depth.shape
    values = {f.name: np.full(shape, f.default, dtype=np.float64) for f in fields(CurveParams)}
    values["air"][:] = 1.0
    values["quartz"][:] = 0.02                      # the two 10 µm walls crossed by every ray
    values["quartz"][masks["capillary"]] = 0.3      # rays tangent to the wall
    values["electrolyte"][masks["electrolyte"]] = 1.0
    values["electrolyte"][masks["capillary"]] = 0.5
    values["flat"][masks["current_collector"]] = 2.0e-4  # steel fluorescence
    electrode = masks["electrode"]
    p = np.where(electrode, local_progress(depth, tau), 0.0)
    pristine = hard_carbon(ELECTRODE_FRACTION)
    for name in ("binder_saxs_area", "binder_waxs_area"):
        values[name][electrode] = getattr(pristine, name)
    values["electrolyte"][electrode] = 1.0 - ELECTRODE_FRACTION
    values["particle_amp"][electrode] = pristine.particle_amp * (1.0 + 0.3 * p[electrode])
    values["micropore_amp"][electrode] = pristine.micropore_amp * (1.0 + micropore_change(p[electrode]))
    values["c002_area"][electrode] = pristine.c002_area * (1.0 - 0.3 * p[electrode])
    levels = np.rint(p * (Q002_LEVELS - 1)) / (Q002_LEVELS - 1)
    values["q002"][electrode] = q002_at(levels[electrode])
    values["pseudo_metal_area"][electrode] = 2.5e-5 * np.clip((p[electrode] - 0.7) / 0.3, 0.0, 1.0)
    values["na_metal_area"][interface] = 8.0e-6 * np.clip((tau - 0.8) / 0.2, 0.0, 1.0)
    return values


def transmission(masks: dict[str, np.ndarray], depth: np.ndarray, tau: float) -> np.ndarray:
    """Transmission [ny, nx] relative to the empty beam; the electrode absorbs more as Na enters."""
    return np.select([masks["current_collector"], masks["electrode"], masks["capillary"]],
                     [0.04, 0.72 * (1.0 - 0.04 * local_progress(depth, tau)), 0.68], 0.80)


# ---------------------------------------------------------------- rendering


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


# ---------------------------------------------------------------- timeline and writing


def scan_times(plan: ScanPlan) -> tuple[np.ndarray, float, float]:
    """Start times (s from TIME_ORIGIN) of every scan, the start of the current and the end of sodiation.

    Scan k (k >= 1) is centred at current_on + k x interval, so its time fraction is k / N.
    """
    current_on = plan.duration_s + 60.0
    starts = np.array([0.0] + [current_on + k * plan.scan_interval_s - plan.duration_s / 2
                               for k in range(1, plan.n_operando + 1)])
    return starts, current_on, current_on + plan.n_operando * plan.scan_interval_s


def sodiation_voltage(s: np.ndarray) -> np.ndarray:
    """Cell voltage (V) vs. sodiation fraction s: sloping from 2.5 V to 0.1 V, then the low-voltage plateau to 0 V."""
    s = np.clip(s, 0.0, 1.0)
    return np.where(s < 0.6, 0.1 + 2.4 * (1.0 - s / 0.6) ** 3, 0.1 - 0.1 * ((s - 0.6) / 0.4) ** 2)


def write_cycler_log(path: Path, plan: ScanPlan, rng: np.random.Generator) -> Path:
    """Galvanostatic sodiation log (time_s from TIME_ORIGIN, voltage_V, current_mA), every 10 s."""
    starts, current_on, end = scan_times(plan)
    time_s = np.arange(0.0, starts[-1] + plan.duration_s + 120.0, 10.0)
    sodiating = time_s >= current_on
    voltage = np.where(sodiating, sodiation_voltage((time_s - current_on) / (end - current_on)), 2.5)
    voltage += rng.normal(0.0, 5e-4, time_s.size)
    current = np.where(sodiating, -0.050, 0.0)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "voltage_V", "current_mA"])
        writer.writerows(zip(np.round(time_s, 1), np.round(voltage, 5), current))
    return path


def monitor_counts(plan: ScanPlan, start_s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """I0 per point: the ring current decays slowly (-4 % over the experiment) plus 0.5 % jitter."""
    total = plan.n_operando * plan.scan_interval_s + 2 * plan.duration_s
    t = start_s + np.arange(n) * plan.point_period_s
    return np.round(plan.i0_mean * (1.0 - 0.04 * t / total) * (1.0 + 0.005 * rng.standard_normal(n)))


def map_positions(plan: ScanPlan) -> tuple[np.ndarray, np.ndarray]:
    """Motor positions (y, x) in mm of the raster [ny, nx]."""
    iy, ix = np.indices((plan.ny, plan.nx))
    return iy * plan.height_mm / plan.ny, ix * plan.width_mm / plan.nx


def air_only(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per-point parameters of the empty beam: air and windows only."""
    values = {f.name: np.full(shape, f.default, dtype=np.float64) for f in fields(CurveParams)}
    values["air"][:] = 1.0
    return values


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


# ---------------------------------------------------------------- truth


def truth_q_grid() -> np.ndarray:
    """q grid (1/Å) of the stored truth curves: log-spaced over SAXS, 0.003 1/Å steps over WAXS
    (fine enough to sample the sharp Na-metal peak)."""
    return np.concatenate([np.geomspace(0.003, 1.0, 300, endpoint=False), np.linspace(1.0, 4.0, 1001)])


def truth_curves(q: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """model_curve at every point: [ny, nx, nq]."""
    ny, nx = params["q002"].shape
    curves = np.empty((ny, nx, q.size))
    for iy in range(ny):
        for ix in range(nx):
            curves[iy, ix] = model_curve(q, params_at(params, (iy, ix)))
    return curves


def params_at(params: dict[str, np.ndarray], index: tuple[int, int]) -> CurveParams:
    """The CurveParams of one point from per-point arrays."""
    return CurveParams(**{name: float(values[index]) for name, values in params.items()})


def region_means(params: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
    """Mean of the true curve over each q-region (401-point linear grid) at every masked point: [n_points, n_regions]."""
    points = np.argwhere(mask)
    grids = [np.linspace(lo, hi, 401) for lo, hi in REGIONS.values()]
    return np.array([[model_curve(g, params_at(params, tuple(p))).mean() for g in grids] for p in points])


def write_truth(outdir: Path, plan: ScanPlan, setups, masks, depth, interface, all_params, t_maps,
                i0s, seed: int, scale: str, cycler_log: Path) -> tuple[Path, Path]:
    """operando_truth.h5 (maps, params, curves, region series) and operando_truth.json (scalar facts)."""
    labels = plan.labels
    electrode = masks["electrode"]
    means = np.array([region_means(p, electrode) for p in all_params])       # [scan, point, region]
    relative = (means - means[0]) / means[0]
    d002 = np.array([np.mean(2 * np.pi / p["q002"][electrode]) for p in all_params])
    onset = {name: next((labels[k] for k, p in enumerate(all_params) if p[field][electrode].max() > 0), None)
             for name, field in (("pseudo_metal", "pseudo_metal_area"), ("plating", "na_metal_area"))}
    q = truth_q_grid()
    h5_path, json_path = outdir / "truth" / "operando_truth.h5", outdir / "truth" / "operando_truth.json"
    with h5py.File(h5_path, "w") as handle:
        handle.attrs.update(seed=seed, scale=scale, energy_keV=setups[0].energy_kev,
                            wavelength_angstrom=setups[0].wavelength_m * 1e10, thickness_mm=THICKNESS_MM,
                            time_origin=TIME_ORIGIN.isoformat(), diode_gain=DIODE_GAIN)
        handle["labels"] = np.array(labels, dtype="S")
        for setup in setups:
            group = handle.create_group(f"geometry/{setup.key}")
            group.attrs.update(det.poni_dict(setup))
        for name, mask in masks.items():
            handle[f"masks/{name}"] = mask
        handle["masks/collector_interface"] = interface
        handle["depth"] = depth
        handle["transmission"] = np.array(t_maps)
        handle["i0"] = np.array(i0s)
        for name in all_params[0]:
            handle[f"params/{name}"] = np.array([p[name] for p in all_params])
        handle["q"] = q
        handle["q"].attrs["units"] = "1/angstrom"
        handle.create_dataset("curves", data=np.array([truth_curves(q, p) for p in all_params], dtype=np.float32),
                              compression="gzip", chunks=(1, plan.ny, plan.nx, q.size))
        handle["regions/names"] = np.array(list(REGIONS), dtype="S")
        handle["regions/q_range"] = np.array(list(REGIONS.values()))
        handle["regions/mean_intensity"] = means.mean(axis=1)
        handle["regions/relative_change"] = relative.mean(axis=1)
        handle["d002"] = d002
        handle.attrs.update(pseudo_metal_onset=str(onset["pseudo_metal"]), plating_onset=str(onset["plating"]))
    facts = {
        "seed": seed, "scale": scale, "labels": list(labels), "shape": [plan.ny, plan.nx],
        "energy_keV": setups[0].energy_kev, "wavelength_angstrom": setups[0].wavelength_m * 1e10,
        "time_origin": TIME_ORIGIN.isoformat(), "cycler_log": cycler_log.name,
        "geometry": {s.key: det.poni_dict(s) for s in setups},
        "mask_counts": {name: int(m.sum()) for name, m in masks.items()},
        "d002_angstrom": d002.tolist(), "d002_relative_growth": float(d002[-1] / d002[0] - 1.0),
        "onset": onset,
        "relative_change": {name: relative.mean(axis=1)[:, j].tolist() for j, name in enumerate(REGIONS)},
        "mean_transmission": {name: float(np.mean(t_maps[0][m])) for name, m in masks.items()},
    }
    json_path.write_text(json.dumps(facts, indent=2))
    return h5_path, json_path


# ---------------------------------------------------------------- entry point


def simulate_operando(outdir: str | Path, *, seed: int = 0, scale: str = "small",
                      workers: int = 1) -> SimulationResult:
    """Simulate the operando experiment: raw scans, an empty-beam scan, a cycler log and the truth.

    Writes ``raw/scan_<label>.nxs`` (pristine, op1..opN), ``raw/scan_empty.nxs``,
    ``cycler_log.csv``, ``truth/{saxs,waxs}.poni``, ``truth/operando_truth.{h5,json}``.
    ``workers`` > 1 writes the scans in that many spawned processes (worth it at ``scale="paper"``;
    a calling script then needs the ``if __name__ == "__main__":`` guard); the files do not depend on it.
    """
    det.check_scale(scale)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    plan = PLANS[scale]
    outdir = prepare_outdir(outdir)
    (outdir / "raw").mkdir(exist_ok=True)
    (outdir / "truth").mkdir(exist_ok=True)
    main_seed, *noise_seeds = np.random.SeedSequence(seed).spawn(len(plan.labels) + 2)
    rng = np.random.default_rng(main_seed)
    masks, depth, interface = sample_layout(plan.nx, plan.ny)
    starts, _, _ = scan_times(plan)
    jobs, all_params, t_maps, i0s = [], [], [], []
    for k, label in enumerate(plan.labels):
        tau = k / plan.n_operando
        params = point_params(masks, depth, interface, tau)
        t_map = transmission(masks, depth, tau)
        i0 = monitor_counts(plan, starts[k], plan.n_points, rng)
        diode = np.round(i0 * t_map.ravel() * DIODE_GAIN * (1.0 + 1e-3 * rng.standard_normal(i0.size)))
        jobs.append(ScanJob(outdir / "raw" / f"scan_{label}.nxs", f"operando {label}", scale, starts[k],
                            plan.point_period_s, params, t_map, map_positions(plan), i0, diode, noise_seeds[k]))
        all_params.append(params)
        t_maps.append(t_map)
        i0s.append(i0.reshape(plan.ny, plan.nx))
    empty_start = starts[-1] + plan.duration_s + 30.0
    i0 = monitor_counts(plan, empty_start, plan.n_empty, rng)
    diode = np.round(i0 * DIODE_GAIN * (1.0 + 1e-3 * rng.standard_normal(i0.size)))
    off_sample = (np.zeros((1, plan.n_empty)), plan.width_mm + 1.0 + 0.1 * np.arange(plan.n_empty)[None, :])
    jobs.append(ScanJob(outdir / "raw" / "scan_empty.nxs", "empty beam (air) reference", scale, empty_start,
                        plan.point_period_s, air_only((1, plan.n_empty)), np.ones((1, plan.n_empty)),
                        off_sample, i0, diode, noise_seeds[-1]))
    *raw, empty = run_jobs(jobs, workers)
    log = write_cycler_log(outdir / "cycler_log.csv", plan, rng)
    setups = (det.saxs_setup(scale), det.waxs_setup(scale))
    poni = {s.key: det.write_poni(det.integrator(s), outdir / "truth" / f"{s.key}.poni") for s in setups}
    truth = write_truth(outdir, plan, setups, masks, depth, interface, all_params, t_maps, i0s, seed, scale, log)
    return SimulationResult(outdir=outdir, raw=tuple(raw), references=(empty,), poni=poni,
                            truth=truth + tuple(poni.values()), extra={"cycler_log": log})
