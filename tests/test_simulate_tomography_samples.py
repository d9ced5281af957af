"""The simulator's named samples: the ex-situ electrodes at two degrees of sodiation, their files and the
volume-analysis truth (true histogram statistics computed as the volume step computes them)."""

from __future__ import annotations

import h5py
import hdf5plugin  # noqa: F401  (registers the Bitshuffle filter for reading)
import numpy as np
import pytest
from test_simulate_tomography import independent_projection, read

from swaxs_plugins.data.projections import read_projections
from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.simulate.samples import COMPONENT_COUNTS_PER_MM, EX_SITU_SAMPLES
from swaxs_plugins.simulate.tomography import simulate_tomography
from swaxs_plugins.simulate.tomography_truth import QUANTILE_LEVELS, reconstruction_grid
from swaxs_plugins.tomo.blocks import block_inside, mean_filter_2


@pytest.fixture(scope="module")
def exsitu(tmp_path_factory):
    """The two ex-situ samples written together, and the low one alone (same seed)."""
    root = tmp_path_factory.mktemp("exsitu")
    return {"both": simulate_tomography(root / "both", seed=5, samples=EX_SITU_SAMPLES),
            "low": simulate_tomography(root / "low", seed=5, samples=["low_sodiation"])}


def test_each_sample_is_one_file_named_by_its_stem(exsitu):
    files = exsitu["both"]
    assert [s.name for s in files.samples] == list(EX_SITU_SAMPLES)
    for sample in files.samples:
        assert sample.projections.name == f"{sample.name}.nxs" and sample.projections.parent.name == "tomo"
        assert sample.truth.name == f"tomography_truth_{sample.name}.h5"
        [read] = read_projections(RawSource(files=[sample.projections], frames="/entry/data/data"))
        assert read.name == sample.name
        with h5py.File(sample.truth, "r") as truth:
            assert truth.attrs["sample"] == sample.name and truth.attrs["intensity_units"] == "counts/mm"


def test_a_sample_does_not_depend_on_the_others_written(exsitu):
    together, alone = exsitu["both"].samples[0], exsitu["low"].samples[0]
    for name in ("entry/data/data", "entry/data/transmission"):
        np.testing.assert_array_equal(*(read(s.projections, name)[0] for s in (together, alone)))
    for name in ("shifts", "mean_intensity"):
        np.testing.assert_array_equal(*(read(s.truth, name)[0] for s in (together, alone)))


@pytest.mark.parametrize("index", [0, 50, 100])
def test_ex_situ_counts_are_poisson_about_the_projection_of_their_truth(exsitu, index):
    """Isotropic: every segment holds the same expected counts, the ℓ = 0 projection of m times T."""
    for sample in exsitu["both"].samples:
        expected, _, _, f = independent_projection(sample.truth, index)
        np.testing.assert_allclose(f, 1.0)
        data = read(sample.projections, "entry/data/data")[0][index]
        bright = expected > 1000
        z = (data[bright] - expected[bright]) / np.sqrt(expected[bright])
        assert bright.sum() > 5000 and abs(z.mean()) < 0.05 and z.std() == pytest.approx(1.0, abs=0.04)


def test_sodiation_sets_the_micropore_level_and_spread(exsitu):
    for sample, (level, spread) in zip(exsitu["both"].samples, [(1 - 0.35 * 0.25, 0.15), (0.65, 0.35)]):
        with h5py.File(sample.truth, "r") as truth:
            interior = truth["hard_carbon_fraction"][()] == 1.0
            relative = truth["component_amplitude"][()][interior][:, 1] / COMPONENT_COUNTS_PER_MM[1]
        # normalised to exactly (level, spread) over the voxels fully inside, then clipped at 0.2 × level
        assert interior.sum() > 500
        assert relative.mean() == pytest.approx(level, rel=0.01)
        assert relative.std() / level == pytest.approx(spread, rel=0.03)


