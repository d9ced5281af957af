"""What the ``fit`` step writes into its entry: maps, averaged fits, series (layout in docs/steps/fit.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from swaxs_plugins.io.nexus import Axis, set_nx_class, write_nxdata
from swaxs_plugins.steps.fit.models import parameter_units, presence
from swaxs_plugins.steps.fit.parameters import Q_UNITS
from swaxs_plugins.steps.fit.solver import STATUS_MEANINGS

if TYPE_CHECKING:
    from swaxs_plugins.steps.fit.step import LmfitFit


def region_presence(step: LmfitFit, maps: Mapping[str, np.ndarray]) -> np.ndarray:
    """[scan, y, x, n_peaks]: 1 where a peak's area is significant, 0 where not, NaN outside the region.

    The model describes the region's material (hard carbon: 002, Na phases, binder on the liquid's
    hump); outside it (collector, electrolyte, capillary glass) the pixels are not fitted, so the
    question is not asked there, and the map says so (NaN) rather than answering no.
    """
    found = presence(step.model, maps["params"], maps["stderr"], step.params.presence_sigma).astype(float)
    return np.where(step.region[..., np.newaxis], found, np.nan)


def d002_values(centre: np.ndarray, centre_error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d = 2π/q and its error 2π σ_q / q² (Å)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2.0 * np.pi / centre, 2.0 * np.pi * centre_error / centre**2


def write_fit_entry(entry: h5py.Group, step: LmfitFit, maps: Mapping[str, np.ndarray]) -> None:
    """Everything the step writes into its entry (layout in docs/steps/fit.md)."""
    model, names = step.model, step.model.names
    entry["model"] = step.params.model
    entry["parameter_names"] = np.array(names, dtype=h5py.string_dtype())
    units = parameter_units(model, step.units)
    _write_maps(entry, step, maps, units)
    _write_averaged(entry, step, units)
    _write_series(entry, step, maps)
    _write_quality(entry, step)
    write_nxdata(entry, "region", step.region.astype(np.int8), step.map_axes, signal_name="mask",
                 long_name="pixels averaged and fitted (1) per scan", units="", interpretation="image")
    entry.attrs["default"] = "series"


def _write_maps(entry: h5py.Group, step: LmfitFit, maps: Mapping[str, np.ndarray], units: Mapping[str, str]) -> None:
    group = set_nx_class(entry.create_group("maps"), "NXcollection")
    axes = step.map_axes
    for i, name in enumerate(step.model.names):
        write_nxdata(group, name, maps["params"][..., i], axes, signal_name=name, long_name=name.replace("_", " "),
                     units=units[name], errors=maps["stderr"][..., i], interpretation="image")
    write_nxdata(group, "reduced_chi2", maps["redchi"], axes, signal_name="reduced_chi2", long_name="reduced chi2",
                 units="", interpretation="image")
    status = write_nxdata(group, "status", maps["status"], axes, signal_name="status", long_name="fit status",
                          units="", interpretation="image")
    status["status"].attrs["flag_values"] = np.array([int(s) for s in STATUS_MEANINGS], dtype=np.int8)
    status["status"].attrs["flag_meanings"] = " | ".join(f"{int(s)}: {m}" for s, m in STATUS_MEANINGS.items())
    present = region_presence(step, maps)
    for i, peak in enumerate(getattr(step.model, "peaks", ())):
        write_nxdata(group, f"{peak}_present", present[..., i], axes, signal_name=f"{peak}_present",
                     long_name=f"{peak} area > {step.params.presence_sigma:g} standard errors (NaN: not fitted)",
                     units="", interpretation="image")
    write_nxdata(group, "poor_seed", maps["poor_seed"], axes, signal_name="poor_seed",
                 long_name="1: started from a poor averaged fit (see quality) (NaN: not fitted)", units="",
                 interpretation="image")
    if "c002_centre" in step.model.names:
        column = step.model.names.index("c002_centre")
        d, d_error = d002_values(maps["params"][..., column], maps["stderr"][..., column])
        write_nxdata(group, "d002", d, axes, signal_name="d002", long_name="d002 = 2 pi / q002", units="angstrom",
                     errors=d_error, interpretation="image")
        write_nxdata(group, "d002_shift", d - d[:1], axes, signal_name="d002_shift",
                     long_name="d002 - d002 of the first scan", units="angstrom", interpretation="image")
    group.attrs["default"] = "d002" if "c002_centre" in step.model.names else step.model.names[1]


def _write_averaged(entry: h5py.Group, step: LmfitFit, units: Mapping[str, str]) -> None:
    """The averaged curves with fit and components [scan, q], and their parameters per scan."""
    group = set_nx_class(entry.create_group("averaged"), "NXcollection")
    params = step.averaged.params
    fitted = step.model(np.nan_to_num(params))[0]
    fitted[~np.all(np.isfinite(params), axis=1)] = np.nan
    parts = {f"component_{k}": v for k, v in step.model.components(params).items()}
    axes = [Axis("scan", np.arange(params.shape[0]), "", "scan number"), Axis("q", step.q, Q_UNITS, "q")]
    write_nxdata(group, "fit", step.averaged_values, axes, long_name="region-averaged intensity", units=step.units,
                 errors=step.averaged_errors, interpretation="spectrum", auxiliary={"best_fit": fitted, **parts})
    table = set_nx_class(group.create_group("parameters"), "NXcollection")
    for i, name in enumerate(step.model.names):
        table[name] = params[:, i]
        table[f"{name}_errors"] = step.averaged.stderr[:, i]
        for dataset in (name, f"{name}_errors"):
            table[dataset].attrs["units"] = units[name]
    table["reduced_chi2"] = step.averaged.redchi
    table["status"] = step.averaged.status
    table["status"].attrs["flag_meanings"] = " | ".join(f"{int(s)}: {m}" for s, m in STATUS_MEANINGS.items())
    group.attrs["default"] = "fit"


def _write_series(entry: h5py.Group, step: LmfitFit, maps: Mapping[str, np.ndarray]) -> None:
    """d002 per scan (WAXS) or α per scan (SAXS) from the averaged fit, with the region means of the maps
    (``series``, the default plot), and their shifts from the first scan in a plot of their own
    (``series_shift``: a 0.05 Å trend is invisible on the axis of d002 itself)."""
    series = series_values(step, maps)
    primary, error = series.pop("primary"), series.pop("primary_errors")
    name, units, label = series.pop("name")
    scan = [Axis("scan", np.arange(len(primary)), "", "scan number")]
    shifts = write_nxdata(entry, "series_shift", series[f"{name}_shift"], scan, signal_name=f"{name}_shift",
                          long_name=f"{name} - {name} of the first scan", units=units,
                          auxiliary={f"{name}_region_mean_shift": series[f"{name}_region_mean_shift"]})
    values = write_nxdata(entry, "series", primary, scan, signal_name=name, long_name=label, units=units,
                          errors=error, auxiliary={f"{name}_region_mean": series[f"{name}_region_mean"]})
    for shift in (f"{name}_shift", f"{name}_region_mean_shift"):
        values[shift] = shifts[shift]  # the same dataset (a hard link), read beside the values, plotted apart


def series_values(step: LmfitFit, maps: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The primary per-scan quantity of the averaged fit, its shift, and the region mean of its map."""
    names = step.model.names
    column = names.index("c002_centre") if "c002_centre" in names else names.index("alpha")
    averaged, averaged_error = step.averaged.params[:, column], step.averaged.stderr[:, column]
    pixels = maps["params"][..., column]
    if names[column] == "c002_centre":
        averaged, averaged_error = d002_values(averaged, averaged_error)
        pixels = d002_values(pixels, pixels)[0]
        label = ("d002", "angstrom", "d002 = 2 pi / q002 of the region-averaged curve")
    else:
        label = ("alpha", "", "power-law exponent alpha of the region-averaged curve")
    region_mean = np.array([finite_mean(pixels[s][step.region[s]]) for s in range(len(pixels))])
    return {"primary": averaged, "primary_errors": averaged_error, "name": label,
            f"{label[0]}_shift": averaged - averaged[0], f"{label[0]}_region_mean": region_mean,
            f"{label[0]}_region_mean_shift": region_mean - region_mean[0]}




def finite_mean(values: np.ndarray) -> float:
    """Mean of the finite values (NaN when there is none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else np.nan


def _write_quality(entry: h5py.Group, step: LmfitFit) -> None:
    """Per scan: the averaged fit's problems, region pixels fitted, shares of failed and at-bound pixel fits."""
    group = set_nx_class(entry.create_group("quality"), "NXcollection")
    group["averaged_problems"] = np.array(step.averaged_problems, dtype=h5py.string_dtype())
    group["averaged_problems"].attrs["long_name"] = "what makes each scan's averaged fit poor ('' when nothing)"
    group["averaged_poor"] = np.array([bool(problem) for problem in step.averaged_problems], dtype=np.int8)
    group["max_reduced_chi2"] = step.params.max_reduced_chi2
    meanings = {"evaluated_pixels": "region pixels fitted",
                "failed_pixels": "pixel fits that stopped at the iteration limit, failed or had no data (status 2-4)",
                "failed_pixel_share": "failed_pixels / evaluated_pixels",
                "at_bound_pixel_share": "share of pixel fits with a varied parameter at a bound (status 1)"}
    for name, values in step.pixel_quality().items():
        group[name] = values
        group[name].attrs.update({"long_name": meanings[name], "units": ""})
