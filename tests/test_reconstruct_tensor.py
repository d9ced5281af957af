"""reconstruct/tensor on the simulator's anisotropic electrode (28³ voxels, ℓmax 4, 72 + 36 tilted
projections, 8 segments, Poisson noise, no misalignment): coefficients, mean intensity and main
orientation against the truth; the file (validation, default plot); bad input named."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import ndimage
from conftest_operando import run_step

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.simulate.tomography_truth import reconstruction_grid
from swaxs_plugins.steps.reconstruct import TensorReconstruction
from swaxs_plugins.tomo.tensor_derived import main_orientation

FRAMES = "/entry/data/data"
BAND = (0.12, 0.3)


@pytest.fixture(scope="module")
def electrode(tmp_path_factory: pytest.TempPathFactory):
    from swaxs_plugins.simulate import simulate_tomography

    root = tmp_path_factory.mktemp("tensor")
    files = simulate_tomography(root, seed=2, misalign=False)
    source = RawSource(files=[files.projections], frames=FRAMES)
    output = run_step(TensorReconstruction, {"iterations": 20}, {"projections": source}, root / "tensor.nxs", "tensor")
    return files, output


def true_band_coefficients(truth: Path, raster: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band's coefficients [z, y, x, C] per mm, fibre axes [z, y, x, 3] and electrode mask on the grid."""
    with h5py.File(truth, "r") as handle:
        q = handle["q"][()]
        inside = (q >= BAND[0]) & (q <= BAND[1])
        mean = handle["mean_intensity"][()][..., inside].mean(axis=-1)
        coefficients = mean[..., None] * handle["orientation_coefficients"][()]
        axes, mask = handle["orientation"][()], handle["electrode_mask"][()]
    return (reconstruction_grid(coefficients, raster), reconstruction_grid(axes, raster),
            reconstruction_grid(mask, raster))


def relative_errors(found: np.ndarray, truth: np.ndarray, axes: np.ndarray, mask: np.ndarray
                    ) -> tuple[float, float, np.ndarray]:
    """Relative rms error of all coefficients and of the mean (coefficient 0), and the orientation errors
    (deg, sign-free) over the voxels of ``mask``."""
    error = np.linalg.norm(found[mask] - truth[mask]) / np.linalg.norm(truth[mask])
    mean_error = np.linalg.norm(found[mask][:, 0] - truth[mask][:, 0]) / np.linalg.norm(truth[mask][:, 0])
    cosines = np.abs(np.sum(main_orientation(found[mask]) * axes[mask], axis=-1))
    return float(error), float(mean_error), np.degrees(np.arccos(np.clip(cosines, 0, 1)))


def test_the_electrode_is_recovered_against_its_truth(electrode) -> None:
    """After 20 iterations, over the electrode: all coefficients within 12 % (rms, relative), the mean
    within 8 %, the main orientation within 2.5° in the median and 7° at the 90th percentile (the issue's
    bounds; seeds 0-4 measured 5.8-7.7 %, 4.9-6.9 %, 0.88-1.05°, 1.95-2.3°); one voxel inside the
    surface, where the projectors' difference at the surface matters less, the coefficients within 7 % and
    the mean within 6 % (3.9-5.1 %, 3.3-4.4 %)."""
    files, output = electrode
    with h5py.File(output, "r") as handle:
        band = handle["tensor/tensor/projections/micropores"]
        found = band["coefficients"][()]
        assert handle["tensor/ell_max"][()] == 4 and band["sh_degree"].shape == (15,)
        assert band["iterations"][()] == 20 and np.isfinite(band["reduced_chi2"][()])
    n_k, n_j = found.shape[:2]
    truth, axes, mask = true_band_coefficients(files.truth, (n_j, n_k))
    error, mean_error, angles = relative_errors(found, truth, axes, mask)
    inner_error, inner_mean_error, _ = relative_errors(found, truth, axes, ndimage.binary_erosion(mask))
    measured = (error, mean_error, np.median(angles), np.percentile(angles, 90), inner_error, inner_mean_error)
    assert error < 0.12 and mean_error < 0.08, measured
    assert np.median(angles) < 2.5 and np.percentile(angles, 90) < 7.0, measured
    assert inner_error < 0.07 and inner_mean_error < 0.06, measured


def test_the_file_validates_and_opens_on_the_central_slice_of_the_mean_intensity(electrode) -> None:
    _, output = electrode
    assert all(report.ok for report in validate_file(output))
    with h5py.File(output, "r") as handle:
        entry = handle["tensor"]
        assert entry.attrs["default"] == "central_slice"
        default = entry["mean_intensity"]
        middle = default["I"].shape[0] // 2
        np.testing.assert_array_equal(entry["central_slice/I"][()], default["I"][middle])
        np.testing.assert_array_equal(entry["central_slice/degree_of_anisotropy"][()],
                                      default["degree_of_anisotropy"][middle])
        assert default.attrs["signal"] == "I" and list(default.attrs["axes"]) == ["z", "y", "x"]
        assert default["z"].attrs["units"] == "um" and default["I"].attrs["units"] == "counts/mm"
        assert set(default.attrs["auxiliary_signals"]) == {"degree_of_anisotropy", "fit_quality"}
        quality = default["fit_quality"][()]
        assert 0.5 < np.nanmedian(quality[default["I"][()] > 0.5 * default["I"][()].max()]) < 5
    assert (output.parent / "tensor_projections.png").exists()


def test_segments_missing_or_a_band_outside_the_data_are_named(electrode, tmp_path: Path) -> None:
    files, _ = electrode
    source = RawSource(files=[files.projections], frames=FRAMES)
    with pytest.raises(InputDataError, match=r"band 'far' \[2.0, 3.0\] holds none of the q bins"):
        run_step(TensorReconstruction, {"bands": {"far": [2.0, 3.0]}}, {"projections": source},
                 tmp_path / "far.nxs", "tensor")
    with pytest.raises(ValueError, match="ell_max must be even"):
        TensorReconstruction.Parameters.model_validate({"ell_max": 3})
