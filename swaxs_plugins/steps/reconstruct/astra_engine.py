"""The astra-toolbox engine (``reconstruct/astra``, registered where ``import astra`` works): its CPU FBP
(Ram-Lak) and SIRT (non-negativity by ``MinConstraint = 0``, from the non-negative FBP volume), slice by slice.

astra-toolbox is GPL-3 and pulls the CUDA runtime (~380 MB): never a dependency of this MIT project, only
used when a user installs it. Its parallel-beam geometry (detector spacing 1, J detector pixels, angles in
radians, 'linear' projector) centres the detector and the slice on (J − 1)/2 as this project does, and its
angle and image orientation match :mod:`swaxs_plugins.tomo.slices` as they are (checked against the slice
projector to the projectors' footprint difference, 2.5 % of the peak on a smooth image, for odd and even J).
Only CPU algorithms are used: some of astra's GPU calls end the process where no GPU is usable.
"""

from __future__ import annotations

from collections.abc import Sequence

import astra
import numpy as np

from swaxs_plugins.steps.reconstruct.engines import Engine
from swaxs_plugins.steps.reconstruct.scalar import ScalarReconstruction


class AstraEngine(Engine):
    """astra-toolbox's CPU FBP and SIRT (module docstring)."""

    name = "astra"
    library = "astra-toolbox (GPL-3)"
    iterative_name = "SIRT"

    def __init__(self, width: int, angles_deg: Sequence[float], *, errors: bool = False) -> None:
        super().__init__(width, angles_deg)
        self.radians = np.deg2rad(self.angles)

    def _run(self, algorithm: str, sinogram: np.ndarray, iterations: int = 1, start: np.ndarray | None = None,
             options: dict | None = None) -> np.ndarray:
        """One astra algorithm on one slice's projections [n, J]; every astra object freed afterwards."""
        volume_geometry = astra.create_vol_geom(self.width, self.width)
        projection_geometry = astra.create_proj_geom("parallel", 1.0, self.width, self.radians)
        projector = astra.create_projector("linear", projection_geometry, volume_geometry)
        sinogram_id = astra.data2d.create("-sino", projection_geometry, sinogram)
        volume_id = astra.data2d.create("-vol", volume_geometry, 0.0 if start is None else start)
        config = astra.astra_dict(algorithm)
        config.update({"ProjectorId": projector, "ProjectionDataId": sinogram_id, "ReconstructionDataId": volume_id,
                       "option": options or {}})
        algorithm_id = astra.algorithm.create(config)
        try:
            astra.algorithm.run(algorithm_id, iterations)
            return astra.data2d.get(volume_id)
        finally:
            astra.algorithm.delete(algorithm_id)
            astra.data2d.delete([sinogram_id, volume_id])
            astra.projector.delete(projector)

    def fbp(self, sinograms: np.ndarray) -> np.ndarray:
        return np.stack([self._run("FBP", sinograms[:, s], options={"FilterType": "ram-lak"})
                         for s in range(sinograms.shape[1])])

    def iterative(self, sinograms: np.ndarray, iterations: int, nonnegative: bool) -> np.ndarray:
        options = {"MinConstraint": 0.0} if nonnegative else {}
        start = self.fbp(sinograms)
        return np.stack([self._run("SIRT", sinograms[:, s], iterations, np.maximum(start[s], 0.0), options)
                         for s in range(sinograms.shape[1])])


class AstraReconstruction(ScalarReconstruction):
    """The scalar reconstruction on astra-toolbox's CPU FBP and SIRT."""

    engine_class = AstraEngine
