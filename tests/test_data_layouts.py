"""The public data layouts of tomography: projections and volumes, read from the simulator's raw file,
written and read back unchanged, and bad input named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401 - the simulator's projections are Bitshuffle/LZ4
import numpy as np
import pytest

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.projections import read_projections, write_projections
from swaxs_plugins.data.volumes import Volume, read_volumes, write_volumes
from swaxs_plugins.io.raw import RawSource


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    from swaxs_plugins.simulate import simulate_tomography

    return simulate_tomography(tmp_path_factory.mktemp("tomography"), seed=4, scale="small")


def test_raw_segmented_projections_are_read_raster_up_and_across_divided_by_transmission(simulated):
    [sample] = read_projections(RawSource(files=[simulated.projections], frames="/entry/data/data"), segments=True)
    with h5py.File(simulated.projections, "r") as handle:
        counts = handle["entry/data/data"][5]          # [J, K, segment, q]
        t = handle["entry/data/transmission"][5]       # [J, K]
        rotation, tilt = handle["entry/data/rotation_angle"][()], handle["entry/data/tilt_angle"][()]
        j_mm = handle["entry/data/j"][()]
    np.testing.assert_allclose(sample.segments[5], np.swapaxes(counts / t[..., None, None], 0, 1), rtol=1e-6)
    np.testing.assert_allclose(sample.intensity[5], np.swapaxes(counts.mean(axis=2) / t[..., None], 0, 1), rtol=1e-6)
    np.testing.assert_allclose(sample.transmission[5], t.T)
    np.testing.assert_array_equal(sample.rotation, rotation)
    np.testing.assert_array_equal(sample.tilt, tilt)
    assert sample.pixel_um == pytest.approx(np.diff(j_mm).mean() * 1e3) and sample.transmission_corrected
    assert sample.untilted.sum() == 72 and sample.name == "projections"


def test_projections_and_volumes_come_back_as_written(simulated, tmp_path: Path):
    [sample] = read_projections(RawSource(files=[simulated.projections], frames="/entry/data/data"), segments=True)
    shifted = sample.with_images(sample.intensity * 2, sample.errors, sample.transmission,
                                 np.full((sample.n, 2), 0.25), segments=sample.segments)
    rng = np.random.default_rng(0)
    volume = Volume("sample_a", rng.uniform(1, 2, (6, 7, 8, sample.q.size)), sample.q, 35.7, "test",
                    regions={"micropores": (0.12, 0.3)})
    path = tmp_path / "layouts.nxs"
    with h5py.File(path, "w") as handle:
        entry = handle.create_group("step")
        write_projections(entry, [shifted])
        write_volumes(entry, [volume], "counts/mm")
    ref = StepOutputRef("step", "align", path, "step")
    [back] = read_projections(ref, segments=True)
    for name in ("intensity", "errors", "transmission", "rotation", "tilt", "shifts", "segments", "chi", "q"):
        np.testing.assert_allclose(getattr(back, name), getattr(shifted, name), rtol=1e-6, err_msg=name)
    assert back.pixel_um == pytest.approx(sample.pixel_um)
    [volume_back] = read_volumes(ref)
    np.testing.assert_allclose(volume_back.intensity, volume.intensity, rtol=1e-6)
    assert volume_back.voxel_um == pytest.approx(35.7) and volume_back.regions == {"micropores": (0.12, 0.3)}
    inside = (sample.q >= 0.12) & (sample.q <= 0.3)
    np.testing.assert_allclose(volume_back.region_mean((0.12, 0.3)), volume.intensity[..., inside].mean(axis=-1))
    with h5py.File(path, "r") as handle:
        assert handle["step/volumes/sample_a/intensity/I"].shape == (sample.q.size, 6, 7, 8)  # q, z, y, x
        assert handle["step/projections/projections/intensity/I"].shape == (sample.n, sample.q.size, 36, 36)


def test_samples_come_back_in_the_order_written_not_alphabetically(simulated, tmp_path: Path):
    [sample] = read_projections(RawSource(files=[simulated.projections], frames="/entry/data/data"))
    names = ["low_sodiation", "high_sodiation", "aardvark"]
    samples = [dataclasses.replace(sample, name=name) for name in names]
    volumes = [Volume(name, np.ones((2, 3, 4, sample.q.size)), sample.q, 1.0, "test") for name in names]
    path = tmp_path / "order.nxs"
    with h5py.File(path, "w") as handle:
        entry = handle.create_group("step")
        write_projections(entry, samples)
        write_volumes(entry, volumes, "counts/mm")
    ref = StepOutputRef("step", "align", path, "step")
    assert [s.name for s in read_projections(ref)] == names
    assert [v.name for v in read_volumes(ref)] == names


def test_projections_without_angles_or_with_a_wrong_count_are_named(simulated, tmp_path: Path):
    broken = tmp_path / "no_angles.nxs"
    with h5py.File(simulated.projections, "r") as source, h5py.File(broken, "w") as target:
        group = target.create_group("entry/data")
        for name in ("data", "transmission", "j", "k", "segment_chi", "q", "tilt_angle"):
            source.copy(source[f"entry/data/{name}"], group, name=name)
    with pytest.raises(InputDataError, match=r"no_angles.nxs::/entry/data: projections without angles.*rotation_angle"):
        read_projections(RawSource(files=[broken], frames="/entry/data/data"))
    with h5py.File(broken, "a") as handle:
        handle["entry/data/rotation_angle"] = np.arange(5.0)
    with pytest.raises(InputDataError, match="108 projections but 5 rotation"):
        read_projections(RawSource(files=[broken], frames="/entry/data/data"))
    with pytest.raises(InputDataError, match="no segmented projections"):
        read_projections(RawSource(files=[broken], frames="/entry/data/q"))
