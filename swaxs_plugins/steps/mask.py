"""The ``mask`` step, implementation ``rules`` (default): named map masks from rules in the pipeline.

A rule is a Python-like expression over maps of the scan ``scan`` (default 0, the pristine scan),
in the rule language of :mod:`swaxs_plugins.rules` (a small whitelisting interpreter, no ``eval``):

- quantities: ``T`` (transmission input), ``intensity(q_min, q_max)`` (mean intensity of a q-range of
  whichever curves input covers it, 1/angstrom), ``fit('path/in/fit/entry')`` (a map [scan, y, x] or
  [y, x] of an earlier step, e.g. a fitted parameter), and earlier masks by name;
- comparisons ``<``, ``<=``, ``>``, ``>=`` (chains allowed), ``and``, ``or``, ``not``;
- morphology: ``opening(m, r)``, ``closing(m, r)``, ``dilation(m, r)``, ``erosion(m, r)`` (square
  element of half-width r points, default 1), ``largest(m)`` (largest 8-connected component),
  ``distance(m)`` (Euclidean distance to m in scan points, for rules such as ``distance(cc) <= 2``).

Masks are fixed [y, x] (uint8, 1 = inside), written to ``<entry>/masks/<name>`` with the rule.
An empty mask is an error naming it, unless ``allow_empty``.
"""

from __future__ import annotations

import numpy as np

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.core.step import (
    InputSpec,
    Step,
    StepContext,
    StepOutputRef,
    StepParameters,
    parameter,
)
from swaxs_plugins.data.curves import covers, map_axes, read_curves, region_mean, where
from swaxs_plugins.data.maps import read_map
from swaxs_plugins.data.masks import write_masks
from swaxs_plugins.io.nexus import Axis, StepWriter
from swaxs_plugins.rules import RuleContext, evaluate_rule


class MaskParameters(StepParameters):
    """The masks to build, in order: later rules may use earlier masks by name."""

    masks: dict[str, str] = parameter(description="mask name -> rule, e.g. {current_collector: 'T < 0.1'}",
                                      min_length=1)
    scan: int = parameter(0, description="scan whose maps the rules are evaluated on (0: the first, pristine)")
    allow_empty: bool = parameter(False, description="accept a mask that selects no point")


class RuleMask(Step):
    """Map masks from rules on transmission, q-range intensities and fitted parameters, with morphology."""

    Parameters = MaskParameters
    inputs = {
        "transmission": InputSpec("a transmission map (a transmission step), for T", layouts=("transmission",), required=False),
        "saxs": InputSpec("curves of one detector (integrate, transmission or background step)",
                          layouts=("curves",), required=False),
        "waxs": InputSpec("curves of another detector", layouts=("curves",),
                          required=False),
        "fit": InputSpec("a step with per-point maps, e.g. fitted parameters, for fit('path')", layouts=("maps",),
                         required=False),
    }
    definition = "NXswaxs_maps"
    produces = ("masks",)
    params: MaskParameters

    def setup(self, context: StepContext) -> None:
        """Evaluate every rule in order (the maps are small)."""
        self.step_id = context.step_id
        self.inputs_ = context.inputs
        self.curves = [read_curves(context.inputs[n]) for n in ("saxs", "waxs") if n in context.inputs]
        quantities = {"T": self._transmission, "intensity": self._intensity, "fit": self._fit}
        rules = RuleContext(quantities, {})
        for name, rule in self.params.masks.items():
            try:
                mask = evaluate_rule(rule, rules)
            except SwaxsError as error:
                raise SwaxsError(f"step '{self.step_id}', parameter 'masks.{name}': {error}") from error
            if not mask.any() and not self.params.allow_empty:
                raise SwaxsError(f"step '{self.step_id}', parameter 'masks.{name}': rule '{rule}' selects no point "
                                 f"of scan {self.params.scan}")
            rules.masks[name] = mask
        self.masks = rules.masks

    def _required(self, name: str) -> StepOutputRef:
        if name not in self.inputs_:
            raise SwaxsError(f"step '{self.step_id}': a rule needs the input '{name}', which is not given")
        return self.inputs_[name]

    def _scan(self, maps: np.ndarray, what: str) -> np.ndarray:
        if maps.ndim == 2:
            return maps
        if not -maps.shape[0] <= self.params.scan < maps.shape[0]:
            raise SwaxsError(f"step '{self.step_id}', parameter 'scan': {self.params.scan} is not one of the "
                             f"{maps.shape[0]} scans of {what}")
        return maps[self.params.scan]

    def _transmission(self) -> np.ndarray:
        ref = self._required("transmission")
        return self._scan(read_map(ref, "transmission/T"), where(ref, "transmission/T"))

    def _intensity(self, q_min: float, q_max: float) -> np.ndarray:
        source = next((c for c in self.curves if covers(c, (q_min, q_max))), None)
        if source is None:
            ranges = ", ".join(f"{c.q.min():.4g}..{c.q.max():.4g}" for c in self.curves) or "no curves input"
            raise SwaxsError(f"intensity({q_min}, {q_max}): q-range outside the integrated range ({ranges})")
        mean, _ = region_mean(source, (q_min, q_max), f"step '{self.step_id}'")
        return self._scan(mean, where(source.source))

    def _fit(self, path: str) -> np.ndarray:
        ref = self._required("fit")
        return self._scan(read_map(ref, path), where(ref, path))

    def finalize(self, results: list, writer: StepWriter) -> None:
        """One NXdata per mask under ``masks`` (the first is the entry's default plot)."""
        shape = next(iter(self.masks.values())).shape
        axes = map_axes(self.curves[0])[1:] if self.curves else \
            [Axis(name, np.arange(size), "", f"{name} (scan point index)") for name, size in zip("yx", shape)]
        write_masks(writer.entry, self.masks, axes, self.params.masks, self.params.scan)
