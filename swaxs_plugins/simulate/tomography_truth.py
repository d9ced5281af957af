"""The ground truth of a simulated tomography sample: what the renderer put in, and what a volume
analysis should find (no pipeline reads it; keys in docs/simulation_tomography.md).

The volume-analysis truth is computed the way the analysis computes it from a reconstruction: per
named q-region the mean of the true spherical-mean intensity over the q bins in the region
(:meth:`swaxs_plugins.data.volumes.Volume.region_mean`, bins with q_min <= q <= q_max), then the
2 × 2 × 2 mean filter (:func:`swaxs_plugins.tomo.blocks.mean_filter_2`), then the statistics (:func:`histogram_statistics`) of
the voxels whose filter block lies inside the true electrode mask (:func:`swaxs_plugins.tomo.blocks.block_inside`), as the
``volume`` step takes them. The unfiltered region volumes are stored too, so an
analysis that filters differently can recompute its own truth from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from swaxs_plugins.data.volumes import Volume
from swaxs_plugins.tomo import harmonics
from swaxs_plugins.tomo.blocks import block_inside, mean_filter_2

from .samples import COMPONENT_NAMES, Phantom

REGIONS = {"porod": (0.01, 0.04), "micropores": (0.12, 0.3)}
"""Named q-regions [1/Å] of the analysis truth (those holding none of a form's q bins are left out)."""
QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
FILTER = "g(i) = mean of the 2x2x2 block i..i+1 along z, y, x (last plane repeated); voxels whose block is inside"
SH_NORMALISATION = "real, even l, orthonormal on the unit sphere; coefficient 0 = sqrt(4 pi) x mean"


def histogram_statistics(values: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, standard deviation (the histogram width, ddof 0), quantiles and count of voxel values."""
    values = np.asarray(values, dtype=np.float64)
    return {"mean": np.float64(values.mean()), "std": np.float64(values.std()),
            "quantiles": np.quantile(values, QUANTILE_LEVELS), "n_voxels": np.int64(values.size)}


def reconstruction_grid(volume: np.ndarray, raster: tuple[int, int]) -> np.ndarray:
    """A sample-frame volume [X, Y, Z, ...] on the grid of a scalar reconstruction [z, y, x, ...]:
    slices J × J (x across the beam, y along it at rotation 0) stacked along K (z up), centred."""
    n_j, n_k = raster
    zyx = np.swapaxes(volume, 0, 2)
    pads = [((size - n) // 2, size - n - (size - n) // 2) for size, n in zip((n_k, n_j, n_j), zyx.shape[:3])]
    return np.pad(zyx, pads + [(0, 0)] * (zyx.ndim - 3))


def analysis_truth(phantom: Phantom) -> dict[str, dict[str, np.ndarray] | np.ndarray]:
    """Per region (those with q bins): the unfiltered region volume [X, Y, Z] and the statistics of
    the filtered one inside the electrode mask."""
    volume = Volume("truth", np.swapaxes(phantom.mean_intensity, 0, 2), phantom.q, None, "truth")
    electrode = np.swapaxes(phantom.electrode_mask, 0, 2)
    truth: dict[str, dict[str, np.ndarray] | np.ndarray] = {}
    for name, q_range in REGIONS.items():
        if not np.any((phantom.q >= q_range[0]) & (phantom.q <= q_range[1])):
            continue
        region = volume.region_mean(q_range)
        statistics = histogram_statistics(mean_filter_2(region)[block_inside(electrode)])
        truth[name] = {"intensity": np.swapaxes(region, 0, 2), **statistics}
    return truth


def _write(group: h5py.Group, name: str, values: np.ndarray, units: str, description: str) -> None:
    dataset = group.create_dataset(name, data=values, compression="gzip" if np.ndim(values) >= 3 else None)
    dataset.attrs.update(units=units, description=description)


def write_truth(path: Path, phantom: Phantom, geometry_arrays: Mapping[str, tuple[np.ndarray, str, str]],
                attributes: Mapping[str, object], raster: tuple[int, int], intensity_units: str) -> None:
    """The truth file: the phantom, the acquisition (``geometry_arrays``: name -> (values, units,
    description)), the volume-analysis truth, and the same on the reconstruction grid."""
    ells, ms = harmonics.degrees_and_orders(phantom.ell_max)
    degrees = np.array(sorted(phantom.betas))
    datasets = {
        "mask": (phantom.mask, "", "voxels at least half filled with hard carbon or pin"),
        "electrode_mask": (phantom.electrode_mask, "", "voxels at least half filled with hard carbon"),
        "hard_carbon_fraction": (phantom.hard_carbon_fraction, "", "volume fraction of hard carbon"),
        "pin_fraction": (phantom.pin_fraction, "", "volume fraction of the aluminium pin"),
        "attenuation": (phantom.attenuation, "1/mm", "linear attenuation coefficient"),
        "mean_intensity": (phantom.mean_intensity, intensity_units, "spherical-mean intensity m per q bin"),
        "orientation": (phantom.orientation, "", "unit fibre axis u (x, y, z in the sample frame)"),
        "orientation_coefficients": (phantom.orientation_coefficients, "",
                                     "SH coefficients b of f(n); full coefficients a = m[..., q, None] * b"),
        "component_amplitude": (phantom.component_amplitude, intensity_units, "amplitude A_k of each curve component"),
        "component_curve": (phantom.component_curve, "", "shape of each curve component; m = A @ curve"),
        "sh_degree": (ells, "", "degree l of each coefficient"),
        "sh_order": (ms, "", "order m of each coefficient"),
        "q": (phantom.q, "1/angstrom", "q bin centre"),
        "fibre_degree": (degrees, "", "degrees l of the fibre distribution"),
        "fibre_beta": (np.array([phantom.betas[ell] for ell in degrees]), "",
                       "f(n) = 1 + sum beta_l P_l(n . u), truncated at ell_max"),
        **geometry_arrays,
    }
    analysis = analysis_truth(phantom)
    with h5py.File(path, "w") as truth:
        truth.attrs.update(voxel_size_mm=phantom.voxel_size_mm, ell_max=phantom.ell_max,
                           component_names=list(COMPONENT_NAMES), intensity_units=intensity_units,
                           sh_normalisation=SH_NORMALISATION,
                           **attributes)
        for name, (values, units, description) in datasets.items():
            _write(truth, name, values, units, description)
        _write_analysis(truth, analysis, intensity_units)
        _write_reconstruction_grid(truth.create_group("reconstruction_grid"), phantom, analysis, raster,
                                   intensity_units)


def _write_analysis(truth: h5py.File, analysis: Mapping[str, dict[str, np.ndarray]], units: str) -> None:
    """``regions/<name>/``: q_range, the region volume, and the filtered histogram statistics."""
    regions = truth.create_group("regions")
    regions.attrs.update(filter=FILTER, mask="electrode_mask", quantile_levels=QUANTILE_LEVELS,
                         region_mean="mean over the q bins with q_min <= q <= q_max (Volume.region_mean)")
    for name, values in analysis.items():
        group = regions.create_group(name)
        _write(group, "q_range", np.array(REGIONS[name]), "1/angstrom", "q_min, q_max of the region")
        _write(group, "intensity", values["intensity"], units, "region mean of mean_intensity [X, Y, Z], unfiltered")
        for key, description in (("mean", "mean of the filtered region volume, voxels whose block is inside the mask"),
                                 ("std", "standard deviation (histogram width) of the same voxels, ddof 0"),
                                 ("quantiles", "quantiles of the same voxels at quantile_levels"),
                                 ("n_voxels", "voxels whose 2x2x2 block is inside electrode_mask")):
            _write(group, key, values[key], "" if key == "n_voxels" else units, description)


def _write_reconstruction_grid(group: h5py.Group, phantom: Phantom, analysis: Mapping[str, dict[str, np.ndarray]],
                               raster: tuple[int, int], units: str) -> None:
    """The electrode mask and the region volumes on the reconstruction grid [z, y, x] (K × J × J); any other
    truth volume maps there with :func:`reconstruction_grid`."""
    group.attrs["description"] = ("truth on the grid of a scalar reconstruction from the untilted projections: "
                                  "[z, y, x] = K x J x J, the sample volume centred in it")
    _write(group, "electrode_mask", reconstruction_grid(phantom.electrode_mask, raster), "",
           "electrode_mask [z, y, x]")
    _write(group, "hard_carbon_fraction", reconstruction_grid(phantom.hard_carbon_fraction, raster).astype(np.float32),
           "", "hard_carbon_fraction [z, y, x]: a sub-voxel translation of the mask shifts this, then thresholds at 0.5")
    for name, values in analysis.items():
        _write(group, f"{name}_intensity", reconstruction_grid(values["intensity"], raster).astype(np.float32), units,
               f"region '{name}' intensity [z, y, x], unfiltered")
