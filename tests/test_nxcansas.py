"""swaxs export nxcansas: region and point-selection means per scan against numpy, nexusformat's NXcanSAS
validation, SasView's reader (sasdata) reading q, I and dI back, and bad input named in one line."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from swaxs_plugins.cli import main
from swaxs_plugins.io.validation import validate_file
from swaxs_plugins.testing import Q, write_curves_file, write_masks_file

TIMES = ["2026-03-01T10:00:00+00:00", "2026-03-01T11:30:00+00:00"]
NAN_AT = (0, 1, 3, 5)  # scan 0, point (1, 3) inside the region, q bin 5: masked


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Curves I[2, 4, 5, 16] (random, one NaN inside the region), errors random, scans with files and times;
    a mask 'right' (x >= 3) and 'corner' (one point)."""
    folder = tmp_path_factory.mktemp("nxcansas")
    rng = np.random.default_rng(3)
    intensity = rng.uniform(1.0, 10.0, (2, 4, 5, Q.size))
    intensity[NAN_AT] = np.nan
    errors = rng.uniform(0.05, 0.5, intensity.shape)
    curves = write_curves_file(folder / "curves.nxs", intensity, errors)
    with h5py.File(curves.path, "a") as handle:
        handle["curves/scans/file_name"] = np.array(["/data/scan_a.h5", "/data/scan_b.h5"], dtype=h5py.string_dtype())
        handle["curves/scans/timestamp"] = np.array(TIMES, dtype=h5py.string_dtype())
    right = np.zeros((4, 5), bool)
    right[:, 3:] = True
    corner = np.zeros((4, 5), bool)
    corner[0, 0] = True
    masks = write_masks_file(folder / "masks.nxs", {"right": right, "corner": corner})
    return {"folder": folder, "curves": curves.path, "masks": masks.path, "intensity": intensity, "errors": errors,
            "right": right}


def export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", "nxcansas", *args])
    return result.exit_code, result.output


