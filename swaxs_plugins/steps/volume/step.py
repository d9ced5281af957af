"""The ``volume`` step, implementation ``histograms`` (default): volume masks from rules, the 2 × 2 × 2
mean filter, and histograms of voxel intensity inside a mask per q-region and sample, side by side.

Masks are rules in the language of :mod:`swaxs_plugins.rules` (as the ``mask`` step's), evaluated on
every sample's reconstructed volume [z, y, x] on its own voxel grid, in order (later rules use earlier
masks by name). Quantities:

- ``intensity(q_min, q_max)``: the mean intensity of the volume's q bins within the range (1/Å);
- the rule language's own arithmetic and thresholds (``0.25 * otsu(v)``: a quarter of Otsu's threshold
  of v; ``quantile``, ``median``);
- ``local_fraction(v, r)``: v over its maximum in the (2r + 1)³ cube around each voxel (r = 1 by
  default), the partial-volume fraction at a material's edge (:mod:`.statistics`);
- morphology ``opening``, ``closing``, ``dilation``, ``erosion`` (cubic element), ``largest`` (26-connected),
  ``distance``.

The default electrode mask (the paper masks the electrode by its intensity in 0.12–0.3 1/Å): the voxels
above a quarter of Otsu's threshold there (far above the reconstruction's background) and at least 0.45
of their brightest neighbour (a partial-volume fraction of about ½), closed by one voxel, largest
component. The histograms (of ``mask``, default the last mask) are of each region's mean intensity,
2 × 2 × 2 mean-filtered by default; bins are shared by all samples.
An empty mask is an error naming the step, the sample, the mask and its rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import h5py
import numpy as np
from pydantic import field_validator, model_validator

from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.step import (
    Estimate,
    InputSpec,
    Step,
    StepContext,
    StepOutputRef,
    StepParameters,
    parameter,
)
from swaxs_plugins.data.volumes import VOLUMES, Volume, read_volumes
from swaxs_plugins.io.nexus import StepWriter, text
from swaxs_plugins.rules import RuleContext, evaluate_rule
from swaxs_plugins.steps.volume.outputs import (
    plot_histograms,
    summary_lines,
    write_entry,
)
from swaxs_plugins.steps.volume.statistics import (
    Statistics,
    block_inside,
    local_fraction,
    mean_filter_2,
    shared_edges,
)

QRange = tuple[float, float]
ELECTRODE_RANGE = "0.12, 0.3"
DEFAULT_MASKS = {
    "material": f"intensity({ELECTRODE_RANGE}) > 0.25 * otsu(intensity({ELECTRODE_RANGE})) and "
                f"local_fraction(intensity({ELECTRODE_RANGE}), 1) >= 0.45",
    "electrode": "largest(closing(material, 1))",
}


class VolumeParameters(StepParameters):
    """Masks, filter and histograms (module docstring)."""

    masks: dict[str, str] = parameter(DEFAULT_MASKS, description="mask name -> rule, in order (default: the "
                                      "electrode by its intensity in 0.12-0.3 1/angstrom)", min_length=1)
    mask: str | None = parameter(None, description="the mask the histograms are taken in (default: the last of masks)")
    mean_filter: bool = parameter(True, description="2x2x2 mean filter before the histograms")
    regions: dict[str, QRange] | None = parameter(None, description="q-regions [q_min, q_max] of the histograms "
                                                  "(default: the volumes' own regions)", unit="1/angstrom")
    bins: int = parameter(64, description="histogram bins, shared by all samples", ge=2, le=100000)
    quantiles: list[float] = parameter([0.05, 0.25, 0.5, 0.75, 0.95], description="quantile levels reported")

    @field_validator("quantiles")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 <= v <= 1 for v in value):
            raise ValueError(f"quantile levels must lie in [0, 1], got {value}")
        return value

    @model_validator(mode="after")
    def _known_mask(self) -> VolumeParameters:
        if self.mask is not None and self.mask not in self.masks:
            raise ValueError(f"mask: '{self.mask}' is not one of the masks ({', '.join(self.masks)})")
        return self

    @property
    def histogram_mask(self) -> str:
        return self.mask or list(self.masks)[-1]


class VolumeHistograms(Step):
    """Volume masks, mean filter and intensity histograms of every sample (module docstring)."""

    Parameters = VolumeParameters
    inputs = {"volumes": InputSpec("a reconstruct step's volumes (every sample)", layouts=("volumes",))}
    definition = "NXswaxs_histograms"
    params: VolumeParameters

    def setup(self, context: StepContext) -> None:
        """Everything: masks, filtered region volumes, shared bins, statistics (the volumes are small)."""
        self.step_id, self.workdir = context.step_id, Path(context.workdir)
        ref = context.inputs["volumes"]
        self.volumes = read_volumes(ref)
        self.units = volume_units(ref)
        self.regions = self._regions()
        self.masks = [self._masks(v) for v in self.volumes]
        self.values = {name: [self._values(v, m, q) for v, m in zip(self.volumes, self.masks)]
                       for name, q in self.regions.items()}
        self.edges = {name: shared_edges(values, self.params.bins) for name, values in self.values.items()}
        self.counts = {name: np.stack([np.histogram(v, self.edges[name])[0] for v in values])
                       for name, values in self.values.items()}
        self.statistics = {name: [Statistics.of(v, self.params.quantiles) for v in values]
                           for name, values in self.values.items()}

    def _label(self, volume: Volume | None = None) -> str:
        return f"step '{self.step_id}'" + (f", sample '{volume.name}'" if volume else "")

    def _regions(self) -> dict[str, QRange]:
        regions = dict(self.params.regions or self.volumes[0].regions)
        if not regions:
            raise InputDataError(f"{self._label()}, parameter 'regions': none given and the volumes "
                                 f"({self.volumes[0].source}) name none")
        for volume in self.volumes:
            for name, q_range in regions.items():
                volume.q_bins(q_range, f"{self._label(volume)}, parameter 'regions.{name}'")
        return regions

    def _masks(self, volume: Volume) -> dict[str, np.ndarray]:
        """Every rule on this sample's (unfiltered) volume, in order; an empty mask is an error."""
        @cache
        def intensity(q_min: float, q_max: float) -> np.ndarray:
            return volume.region_mean((q_min, q_max), f"intensity({q_min}, {q_max})")

        quantities = {"intensity": intensity, "local_fraction": local_fraction}
        rules = RuleContext(quantities, {})
        for name, rule in self.params.masks.items():
            where = f"{self._label(volume)}, parameter 'masks.{name}'"
            try:
                mask = evaluate_rule(rule, rules)
            except SwaxsError as error:
                raise SwaxsError(f"{where}: {error}") from error
            if mask.shape != volume.shape:
                raise SwaxsError(f"{where}: rule '{rule}' gives shape {mask.shape}, not the volume's {volume.shape}")
            if not mask.any():
                raise SwaxsError(f"{where}: rule '{rule}' selects no voxel of {volume.source}")
            rules.masks[name] = mask
        return rules.masks

    def _values(self, volume: Volume, masks: Mapping[str, np.ndarray], q_range: QRange) -> np.ndarray:
        """The region's (filtered) voxel intensities inside the histogram mask."""
        region = volume.region_mean(q_range)
        mask = masks[self.params.histogram_mask]
        if self.params.mean_filter:
            region, mask = mean_filter_2(region), block_inside(mask)
            if not mask.any():
                raise SwaxsError(f"{self._label(volume)}, parameter 'mask': '{self.params.histogram_mask}' holds no "
                                 "whole 2x2x2 block for the mean filter; set mean_filter: false or widen the mask")
        return region[mask]

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        """Peak memory from the reconstruct step's volume shape [q, K, J, J] and samples: every volume as read
        (intensity and errors, float32), and per sample a region mean, its filtered copy and the masks (float64)."""
        shapes = input_shapes.get("volumes", {})
        volume = shapes.get("volumes/intensity/I", ())
        if len(volume) != 4:
            return Estimate()
        n_q, voxels = volume[0], int(np.prod(volume[1:]))
        samples = shapes.get("samples", (1,))[0]
        regions = len(self.params.regions or {}) or 2
        per_sample = voxels * (n_q * 4 * 2 + 8 * (3 + len(self.params.masks)) + 8 * regions)
        return Estimate(outputs={"histograms": (regions, samples, self.params.bins)}, memory_bytes=samples * per_sample)

    def finalize(self, results: list, writer: StepWriter) -> None:
        write_entry(writer.entry, self)
        plot_histograms(self.workdir / f"{self.step_id}_histograms.png", self)

    def run(self, context: StepContext, writer: StepWriter) -> None:
        """As every step, then the statistics into the run summary."""
        super().run(context, writer)
        context.summary.update(summary_lines(self))


def volume_units(ref: StepOutputRef) -> str:
    """The @units of the first sample's reconstructed intensity."""
    with h5py.File(ref.path, "r") as handle:
        collection = handle[ref.entry][VOLUMES]
        node = collection[next(iter(collection))]["intensity"]["I"]
        return text(node.attrs.get("units", ""))
