"""Benchmark: SAXS tensor tomography, our solver (tomo.tensor, tomo.tensor_solver) vs mumott's run_sigtt (CPU).

Data: the simulator's anisotropic ``electrode`` (simulate.tomography_model's phantom and projector at a
custom size; fibre texture ℓ ≤ 6) at ``--voxels`` ³ (40) in a raster of voxels + 2 ``--margin`` (4: 48 × 48,
room for the tilted views; ``--margin 0`` is DESIGN.md's setup, a 40³ grid for mumott): 72 untilted
rotations over 180° and 36 rotations over 360° at each of the tilts 15, 30, 45° (180 projections), 8
segments, Poisson noise on the counts and on the diode, no misalignment (the alignment benchmark has that).
``--n-q`` q bins (8: q_grid puts 0.164 and 0.286 1/Å in the band); one band, the micropores 0.12–0.3 1/Å:
the mean of its bins' segments divided by the (noisy) transmission, exported for mumott with
``swaxs_plugins.io.mumott.export_mumott``. Both reconstruct on the same grid, K × J × J [z, y, x] (the
export's volume_shape (X, Y, Z) = (J, J, K), mumott's grid): ours on the voxels of the cylinder of radius
J/2 in it that the data do not show empty (space carving, as reconstruct/tensor does by default:
``tomo.tensor.carved_support``), mumott on all of them.

- ours: ``TensorProblem`` (weights 1/σ², σ² = max(d, 1) / T / n_bins, the Poisson variance of the band
  mean, as reconstruct/tensor does: ``band_weights``; regularisation 0.1 and angular term 0.03, our defaults) and
  ``solve`` for ``--iterations`` (20) and, from zero again, ``--long-iterations`` (100) iterations.
- peer: mumott 2.3's ``run_sigtt`` (``benchmarks/mumott_worker.py`` in mumott's own environment,
  ``--mumott-python``) at its defaults, unweighted squared loss, Laplacian 1e-4, L-BFGS with ftol 1e-2 and
  maxfun 20, ``--iterations`` at most; again with maxfun raised (10 × the iterations) so that L-BFGS may do
  them all; and with ``--long-iterations`` and maxfun raised (``--mumott-long``). What L-BFGS did is reported.

Both run in a fresh process of their own (ours: this file with ``--worker``) on numba's threads (two here) and
one BLAS thread (``WORKER_ENVIRONMENT``: faster for both). Each reads the data, builds
its problem, times one loss and gradient (a warm-up call, then the best of 3), reconstructs, and reports its
peak resident memory (VmHWM of ``/proc/self/status``: the whole process since it started, imports and data
included, the same measure for both; not getrusage's ru_maxrss, which on Linux starts from the parent's RSS
at the fork). Reconstruction times include building the projector and the problem (ours: the Jacobi
preconditioner and the data's curvature; mumott: compiling its kernels for the geometry, which its first
call does), not reading the data.

Accuracy, the same for both, against the truth on the reconstruction grid (simulate.tomography_truth.
reconstruction_grid): the band's coefficients a = mean over its q bins of mean_intensity × orientation
coefficients × voxel size [mm] (our projector counts unit path per voxel; the data are counts, line
integrals in mm of counts/mm; mumott's coefficients come back through ``import_mumott_coefficients``):
‖â − a‖/‖a‖ over the voxels of the electrode mask (all coefficients), the same of the mean intensity, and
the angle between the main orientation (``tensor_derived.main_orientation``) and the truth's fibre axis,
sign-free, median and 90th percentile; and all of it over the mask eroded by one voxel (6-neighbourhood:
the interior).

The second size (``--large-voxels``, 100): 100³ voxels in a 108 × 108 raster (``--margin`` 4), 72 rotations at each of
``--large-tilts`` (0/15/30/45/60°: 72 over 180° untilted, over 360° tilted; 360 projections), 8 segments,
ℓmax 6, ``--large-n-q`` (4) q bins (0.136 1/Å in the band), Poisson noise: ONE loss and gradient, its time
and the process's peak memory. Ours: one call after a warm-up of the compiled kernels on a tiny geometry
(numba's cache; a full-size warm-up would double the time); mumott: a warm-up call at full size (it
compiles for the geometry there), then one timed call, of the pipeline ``run_sigtt`` builds.

Where mumott's Python is missing (or ``--mumott-python none``), its cases are reported with peer and
speedup null and the reason; the rest still runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine, parse_args, peak_rss_bytes

from swaxs_plugins.steps.reconstruct.tensor import band_weights

BAND = ("micropores", (0.12, 0.3))
SEGMENTS = 8
ELL_MAX = 6
REGULARISATION = 0.1
ANGULAR = 0.03
LG_REPEAT = 3
MUMOTT_MAXFUN_FACTOR = 10
DEFAULT_MUMOTT_PYTHON = "/work/mumott_env/bin/python"
WORKER = Path(__file__).resolve().parent / "mumott_worker.py"
PEER = "mumott run_sigtt (CPU)"
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1"}
"""Both workers run numba's threads for the projector and one BLAS thread (OpenBLAS threads spinning after
L-BFGS-B's vector operations take the cores from numba's: mumott's 20 iterations at 40³ in 40² views took
71.9 s so and 81.1 s with its own setting, two; ours, which limits BLAS itself during L-BFGS, is unchanged)."""


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------

@dataclass
class Simulated:
    """One simulated measurement of one band: ours [n, K, J, S] with weights, mumott's file, and the truth."""

    label: str
    key: str                   # names its files in the work folder
    data: np.ndarray
    weights: np.ndarray
    rotation: np.ndarray
    tilt: np.ndarray
    chi: np.ndarray
    raster: tuple[int, int]
    export: Path
    truth: np.ndarray          # [z, y, x, C] per voxel (× voxel size)
    orientation: np.ndarray    # [z, y, x, 3] (x, y, z)
    electrode: np.ndarray      # [z, y, x]
    voxel_mm: float
    q_bins: np.ndarray
    seconds: float

    @property
    def n(self) -> int:
        return len(self.rotation)


