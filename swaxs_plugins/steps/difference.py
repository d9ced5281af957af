"""The ``difference`` step, implementation ``regions`` (default): q-region maps, difference maps, time series.

For each named q-range the mean intensity per scan point, M[t, y, x] (from whichever curves input
covers the range). Against a reference scan (``reference_scan``, default 0 = pristine):
D = (M − R) / R inside the mask (NaN outside), R being the reference map pixel by pixel or the
mean over the masked pristine electrode. Time series: the mean of D over the mask per scan, error
bar = the standard deviation of D over the mask in the first difference map after the reference.
D is written in percent (files and figures alike); the difference stacks leave out the reference scan
(D = 0 there by definition), so that a viewer opens them on the first scan that changed.

Onsets: per onset signal, per pixel the first scan where its change exceeds ``threshold`` and
``n_sigma`` standard errors. A signal is the region's D, or, with ``baseline`` flanks, the change of
the peak excess above a straight line through the two flank means, divided by R: a broad neighbour
(e.g. the pseudo-metal hump under the sharp plating peak) then cancels to first order.

The cycler log (CSV ``time_s, voltage_V, current_mA`` or BioLogic ``.mpt``) is placed against the
scans' timestamps and plotted above the q-region time series on a shared time axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.step import InputSpec, Step, StepContext, StepParameters, parameter
from swaxs_plugins.data.curves import Curves, copy_scans, covers, read_curves, region_mean, scan_timestamps
from swaxs_plugins.data.masks import read_masks
from swaxs_plugins.io.nexus import Axis, StepWriter, label, set_nx_class, write_nxdata
from swaxs_plugins.rules import distance_to
from swaxs_plugins.steps import difference_plots as plots
from swaxs_plugins.steps.cycler import read_cycler_log

PERCENT = 100.0  # D is stored and shown in percent
REGIONS = {"particle_surface": (0.0045, 0.007), "micropores": (0.12, 0.4), "c002": (1.2, 1.9),
           "pseudo_metal": (2.1, 2.3), "plating": (2.05, 2.1)}


class Onset(StepParameters):
    """An onset signal: a region, optional baseline flanks, and the threshold a pixel must pass."""

    region: str = parameter(description="name of a q-region")
    baseline: tuple[tuple[float, float], tuple[float, float]] | None = parameter(
        None, description="two flank q-ranges [[lo, hi], [lo, hi]]: use the peak excess above the line through them",
        unit="1/angstrom")
    threshold: float = parameter(0.1, description="minimum change, a fraction of the reference (0.1: D = 10 %)", gt=0)
    n_sigma: float = parameter(5.0, description="minimum change in standard errors", ge=0)


class DifferenceParameters(StepParameters):
    """q-regions, mask, reference and outputs of the difference step."""

    regions: dict[str, tuple[float, float]] = parameter(dict(REGIONS), description="name -> [q_min, q_max]",
                                                        unit="1/angstrom")
    mask: str = parameter("electrode", description="name of the mask (of the 'masks' input) D is computed in")
    reference: Literal["pixel", "mean"] = parameter("pixel", description="reference per pixel, or the mean of the "
                                                                         "masked reference map")
    reference_scan: int = parameter(0, description="index of the reference (pristine) scan", ge=0)
    onsets: dict[str, Onset] = parameter({}, description="onset signals by name")
    near: str | None = parameter(None, description="mask the onset location is measured from (distance in points)")
    scatter: tuple[str, str] | None = parameter(None, description="two regions whose D is plotted per pixel")
    cycler_log: Path | None = parameter(None, description="cycler log: CSV time_s, voltage_V, current_mA or "
                                                          "BioLogic .mpt")
    log_time_origin: str | None = parameter(None, description="ISO 8601 time of the CSV log's time_s = 0 "
                                                              "(default: the first scan's timestamp)")


@dataclass
class RegionResult:
    """One q-region: its maps M, the differences D (with errors) and the time series."""

    name: str
    q_range: tuple[float, float]
    maps: np.ndarray
    map_errors: np.ndarray
    change: np.ndarray
    change_errors: np.ndarray
    mean_change: np.ndarray
    error_bar: float


def relative_change(maps: np.ndarray, errors: np.ndarray, mask: np.ndarray, reference_scan: int,
                    mode: str) -> tuple[np.ndarray, np.ndarray]:
    """D = (M − R)/R inside the mask (NaN outside), σ_D² = (σ_M/R)² + (M σ_R/R²)²."""
    if mode == "pixel":
        ref, ref_err = maps[reference_scan], errors[reference_scan]
    else:
        values = maps[reference_scan][mask]
        ref = np.full(mask.shape, np.nanmean(values))
        ref_err = np.full(mask.shape, np.nanstd(values) / np.sqrt(np.isfinite(values).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        change = (maps - ref) / ref
        sigma = np.hypot(errors / ref, maps * ref_err / ref**2)
    outside = ~mask[np.newaxis] | np.zeros(maps.shape, bool)
    return np.where(outside, np.nan, change), np.where(outside, np.nan, sigma)


def peak_excess(curves: Curves, q_range: tuple[float, float], flanks: tuple[tuple[float, float], ...],
                what: str) -> tuple[np.ndarray, np.ndarray]:
    """Region mean minus the straight line through the two flank means (at the region's centre)."""
    mean, error = region_mean(curves, q_range, what)
    (m1, e1), (m2, e2) = (region_mean(curves, f, what) for f in flanks)
    c1, c2, c = (np.mean(f) for f in (*flanks, q_range))
    w2 = (c - c1) / (c2 - c1)
    return mean - ((1 - w2) * m1 + w2 * m2), np.sqrt(error**2 + ((1 - w2) * e1) ** 2 + (w2 * e2) ** 2)


def excess_change(excess: np.ndarray, error: np.ndarray, reference: np.ndarray, mask: np.ndarray,
                  reference_scan: int) -> tuple[np.ndarray, np.ndarray]:
    """(E − E_ref)/R per pixel inside the mask: the change of a peak excess in units of the region mean R."""
    with np.errstate(invalid="ignore", divide="ignore"):
        change = (excess - excess[reference_scan]) / reference
        sigma = np.hypot(error, error[reference_scan]) / reference
    return np.where(mask, change, np.nan), np.where(mask, sigma, np.nan)


def onset_map(change: np.ndarray, sigma: np.ndarray, threshold: float, n_sigma: float) -> np.ndarray:
    """First scan index per pixel whose change passes both thresholds; -1 where none does."""
    with np.errstate(invalid="ignore"):
        on = (change > threshold) & (change > n_sigma * sigma)
    first = np.argmax(on, axis=0)
    return np.where(on.any(axis=0), first, -1)


class RegionDifference(Step):
    """q-region maps, difference maps against a pristine scan, time series, onsets and the cycler log."""

    Parameters = DifferenceParameters
    inputs = {
        "saxs": InputSpec("curves of one detector (transmission, background or integrate step)",
                          layouts=("curves",), required=False),
        "waxs": InputSpec("curves of another detector", layouts=("curves",),
                          required=False),
        "masks": InputSpec("a mask step holding the mask named by 'mask'", layouts=("masks",)),
    }
    definition = "NXswaxs_maps"
    params: DifferenceParameters

    def setup(self, context: StepContext) -> None:
        """Read curves and masks, check shapes and q-ranges; compute everything (maps are small)."""
        p = self.params
        self.step_id, self.workdir = context.step_id, context.workdir
        self.curves = [read_curves(context.inputs[n]) for n in ("saxs", "waxs") if n in context.inputs]
        if not self.curves:
            raise SwaxsError(f"step '{self.step_id}': give at least one curves input ('saxs' or 'waxs')")
        self.mask = self._mask(read_masks(context.inputs["masks"]), context.inputs["masks"].path)
        self._check_scans()
        self.regions = {name: self._region(name, tuple(q)) for name, q in p.regions.items()}
        self.onsets = {name: self._onset(name, onset) for name, onset in p.onsets.items()}
        self.near_mask = read_masks(context.inputs["masks"])[p.near] if p.near else None
        self.times = scan_timestamps(self.curves[0].source)
        self.log = read_cycler_log(p.cycler_log, p.log_time_origin, self.times) if p.cycler_log else None

    def _mask(self, masks: Mapping[str, np.ndarray], path: Path) -> np.ndarray:
        if self.params.mask not in masks:
            raise SwaxsError(f"step '{self.step_id}', parameter 'mask': no mask '{self.params.mask}' in {path} "
                             f"(it has {', '.join(masks)})")
        mask = masks[self.params.mask]
        if not mask.any():
            raise SwaxsError(f"step '{self.step_id}', parameter 'mask': mask '{self.params.mask}' in {path} is empty")
        return mask

    def _check_scans(self) -> None:
        for curves in self.curves:
            if curves.map_shape != self.mask.shape or curves.intensity.shape[0] != self.curves[0].intensity.shape[0]:
                raise InputDataError(f"step '{self.step_id}': {curves.source.path} holds scans of shape "
                                     f"{curves.intensity.shape[:3]}, the mask is {self.mask.shape} and the first "
                                     f"curves {self.curves[0].intensity.shape[:3]}")
        n_scans = self.curves[0].intensity.shape[0]
        if not self.params.reference_scan < n_scans - 1:
            raise SwaxsError(f"step '{self.step_id}', parameter 'reference_scan': {self.params.reference_scan} "
                             f"leaves no later scan among {n_scans}")

    def _source(self, name: str, q_range: tuple[float, float]) -> Curves:
        source = next((c for c in self.curves if covers(c, q_range)), None)
        if source is None:
            ranges = ", ".join(f"{c.q.min():.4g}..{c.q.max():.4g}" for c in self.curves)
            raise SwaxsError(f"step '{self.step_id}', parameter 'regions.{name}': q-range {list(q_range)} is outside "
                             f"the integrated range of every curves input ({ranges})")
        return source

    def _region(self, name: str, q_range: tuple[float, float]) -> RegionResult:
        p = self.params
        maps, errors = region_mean(self._source(name, q_range), q_range, f"step '{self.step_id}', region '{name}'")
        change, sigma = relative_change(maps, errors, self.mask, p.reference_scan, p.reference)
        first = change[p.reference_scan + 1][self.mask]
        return RegionResult(name, q_range, maps, errors, change, sigma, np.nanmean(change[:, self.mask], axis=1),
                            float(np.nanstd(first)))

    def _onset(self, name: str, onset: Onset) -> np.ndarray:
        if onset.region not in self.regions:
            raise SwaxsError(f"step '{self.step_id}', parameter 'onsets.{name}.region': no region '{onset.region}'")
        region = self.regions[onset.region]
        change, sigma = region.change, region.change_errors
        if onset.baseline is not None:
            excess, error = peak_excess(self._source(onset.region, region.q_range), region.q_range, onset.baseline,
                                        f"step '{self.step_id}', onset '{name}'")
            change, sigma = excess_change(excess, error, region.maps[self.params.reference_scan], self.mask,
                                          self.params.reference_scan)
        return onset_map(change, sigma, onset.threshold, onset.n_sigma)

    def finalize(self, results: list, writer: StepWriter) -> None:
        """Region and difference stacks, the time series (the default plot), onsets, the log, the figures."""
        entry = writer.entry
        axes = self.map_axes()
        regions = set_nx_class(entry.create_group("regions"), "NXcollection")
        differences = set_nx_class(entry.create_group("differences"), "NXcollection")
        units = self.curves[0].units
        others = np.arange(len(axes[0].values)) != self.params.reference_scan
        stack_axes = [Axis(axes[0].name, axes[0].values[others], axes[0].units, axes[0].long_name), *axes[1:]]
        for region in self.regions.values():
            group = write_nxdata(regions, region.name, region.maps, axes, long_name=f"mean I, {region.name}",
                                 units=units, errors=region.map_errors, interpretation="image")
            group.attrs["q_range"] = region.q_range
            group = write_nxdata(differences, region.name, PERCENT * region.change[others], stack_axes,
                                 signal_name="D", long_name=f"D = (I - I_ref)/I_ref, {region.name}", units="%",
                                 errors=PERCENT * region.change_errors[others], interpretation="image")
            group.attrs["reference_scan"] = self.params.reference_scan
        self._write_onsets(differences, axes[1:])
        self._write_series(writer, axes[0])
        copy_scans(self.curves[0].source, entry)
        if self.log is not None:
            write_nxdata(entry, "cycler_log", self.log.voltage, [Axis("time", self.log.time_s / 3600, "h",
                         "time since the first scan")], signal_name="voltage", long_name="cell voltage", units="V",
                         auxiliary={"current": self.log.current})
        plots.write_figures(self, self.workdir, self.step_id)

    def map_axes(self) -> list[Axis]:
        """The axes of its maps: time (or scan), y, x."""
        scan_axis, y, x = self.curves[0].axes[:3]
        hours = self.scan_hours()
        time = Axis("time", hours, "h", "time since the first scan") if hours is not None else scan_axis
        return [time, y, x]

    def scan_hours(self) -> np.ndarray | None:
        """Scan start times in hours since the first scan (None without timestamps)."""
        if self.times is None:
            return None
        return np.array([(t - self.times[0]).total_seconds() / 3600 for t in self.times])

    def _write_onsets(self, differences: h5py.Group, axes: list[Axis]) -> None:
        for name, first in self.onsets.items():
            group = write_nxdata(differences, f"onset_{name}", first, axes, signal_name="scan",
                                 long_name=f"first scan with {name} (-1: none)", units="", interpretation="image")
            seen = first[first >= 0]
            group.attrs["onset_scan"] = int(seen.min()) if seen.size else -1
            if self.near_mask is not None and seen.size:
                distance = distance_to(self.near_mask)
                at_onset = first == seen.min()
                group.attrs["onset_distance"] = float(distance[at_onset].mean())
                group.attrs["mask_distance"] = float(distance[self.mask].mean())

    def _write_series(self, writer: StepWriter, time: Axis) -> None:
        names = list(self.regions)
        series = np.array([self.regions[n].mean_change for n in names]).T
        bars = np.broadcast_to([self.regions[n].error_bar for n in names], series.shape)
        series, bars = PERCENT * series, PERCENT * bars
        group = writer.nxdata("time_series", series[:, 0], [time], signal_name=names[0],
                              long_name=f"mean D over '{self.params.mask}', {names[0]}", units="%",
                              errors=np.ascontiguousarray(bars[:, 0]),
                              auxiliary={n: series[:, i] for i, n in enumerate(names[1:], 1)}, default=True)
        for i, name in enumerate(names[1:], 1):
            group[f"{name}_errors"] = bars[:, i]
            group[name].attrs.update(long_name=label(f"mean D, {name}", "%"), units="%")
