"""Benchmark: fit 10,000 simulated WAXS curves per pixel, our fit step (batched engine) vs an lmfit loop.

The curves are one scan of a 100 x 100 map (``--curves N``: N curves) drawn from the step's own
default model (002, binder, Na metal, pseudo-metal and amorphous Gaussians on a quadratic
background) with known parameters that vary from pixel to pixel: pseudo-metal in 30 % of the
pixels, Na metal in 5 %, one amorphous hump shape (one liquid) in different amounts, then Poisson
noise. Ours: the fit/lmfit step with ``engine: batched`` (setup with its averaged fit, then every
block of pixels). Peer: a plain loop of one ``lmfit.minimize`` per curve with the same model, bounds,
fixed parameters and starting values (the step's own ``engine: lmfit`` solver), on a subset of the
curves, extrapolated per curve. Accuracy beside the timings: the largest difference between the two
in units of the lmfit standard error, and how often ours lies within 2 standard errors of the truth.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import h5py
import lmfit  # noqa: F401  (imported before the peer's timer starts: the loop, not the import, is timed)
import numpy as np

from _common import case, parse_args, report
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.step import StepContext, StepOutputRef
from swaxs_plugins.io.nexus import Axis, write_nxdata
from swaxs_plugins.steps.fit import LmfitFit
from swaxs_plugins.steps.fit.lmfit_engine import solve_lmfit
from swaxs_plugins.steps.fit.models import build_model, initial_values
from swaxs_plugins.steps.fit.parameters import FitParameters
from swaxs_plugins.steps.fit.solver import FitStatus, LMOptions, LMResult, weights_from_errors

Q = np.linspace(1.1, 2.6, 200)
SIDE = 100


def true_parameters(model, n: int, rng: np.random.Generator) -> np.ndarray:
    """Known parameters [n, p] in counts: every component varies, pseudo-metal and Na metal in some pixels only."""
    value = {
        "c002_area": rng.uniform(40, 80, n), "c002_centre": rng.uniform(1.60, 1.66, n),
        "c002_fwhm": rng.uniform(0.33, 0.37, n),
        "binder_area": rng.uniform(2, 4, n), "binder_centre": np.full(n, 1.45), "binder_fwhm": np.full(n, 0.10),
        "na_metal_area": np.where(rng.random(n) < 0.05, rng.uniform(2, 6, n), 0.0),
        "na_metal_centre": np.full(n, 2.07), "na_metal_fwhm": np.full(n, 0.02),
        "pseudo_metal_area": np.where(rng.random(n) < 0.3, rng.uniform(5, 15, n), 0.0),
        "pseudo_metal_centre": np.full(n, 2.17), "pseudo_metal_fwhm": np.full(n, 0.22),
        "amorphous_area": rng.uniform(20, 30, n), "amorphous_centre": np.full(n, 1.50),
        "amorphous_fwhm": np.full(n, 0.70),
        "bkg_c0": rng.uniform(25, 35, n), "bkg_c1": rng.uniform(-6, -4, n), "bkg_c2": rng.uniform(1, 3, n),
    }
    return np.stack([value[name] for name in model.names], axis=1)


def map_shape(n: int) -> tuple[int, int]:
    """Rows and columns of a map of n curves: rows of SIDE where n allows, else one row."""
    return (n // SIDE, SIDE) if n % SIDE == 0 else (1, n)


def write_curves_file(path: Path, truth: np.ndarray, model, rng: np.random.Generator) -> None:
    """Poisson counts of the true curves in the curves layout [1, y, x, q], errors sqrt(expected)."""
    expected = model(truth)[0]
    counts = rng.poisson(expected).astype(np.float32)
    shape = (1, *map_shape(len(truth)), Q.size)
    axes = [Axis(name, np.arange(n), "", name) for name, n in zip(("scan", "y", "x"), shape)]
    with h5py.File(path, "w") as handle:
        write_nxdata(handle.create_group("curves/maps"), "curves", counts.reshape(shape),
                     [*axes, Axis("q", Q, "1/angstrom", "q (1/Å)")], long_name="counts", units="counts",
                     errors=np.sqrt(expected).astype(np.float32).reshape(shape))


def run_ours(path: Path, folder: Path) -> tuple[float, LmfitFit, LMResult]:
    """The step's setup (averaged fit) and every block of pixels, timed together."""
    step = LmfitFit(FitParameters(q_range=(Q[0], Q[-1])))
    context = StepContext(step_id="fit", kind="fit", impl="lmfit", executor=SerialExecutor(progress=False),
                          inputs={"curves": StepOutputRef("curves", "integrate", path, "curves")}, workdir=folder,
                          progress=False)
    start = time.perf_counter()
    step.setup(context)
    results = [step.process(block) for block in step.blocks()]
    elapsed = time.perf_counter() - start
    assert sum(pixels.size for pixels in step.region_pixels) == step.values[0, ..., 0].size  # every pixel, in order
    fields = {key: np.concatenate([getattr(r, key) for r in results]) for key in LMResult.__dataclass_fields__}
    return elapsed, step, LMResult(**fields)