def simulate(n_voxels: int, n_q: int, untilted: int, tilts: tuple[float, ...], per_tilt: int, seed: int,
             folder: Path, margin: int) -> Simulated:
    """The electrode's noisy projections of the micropore band, exported for mumott, and the truth."""
    from swaxs_plugins.data.projections import Projections
    from swaxs_plugins.io.mumott import export_mumott
    from swaxs_plugins.simulate.samples import component_curves, make_phantom, resolve_samples
    from swaxs_plugins.simulate.tomography import DIODE_I0_COUNTS
    from swaxs_plugins.simulate.tomography_model import (TomographyScale, expected_projection, forward_model,
                                                         measurement_geometry, q_grid)
    from swaxs_plugins.simulate.tomography_truth import reconstruction_grid

    began = time.perf_counter()
    scale = TomographyScale(n_voxels=n_voxels, n_q=n_q, n_segments=SEGMENTS, ell_max=ELL_MAX, n_untilted=untilted,
                            tilts_deg=tuple(tilts), n_per_tilt=per_tilt, margin_px=margin)
    q = q_grid(n_q)
    inside = (q >= BAND[1][0]) & (q <= BAND[1][1])
    if not inside.any():
        raise SystemExit(f"--n-q {n_q}: none of the q bins {np.round(q, 4).tolist()} lies in the band {BAND[1]}")
    phantom_rng, _, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    phantom = make_phantom(n_voxels, q, component_curves(q), ELL_MAX, *resolve_samples(("electrode",)), phantom_rng)
    geometry = measurement_geometry(scale)
    model = forward_model(phantom)
    n, (n_j, n_k) = len(geometry.rotation_deg), scale.raster
    segments = np.empty((n, n_k, n_j, SEGMENTS, int(inside.sum())), np.float32)   # counts / T of the band's bins
    errors = np.empty((n, n_k, n_j, int(inside.sum())), np.float32)               # of the segment mean
    transmission = np.empty((n, n_k, n_j), np.float32)
    for index in range(n):
        counts, trans = expected_projection(model, geometry, index)               # [J, K, S, q], [J, K]
        counts = noise_rng.poisson(counts[..., inside]).astype(np.float64)
        trans = noise_rng.poisson(trans * DIODE_I0_COUNTS) / DIODE_I0_COUNTS
        t = np.clip(trans, 1e-6, None)
        segments[index] = np.swapaxes(counts / t[:, :, None, None], 0, 1)
        errors[index] = np.swapaxes(np.sqrt(counts.sum(axis=2)) / (SEGMENTS * t[:, :, None]), 0, 1)
        transmission[index] = trans.T
    sample = Projections(
        name="electrode", intensity=segments.mean(axis=3), errors=errors, q=q[inside], rotation=geometry.rotation_deg,
        tilt=geometry.tilt_deg, transmission=transmission, pixel_um=phantom.voxel_size_mm * 1e3,
        source="benchmarks/tomography.py (simulated electrode)", transmission_corrected=True, segments=segments,
        chi=geometry.segment_chi_deg)
    key = f"{n_voxels}v_{n_j}r_{n}p_{n_q}q_seed{seed}"
    [export] = export_mumott(sample, folder / f"electrode_{key}", {BAND[0]: BAND[1]})
    data = segments.mean(axis=-1)
    weights = band_weights(data, transmission, int(inside.sum()), poisson=True)
    band_mean = phantom.mean_intensity[..., inside].mean(axis=-1)                          # [X, Y, Z] counts/mm
    truth = band_mean[..., None] * phantom.orientation_coefficients * phantom.voxel_size_mm
    raster = (n_j, n_k)
    tilt_text = "/".join(f"{t:g}" for t in ((0.0,) if untilted else ()) + tuple(tilts))
    return Simulated(
        label=f"{n_voxels}³ electrode in {n_j}² views, {n} projections (tilts {tilt_text}°), ℓmax {ELL_MAX}", key=key,
        data=data, weights=weights, rotation=geometry.rotation_deg, tilt=geometry.tilt_deg,
        chi=geometry.segment_chi_deg, raster=(n_k, n_j), export=export,
        truth=reconstruction_grid(truth, raster).astype(np.float64),
        orientation=reconstruction_grid(phantom.orientation, raster),
        electrode=reconstruction_grid(phantom.electrode_mask, raster).astype(bool),
        voxel_mm=phantom.voxel_size_mm, q_bins=q[inside], seconds=time.perf_counter() - began)


