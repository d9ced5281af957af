"""Benchmark: scalar reconstruction, our engine (reconstruct/scalar, tomo.slices) vs scikit-image's (and astra's).

Two inputs, 72 untilted projections over 180°, even raster widths (the rotation axis between pixels):

- ``ball``: analytic projections of a centred uniform ball (radius 0.35 J, chords averaged over each
  raster bin), J³ voxels: no projector model is favoured (no inverse crime). Accuracy: the relative RMS
  error against the ball's voxel-averaged density inside the inscribed cylinder, and the interior spread.
- ``simulated``: the project's small simulated sample (28³ hard-carbon cap in a 36³ raster, 10 q bins,
  Poisson noise, no misalignment), every q bin reconstructed. Accuracy: the relative RMS error of the
  micropore region (0.12-0.3 1/Å) against the true spherical mean inside the true hard carbon (the
  sample's anisotropy bias, ≈ 0.11 of it, is in both).

Methods: FBP (Ram-Lak) both; iterative: ours SIRT (``--iterations``, from the FBP volume) against
scikit-image's SART (``--sart-iterations`` sweeps, from zero), each engine's non-negativity on. Times
are of the engine alone (projector construction included, after a warm-up call of each engine on a
tiny input), reading and writing excluded. astra-toolbox
(GPL-3, optional) runs as a further peer where it is importable; otherwise the cases say why not.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from _common import case, parse_args, report
from swaxs_plugins.steps.reconstruct.engines import Engine, SlicesEngine
from swaxs_plugins.steps.reconstruct.scalar import field_of_view
from swaxs_plugins.steps.reconstruct.skimage_engine import SkimageEngine

ANGLES = np.arange(72) * 2.5
MICROPORES = (0.12, 0.3)


def ball_input(width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projections [n, K, J] of a ball of density 1, its voxel-averaged density [K, J, J] (4³ points per voxel)
    and the mask of the voxels scored (inside the inscribed cylinder)."""
    radius, centre = 0.35 * width, (width - 1) / 2
    j = (np.arange(width) - centre)[:, None] + (np.arange(64) + 0.5) / 64 - 0.5
    z = np.arange(width) - centre
    radii = np.sqrt(np.clip(radius**2 - z**2, 0, None))
    chords = 2 * np.sqrt(np.clip(radii[:, None, None] ** 2 - j[None] ** 2, 0, None)).mean(axis=-1)
    offsets = (np.arange(4) + 0.5) / 4 - 0.5
    grid = (np.arange(width) - centre)[:, None] + offsets[None]
    r2 = grid[:, None, None, :, None, None] ** 2 + grid[None, :, None, None, :, None] ** 2 \
        + grid[None, None, :, None, None, :] ** 2
    density = (r2 <= radius**2).mean(axis=(3, 4, 5))
    scored = np.broadcast_to(field_of_view(width) > 0, density.shape)
    return np.broadcast_to(chords, (ANGLES.size, width, width)).copy(), density, scored


