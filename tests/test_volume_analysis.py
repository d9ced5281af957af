"""volume/histograms: the 2 × 2 × 2 mean filter, mask quantities and statistics on hand-made volumes, the
step on hand-made samples (histograms side by side, statistics, validation, silx's plot), bad rules, and the
simulated sample's electrode mask and micropore histogram width against the truth."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest_operando import run_step, step_ref
from conftest_volumes import ex_situ, reconstructed  # noqa: F401  (fixtures)

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.data.volumes import Volume, write_volumes
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.rules import STATISTICS, RuleContext, evaluate_rule
from swaxs_plugins.steps.volume import VolumeHistograms
from swaxs_plugins.steps.volume.statistics import (
    Statistics,
    block_inside,
    local_fraction,
    mean_filter_2,
    shared_edges,
)

Q = np.array([0.1, 0.15, 0.2])
REGIONS = {"micropores": (0.12, 0.3), "low": (0.05, 0.12)}


def test_the_mean_filter_averages_each_2x2x2_block() -> None:
    volume = np.arange(27, dtype=float).reshape(3, 3, 3)
    filtered = mean_filter_2(volume)
    assert filtered.shape == volume.shape
    assert filtered[0, 0, 0] == pytest.approx(volume[:2, :2, :2].mean())
    assert filtered[1, 1, 0] == pytest.approx(volume[1:3, 1:3, 0:2].mean())
    assert filtered[2, 2, 2] == volume[2, 2, 2]                               # the far edge repeated
    assert filtered[1, 2, 2] == pytest.approx((volume[1, 2, 2] + volume[2, 2, 2]) / 2)
    ramp = np.broadcast_to(np.arange(6.0)[:, None, None], (6, 4, 4))
    np.testing.assert_allclose(mean_filter_2(ramp)[:5, 0, 0], np.arange(5) + 0.5)  # centred half a voxel up
    checkerboard = 100 + 10 * (-1.0) ** np.indices((4, 4, 4)).sum(axis=0)
    np.testing.assert_allclose(mean_filter_2(checkerboard)[:3, :3, :3], 100.0)


def test_block_inside_keeps_voxels_whose_whole_block_is_in_the_mask() -> None:
    mask = np.zeros((8, 8, 8), bool)
    mask[2:6, 1:7, 3:5] = True
    expected = np.zeros_like(mask)
    expected[2:5, 1:6, 3:4] = True
    np.testing.assert_array_equal(block_inside(mask), expected)
    assert not block_inside(np.ones((3, 3, 3), bool))[2].any()  # the far edge's block leaves the volume


def test_statistics_of_known_values() -> None:
    stats = Statistics.of(np.array([1.0, 2.0, 3.0, 4.0]), [0.0, 0.5, 1.0])
    assert (stats.voxels, stats.mean, stats.width) == (4, 2.5, pytest.approx(np.sqrt(1.25)))
    assert stats.relative_width == pytest.approx(np.sqrt(1.25) / 2.5)
    np.testing.assert_allclose(stats.quantiles, [1.0, 2.5, 4.0])
    np.testing.assert_allclose(shared_edges([np.array([1.0, 3.0]), np.array([0.0, 2.0])], 4), [0, 0.75, 1.5, 2.25, 3])


def test_local_fraction_and_otsu_on_a_cube_with_a_half_filled_skin() -> None:
    """A cube of level 10 with one face layer at 5 (half-filled voxels): local fraction 0.5 there, 1 inside;
    Otsu's threshold between the background (0) and the cube."""
    volume = np.zeros((10, 10, 10))
    volume[2:8, 2:8, 2:8] = 10.0
    volume[8, 2:8, 2:8] = 5.0
    fraction = local_fraction(volume)
    assert fraction[8, 4, 4] == pytest.approx(0.5) and fraction[5, 5, 5] == 1.0 and fraction[0, 0, 0] == 0.0
    threshold = STATISTICS["otsu"](volume)
    assert 0 < threshold < 10
    quarter = evaluate_rule("v > 0.25 * otsu(v)", RuleContext({"v": lambda: volume}, {}))
    np.testing.assert_array_equal(quarter, volume > threshold / 4)
    with pytest.raises(SwaxsError, match=r"otsu\(\)'s last argument must be a mask .* write e.g. 0.25 \* otsu"):
        evaluate_rule("v > otsu(v, 0.25)", RuleContext({"v": lambda: volume}, {}))