# --------------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------------

def accuracy(coefficients: np.ndarray, sim: Simulated, prefix: str) -> dict[str, float]:
    """Relative errors of the coefficients and the mean intensity, orientation error median and p90 [deg],
    over the electrode mask and its interior (eroded by one voxel)."""
    from scipy.ndimage import binary_erosion

    from swaxs_plugins.tomo.tensor_derived import main_orientation, mean_intensity

    out = {}
    for where, mask in (("", sim.electrode), ("interior_", binary_erosion(sim.electrode))):
        if not mask.any():                # a tiny electrode has no interior
            out.update({f"{prefix}{where}{key}": None for key in ("coefficient_rel_error", "mean_rel_error",
                                                                   "orientation_median_deg", "orientation_p90_deg")})
            continue
        found, truth = coefficients[mask].astype(np.float64), sim.truth[mask]
        mean_found, mean_truth = mean_intensity(found), mean_intensity(truth)
        cosine = np.abs(np.sum(main_orientation(found) * sim.orientation[mask], axis=-1))
        angle = np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))
        out.update({
            f"{prefix}{where}coefficient_rel_error": float(np.linalg.norm(found - truth) / np.linalg.norm(truth)),
            f"{prefix}{where}mean_rel_error": float(np.linalg.norm(mean_found - mean_truth)
                                                    / np.linalg.norm(mean_truth)),
            f"{prefix}{where}orientation_median_deg": float(np.median(angle)),
            f"{prefix}{where}orientation_p90_deg": float(np.percentile(angle, 90)),
        })
    return out


# --------------------------------------------------------------------------------------------------
# Ours, in a process of its own
# --------------------------------------------------------------------------------------------------

