"""The ``transmission`` step, implementation ``diode`` (default): T per scan point, curves divided by T.

T = (diode / I0) / (diode / I0)_reference, the reference being an empty-beam (air) scan, a box of
the map, or a given value. The integrated curves are divided by T (and by the thickness, when
given): I_corr = I / (T d), σ_corr² = (σ / (T d))² + (I σ_T / (T² d))². Points whose diode or I0 is
zero, negative or NaN get T = NaN, their curves NaN, and are counted (``invalid_points``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.step import InputSpec, Step, StepContext, StepOutputRef, StepParameters, parameter
from swaxs_plugins.data.curves import map_axes, per_point, read_curves, where, write_curves
from swaxs_plugins.io.nexus import StepWriter
from swaxs_plugins.io.raw import RawSource, per_frame_values, read_dataset

LOG = logging.getLogger(__name__)


class TransmissionParameters(StepParameters):
    """Where the T = 1 reference comes from (exactly one), and an optional sample thickness."""

    reference_box: tuple[int, int, int, int] | None = parameter(
        None, description="reference region of the map as [y0, y1, x0, x1] (scan-point indices, end exclusive), "
                          "in each scan; instead of the 'empty' input")
    reference_value: float | None = parameter(
        None, description="diode/I0 of the empty beam, given as a number; instead of the 'empty' input", gt=0)
    thickness: float | None = parameter(None, description="sample thickness; curves are divided by it when given",
                                        unit="mm", gt=0)


@dataclass(frozen=True)
class Ratio:
    """diode/I0 per point and its relative counting error."""

    value: np.ndarray
    relative_error: np.ndarray


def counting_ratio(diode: np.ndarray, monitor: np.ndarray) -> tuple[Ratio, np.ndarray]:
    """diode/I0 with Poisson relative error √(1/diode + 1/I0); points with a bad count are NaN (and flagged)."""
    diode, monitor = np.asarray(diode, np.float64), np.asarray(monitor, np.float64)
    bad = ~(np.isfinite(diode) & np.isfinite(monitor) & (diode > 0) & (monitor > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(bad, np.nan, diode / monitor)
        relative = np.where(bad, np.nan, np.sqrt(1.0 / diode + 1.0 / monitor))
    return Ratio(ratio, relative), bad


def transmission(sample: Ratio, reference: Ratio) -> tuple[np.ndarray, np.ndarray]:
    """T = sample / reference with its error (relative errors added in quadrature)."""
    t = sample.value / reference.value
    return t, np.abs(t) * np.hypot(sample.relative_error, reference.relative_error)


def correct(intensity: np.ndarray, errors: np.ndarray, t: np.ndarray, t_error: np.ndarray,
            thickness: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """I / (T d) with σ² = (σ/(T d))² + (I σ_T/(T² d))²; T [scan, y, x] broadcasts over q."""
    t, t_error = t[..., np.newaxis], t_error[..., np.newaxis]
    corrected = intensity / (t * thickness)
    sigma = np.hypot(errors / (t * thickness), intensity * t_error / (t**2 * thickness))
    return corrected, sigma


def mean_ratio(ratio: Ratio, what: str) -> Ratio:
    """The mean diode/I0 of reference points, with the standard error of that mean."""
    values = ratio.value[np.isfinite(ratio.value)]
    if values.size == 0:
        raise InputDataError(f"{what}: no valid reference point (diode and I0 must be positive and finite)")
    spread = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else 0.0
    counting = np.sqrt(np.nanmean(ratio.relative_error**2) / values.size)
    mean = values.mean()
    return Ratio(np.asarray(mean), np.asarray(np.hypot(spread / mean, counting)))


class DiodeTransmission(Step):
    """T from the diode behind the sample and the incident monitor; divides the curves by it."""

    Parameters = TransmissionParameters
    inputs = {
        "curves": InputSpec("integrated curves I[scan, y, x, q] with per-point 'monitor' and 'diode' (integrate "
                            "step)", source="step", layouts=("curves",)),
        "empty": InputSpec("empty-beam (air) scan(s) with 'monitor' and 'diode' datasets", source="raw",
                           required=False),
    }
    definition = "NXswaxs_maps"
    produces = ("curves", "transmission")
    params: TransmissionParameters

    def setup(self, context: StepContext) -> None:
        """Read the curves and the counters, compute T and the corrected curves (small data: all here)."""
        self.step_id = context.step_id
        self.curves = read_curves(context.inputs["curves"])
        sample, self.bad = self._sample_ratio(context.inputs["curves"])
        reference = self._reference(context.inputs.get("empty"), sample)
        self.t, self.t_error = transmission(sample, reference)
        if self.bad.any():
            LOG.warning("step '%s': %d scan points with zero, negative or NaN diode or I0 are masked (T = NaN) in %s",
                        self.step_id, int(self.bad.sum()), where(context.inputs["curves"], "diode|monitor"))

    def _sample_ratio(self, ref: StepOutputRef) -> tuple[Ratio, np.ndarray]:
        shape = self.curves.intensity.shape[:3]
        counters = [per_point(ref, f"{name}/data", _counter(ref, name), shape) for name in ("diode", "monitor")]
        ratio, bad = counting_ratio(*counters)
        if bad.all():
            raise InputDataError(f"{where(ref, 'diode/data')}: diode or I0 is zero, negative or NaN at every point")
        return ratio, bad

    def _reference(self, empty: RawSource | None, sample: Ratio) -> Ratio:
        p = self.params
        given = [name for name, value in (("empty", empty), ("reference_box", p.reference_box),
                                          ("reference_value", p.reference_value)) if value is not None]
        if len(given) != 1:
            raise SwaxsError(f"step '{self.step_id}': give exactly one reference (input 'empty', parameter "
                             f"'reference_box' or 'reference_value'); given: {', '.join(given) or 'none'}")
        if p.reference_value is not None:
            return Ratio(np.asarray(p.reference_value), np.asarray(0.0))
        if p.reference_box is not None:
            return self._box_reference(sample)
        assert empty is not None
        return mean_ratio(_raw_ratio(empty), f"step '{self.step_id}', input 'empty' ({empty.files})")

    def _box_reference(self, sample: Ratio) -> Ratio:
        y0, y1, x0, x1 = self.params.reference_box  # type: ignore[misc]
        box = (slice(None), slice(y0, y1), slice(x0, x1))
        if sample.value[box].size == 0:
            raise SwaxsError(f"step '{self.step_id}': parameter 'reference_box' {[y0, y1, x0, x1]} selects no point "
                             f"of the {sample.value.shape[1:]} map")
        means = [mean_ratio(Ratio(v, e), f"step '{self.step_id}', parameter 'reference_box', scan {k}")
                 for k, (v, e) in enumerate(zip(sample.value[box], sample.relative_error[box]))]
        return Ratio(np.array([m.value for m in means])[:, None, None],
                     np.array([m.relative_error for m in means])[:, None, None])

    def finalize(self, results: list, writer: StepWriter) -> None:
        """The T map [scan, y, x] (the entry's default plot), its validity mask and the corrected curves."""
        thickness = self.params.thickness or 1.0
        corrected, sigma = correct(self.curves.intensity, self.curves.errors, self.t, self.t_error, thickness)
        units = f"{self.curves.units} / mm" if self.params.thickness else self.curves.units
        corrected_curves = replace(self.curves, intensity=corrected, errors=sigma, units=units,
                                   transmission_corrected=True)
        write_curves(writer.entry, corrected_curves, "intensity / transmission")
        writer.nxdata("transmission", self.t, map_axes(self.curves), signal_name="T", long_name="transmission",
                      units="", errors=self.t_error, interpretation="image", default=True)
        writer.entry["transmission"]["invalid"] = self.bad
        writer.entry["transmission"].attrs["invalid_points"] = int(self.bad.sum())


def _counter(ref: StepOutputRef, name: str) -> np.ndarray:
    with h5py.File(ref.path, "r") as handle:
        node = handle.get(f"{ref.entry}/{name}/data")
        if node is None:
            raise InputDataError(f"{where(ref, name + '/data')}: missing; the raw scans need a '{name}' dataset "
                                 f"(field '{name}' of the raw input) for the transmission")
        return np.ravel(node[()]).astype(np.float64)


def _raw_ratio(source: RawSource) -> Ratio:
    """diode/I0 of every point of every file of a raw source (the empty beam)."""
    if source.diode is None or source.monitor is None:
        raise InputDataError(f"input 'empty' ({source.files}): field 'diode' must name a dataset and 'monitor' a "
                             "dataset or a number")
    diodes = [np.ravel(read_dataset(f, source.diode)).astype(np.float64) for f in source.files]
    diode = np.concatenate(diodes)
    monitor = np.concatenate([per_frame_values(f, source.monitor, d.size, "monitor")
                              for f, d in zip(source.files, diodes)])
    ratio, bad = counting_ratio(diode, monitor)
    if bad.any():
        raise InputDataError(f"input 'empty' ({', '.join(map(str, source.files))}): '{source.diode}' or "
                             f"'{source.monitor}' is zero, negative or NaN at {int(bad.sum())} of {bad.size} points")
    return ratio
