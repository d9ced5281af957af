"""``reconstruct/mumott``: the same tensor tomography on mumott's ``run_sigtt`` (where mumott imports).

Every sample and q band is exported in mumott's input layout (:func:`swaxs_plugins.io.mumott.export_mumott`,
the alignment's displacement written as mumott's offsets), read by ``mumott.DataContainer`` and fitted by

    run_sigtt(container, maxiter=iterations, ftol=ftol, regularization_weight=w,
              basis_set_kwargs={"ell_max": ell_max}, optimizer_kwargs={"maxfun": 4 × iterations})

(mumott's SAXS projector, squared loss, Laplacian regulariser and L-BFGS; its maxfun of 20 would stop
it before 20 iterations). Its coefficients come back in our basis and grid
(:func:`swaxs_plugins.io.mumott.import_mumott_coefficients`) and are written exactly as
``reconstruct/tensor`` writes its own, with the fit quality (χ²ᵣ per voxel and per band, Poisson weights)
computed under our projector on the whole grid, so that the two implementations report the same figure.
mumott fits every voxel of the box and weighs every point alike.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import mumott
import numpy as np
from mumott.pipelines import run_sigtt

from swaxs_plugins.io.mumott import export_mumott, import_mumott_coefficients
from swaxs_plugins.steps.reconstruct.tensor import TensorReconstruction, TensorSample
from swaxs_plugins.steps.reconstruct.tensor_outputs import TensorResult
from swaxs_plugins.steps.reconstruct.tensor_parameters import MumottParameters
from swaxs_plugins.tomo.tensor import TensorGeometry
from swaxs_plugins.tomo.tensor_solver import SolverReport, TensorProblem


class MumottReconstruction(TensorReconstruction):
    """Tensor tomography of every sample and q band by mumott's run_sigtt (module docstring)."""

    Parameters = MumottParameters
    params: MumottParameters

    def support(self, geometry: TensorGeometry, data: np.ndarray) -> np.ndarray:
        """The whole box, as mumott reconstructs it."""
        return np.ones(geometry.shape, dtype=bool)

    def solver(self) -> str:
        return (f"mumott {mumott.__version__} run_sigtt (SAXS projector, Laplacian regularization_weight "
                f"{self.params.regularization_weight:g}, L-BFGS, ftol {self.params.ftol:g})")

    def regularisation(self) -> float:
        return float(self.params.regularization_weight)

    def process(self, block: tuple[str, TensorSample]) -> TensorResult:
        """Export one band of one sample, fit it with run_sigtt, bring its coefficients back."""
        band, sample = block
        projector = sample.projector
        with tempfile.TemporaryDirectory(prefix=f"{self.step_id}_mumott_", dir=self.workdir) as folder:
            [path] = export_mumott(self.projections[sample.name], Path(folder) / sample.name,
                                   {band: self.params.bands[band]}, offsets=projector.geometry.offsets)
            container = mumott.DataContainer(str(path))
            began = time.perf_counter()
            output = run_sigtt(container, maxiter=self.params.iterations, ftol=self.params.ftol,
                               regularization_weight=self.params.regularization_weight,
                               basis_set_kwargs={"ell_max": self.params.ell_max},
                               optimizer_kwargs={"maxfun": 4 * self.params.iterations})
            seconds = time.perf_counter() - began
        found = output["result"]
        volume = import_mumott_coefficients(np.asarray(found["x"]), self.params.ell_max)
        coefficients = projector.from_volume(volume).astype(np.float32)
        evaluations = int(found.get("nfev", 0))
        report = SolverReport(iterations=int(found.get("nit", 0)), evaluations=evaluations,
                              loss=[float(found.get("fun", np.nan))], message=str(found.get("message", "")),
                              seconds=seconds, seconds_per_evaluation=seconds / max(evaluations, 1))
        data, weights = sample.bands[band]
        return self.result(sample, band, TensorProblem(projector, data, weights), coefficients, report)