def ours_worker(source: Path, out: Path) -> None:
    """``--worker IN OUT``: read the problem (npz), time one loss and gradient, reconstruct, write an npz."""
    import numba

    from swaxs_plugins.tomo.tensor import TensorProjector, carved_support, geometry_of
    from swaxs_plugins.tomo.tensor_solver import TensorProblem, solve

    given = load_record(source)
    iterations = [int(i) for i in given["iterations"]]
    repeat = int(given["repeat"])
    raster = tuple(int(v) for v in given["raster"])
    record: dict[str, Any] = {"numba_threads": numba.get_num_threads(), "rss_after_read_bytes": peak_rss_bytes()}
    if bool(given["tiny_warmup"]):         # load the compiled kernels (numba's disk cache) on a tiny geometry
        tiny = TensorProjector(geometry_of([0.0, 30.0], [0.0, 20.0], given["chi"], (6, 6), ELL_MAX))
        tiny_data = np.ones(tiny.projection_shape, np.float32)
        TensorProblem(tiny, tiny_data, tiny_data, REGULARISATION, ANGULAR).loss_and_gradient(
            np.full((tiny.n_voxels, tiny.geometry.n_coefficients), 1e-3, np.float32))
    began = time.perf_counter()
    geometry = geometry_of(given["rotation"], given["tilt"], given["chi"], raster, ELL_MAX)
    tensor = TensorProjector(geometry, carved_support(geometry, given["data"]) if bool(given["carve"]) else None)
    problem = TensorProblem(tensor, given["data"], given["weights"], REGULARISATION, ANGULAR)
    setup_s = time.perf_counter() - began
    constant = np.full((tensor.n_voxels, tensor.geometry.n_coefficients), 1e-3, np.float32)
    timed = []
    for _ in range(repeat + (0 if bool(given["tiny_warmup"]) else 1)):
        start = time.perf_counter()
        problem.loss_and_gradient(constant)
        timed.append(time.perf_counter() - start)
    if not bool(given["tiny_warmup"]):
        record["first_loss_gradient_s"], timed = timed[0], timed[1:]
    record.update(setup_s=setup_s, loss_gradient_s=min(timed), loss_gradient_all_s=np.array(timed),
                  n_voxels=tensor.n_voxels, rss_after_loss_gradient_bytes=peak_rss_bytes(),
                  support=tensor.support)
    for count in iterations:
        coefficients, solver = solve(problem, count)
        record.update({f"coefficients_{count}": tensor.to_volume(coefficients),
                       f"solve_s_{count}": solver.seconds, f"iterations_done_{count}": solver.iterations,
                       f"evaluations_{count}": solver.evaluations, f"message_{count}": solver.message,
                       f"final_loss_{count}": solver.loss[-1] if solver.loss else np.nan,
                       f"rss_after_{count}_bytes": peak_rss_bytes()})
    np.savez(out, **record)


def run_ours(sim: Simulated, iterations: list[int], folder: Path, *, tiny_warmup: bool = False,
             repeat: int = LG_REPEAT, carve: bool = True, reuse: bool = False) -> dict[str, Any]:
    """Our worker on ``sim`` in a fresh process (or its earlier result in ``folder``, with ``reuse``); its record."""
    name = f"ours_{sim.key}_{'-'.join(map(str, iterations)) or 'loss-gradient'}{'' if carve else '_cylinder'}"
    source, out = folder / f"{name}_in.npz", folder / f"{name}.npz"
    if reuse and out.is_file():
        return reused(out)
    np.savez(source, data=sim.data, weights=sim.weights, rotation=sim.rotation, tilt=sim.tilt, chi=sim.chi,
             raster=np.array(sim.raster), iterations=np.array(iterations, dtype=np.int64), repeat=repeat,
             tiny_warmup=tiny_warmup, carve=carve)
    record = run_worker([sys.executable, str(Path(__file__).resolve()), "--worker", str(source), str(out)], out, "ours")
    source.unlink()
    return record