def sample_volume(name: str, contrast: float, shape: tuple[int, int, int] = (10, 10, 10)) -> Volume:
    """A cube 6³ of mean 100 in checkerboard 100 ± contrast (every q bin alike), 0 around it."""
    values = np.zeros(shape)
    cube = (slice(2, 8),) * 3
    values[cube] = 100 + contrast * (-1.0) ** np.indices((6, 6, 6)).sum(axis=0)
    return Volume(name, np.repeat(values[..., None], Q.size, axis=-1), Q, 10.0, f"hand-made {name}",
                  regions=REGIONS)


def volumes_file(path: Path, volumes: list[Volume]) -> Path:
    with h5py.File(path, "w") as handle:
        write_volumes(handle.create_group("recon"), volumes, "counts/mm")
    return path


def analyse(tmp_path: Path, volumes: list[Volume], params: dict) -> Path:
    source = volumes_file(tmp_path / "volumes.nxs", volumes)
    return run_step(VolumeHistograms, params, {"volumes": step_ref(source, "recon", "reconstruct")},
                    tmp_path / "histograms.nxs", "hist")


def test_histograms_of_two_samples_side_by_side(tmp_path: Path) -> None:
    """Unfiltered: the checkerboards' widths are their contrasts (10 < 20) about the mean 100, over the
    6³ = 216 voxels of the cube; filtered, every 2³ block averages to 100 (width 0) over the 5³ = 125
    voxels whose block lies in the mask."""
    volumes = [sample_volume("low_sodiation", 10.0), sample_volume("high_sodiation", 20.0)]
    params = {"masks": {"cube": "intensity(0.12, 0.3) > 50"}, "bins": 8}
    path = analyse(tmp_path, volumes, {**params, "mean_filter": False})
    with h5py.File(path, "r") as handle:
        stats = handle["hist/statistics/micropores"]
        np.testing.assert_allclose(stats["width"][()], [10.0, 20.0])
        np.testing.assert_allclose(stats["mean"][()], [100.0, 100.0])
        np.testing.assert_array_equal(stats["voxels"][()], [216, 216])
        np.testing.assert_allclose(stats["quantiles"][()][:, [0, -1]], [[90, 110], [80, 120]])
        histogram = handle["hist/histograms/micropores"]
        edges = histogram["bin_edges"][()]
        np.testing.assert_allclose(edges[[0, -1]], [80, 120])
        assert histogram["low_sodiation"][()].sum() == 216 and histogram["high_sodiation"][()].sum() == 216
        assert [n.decode() for n in handle["hist/sample_names"][()]] == ["low_sodiation", "high_sodiation"]
        assert handle["hist/masks/high_sodiation/cube/mask"][()].sum() == 216
        assert handle["hist/masks/high_sodiation/cube"].attrs["rule"] == "intensity(0.12, 0.3) > 50"
    filtered = analyse(tmp_path, volumes, params)
    with h5py.File(filtered, "r") as handle:
        stats = handle["hist/statistics/micropores"]
        np.testing.assert_allclose(stats["width"][()], [0.0, 0.0], atol=1e-9)
        np.testing.assert_array_equal(stats["voxels"][()], [125, 125])
        assert bool(handle["hist/mean_filter"][()])
    assert (tmp_path / "hist_histograms.png").stat().st_size > 10_000


def test_the_output_validates_and_silx_overlays_the_samples(tmp_path: Path) -> None:
    from silx.io.nxdata import get_default

    path = analyse(tmp_path, [sample_volume("a", 10.0), sample_volume("b", 20.0)],
                   {"masks": {"cube": "intensity(0.12, 0.3) > 50"}})
    assert all(r.ok and r.definition == "NXswaxs_histograms" for r in validate_file(path))
    with h5py.File(path, "r") as handle:
        plot = get_default(handle)
        assert plot.group.name == "/hist/histogram" and plot.signal_is_1d and plot.interpretation == "spectrum"
        assert plot.signal_name == "a" and plot.auxiliary_signals_names == ["b"]
        assert plot.axes_dataset_names == ["intensity"]


def test_the_memory_estimate_follows_the_volumes_shape() -> None:
    """Two samples of 10 q x 100 x 108 x 108 voxels: at least the volumes as read with errors (0.19 GB)."""
    step = VolumeHistograms(VolumeHistograms.Parameters())
    estimate = step.estimate({"volumes": {"volumes/intensity/I": (10, 100, 108, 108), "samples": (2,)}})
    least = 2 * 10 * 100 * 108 * 108 * 4 * 2
    assert least < estimate.memory_bytes < 3 * least and estimate.outputs["histograms"] == (2, 2, 64)
    assert step.estimate({"volumes": {}}).memory_bytes == 0


