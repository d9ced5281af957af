"""The ``background`` step, implementation ``subtract`` (default): I_s/T_s − I_b/T_b per scan point.

Input curves are already divided by their transmission (a transmission step), so the background
curve B(q) is the mean of transmission-corrected curves over: a mask of a mask step (``mask``), a
box of the map (``box``), all points of another step's curves (input ``other``), or a curve file
(``curve``: text columns q [1/angstrom], I, optional σ, interpolated onto q). Per scan
(``background_scan`` unset) or one scan's background for all. σ² = σ_s² + σ_B², σ_B the standard
error of the region mean; negative results are kept. Curves of another step must carry the same
normalisation (monitor, transmission; :func:`.curves.check_same_normalisation`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.step import InputSpec, Step, StepContext, StepParameters, parameter
from swaxs_plugins.data.curves import (Curves, check_same_normalisation, points_mean, read_curves, write_curves,
                                       write_mean_curves)
from swaxs_plugins.data.masks import read_masks
from swaxs_plugins.io.nexus import StepWriter



class BackgroundParameters(StepParameters):
    """Where the background comes from (exactly one of mask, box, the 'other' input, curve)."""

    mask: str | None = parameter(None, description="name of a mask of the 'masks' input (e.g. electrolyte)")
    box: tuple[int, int, int, int] | None = parameter(
        None, description="region [y0, y1, x0, x1] (scan-point indices, end exclusive)")
    curve: Path | None = parameter(None, description="text file: q (1/angstrom), I, optional sigma")
    background_scan: int | None = parameter(None, description="use this scan's background for every scan "
                                                              "(default: each scan its own)")
    view_region: str | None = parameter(None, description="mask of the 'masks' input whose mean subtracted curve "
                                                          "the file opens on (default: the points outside the "
                                                          "background region)")


def subtract(curves: Curves, background: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """I − B and sqrt(σ² + σ_B²) with B [scan, q] broadcast over the map; negatives are kept."""
    b, e = background[:, None, None, :], error[:, None, None, :]
    return curves.intensity - b, np.sqrt(curves.errors**2 + e**2)


def read_curve_file(path: Path, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A background curve from a text file, interpolated onto q; outside its q range is an error."""
    try:
        table = np.loadtxt(path, ndmin=2)
    except ValueError as error:
        raise InputDataError(f"{path}: not a numeric table q, I[, sigma] (parameter 'curve'): {error}") from error
    if table.shape[1] < 2 or table[0, 0] > q.min() or table[-1, 0] < q.max():
        raise InputDataError(f"{path}: needs columns q, I covering {q.min():.4g}..{q.max():.4g} 1/angstrom "
                             f"(parameter 'curve')")
    sigma = table[:, 2] if table.shape[1] > 2 else np.zeros(len(table))
    return np.interp(q, table[:, 0], table[:, 1]), np.interp(q, table[:, 0], sigma)