def run_worker(command: list[str], out: Path, who: str) -> dict[str, Any]:
    """Run a worker process that writes ``out`` (npz) on one BLAS thread (:data:`WORKER_ENVIRONMENT`); its
    record, with the process's wall time ``process_s``."""
    began = time.perf_counter()
    completed = subprocess.run(command, check=False, capture_output=True, text=True,
                               env={**os.environ, **WORKER_ENVIRONMENT})
    if completed.returncode:
        raise RuntimeError(f"the {who} worker failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    record = load_record(out)
    record["process_s"] = time.perf_counter() - began
    print(f"  {who}: {record['process_s']:.0f} s", flush=True)
    return record


def load_record(path: Path) -> dict[str, Any]:
    with np.load(path) as archive:
        return {key: archive[key] for key in archive}


def reused(path: Path) -> dict[str, Any]:
    """A worker's result kept from an earlier run (``--reuse``), marked with when it was measured."""
    record = load_record(path)
    measured = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    record["reused_from"] = f"{path.name}, measured {measured}"
    print(f"  reused {record['reused_from']}", flush=True)
    return record


# --------------------------------------------------------------------------------------------------
# mumott, in its own environment
# --------------------------------------------------------------------------------------------------

def mumott_status(python: str) -> str | None:
    """None where mumott's Python is there and imports mumott, else why its cases are skipped."""
    if python.lower() in ("", "none"):
        return "skipped: --mumott-python none"
    if not Path(python).is_file():
        return f"skipped: no mumott Python at {python} (--mumott-python; docs/mumott.md sets one up)"
    probe = subprocess.run([python, "-c", "import mumott; print(mumott.__version__)"], check=False,
                           capture_output=True, text=True)
    if probe.returncode:
        return f"skipped: {python} cannot import mumott ({probe.stderr.strip().splitlines()[-1:]})"
    return None


def run_mumott(python: str, sim: Simulated, folder: Path, *, iterations: int = 20, maxfun: int | None = None,
               loss_gradient_only: bool = False, repeat: int = 1, reuse: bool = False) -> dict[str, Any]:
    """The mumott worker on ``sim``'s export (or its earlier result in ``folder``, with ``reuse``); its record,
    mumott's coefficients in ours [z, y, x, C] (per voxel)."""
    from swaxs_plugins.io.mumott import import_mumott_coefficients

    what = "loss-gradient" if loss_gradient_only else f"{iterations}it_maxfun{maxfun or 'default'}"
    out = folder / f"mumott_{sim.key}_{what}.npz"
    if reuse and out.is_file():
        record = reused(out)
        if "coefficients" in record:
            record["coefficients"] = import_mumott_coefficients(record["coefficients"], ELL_MAX)
        return record
    command = [python, str(WORKER), str(sim.export), "--ell-max", str(ELL_MAX), "--iterations", str(iterations),
               "--repeat", str(repeat), "--out", str(out)]
    if maxfun is not None:
        command += ["--maxfun", str(maxfun)]
    if loss_gradient_only:
        command.append("--loss-gradient-only")
    record = run_worker(command, out, "mumott")
    if "coefficients" in record:
        record["coefficients"] = import_mumott_coefficients(record["coefficients"], ELL_MAX)
    return record


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------

def comparison(name: str, ours: float, peer: float | None, unit: str, skipped: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """One case; ``speedup`` = peer / ours (> 1: ours faster or smaller); null, with the reason, when the peer did
    not run."""
    if peer is None:
        return {"name": name, "ours": ours, "peer": None, "unit": unit, "speedup": None,
                "peer_skipped": skipped or "skipped", **extra}
    return {"name": name, "ours": ours, "peer": peer, "unit": unit, "speedup": peer / ours, **extra}


def gigabytes(value: Any) -> float:
    return float(value) / 1e9


def scalar(value: Any) -> Any:
    """npz scalars as plain Python values (for the JSON)."""
    value = np.asarray(value)
    if value.ndim:
        return [scalar(v) for v in value]
    return value.item() if value.dtype.kind != "U" else str(value)


def provenance(prefix: str, record: dict | None) -> dict[str, str]:
    """``{prefix}_reused_from`` where the record was read from an earlier run (``--reuse``)."""
    return {f"{prefix}_reused_from": str(record["reused_from"])} if record and "reused_from" in record else {}


def grid_text(sim: Simulated, n_voxels: int) -> str:
    n_k, n_j = sim.raster
    return (f"K×J×J = {n_k}×{n_j}×{n_j} [z, y, x] for both (the export's volume_shape (X, Y, Z) = "
            f"({n_j}, {n_j}, {n_k}), mumott's grid); ours on the {n_voxels} voxels within J/2 of the rotation "
            f"axis that the data do not show empty (space carving, reconstruct/tensor's default), mumott on all "
            f"{n_k * n_j * n_j}")


def small_cases(sim: Simulated, args: argparse.Namespace, folder: Path, skipped: str | None) -> list[dict]:
    """The reconstruction cases at ``--voxels``: times, errors, one loss and gradient, peak memory."""
    counts = [args.iterations] + ([args.long_iterations] if args.long_iterations else [])
    print(f"ours: {sim.label}: loss and gradient, {' and '.join(map(str, counts))} iterations ...", flush=True)
    ours = run_ours(sim, counts, folder, reuse=args.reuse)
    grid = grid_text(sim, int(ours["n_voxels"]))
    common = {"grid": grid, "q_bins_in_band": sim.q_bins.round(4).tolist(), **provenance("ours", ours)}
    peers: dict[str, dict | None] = {}
    runs = [("default", args.iterations, None, LG_REPEAT)]
    if args.mumott_full:
        runs.append(("full", args.iterations, MUMOTT_MAXFUN_FACTOR * args.iterations, 1))
    if args.mumott_long and args.long_iterations:
        runs.append(("long", args.long_iterations, MUMOTT_MAXFUN_FACTOR * args.long_iterations, 1))
    for key, iterations, maxfun, repeat in runs:
        if skipped:
            peers[key] = None
            continue
        print(f"mumott: {sim.label}: run_sigtt maxiter {iterations}, maxfun {maxfun or 'default (20)'} ...", flush=True)
        peers[key] = run_mumott(args.mumott_python, sim, folder, iterations=iterations, maxfun=maxfun, repeat=repeat,
                                reuse=args.reuse)

    def ours_run(count: int) -> dict[str, Any]:
        return {"ours_total_s": float(ours["setup_s"] + ours[f"solve_s_{count}"]),
                "ours_setup_s": float(ours["setup_s"]), "ours_solve_s": float(ours[f"solve_s_{count}"]),
                "ours_iterations_done": int(ours[f"iterations_done_{count}"]),
                "ours_evaluations": int(ours[f"evaluations_{count}"]), "ours_message": scalar(ours[f"message_{count}"]),
                "ours_peak_rss_gb": gigabytes(ours[f"rss_after_{count}_bytes"]),
                **accuracy(ours[f"coefficients_{count}"], sim, "ours_")}

    def peer_run(record: dict | None) -> dict[str, Any]:
        if record is None:
            return {}
        return {"peer_total_s": float(record["wall_s"]), "peer_iterations_done": int(record["iterations_done"]),
                "peer_loss_evaluations": int(record["loss_evaluations"]), "peer_message": scalar(record["message"]),
                "peer_maxfun": int(record["maxfun"]), "peer_peak_rss_gb": gigabytes(record["peak_rss_bytes"]),
                "peer_numba_threads": int(record["numba_threads"]), **provenance("peer", record),
                **accuracy(record["coefficients"], sim, "peer_")}

    cases = []
    n, long = args.iterations, args.long_iterations
    entries = [("default", n, f"mumott run_sigtt {n} iterations at its defaults (CPU)")]
    if args.mumott_full:
        entries.append(("full", n, f"mumott run_sigtt {n} iterations, maxfun raised (CPU)"))
    if long:
        entries.append(("long", long, f"mumott run_sigtt {long} iterations, maxfun raised (CPU)"))
    for key, count, what in entries:
        record = peers.get(key)
        reason = skipped or ("not run (--no-mumott-long: mumott's long run is slow here)" if key == "long" else None)
        mine = ours_run(count)
        cases.append(comparison(f"{sim.label}, {count} iterations: reconstruction time, ours vs {what}",
                                mine["ours_total_s"], None if record is None else float(record["wall_s"]), "s",
                                reason, **mine, **peer_run(record), **common))
    default = peers.get("default")
    cases.append(comparison(
        f"{sim.label}: one loss and gradient, ours vs {PEER}", float(ours["loss_gradient_s"]),
        None if default is None else float(default["loss_gradient_s"]), "s", skipped,
        ours_all_s=scalar(ours["loss_gradient_all_s"]), ours_how=f"best of {LG_REPEAT} after a warm-up call",
        **({} if default is None else {"peer_all_s": scalar(default["loss_gradient_all_s"]),
                                       "peer_first_call_s": float(default["first_loss_gradient_s"]),
                                       "peer_how": f"best of {LG_REPEAT} after a warm-up call, at run_sigtt's result"}),
        **provenance("peer", default), **common))
    cases.append(comparison(
        f"{sim.label}, {n} iterations: peak memory, ours vs {PEER}", gigabytes(ours[f"rss_after_{n}_bytes"]),
        None if default is None else gigabytes(default["peak_rss_bytes"]), "GB", skipped,
        how="peak RSS of each one's own process (VmHWM: interpreter, libraries, data read, "
            "problem, reconstruction, loss-and-gradient timing)",
        ours_rss_after_read_gb=gigabytes(ours["rss_after_read_bytes"]), **provenance("peer", default), **common))
    return cases


def large_case(args: argparse.Namespace, folder: Path, skipped: str | None) -> list[dict]:
    """One loss and gradient at ``--large-voxels``: time and peak memory, ours vs mumott."""
    tilts = [float(t) for t in args.large_tilts.split(",")]
    untilted = 72 if 0.0 in tilts else 0
    print(f"simulating {args.large_voxels}³ ({72 * len(tilts)} projections) ...", flush=True)
    sim = simulate(args.large_voxels, args.large_n_q, untilted, tuple(t for t in tilts if t != 0.0), 72, args.seed,
                   folder, args.margin)
    print(f"  {sim.seconds:.0f} s; ours: one loss and gradient ...", flush=True)
    ours = run_ours(sim, [], folder, tiny_warmup=True, repeat=1, reuse=args.reuse)
    peer = None
    reason = skipped
    if not skipped and not args.large_mumott:
        reason = "not run (--no-large-mumott)"
    elif not skipped:
        print("mumott: one loss and gradient ...", flush=True)
        peer = run_mumott(args.mumott_python, sim, folder, loss_gradient_only=True, repeat=1, reuse=args.reuse)
    common = {"grid": grid_text(sim, int(ours["n_voxels"])), "q_bins_in_band": sim.q_bins.round(4).tolist(),
              "data": f"simulated with Poisson noise, {args.large_n_q} q bins ({sim.seconds:.0f} s to simulate)",
              **provenance("ours", ours), **provenance("peer", peer)}
    peer_extra = {} if peer is None else {"peer_first_call_s": float(peer["first_loss_gradient_s"]),
                                          "peer_setup_s": float(peer["setup_s"]),
                                          "peer_numba_threads": int(peer["numba_threads"])}
    return [
        comparison(f"{sim.label}: one loss and gradient, ours vs {PEER}", float(ours["loss_gradient_s"]),
                   None if peer is None else float(peer["loss_gradient_s"]), "s", reason,
                   ours_how="one call, after the compiled kernels were loaded on a tiny geometry",
                   peer_how="one call after a warm-up call at full size (mumott compiles for the geometry there)",
                   ours_setup_s=float(ours["setup_s"]), **peer_extra, **common),
        comparison(f"{sim.label}, one loss and gradient: peak memory, ours vs {PEER}",
                   gigabytes(ours["rss_after_loss_gradient_bytes"]),
                   None if peer is None else gigabytes(peer["peak_rss_bytes"]), "GB", reason,
                   how="peak RSS of each one's own process (VmHWM: interpreter, libraries, "
                       "data read, problem built, loss and gradient)",
                   ours_rss_after_read_gb=gigabytes(ours["rss_after_read_bytes"]), **common),
    ]


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------

def report(cases: list[dict], json_path: Path | None) -> dict[str, Any]:
    """_common.report's table and JSON, with a skipped peer printed as such (its peer and speedup null)."""
    document = {"benchmark": "tomography", "machine": machine(), "cases": cases}
    width = max(len(c["name"]) for c in cases)
    print(f"{'case':<{width}}  {'ours':>10}  {'peer':>10}  {'unit':<10} {'speedup':>8}  extra")
    for c in cases:
        extra = {k: v for k, v in c.items() if k not in ("name", "ours", "peer", "unit", "speedup")}
        peer = "skipped" if c["peer"] is None else f"{c['peer']:.4g}"
        speedup = "—" if c["speedup"] is None else f"{c['speedup']:.2f}"
        print(f"{c['name']:<{width}}  {c['ours']:>10.4g}  {peer:>10}  {c['unit']:<10} {speedup:>8}  "
              f"{json.dumps(extra, default=str, ensure_ascii=False)}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=1, default=str, ensure_ascii=False))
        print(f"wrote {json_path}")
    return document


def main(argv: list[str] | None = None) -> dict:
    """Run the comparisons and report them; returns the report document."""
    bool_flag = argparse.BooleanOptionalAction
    args = parse_args("tomography", __doc__.splitlines()[0], [
        ("--voxels", {"type": int, "default": 40, "help": "volume edge in voxels (default 40)"}),
        ("--iterations", {"type": int, "default": 20, "help": "iterations of both (default 20)"}),
        ("--long-iterations", {"type": int, "default": 100, "help": "ours again with this many (default 100; 0: no)"}),
        ("--untilted", {"type": int, "default": 72, "help": "untilted rotations over 180 deg (default 72)"}),
        ("--tilts", {"default": "15,30,45", "help": "tilts [deg] (default 15,30,45)"}),
        ("--per-tilt", {"type": int, "default": 36, "help": "rotations over 360 deg per tilt (default 36)"}),
        ("--n-q", {"type": int, "default": 8, "help": "q bins simulated (default 8: two in the band)"}),
        ("--seed", {"type": int, "default": 0, "help": "phantom and noise (default 0)"}),
        ("--margin", {"type": int, "default": 4, "help": "raster pixels beyond the volume on each side, both sizes "
                                                        "(default 4; 0: DESIGN.md's mumott setup)"}),
        ("--mumott-python", {"default": DEFAULT_MUMOTT_PYTHON,
                             "help": f"mumott's Python (default {DEFAULT_MUMOTT_PYTHON}; 'none' skips mumott)"}),
        ("--mumott-full", {"action": bool_flag, "default": True,
                           "help": "also run mumott with maxfun raised so that it may do all --iterations"}),
        ("--mumott-long", {"action": bool_flag, "default": False,
                           "help": "also run mumott for --long-iterations (maxfun raised; slow)"}),
        ("--large-voxels", {"type": int, "default": 100, "help": "edge of the loss-and-gradient case (default 100; "
                                                                 "0: no)"}),
        ("--large-tilts", {"default": "0,15,30,45,60", "help": "its tilts, 72 rotations each (default 0,15,30,45,60)"}),
        ("--large-n-q", {"type": int, "default": 4, "help": "its q bins (default 4: one in the band)"}),
        ("--large-mumott", {"action": bool_flag, "default": True, "help": "run mumott's loss and gradient there"}),
        ("--work-dir", {"type": Path, "default": None,
                        "help": "keep the exported files and every process's result here (default: a temporary "
                                "folder, removed)"}),
        ("--reuse", {"action": "store_true",
                     "help": "read the results an earlier run left in --work-dir instead of measuring them again "
                             "(the cases name them and when they were measured)"}),
        ("--worker", {"nargs": 2, "type": Path, "default": None, "help": argparse.SUPPRESS}),
    ], argv)
    if args.worker is not None:
        ours_worker(*args.worker)
        return {}
    skipped = mumott_status(args.mumott_python)
    if skipped:
        print(f"mumott: {skipped}")
    tilts = tuple(float(t) for t in args.tilts.split(",") if t.strip())
    with tempfile.TemporaryDirectory(prefix="tomography_benchmark_") as tmp:
        folder = Path(tmp) if args.work_dir is None else args.work_dir
        folder.mkdir(parents=True, exist_ok=True)
        print(f"simulating {args.voxels}³ ...", flush=True)
        sim = simulate(args.voxels, args.n_q, args.untilted, tilts, args.per_tilt, args.seed, folder, args.margin)
        print(f"  {sim.seconds:.1f} s", flush=True)
        cases = small_cases(sim, args, folder, skipped)
        for c in cases:                   # in the log already, should the large case fail
            print(json.dumps(c, default=str, ensure_ascii=False), flush=True)
        if args.large_voxels:
            cases += large_case(args, folder, skipped)
    for c in cases:                       # JSON-clean: no NaN
        for key, value in c.items():
            if isinstance(value, float) and not math.isfinite(value):
                c[key] = None
    return report(cases, args.json)


if __name__ == "__main__":
    main()