def test_bad_rules_and_regions_are_named(tmp_path: Path) -> None:
    volumes = [sample_volume("a", 10.0)]
    with pytest.raises(SwaxsError, match=r"step 'hist', sample 'a', parameter 'masks.none': rule 'intensity\(0.12, "
                                         r"0.3\) > 500' selects no voxel of .*volumes.nxs::/recon/volumes/a "
                                         r"\(step 'recon'\)"):
        analyse(tmp_path, volumes, {"masks": {"none": "intensity(0.12, 0.3) > 500"}})
    with pytest.raises(SwaxsError, match=r"parameter 'masks.far': intensity\(1.0, 2.0\): q-range \[1.0, 2.0\] holds "
                                         r"none of the volume's q bins"):
        analyse(tmp_path, volumes, {"masks": {"far": "intensity(1.0, 2.0) > 5"}})
    with pytest.raises(SwaxsError, match=r"sample 'a', parameter 'regions.far': q-range \[1.0, 2.0\] holds none"):
        analyse(tmp_path, volumes, {"masks": {"cube": "intensity(0.12, 0.3) > 50"}, "regions": {"far": [1.0, 2.0]}})
    with pytest.raises(SwaxsError, match=r"'thin' holds no whole 2x2x2 block"):
        analyse(tmp_path, volumes, {"masks": {"thin": "intensity(0.12, 0.3) > 50 and local_fraction("
                                                     "intensity(0.12, 0.3), 1) < 1"}})
    with pytest.raises(ValueError, match="mask: 'other' is not one of the masks"):
        VolumeHistograms.Parameters(masks={"cube": "T > 1"}, mask="other")


def test_the_ex_situ_samples_widths_match_the_truth_and_come_in_order(ex_situ, tmp_path: Path) -> None:
    """The two isotropic ex-situ samples (seed 0), default reconstruction and analysis, one input: electrode
    masks IoU >= 0.95 against the true electrode on the reconstruction's grid (measured low 0.988, high
    0.989; seeds 1-4: >= 0.959), micropore widths within 10 % of the truth the simulator computes the same
    way (measured +5.5 % and -5.7 %; seeds 1-4 within 7.3 %), the high sodiation's wider."""
    from swaxs_plugins.simulate.samples import EX_SITU_SAMPLES

    step_file, truths = ex_situ
    path = run_step(VolumeHistograms, {}, {"volumes": step_ref(step_file, "recon", "reconstruct")},
                    tmp_path / "histograms.nxs", "hist")
    with h5py.File(path, "r") as handle:
        assert [n.decode() for n in handle["hist/sample_names"][()]] == list(EX_SITU_SAMPLES)
        widths = handle["hist/statistics/micropores/width"][()]
        masks = [handle[f"hist/masks/{name}/electrode/mask"][()].astype(bool) for name in EX_SITU_SAMPLES]
    for name, truth_file, width, mask in zip(EX_SITU_SAMPLES, truths, widths, masks):
        with h5py.File(truth_file, "r") as truth:
            electrode = truth["reconstruction_grid/electrode_mask"][()].astype(bool)
            true_width = truth["regions/micropores/std"][()]
        assert (mask & electrode).sum() / (mask | electrode).sum() >= 0.95, name
        assert abs(width / true_width - 1) < 0.10, (name, width, true_width)
    assert widths[1] > widths[0]
    assert all(r.ok for r in validate_file(path))


def test_the_simulated_electrode_mask_and_micropore_width_match_the_truth(reconstructed, tmp_path: Path) -> None:
    """Default rules on the default reconstruction of the anisotropic electrode (seed 0): electrode mask IoU
    against the true hard carbon (fraction >= 0.5) at least 0.95 (measured 0.989; seeds 1, 2, 3, 5:
    0.984-0.988). Micropore width within 10 % of the truth processed alike (the true spherical mean,
    2 x 2 x 2 mean-filtered, in the blocks inside the true mask): measured 4091 against 4226 (-3.2 %).
    Other seeds give -5 % to +17 %: the reconstruction itself recovers the width to 1.6 % (of the true
    mean projected isotropically), the rest is this anisotropic sample's orientation-dependent bias of
    the segment mean (docs/steps/volume.md)."""
    path = run_step(VolumeHistograms, {}, {"volumes": reconstructed.ref}, tmp_path / "histograms.nxs", "hist")
    truth_mask = reconstructed.hard_carbon
    with h5py.File(path, "r") as handle:
        electrode = handle["hist/masks/projections/electrode/mask"][()].astype(bool)
        width = handle["hist/statistics/micropores/width"][()][0]
    assert (electrode & truth_mask).sum() / (electrode | truth_mask).sum() >= 0.95
    truth = mean_filter_2(reconstructed.truth_region((0.12, 0.3)))[block_inside(truth_mask)]
    assert abs(width / truth.std() - 1) < 0.10
    assert all(r.ok for r in validate_file(path))
