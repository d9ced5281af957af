"""Operando raster scans of a sodiating hard-carbon electrode in a capillary cell, with their truth.

The map (x fastest) crosses, left to right: the steel current collector (T ≈ 0.04), the dip-coated
hard-carbon electrode, the electrolyte and the quartz capillary wall. The map is repeated at a
pristine state and at op1..opN during a galvanostatic sodiation. A local progress p in [0, 1] runs
faster near the collector; with it the micropore term first rises a few percent then falls (≈ -45 %
at p = 1), the 002 peak loses 30 % and d002 grows 1.5 %, the particle surface (SEI) term rises,
pseudo-metallic Na grows for p > 0.7 and Na metal plates on the collector interface in the last
fifth of the sodiation. The plan (sizes, times, monitor, cycler log) is :mod:`.operando_plan`, the
rendering and writing of the scan files :mod:`.operando_render`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import fields
from pathlib import Path

import h5py
import numpy as np

from . import detectors as det
from .operando_plan import (DIODE_GAIN, PLANS, THICKNESS_MM, TIME_ORIGIN, ScanPlan, map_positions,
                            monitor_counts, scan_times, write_cycler_log)
from .operando_render import Q002_LEVELS, ScanJob, q002_at, run_jobs
from .physics import AMPLITUDES, CurveParams, hard_carbon, model_curve
from .result import SimulationResult, prepare_outdir

ELECTRODE_FRACTION = 0.6      # carbon fraction of the beam path in the electrode (rest: electrolyte)
REGIONS = {                   # q-regions (1/Å) whose electrode means the truth reports
    "particle_surface": (0.0045, 0.007),
    "micropores": (0.12, 0.4),
    "c002": (1.2, 1.9),
    "pseudo_metal": (2.1, 2.3),
    "plating": (2.05, 2.1),
}


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


def electrolyte_path(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Fraction [ny, nx] of the beam path through electrolyte: all of it in the electrolyte, the part the
    carbon leaves in the electrode, half for the rays through the capillary wall, none in the steel."""
    return np.select([masks["electrolyte"], masks["electrode"], masks["capillary"]],
                     [1.0, 1.0 - ELECTRODE_FRACTION, 0.5], 0.0)


