"""Benchmark: integrate 200 Pilatus 2M frames end to end (read, integrate, write NeXus).

``--frames N --detector NAME`` choose the size, ``--executors`` which of ours run (the test suite's
smoke run: 2 Pilatus 100K frames, serial and threads: a Dask cluster's start alone is ~20 s here).

Ours: the integrate/pyfai step through the pipeline runner (serial, 2 threads, and a 2-worker Dask
cluster with its start included; the fastest is "ours"). Peer: a plain loop over pyFAI ``integrate1d_ng``,
reading each frame with h5py and writing the curves, at its default method (the signature's
("bbox", "csr", "cython"), the matrix our engine applies) and at ("bbox", "csc", "cython").
Frames are bitshuffle-LZ4, one chunk each.
"""

from __future__ import annotations

import tempfile
import time
import textwrap
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
from pyFAI.detectors import detector_factory
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile

from _common import case, parse_args, report
from swaxs_plugins.core.executors import DaskExecutor, SerialExecutor, ThreadExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry

NPT = 1000
FRAMES_PATH = "/entry/data/data"
#: Detectors the benchmark can use and the point of normal incidence (poni1, poni2 in m) on each.
DETECTORS = {"Pilatus2M": (0.13, 0.12), "Pilatus100k": (0.015, 0.04)}
#: Our executors: label in the report, and how to make one.
EXECUTORS = {"serial": ("serial", lambda: SerialExecutor(progress=False)),
             "threads2": ("threads, 2", lambda: ThreadExecutor(workers=2, progress=False)),
             "dask2": ("dask, 2 workers", lambda: DaskExecutor(workers=2, progress=False))}


def make_ai(detector: str) -> AzimuthalIntegrator:
    poni1, poni2 = DETECTORS[detector]
    return AzimuthalIntegrator(detector=detector_factory(detector), dist=2.0, poni1=poni1, poni2=poni2,
                               wavelength=0.939e-10)


def write_frames(path: Path, n: int, detector: str) -> None:
    """n SAXS-like frames (a power law with a ring, Poisson noise, -1 in the module gaps)."""
    ai = make_ai(detector)
    shape = ai.detector.shape
    q = ai.qArray(shape)
    pattern = 5 + 2e3 * q.clip(0.05) ** -2 * 1e-2 + 300 * np.exp(-((q - 1.07) / 0.02) ** 2)
    gaps = ai.detector.mask.astype(bool)
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        data = handle.create_dataset(FRAMES_PATH, shape=(n, *shape), dtype=np.int32, chunks=(1, *shape),
                                     **hdf5plugin.Bitshuffle(cname="lz4"))
        for i in range(n):
            frame = rng.poisson(pattern * rng.uniform(0.8, 1.2)).astype(np.int32)
            frame[gaps] = -1
            data[i] = frame


def run_ours(folder: Path, raw: Path, poni: Path, name: str, executor_factory) -> tuple[float, np.ndarray]:
    pipeline = folder / f"{name}.yaml"
    pipeline.write_text(textwrap.dedent(f'''
        name: {name}
        inputs: {{scans: {{files: [{raw}], frames: {FRAMES_PATH}}}}}
        output: {name}/out.nxs
        steps: [{{id: integrate, kind: integrate, inputs: {{scans: scans}}, params: {{poni: {poni}, npt: {NPT}}}}}]
    '''))
    registry = Registry.discover()
    plan = check_pipeline(pipeline, registry)
    start = time.perf_counter()
    with executor_factory() as executor:
        [result] = run_pipeline(plan, registry, executor, progress=False)
    elapsed = time.perf_counter() - start
    with h5py.File(result.path, "r") as handle:
        return elapsed, handle["integrate/integrated/I"][()]


def run_peer(folder: Path, raw: Path, n: int, method: tuple[str, str, str] | None,
             detector: str) -> tuple[float, np.ndarray]:
    """The plain loop a user writes: read a frame, integrate1d_ng, store the curve, write a file."""
    start = time.perf_counter()
    ai = make_ai(detector)
    curves, errors = [], []
    kwargs = {"unit": "q_A^-1", "error_model": "poisson", "dummy": -2, "delta_dummy": 1.5}
    if method is not None:
        kwargs["method"] = method
    with h5py.File(raw, "r") as handle:
        data = handle[FRAMES_PATH]
        for i in range(n):
            result = ai.integrate1d_ng(data[i], NPT, **kwargs)
            curves.append(result.intensity)
            errors.append(result.sigma)
    with h5py.File(folder / f"peer_{method}.h5", "w") as out:
        out["q"], out["I"], out["sigma"] = result.radial, np.array(curves), np.array(errors)
    return time.perf_counter() - start, np.array(curves)


def max_relative_difference(ours: np.ndarray, peer: np.ndarray) -> float:
    signal = np.isfinite(ours) & (peer != 0)
    return float(np.max(np.abs(ours[signal] / peer[signal] - 1)))


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison and report it; returns the report document."""
    args = parse_args("integration", __doc__.splitlines()[0],
                      [("--frames", {"type": int, "default": 200, "help": "number of frames (default 200)"}),
                       ("--detector", {"choices": list(DETECTORS), "default": "Pilatus2M",
                                       "help": "detector of the frames (default Pilatus2M)"}),
                       ("--executors", {"default": ",".join(EXECUTORS),
                                        "help": f"which of ours run, comma-separated (default {','.join(EXECUTORS)})"})],
                      argv)
    n, detector = args.frames, args.detector
    chosen = args.executors.split(",")
    if not chosen or not set(chosen) <= set(EXECUTORS):
        raise SystemExit(f"--executors: choose from {list(EXECUTORS)}, got {args.executors!r}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        raw, poni = folder / "frames.h5", folder / "geometry.poni"
        with open(poni, "w") as handle:
            PoniFile(data=make_ai(detector)).write(handle)
        write_frames(raw, n, detector)
        runs = {name: run_ours(folder, raw, poni, name, EXECUTORS[name][1]) for name in chosen}
        ours = runs[chosen[0]][1]
        assert all(np.array_equal(ours, curves, equal_nan=True) for _, curves in runs.values())
        best, executor = min((elapsed, EXECUTORS[name][0]) for name, (elapsed, _) in runs.items())
        default_time, default = run_peer(folder, raw, n, None, detector)
        csc_time, csc = run_peer(folder, raw, n, ("bbox", "csc", "cython"), detector)
    timings = {"ours_executor": executor, **{f"ours_{name}_fps": n / elapsed for name, (elapsed, _) in runs.items()}}
    cases = [
        case(f"{n} {detector} frames, {NPT} bins, end to end", n / best, n / default_time, "frames/s",
             higher_is_better=True, peer_method="integrate1d_ng default method= ('bbox', 'csr', 'cython')",
             max_rel_diff=max_relative_difference(ours, default), **timings),
        case(f"{n} {detector} frames, {NPT} bins, vs (bbox, csc, cython)", n / best, n / csc_time, "frames/s",
             higher_is_better=True, peer_method="bbox, csc, cython (pyFAI's fastest CPU method here)",
             max_rel_diff=max_relative_difference(ours, csc), **timings),
    ]
    return report("integration", cases, args.json)


if __name__ == "__main__":
    main()
