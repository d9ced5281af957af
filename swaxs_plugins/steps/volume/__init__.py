"""The ``volume`` step kind: analysis of reconstructed volumes (masks, mean filter, intensity histograms).

Modules: :mod:`.statistics` (the 2 × 2 × 2 mean filter, mask quantities, histogram statistics),
:mod:`.step` (the step and its parameters), :mod:`.outputs` (what it writes, its figure).
"""

from __future__ import annotations

from swaxs_plugins.steps.volume.step import VolumeHistograms, VolumeParameters

__all__ = ["VolumeHistograms", "VolumeParameters"]
