"""The simulated tomography samples, reconstructed once per test session, for the reconstruct and volume tests.

The first module that asks simulates the small samples (seed 0, no misalignment: the reconstruction is
tested, not the alignment) — the anisotropic electrode, and the two isotropic ex-situ samples of low and
high sodiation — and runs the reconstruct step with its defaults into the session's temporary folder;
later modules find the files there and reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest_operando import run_step, step_ref

from swaxs_plugins.io.raw import RawSource

RAW_FRAMES = "/entry/data/data"


@dataclass(frozen=True)
class ReconstructedSample:
    """The simulated files, the reconstruct step's file, and the truth on the volume's grid [z, y, x]."""

    projections: Path
    step_file: Path
    mean_intensity: np.ndarray
    hard_carbon: np.ndarray
    q: np.ndarray

    @property
    def ref(self):
        return step_ref(self.step_file, "recon", "reconstruct")

    def truth_region(self, q_range: tuple[float, float]) -> np.ndarray:
        """The true spherical-mean intensity of a q-region, [z, y, x] on the volume's grid."""
        inside = (self.q >= q_range[0]) & (self.q <= q_range[1])
        return self.mean_intensity[..., inside].mean(axis=-1)


def on_raster(truth: np.ndarray, raster: int) -> np.ndarray:
    """A truth array [X, Y, Z, ...] of the simulator as [z, y, x, ...] on the raster's grid (zero in the margin)."""
    values = np.moveaxis(truth, (0, 2), (2, 0))
    margin = (raster - values.shape[0]) // 2
    full = np.zeros((raster, raster, raster, *values.shape[3:]), values.dtype)
    full[margin:margin + values.shape[0], margin:margin + values.shape[1], margin:margin + values.shape[2]] = values
    return full


@pytest.fixture(scope="module")
def ex_situ(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The reconstruct step's file of the two ex-situ samples (one input, two files; defaults but the micropore
    q-range only, which is all the histogram tests need) and their truth files."""
    from swaxs_plugins.simulate import simulate_tomography
    from swaxs_plugins.simulate.samples import EX_SITU_SAMPLES
    from swaxs_plugins.steps.reconstruct import ScalarReconstruction

    folder = tmp_path_factory.getbasetemp() / "tomography_ex_situ"
    folder.mkdir(exist_ok=True)
    truths = [folder / "truth" / f"tomography_truth_{name}.h5" for name in EX_SITU_SAMPLES]
    if not all(t.exists() for t in truths):
        simulate_tomography(folder, seed=0, scale="small", samples=EX_SITU_SAMPLES, misalign=False)
    step_file = folder / "recon.nxs"
    if not step_file.exists():
        files = [folder / "tomo" / f"{name}.nxs" for name in EX_SITU_SAMPLES]
        source = RawSource(files=files, frames=RAW_FRAMES)
        run_step(ScalarReconstruction, {"q_range": [0.12, 0.3]}, {"projections": source}, step_file, "recon")
    return step_file, truths


@pytest.fixture(scope="module")
def reconstructed(tmp_path_factory: pytest.TempPathFactory) -> ReconstructedSample:
    from swaxs_plugins.simulate import simulate_tomography
    from swaxs_plugins.steps.reconstruct import ScalarReconstruction

    folder = tmp_path_factory.getbasetemp() / "tomography_volumes"
    folder.mkdir(exist_ok=True)
    projections, truth = folder / "tomo" / "projections.nxs", folder / "truth" / "tomography_truth.h5"
    if not truth.exists():
        simulate_tomography(folder, seed=0, scale="small", misalign=False)
    step_file = folder / "recon.nxs"
    if not step_file.exists():
        run_step(ScalarReconstruction, {}, {"projections": RawSource(files=[projections], frames=RAW_FRAMES)},
                 step_file, "recon")
    with h5py.File(projections, "r") as handle:
        raster = handle[RAW_FRAMES].shape[1]
    with h5py.File(truth, "r") as handle:
        return ReconstructedSample(projections, step_file, on_raster(handle["mean_intensity"][()], raster),
                                   on_raster(handle["hard_carbon_fraction"][()], raster) >= 0.5, handle["q"][()])
