"""Test-only one-file plugin: a new step kind writing the curves layout, and one that claims it falsely.

``synthetic/ramp`` writes curves whose answer a test knows (I = x index + 1 at every q); a built-in
step that takes the curves layout must accept it although its kind is new. ``synthetic/broken``
declares the curves layout but writes no errors, ``synthetic/misdefined`` declares an application
definition its entry does not follow: both must fail in their own step.
"""

from __future__ import annotations

import numpy as np

from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.core.step import Step, StepParameters, parameter
from swaxs_plugins.io.nexus import Axis, set_nx_class, write_nxdata

Q = np.linspace(0.05, 0.35, 16)


class RampParameters(StepParameters):
    ny: int = parameter(4, description="map rows", ge=1)
    nx: int = parameter(5, description="map columns", ge=1)


class Ramp(Step):
    """Curves I[1, y, x, q] = x + 1, errors 0.1, in the curves layout."""

    Parameters = RampParameters
    produces = ("curves",)
    with_errors = True

    def finalize(self, results, writer):
        ny, nx = self.params.ny, self.params.nx
        intensity = np.broadcast_to((np.arange(nx) + 1.0)[None, None, :, None], (1, ny, nx, Q.size)).copy()
        axes = [Axis("scan", np.arange(1), "", "scan"), Axis("y", np.arange(ny) * 0.1, "mm", "y"),
                Axis("x", np.arange(nx) * 0.1, "mm", "x"), Axis("q", Q, "1/angstrom", "q")]
        maps = set_nx_class(writer.entry.create_group("maps"), "NXcollection")
        write_nxdata(maps, "curves", intensity, axes, long_name="intensity", units="arbitrary units",
                     errors=np.full(intensity.shape, 0.1) if self.with_errors else None)
        writer.entry["curves"] = maps["curves"]          # the entry's default plot (NXswaxs_step asks for an NXdata)
        writer.entry.attrs["default"] = "curves"
        scans = set_nx_class(writer.entry.create_group("scans"), "NXcollection")
        scans["scan_shape"] = np.array([ny, nx])


class Broken(Ramp):
    """Claims the curves layout but writes no errors."""

    with_errors = False


class Misdefined(Ramp):
    """Declares the fit definition but writes curves only."""

    definition = "NXswaxs_fit"


@hookimpl
def swaxs_register_steps():
    return [StepImpl("synthetic", "ramp", Ramp, description="known curves (tests)", default=True),
            StepImpl("synthetic", "broken", Broken, description="a wrong curves layout (tests)"),
            StepImpl("synthetic", "misdefined", Misdefined, description="not its definition (tests)")]
