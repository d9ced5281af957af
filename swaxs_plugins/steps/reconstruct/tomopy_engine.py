"""The tomopy engine (``reconstruct/tomopy``, registered where ``import tomopy`` works): its ``gridrec``
(Ram–Lak filter) and ``sirt`` (non-negativity by clipping after every iteration), slice by slice.

tomopy is installable from conda only, so it is never a dependency, and its geometry conventions (the
sense of rotation, the centre of rotation in pixels, the scale of gridrec) could not be checked here. The
engine therefore finds them at construction, on a probe image (an off-centre smooth blob):

1. ``tomopy.project`` of the probe at ±θ and with the centre at (J − 1)/2 or J/2 is compared with
   :mod:`swaxs_plugins.tomo.slices`' projector; the first convention within 5 % (relative rms) is used,
   and none matching is an error naming what was tried (the engine is never used in a geometry of its own);
2. gridrec of the probe's projections, against the default engine's FBP of the same projections, gives
   the factor of tomopy's normalisation (least squares inside the reconstruction circle), applied to
   every FBP slice (against the default engine, not the probe: FBP's own blur is no normalisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tomopy

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.steps.reconstruct.engines import Engine, SlicesEngine
from swaxs_plugins.steps.reconstruct.scalar import ScalarReconstruction

MATCH_TOLERANCE = 0.05


def probe_image(width: int) -> np.ndarray:
    """A smooth blob off the centre in y and x (so that a mirrored or turned geometry cannot match)."""
    centre = (width - 1) / 2
    y, x = np.meshgrid(np.arange(width) - centre, np.arange(width) - centre, indexing="ij")
    sigma = max(width / 10, 1.0)
    return np.exp(-((y - width / 6) ** 2 + (x + width / 8) ** 2) / (2 * sigma**2))


def _relative_rms(values: np.ndarray, reference: np.ndarray) -> float:
    return float(np.sqrt(np.mean((values - reference) ** 2)) / np.sqrt(np.mean(reference**2)))


class TomopyEngine(Engine):
    """tomopy's gridrec and SIRT in the project's geometry (module docstring)."""

    name = "tomopy"
    library = "tomopy"
    iterative_name = "SIRT"

    def __init__(self, width: int, angles_deg: Sequence[float], *, errors: bool = False) -> None:
        super().__init__(width, angles_deg)
        self.sign, self.centre = self._find_geometry()
        self.fbp_scale = 1.0
        projections = self.reproject(probe_image(self.width)[None])
        theirs, ours = self.fbp(projections)[0], SlicesEngine(self.width, self.angles).fbp(projections)[0]
        inside = self._circle()
        self.fbp_scale = float(np.sum(theirs[inside] * ours[inside]) / np.sum(theirs[inside] ** 2))

    def _theta(self) -> np.ndarray:
        return (self.sign * np.deg2rad(self.angles)).astype(np.float32)

    def _circle(self) -> np.ndarray:
        centre = (self.width - 1) / 2
        y, x = np.meshgrid(np.arange(self.width) - centre, np.arange(self.width) - centre, indexing="ij")
        return np.hypot(y, x) < self.width / 2 - 1

    def _find_geometry(self) -> tuple[float, float]:
        probe = probe_image(self.width)
        reference = self.reproject(probe[None])
        tried = []
        for sign in (1.0, -1.0):
            for centre in ((self.width - 1) / 2, self.width / 2):
                theta = (sign * np.deg2rad(self.angles)).astype(np.float32)
                theirs = tomopy.project(probe[None].astype(np.float32), theta, center=centre, pad=False)
                error = _relative_rms(np.asarray(theirs, dtype=np.float64), reference)
                if error < MATCH_TOLERANCE:
                    return sign, centre
                tried.append(f"sign {sign:+.0f}, centre {centre:g} px: {error:.1%}")
        raise InputDataError(f"reconstruct/tomopy: tomopy's projector matches the project's geometry in none of "
                             f"the conventions tried ({'; '.join(tried)}, tolerance {MATCH_TOLERANCE:.0%}); use "
                             f"the default implementation 'scalar'")

    def fbp(self, sinograms: np.ndarray) -> np.ndarray:
        rebuilt = tomopy.recon(sinograms.astype(np.float32), self._theta(), center=self.centre,
                               algorithm="gridrec", filter_name="ramlak")
        return np.asarray(rebuilt, dtype=np.float64) * self.fbp_scale

    def iterative(self, sinograms: np.ndarray, iterations: int, nonnegative: bool) -> np.ndarray:
        volume = np.maximum(self.fbp(sinograms), 0.0).astype(np.float32)
        data = sinograms.astype(np.float32)
        for _ in range(iterations):
            volume = tomopy.recon(data, self._theta(), center=self.centre, algorithm="sirt", num_iter=1,
                                  init_recon=volume)
            if nonnegative:
                volume = np.maximum(volume, 0.0)
        return np.asarray(volume, dtype=np.float64)


class TomopyReconstruction(ScalarReconstruction):
    """The scalar reconstruction on tomopy's gridrec and SIRT."""

    engine_class = TomopyEngine