def simulated_input(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Projections [n, K·q, J] (per mm) of every q bin of the small simulated sample (q bins stacked as
    slices), the true micropore mean [K, J, J] on the raster, the true hard carbon and the micropore bins."""
    import h5py

    from swaxs_plugins.data.projections import read_projections
    from swaxs_plugins.io.raw import RawSource
    from swaxs_plugins.simulate import simulate_tomography

    files = simulate_tomography(folder, seed=0, scale="small", misalign=False)
    [sample] = read_projections(RawSource(files=[files.projections], frames="/entry/data/data"))
    data = sample.intensity[sample.untilted].astype(np.float64) / (sample.pixel_um * 1e-3)
    n, k, j, n_q = data.shape
    with h5py.File(files.truth, "r") as handle:
        inside = (handle["q"][()] >= MICROPORES[0]) & (handle["q"][()] <= MICROPORES[1])
        truth = np.moveaxis(handle["mean_intensity"][()], (0, 2), (2, 0))[..., inside].mean(axis=-1)
        carbon = np.moveaxis(handle["hard_carbon_fraction"][()], (0, 2), (2, 0)) >= 0.5
    margin = (j - truth.shape[0]) // 2
    place = (slice(margin, margin + truth.shape[0]),) * 3
    full, mask = np.zeros((k, j, j)), np.zeros((k, j, j), bool)
    full[place], mask[place] = truth, carbon
    stacked = data.transpose(0, 1, 3, 2).reshape(n, k * n_q, j)
    return stacked, full, mask, inside


def timed(run: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def warm_up(engine_class: type[Engine]) -> None:
    """Both methods once on a tiny input: lazy imports and first-call set-ups stay out of the timings."""
    tiny = np.ones((ANGLES.size, 1, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        engine = engine_class(8, ANGLES)
        engine.fbp(tiny), engine.iterative(tiny, 1, True)


def reconstruct(engine_class: type[Engine], method: str, data: np.ndarray, iterations: int) -> tuple[float, np.ndarray]:
    """Seconds and slices [S, J, J] (field of view applied) of one engine, construction included."""
    def run() -> np.ndarray:
        engine = engine_class(data.shape[-1], ANGLES)
        volume = engine.fbp(data) if method == "fbp" else engine.iterative(data, iterations, True)
        return volume * field_of_view(data.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return timed(run)


def relative_rms(volume: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    return float(np.sqrt(np.mean((volume - truth)[where] ** 2) / np.mean(truth[where] ** 2)))


def astra_engine() -> tuple[type[Engine] | None, str]:
    """The astra engine class where astra-toolbox imports, else None and the reason."""
    try:
        from swaxs_plugins.steps.reconstruct.astra_engine import AstraEngine
    except ImportError as error:
        return None, f"{type(error).__name__}: {error}"
    return AstraEngine, ""


def compare(label: str, method: str, data: np.ndarray, score: Callable[[np.ndarray], dict], iterations: int,
            sart_iterations: int, peers: dict[str, type[Engine]]) -> list[dict]:
    """Ours against every peer for one input and method."""
    ours_time, ours = reconstruct(SlicesEngine, method, data, iterations)
    ours_score = score(ours)
    cases = []
    for name, engine_class in peers.items():
        peer_iterations = sart_iterations if engine_class is SkimageEngine else iterations
        peer_time, peer = reconstruct(engine_class, method, data, peer_iterations)
        what = "FBP" if method == "fbp" else (f"SIRT {iterations} it. vs {engine_class.iterative_name} "
                                              f"{peer_iterations} it.")
        cases.append(case(f"{label}, {what}, vs {name}", ours_time, peer_time, "s", higher_is_better=False,
                          **{f"ours_{k}": v for k, v in ours_score.items()},
                          **{f"peer_{k}": v for k, v in score(peer).items()}))
    return cases


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison and report it; returns the report document."""
    args = parse_args("reconstruction", __doc__.splitlines()[0], [
        ("--ball", {"type": int, "default": 64, "help": "raster width J of the ball (J³ voxels; default 64)"}),
        ("--iterations", {"type": int, "default": 20, "help": "our SIRT iterations (default 20, the step's)"}),
        ("--sart-iterations", {"type": int, "default": 2, "help": "scikit-image SART sweeps (default 2)"}),
        ("--no-simulated", {"action": "store_true", "help": "skip the simulated sample"})], argv)
    astra, astra_missing = astra_engine()
    peers = {"scikit-image": SkimageEngine, **({"astra": astra} if astra else {})}
    for engine_class in (SlicesEngine, *peers.values()):
        warm_up(engine_class)
    data, density, scored = ball_input(args.ball)
    interior = density >= 1.0

    def ball_score(volume: np.ndarray) -> dict:
        return {"rel_rmse": relative_rms(volume, density, scored), "interior_spread": float(volume[interior].std())}

    cases = []
    for method in ("fbp", "sirt"):
        cases += compare(f"ball {args.ball}³", method, data, ball_score, args.iterations, args.sart_iterations, peers)
    if not args.no_simulated:
        with tempfile.TemporaryDirectory() as folder:
            stacked, truth, carbon, inside = simulated_input(Path(folder))
        k, n_q = truth.shape[0], int(inside.size)

        def simulated_score(volume: np.ndarray) -> dict:
            micropores = volume.reshape(k, n_q, *volume.shape[1:])[:, inside].mean(axis=1)
            return {"micropore_rel_rmse": relative_rms(micropores, truth, carbon)}

        for method in ("fbp", "sirt"):
            cases += compare(f"simulated sample 36³ x {n_q} q", method, stacked, simulated_score, args.iterations,
                             args.sart_iterations, peers)
    for item in cases:
        item["astra"] = "ran" if astra else f"not importable here ({astra_missing})"
    return report("reconstruction", cases, args.json)


if __name__ == "__main__":
    main()
