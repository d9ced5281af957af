"""The ``volume`` step kind: analysis of reconstructed volumes (masks, mean filter, intensity histograms).

Modules: :mod:`.statistics` (the 2 × 2 × 2 mean filter, mask quantities, histogram statistics),
:mod:`.step` (the step and its parameters), :mod:`.outputs` (what it writes, its figure).
"""

from __future__ import annotations

from swaxs_plugins import __version__
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.steps.volume.step import VolumeHistograms, VolumeParameters

__all__ = ["VolumeHistograms", "VolumeParameters", "swaxs_register_steps"]


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``volume/histograms``, the default implementation of its kind."""
    return [StepImpl(kind="volume", name="histograms", cls=VolumeHistograms, version=__version__,
                     description="volume masks from rules, 2x2x2 mean filter, voxel-intensity histograms per "
                                 "q-region and sample with mean, width and quantiles", default=True)]