def point_params(masks: dict[str, np.ndarray], depth: np.ndarray, interface: np.ndarray,
                 tau: float, intensity_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Per-point CurveParams fields [ny, nx] at time fraction tau (0 pristine, 1 end of sodiation).

    ``intensity_scale`` multiplies every amplitude of the cell (not the air's, which the empty beam
    shares): a cell that scatters more or less, e.g. a denser electrode or another detector efficiency.
    """
    shape = depth.shape
    values = {f.name: np.full(shape, f.default, dtype=np.float64) for f in fields(CurveParams)}
    values["air"][:] = 1.0
    values["quartz"][:] = 0.02                      # the two 10 µm walls crossed by every ray
    values["quartz"][masks["capillary"]] = 0.3      # rays tangent to the wall
    values["electrolyte"] = electrolyte_path(masks)
    values["flat"][masks["current_collector"]] = 2.0e-4  # steel fluorescence
    electrode = masks["electrode"]
    p = np.where(electrode, local_progress(depth, tau), 0.0)
    pristine = hard_carbon(ELECTRODE_FRACTION)
    for name in ("binder_saxs_area", "binder_waxs_area"):
        values[name][electrode] = getattr(pristine, name)
    values["particle_amp"][electrode] = pristine.particle_amp * (1.0 + 0.3 * p[electrode])
    values["micropore_amp"][electrode] = pristine.micropore_amp * (1.0 + micropore_change(p[electrode]))
    values["c002_area"][electrode] = pristine.c002_area * (1.0 - 0.3 * p[electrode])
    levels = np.rint(p * (Q002_LEVELS - 1)) / (Q002_LEVELS - 1)
    values["q002"][electrode] = q002_at(levels[electrode])
    values["pseudo_metal_area"][electrode] = 2.5e-5 * np.clip((p[electrode] - 0.7) / 0.3, 0.0, 1.0)
    values["na_metal_area"][interface] = 8.0e-6 * np.clip((tau - 0.8) / 0.2, 0.0, 1.0)
    for name in AMPLITUDES:
        if name != "air":
            values[name] *= intensity_scale
    return values


def transmission(masks: dict[str, np.ndarray], depth: np.ndarray, tau: float,
                 electrolyte_transmission: float = 1.0) -> np.ndarray:
    """Transmission [ny, nx] relative to the empty beam; the electrode absorbs more as Na enters.

    ``electrolyte_transmission`` rescales the electrolyte's attenuation so that a full path of it
    transmits that factor times as much: T x factor^(electrolyte path fraction) at every point.
    """
    cell = np.select([masks["current_collector"], masks["electrode"], masks["capillary"]],
                     [0.04, 0.72 * (1.0 - 0.04 * local_progress(depth, tau)), 0.68], 0.80)
    return cell * electrolyte_transmission ** electrolyte_path(masks)


def air_only(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per-point parameters of the empty beam: air and windows only."""
    values = {f.name: np.full(shape, f.default, dtype=np.float64) for f in fields(CurveParams)}
    values["air"][:] = 1.0
    return values


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


def check_options(plan: ScanPlan, intensity_scale: float, electrolyte_transmission: float,
                  scans: Collection[str] | None) -> tuple[str, ...]:
    """Refuse a non-positive factor or a cell brighter than the empty beam (T > 1); the labels of the
    scans to write, checked against the plan's."""
    for name, value in (("intensity_scale", intensity_scale),
                        ("electrolyte_transmission", electrolyte_transmission)):
        if not 0.0 < value < np.inf:
            raise ValueError(f"{name} must be a positive number, got {value}")
    masks, depth, _ = sample_layout(plan.nx, plan.ny)
    brightest = float(transmission(masks, depth, 0.0, electrolyte_transmission).max())
    if brightest > 1.0:
        raise ValueError(f"electrolyte_transmission = {electrolyte_transmission} gives the electrolyte T = "
                         f"{brightest:.3g} > 1 (more than the empty beam)")
    if scans is None:
        return plan.labels
    if not scans or not set(scans) <= set(plan.labels):
        raise ValueError(f"scans must be some of {list(plan.labels)}, got {list(scans)}")
    return tuple(label for label in plan.labels if label in scans)


def simulate_operando(outdir: str | Path, *, seed: int = 0, scale: str = "small", workers: int = 1,
                      intensity_scale: float = 1.0, electrolyte_transmission: float = 1.0,
                      scans: Collection[str] | None = None) -> SimulationResult:
    """Simulate the operando experiment: raw scans, an empty-beam scan, a cycler log and the truth.

    Writes ``raw/scan_<label>.nxs`` (pristine, op1..opN), ``raw/scan_empty.nxs``,
    ``cycler_log.csv``, ``truth/{saxs,waxs}.poni``, ``truth/operando_truth.{h5,json}``.
    ``workers`` > 1 writes the scans in that many spawned processes (worth it at ``scale="paper"``;
    a calling script then needs the ``if __name__ == "__main__":`` guard); the files do not depend on it.
    Another cell: ``intensity_scale`` multiplies everything the cell scatters (not the air, monitor or
    diode), ``electrolyte_transmission`` the electrolyte's transmission (see :func:`transmission`).
    ``scans`` (labels) writes only those raw scans, identical to the same files of a full run; the
    truth always covers every scan.
    """
    det.check_scale(scale)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    plan = PLANS[scale]
    written = check_options(plan, intensity_scale, electrolyte_transmission, scans)
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
        params = point_params(masks, depth, interface, tau, intensity_scale)
        t_map = transmission(masks, depth, tau, electrolyte_transmission)
        i0 = monitor_counts(plan, starts[k], plan.n_points, rng)
        diode = np.round(i0 * t_map.ravel() * DIODE_GAIN * (1.0 + 1e-3 * rng.standard_normal(i0.size)))
        if label in written:
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