def test_truth_statistics_are_the_analysis_of_the_true_volume(exsitu):
    for sample in exsitu["both"].samples:
        with h5py.File(sample.truth, "r") as truth:
            q, m = truth["q"][()], truth["mean_intensity"][()]
            electrode = truth["electrode_mask"][()]
            group = truth["regions/micropores"]
            assert list(group["q_range"][()]) == [0.12, 0.3] and truth["regions"].attrs["mask"] == "electrode_mask"
            region = m[..., (q >= 0.12) & (q <= 0.3)].mean(axis=-1)
            np.testing.assert_allclose(group["intensity"][()], region, rtol=1e-12)
            zyx = np.swapaxes(region, 0, 2)
            inside = block_inside(np.swapaxes(electrode, 0, 2))
            values = mean_filter_2(zyx)[inside]
            assert group["n_voxels"][()] == values.size > 500
            assert group["mean"][()] == pytest.approx(values.mean(), rel=1e-12)
            assert group["std"][()] == pytest.approx(values.std(), rel=1e-12)
            np.testing.assert_allclose(group["quantiles"][()], np.quantile(values, QUANTILE_LEVELS), rtol=1e-12)
            grid = truth["reconstruction_grid"]
            np.testing.assert_array_equal(grid["electrode_mask"][()], reconstruction_grid(electrode, (36, 36)))
            np.testing.assert_allclose(grid["micropores_intensity"][()], reconstruction_grid(region, (36, 36)),
                                       rtol=1e-6)


def test_truth_statistics_are_the_volume_steps(exsitu):
    """The truth's own implementation of the filter and block mask gives what the volume step computes."""
    from swaxs_plugins.steps.volume import statistics

    with h5py.File(exsitu["both"].samples[1].truth, "r") as truth:
        region = np.swapaxes(truth["regions/micropores/intensity"][()], 0, 2)
        inside = statistics.block_inside(np.swapaxes(truth["electrode_mask"][()], 0, 2))
        found = statistics.Statistics.of(statistics.mean_filter_2(region)[inside], QUANTILE_LEVELS)
        assert found.width == pytest.approx(truth["regions/micropores/std"][()], rel=1e-12)
        np.testing.assert_allclose(found.quantiles, truth["regions/micropores/quantiles"][()], rtol=1e-12)


def test_high_sodiation_micropore_histogram_is_wider_and_dimmer(exsitu):
    low, high = ([read(s.truth, f"regions/micropores/{key}")[0] for key in ("mean", "std")]
                 for s in exsitu["both"].samples)
    assert high[1] > 1.4 * low[1]                      # 1.55-1.73 over seeds 0-11
    assert high[0] / low[0] == pytest.approx(0.65 / (1 - 0.35 * 0.25), rel=0.08)  # 0.69-0.73


def test_reconstruction_grid_puts_a_voxel_where_the_slices_see_it():
    volume = np.zeros((4, 4, 4))
    volume[0, 1, 3] = 1.0                              # sample (x, y, z)
    grid = reconstruction_grid(volume, (8, 6))         # J = 8 across, K = 6 up
    assert grid.shape == (6, 8, 8) and grid[3 + 1, 1 + 2, 0 + 2] == 1.0 and grid.sum() == 1.0


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown sample 'medium_sodiation'.*samples"):
        simulate_tomography(tmp_path / "a", samples=["low_sodiation", "medium_sodiation"])
    with pytest.raises(ValueError, match="distinct"):
        simulate_tomography(tmp_path / "b", samples=["low_sodiation", "low_sodiation"])
    with pytest.raises(ValueError, match="anisotropy 5 makes the orientation distribution negative"):
        simulate_tomography(tmp_path / "d", anisotropy=5.0)
    with pytest.raises(ValueError, match="scale must be 'small'.*raw=True"):
        simulate_tomography(tmp_path / "c", raw=True, scale="paper")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=f"{blocker / 'sub'}.*outdir"):
        simulate_tomography(blocker / "sub", samples=["low_sodiation"])
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_the_command_names_a_bad_sample(tmp_path):
    from click.testing import CliRunner

    from swaxs_plugins.cli import main

    result = CliRunner().invoke(main, ["simulate", "tomography", str(tmp_path / "out"), "--samples",
                                       "low_sodiation,bogus"])
    assert result.exit_code == 1 and "unknown sample 'bogus'" in result.output
    help_text = CliRunner().invoke(main, ["simulate", "tomography", "--help"]).output
    assert all(option in help_text for option in ("--samples", "--raw", "--anisotropy"))
