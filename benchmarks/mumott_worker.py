"""mumott's default SAXS tensor-tomography reconstruction of one exported file, timed; run with mumott's Python.

    /work/mumott_env/bin/python benchmarks/mumott_worker.py FILE.h5 --ell-max 6 --iterations 20 --out result.npz
    /work/mumott_env/bin/python benchmarks/mumott_worker.py FILE.h5 --ell-max 6 --loss-gradient-only --out lg.npz

FILE.h5 is what ``swaxs_plugins.io.mumott.export_mumott`` writes (one q band). The worker loads it with
``mumott.DataContainer`` (dividing by the diode first only when the file says its data are not yet
transmission-corrected) and runs ``mumott.pipelines.run_sigtt`` on the CPU at its defaults except
``maxiter`` and ℓmax: ``SAXSProjector``, ``SphericalHarmonics`` (Simpson integration over each segment),
``SquaredLoss`` without weights, a Laplacian regulariser of weight 1e-4, L-BFGS with ftol 1e-2, threads
as mumott sets them on import. mumott's L-BFGS also stops after 20 loss evaluations (its ``maxfun``), often
before ``maxiter`` iterations; ``--maxfun`` raises that limit. Then one loss-and-gradient call of the
pipeline's loss function at the result is timed (after one warm-up call; ``--repeat N``: the best of N
calls). It writes to ``--out`` (npz):

``coefficients`` mumott's array [X, Y, Z, C] (its basis and frame: ``swaxs_plugins.io.mumott.
import_mumott_coefficients`` converts), ``ell_max``, ``wall_s`` (the whole ``run_sigtt``, projector
compilation included), ``loss_gradient_s``, ``peak_rss_bytes`` (``VmHWM`` of ``/proc/self/status``: this
process's own high-water mark; ``ru_maxrss_bytes``, from ``resource.getrusage``, also counts the RSS of
the parent at the fork, which Linux carries across exec),
``mumott_version``, ``iterations_done`` (L-BFGS ``nit``), ``loss_evaluations`` (``nfev``), ``final_loss``,
``message``, ``numba_threads``, ``load_s``, ``maxfun`` (−1: mumott's default), ``source`` (the input file),
``first_loss_gradient_s`` (the warm-up call) and ``loss_gradient_all_s`` (every timed call).

``--loss-gradient-only`` builds the same pipeline as ``run_sigtt`` does (``SAXSProjector``,
``SphericalHarmonics``, ``GradientResidualCalculator``, ``SquaredLoss`` with the Laplacian of weight 1e-4)
but runs no optimiser: one warm-up loss-and-gradient call (the projector compiles its kernels for the
geometry there) and the timed call(s), at constant coefficients (1e-3 everywhere: the cost does not depend
on the values), then the peak RSS. ``setup_s`` is the pipeline's construction; no ``coefficients``, and
``wall_s``, ``iterations_done``, ``loss_evaluations`` are 0.

Only mumott, numpy, h5py and the benchmarks' stdlib-only `_common` are imported (the project is not needed in
mumott's environment).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from _common import peak_rss_bytes as peak_rss_bytes_of_this_process


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/mumott_worker.py", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="an exported mumott input file (one q band)")
    parser.add_argument("--ell-max", type=int, default=6, help="band limit of the spherical harmonics (even)")
    parser.add_argument("--iterations", type=int, default=20, help="L-BFGS iterations at most (run_sigtt maxiter)")
    parser.add_argument("--maxfun", type=int, default=None,
                        help="loss evaluations at most (mumott's L-BFGS default 20 stops run_sigtt before 20 "
                             "iterations; give e.g. 2 x --iterations to let them run)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed loss-and-gradient calls after the warm-up; the best is loss_gradient_s")
    parser.add_argument("--loss-gradient-only", action="store_true",
                        help="no reconstruction: build run_sigtt's pipeline and time its loss and gradient")
    parser.add_argument("--out", type=Path, required=True, help="the npz to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.ell_max < 0 or args.ell_max % 2:
        sys.exit(f"--ell-max must be an even number >= 0, got {args.ell_max}")
    if not args.file.is_file():
        sys.exit(f"{args.file}: no such file")
    import mumott
    from mumott.pipelines import run_sigtt

    numba = sys.modules["numba"]                     # loaded (and its threads set) by mumott

    with h5py.File(args.file, "r") as handle:
        corrected = bool(handle.attrs.get("transmission_corrected", True))
    start = time.perf_counter()
    container = mumott.DataContainer(str(args.file))
    if not corrected:
        container.correct_for_transmission()
    load_s = time.perf_counter() - start

    maxfun = -1 if args.maxfun is None else args.maxfun
    if args.loss_gradient_only:
        start = time.perf_counter()
        loss_function, residual_calculator = sigtt_loss_function(container, args.ell_max)
        setup_s = time.perf_counter() - start
        coefficients = np.full(residual_calculator.coefficients.shape, 1e-3)
        timed = time_loss_gradient(loss_function, coefficients, args.repeat)
        record = {"ell_max": args.ell_max, "wall_s": 0.0, "setup_s": setup_s, "iterations_done": 0,
                  "loss_evaluations": 0, "final_loss": np.nan, "message": "loss and gradient only"}
    else:
        start = time.perf_counter()
        optimizer_kwargs = {} if args.maxfun is None else {"maxfun": args.maxfun}
        output = run_sigtt(container, maxiter=args.iterations, basis_set_kwargs={"ell_max": args.ell_max},
                           optimizer_kwargs=optimizer_kwargs)
        wall_s = time.perf_counter() - start
        result = output["result"]
        coefficients = np.asarray(result["x"])
        timed = time_loss_gradient(output["loss_function"], coefficients, args.repeat)
        record = {"coefficients": coefficients, "ell_max": args.ell_max, "wall_s": wall_s,
                  "iterations_done": int(result.get("nit", -1)), "loss_evaluations": int(result.get("nfev", -1)),
                  "final_loss": float(result.get("fun", np.nan)), "message": str(result.get("message", ""))}
    peak_rss_bytes = peak_rss_bytes_of_this_process()
    record.update({
        "loss_gradient_s": min(timed[1:]), "first_loss_gradient_s": timed[0], "loss_gradient_all_s": timed[1:],
        "peak_rss_bytes": peak_rss_bytes, "mumott_version": mumott.__version__,
        "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,     # kB on Linux
        "numba_threads": numba.get_num_threads(), "load_s": load_s, "source": str(args.file), "maxfun": maxfun,
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **record)
    summary = {k: v for k, v in record.items() if k != "coefficients"}
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return record


def sigtt_loss_function(container, ell_max: int):
    """The loss function ``run_sigtt`` builds for ``container`` (its defaults, CPU), without optimising, and
    its residual calculator."""
    from mumott.methods.basis_sets import SphericalHarmonics
    from mumott.methods.projectors import SAXSProjector
    from mumott.methods.residual_calculators import GradientResidualCalculator
    from mumott.optimization.loss_functions import SquaredLoss
    from mumott.optimization.regularizers import Laplacian

    residual_calculator = GradientResidualCalculator(container, SphericalHarmonics(ell_max=ell_max),
                                                     SAXSProjector(container.geometry))
    loss_function = SquaredLoss(residual_calculator)
    loss_function.add_regularizer(name="laplacian", regularizer=Laplacian(), regularization_weight=1e-4)
    return loss_function, residual_calculator


def time_loss_gradient(loss_function, coefficients: np.ndarray, repeat: int) -> list[float]:
    """Seconds of one warm-up loss-and-gradient call, then of ``repeat`` timed calls."""
    seconds = []
    for _ in range(1 + max(int(repeat), 1)):
        start = time.perf_counter()
        loss_function.get_loss(coefficients, get_gradient=True)
        seconds.append(time.perf_counter() - start)
    return seconds


if __name__ == "__main__":
    main()