def expected_mean(files: dict, region: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's mean per scan over the region's points (NaN left out), sqrt(Σσ²)/n over the valid ones, n."""
    values, sigma = files["intensity"][:, region], files["errors"][:, region]
    valid = np.isfinite(values)
    count = valid.sum(axis=1)
    return np.nanmean(values, axis=1), np.sqrt(np.where(valid, sigma**2, 0).sum(axis=1)) / count, count


def test_region_means_per_scan_equal_numpys(files):
    out = files["folder"] / "right.h5"
    code, output = export(str(files["curves"]), "--region", "right", "--masks", str(files["masks"]), "-o", str(out))
    assert code == 0, output
    assert "2 SASentry" in output and "8 points" in output and "1 NaN point values left out" in output
    mean, error, count = expected_mean(files, files["right"])
    assert count[0, 5] == 7 and count[1, 5] == 8
    with h5py.File(out, "r") as handle:
        assert sorted(handle) == ["sasentry01", "sasentry02"]
        for scan, name in enumerate(("sasentry01", "sasentry02")):
            entry = handle[name]
            data = entry["sasdata01"]
            np.testing.assert_allclose(data["Q"][()], Q)
            np.testing.assert_allclose(data["I"][()], mean[scan], rtol=1e-12)
            np.testing.assert_allclose(data["Idev"][()], error[scan], rtol=1e-12)
            np.testing.assert_array_equal(entry["sasprocess01/valid_points"][()], count[scan])
            assert entry["sasprocess01/excluded_values"][()] == (1 if scan == 0 else 0)
            assert data["Q"].attrs["units"] == "1/angstrom" and data["I"].attrs["units"] == "arbitrary"
            assert data.attrs["timestamp"] == TIMES[scan]
            assert entry["run"][()].decode() == f"scan_{'ab'[scan]}"
    assert not list(files["folder"].glob(".*partial"))


@pytest.mark.parametrize(("selection", "points"), [("1,2;3,4", [(1, 2), (3, 4)]), ("0:2,1:3", [(0, 1), (0, 2), (1, 1),
                                                                                             (1, 2)])])
def test_a_selection_of_points_is_their_mean(files, selection, points):
    out = files["folder"] / f"points_{len(points)}.h5"
    code, output = export(str(files["curves"]), "--entry", "curves", "--points", selection, "-o", str(out))
    assert code == 0, output
    region = np.zeros((4, 5), bool)
    region[tuple(np.array(points).T)] = True
    mean, error, _ = expected_mean(files, region)
    with h5py.File(out, "r") as handle:
        np.testing.assert_allclose(handle["sasentry02/sasdata01/I"][()], mean[1], rtol=1e-12)
        np.testing.assert_allclose(handle["sasentry02/sasdata01/Idev"][()], error[1], rtol=1e-12)


def test_nexusformat_finds_no_error_and_sasdata_reads_q_i_and_di(files):
    from sasdata.dataloader.loader import Loader

    out = files["folder"] / "roundtrip.h5"
    code, output = export(str(files["curves"]), "--region", "right", "--masks", str(files["masks"]), "-o", str(out))
    assert code == 0, output
    reports = validate_file(out)
    assert [(r.entry, r.definition, r.errors, r.warnings) for r in reports] == [
        ("sasentry01", "NXcanSAS", 0, 0), ("sasentry02", "NXcanSAS", 0, 0)], [r.messages for r in reports]
    loaded = Loader().load(str(out))
    assert len(loaded) == 2
    mean, error, _ = expected_mean(files, files["right"])
    for scan, data in enumerate(loaded):
        assert data.errors == [] and data.x_unit == "A^{-1}"
        np.testing.assert_allclose(data.x, Q)
        np.testing.assert_allclose(data.y, mean[scan], rtol=1e-12)
        np.testing.assert_allclose(data.dy, error[scan], rtol=1e-12)


def test_nan_bins_are_left_out_of_the_sasdata(files, tmp_path):
    """A q bin NaN at every point of the region (masked) has no mean: it is not written, and sasdata reads the rest."""
    from sasdata.dataloader.loader import Loader

    intensity = files["intensity"].copy()
    intensity[1, :, :, 0] = np.nan
    curves = write_curves_file(tmp_path / "masked.nxs", intensity, files["errors"])
    out = tmp_path / "masked.h5"
    code, output = export(str(curves.path), "--points", ":,:", "-o", str(out))
    assert code == 0, output
    with h5py.File(out, "r") as handle:
        assert handle["sasentry01/sasdata01/Q"].shape == (Q.size,)
        np.testing.assert_allclose(handle["sasentry02/sasdata01/Q"][()], Q[1:])
    assert [d.x.size for d in Loader().load(str(out))] == [Q.size, Q.size - 1]


@pytest.mark.parametrize(("args", "message"), [
    (["--entry", "nope", "--region", "right"], "curves.nxs: no entry 'nope' (entries: curves)"),
    (["--region", "electrode"], "masks.nxs: no mask region 'electrode' (masks: corner, right)"),
    (["--points", "9,9"], "--points '9,9': '9,9' is not 'Y,X'"),
    (["--points", "a,b"], "--points 'a,b': 'a,b' is not 'Y,X'"),
    ([], "give either a mask region (--region) or a selection of scan points (--points"),
])
def test_bad_input_is_one_line_naming_it(files, args, message):
    out = files["folder"] / "bad.h5"
    code, output = export(str(files["curves"]), "--masks", str(files["masks"]), *args, "-o", str(out))
    assert code == 1, output
    assert message in output and len(output.strip().splitlines()) == 1, output
    assert not out.exists()


def test_a_file_without_curves_is_named(files):
    code, output = export(str(files["masks"]), "--region", "right", "-o", str(files["folder"] / "x.h5"))
    assert code == 1
    assert f"{files['masks']}: no entry with curves (maps/curves); choose one with --entry (entries: masks)" in output
    code, output = export(str(files["masks"]), "--entry", "masks", "--region", "right", "-o",
                          str(files["folder"] / "x.h5"))
    assert code == 1 and "masks.nxs::/masks/maps/curves (step 'masks'): no curves" in output
    code, output = export(str(files["folder"] / "missing.nxs"), "--region", "right", "-o", "x.h5")
    assert code == 1 and "missing.nxs: file not found (INPUT)" in output