class SubtractBackground(Step):
    """Subtracts a transmission-corrected background curve from every transmission-corrected curve."""

    Parameters = BackgroundParameters
    inputs = {
        "curves": InputSpec("transmission-corrected curves", layouts=("curves",)),
        "masks": InputSpec("a mask step holding 'mask'", layouts=("masks",), required=False),
        "other": InputSpec("curves of another scan file, averaged over all its points", layouts=("curves",),
                           required=False),
    }
    definition = "NXswaxs_maps"
    produces = ("curves",)
    params: BackgroundParameters

    def setup(self, context: StepContext) -> None:
        """Read the curves and build the background [scan, q]."""
        self.step_id = context.step_id
        self.curves = read_curves(context.inputs["curves"])
        background, error = self._background(context)
        if self.params.background_scan is not None:
            k = self.params.background_scan
            if not 0 <= k < len(background):
                raise SwaxsError(f"step '{self.step_id}', parameter 'background_scan': {k} is not one of the "
                                 f"{len(background)} scans")
            background, error = np.broadcast_to(background[k], background.shape), np.broadcast_to(error[k], error.shape)
        self.background, self.background_error = background, error
        self.view_region = self._view_region(context)

    def _view_region(self, context: StepContext) -> tuple[np.ndarray, str]:
        """The points whose mean subtracted curve the file opens on, and how to name them."""
        name, shape = self.params.view_region, self.curves.map_shape
        if name is not None:
            masks = read_masks(context.inputs["masks"]) if "masks" in context.inputs else {}
            if name not in masks or masks[name].shape != shape or not masks[name].any():
                raise SwaxsError(f"step '{self.step_id}', parameter 'view_region': no mask '{name}' with points on "
                                 f"the {shape} map in the 'masks' input (have {', '.join(masks) or 'no masks input'})")
            return masks[name], f"mask '{name}'"
        if self.background_region is not None and not self.background_region.all():
            return ~self.background_region, "the points outside the background region"
        return np.ones(shape, bool), "all points"

    def _background(self, context: StepContext) -> tuple[np.ndarray, np.ndarray]:
        p, n_scans = self.params, self.curves.intensity.shape[0]
        self.background_region: np.ndarray | None = None
        given = [n for n, v in (("mask", p.mask), ("box", p.box), ("curve", p.curve),
                                ("other", context.inputs.get("other"))) if v is not None]
        if len(given) != 1:
            raise SwaxsError(f"step '{self.step_id}': give exactly one background (parameter 'mask', 'box', 'curve' "
                             f"or input 'other'); given: {', '.join(given) or 'none'}")
        if p.curve is not None:
            b, e = read_curve_file(p.curve, self.curves.q)
            return np.tile(b, (n_scans, 1)), np.tile(e, (n_scans, 1))
        if "other" in context.inputs:
            return self._other(read_curves(context.inputs["other"]))
        region = self.background_region = self._region(context)
        return points_mean(self.curves.intensity, self.curves.errors, region)

    def _region(self, context: StepContext) -> np.ndarray:
        p, shape = self.params, self.curves.map_shape
        if p.box is not None:
            region = np.zeros(shape, bool)
            region[p.box[0]:p.box[1], p.box[2]:p.box[3]] = True
            what = f"parameter 'box' {list(p.box)}"
        else:
            if "masks" not in context.inputs:
                raise SwaxsError(f"step '{self.step_id}', parameter 'mask': needs the input 'masks' (a mask step)")
            masks = read_masks(context.inputs["masks"])
            if p.mask not in masks:
                raise SwaxsError(f"step '{self.step_id}', parameter 'mask': no mask '{p.mask}' "
                                 f"(have {', '.join(masks)})")
            region, what = masks[p.mask], f"mask '{p.mask}'"
        if region.shape != shape:
            raise InputDataError(f"step '{self.step_id}': {what} is {region.shape}, the map is {shape}")
        if not region.any():
            raise SwaxsError(f"step '{self.step_id}': {what} selects no point of the {shape} map")
        return region

    def _other(self, other: Curves) -> tuple[np.ndarray, np.ndarray]:
        if other.q.shape != self.curves.q.shape or not np.allclose(other.q, self.curves.q, rtol=1e-6):
            raise InputDataError(f"step '{self.step_id}', input 'other': {other.source.path} has another q grid")
        check_same_normalisation(self.curves, other, f"step '{self.step_id}', inputs 'curves' and 'other'")
        n_scans = self.curves.intensity.shape[0]
        flat_i = other.intensity.reshape(other.intensity.shape[0], 1, -1, other.q.size)
        flat_e = other.errors.reshape(flat_i.shape)
        b, e = points_mean(flat_i, flat_e, np.ones(flat_i.shape[1:3], bool))
        if len(b) not in (1, n_scans):
            raise InputDataError(f"step '{self.step_id}', input 'other': {other.source.path} holds {len(b)} scans, "
                                 f"the curves {n_scans}; give one or as many")
        return np.broadcast_to(b, (n_scans, b.shape[-1])), np.broadcast_to(e, (n_scans, e.shape[-1]))

    def finalize(self, results: list, writer: StepWriter) -> None:
        """The subtracted curves (maps/curves), the background curves [scan, q], and the mean subtracted curve
        of the view region per scan (the default plot)."""
        intensity, errors = subtract(self.curves, self.background, self.background_error)
        write_curves(writer.entry, self.curves.with_values(intensity, errors), "intensity - background")
        scan_axis, q_axis = self.curves.axes[0], self.curves.axes[3]
        writer.nxdata("background", np.ascontiguousarray(self.background), [scan_axis, q_axis],
                      long_name="background I_b/T_b", units=self.curves.units,
                      errors=np.ascontiguousarray(self.background_error), interpretation="spectrum")
        region, what = self.view_region
        write_mean_curves(writer.entry, intensity, errors, region, (scan_axis, q_axis), units=self.curves.units,
                          what=what, silx_style=self.curves.silx_style)