def run_peer(step: LmfitFit, index: np.ndarray) -> tuple[float, LMResult]:
    """One lmfit.minimize per curve, same model, bounds, fixed parameters and starts as the step's pixels."""
    values, weights = weights_from_errors(step.values[0].reshape(-1, Q.size)[index],
                                          step.errors[0].reshape(-1, Q.size)[index])
    start = time.perf_counter()
    begin = initial_values(step.model, np.repeat(step.pixel_start[0][np.newaxis], index.size, axis=0), values, weights)
    shape = begin.shape
    result = solve_lmfit(step.model, begin, values, weights, np.broadcast_to(step.lower, shape),
                         np.broadcast_to(step.upper, shape), np.broadcast_to(step.pixel_vary, shape),
                         step_options(step))
    return time.perf_counter() - start, result


def step_options(step: LmfitFit):
    return LMOptions(max_iterations=step.params.max_iterations, scale_covar=step.params.scale_covar)


def accuracy(ours: LMResult, peer: LMResult, truth: np.ndarray, index: np.ndarray, free: np.ndarray) -> dict:
    """Agreement with lmfit (in its standard errors) and coverage of the truth, over the free parameters."""
    both = (peer.status <= FitStatus.AT_BOUND) & (ours.status[index] <= FitStatus.AT_BOUND)
    difference = np.abs(ours.params[index] - peer.params)[both][:, free] / peer.stderr[both][:, free]
    pulls = np.abs(ours.params - truth)[:, free] / ours.stderr[:, free]
    return {"max_diff_in_lmfit_stderr": float(np.nanmax(difference)),
            "p99_diff_in_lmfit_stderr": float(np.nanpercentile(difference, 99)),
            "ours_within_2_stderr_of_truth": float(np.mean(pulls[np.isfinite(pulls)] <= 2.0)),
            "ours_status_counts": {FitStatus(s).name: int(np.sum(ours.status == s)) for s in np.unique(ours.status)},
            "peer_status_counts": {FitStatus(s).name: int(np.sum(peer.status == s)) for s in np.unique(peer.status)},
            "ours_median_iterations": float(np.median(ours.iterations)),
            "ours_max_iterations": int(ours.iterations.max())}


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison and report it; returns the report document."""
    args = parse_args("fit", __doc__.splitlines()[0], [
        ("--curves", {"type": int, "default": SIDE * SIDE, "help": f"curves fitted by ours (default {SIDE * SIDE})"}),
        ("--peer-curves", {"type": int, "default": 300, "help": "curves fitted by the lmfit loop (default 300)"})],
        argv)
    n = args.curves
    rng = np.random.default_rng(0)
    model = build_model(FitParameters(), Q)
    truth = true_parameters(model, n, rng)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "curves.nxs"
        write_curves_file(path, truth, model, rng)
        ours_time, step, ours = run_ours(path, Path(tmp))
    index = np.sort(rng.choice(n, args.peer_curves, replace=False))
    peer_time, peer = run_peer(step, index)
    cases = [case(f"{n} WAXS curves, {len(model.names)}-parameter model, {int(step.pixel_vary.sum())} free per pixel",
                  n / ours_time, args.peer_curves / peer_time, "curves/s", higher_is_better=True,
                  ours_seconds=ours_time, peer_seconds_measured=peer_time, peer_curves_measured=args.peer_curves,
                  peer_seconds_extrapolated=peer_time / args.peer_curves * n,
                  **accuracy(ours, peer, truth, index, step.pixel_vary))]
    return report("fit", cases, args.json)


if __name__ == "__main__":
    main()
