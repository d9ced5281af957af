"""NXcanSAS export (swaxs export nxcansas): the electrode mean of the simulated map, valid NXcanSAS, read
back by SasView's reader (sasdata) unchanged, and one clear line for bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from conftest_operando import operando_run  # noqa: F401  (fixture)
from swaxs_plugins.cli import main
from swaxs_plugins.io.nxcansas import export_nxcansas
from swaxs_plugins.io.validation import validate_file


@pytest.fixture(scope="module")
def exported(operando_run, tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:  # noqa: F811
    """The electrode mean of saxs_transmission through the command, and the numpy means it must equal."""
    output = tmp_path_factory.mktemp("nxcansas") / "electrode.h5"
    result = CliRunner().invoke(main, ["export", "nxcansas", str(operando_run.steps["saxs_transmission"]),
                                       "--entry", "saxs_transmission", "--region", "electrode",
                                       "--masks", str(operando_run.steps["map_masks"]), "-o", str(output)])
    assert result.exit_code == 0, result.output
    with h5py.File(operando_run.steps["saxs_transmission"], "r") as handle:
        curves = handle["saxs_transmission/maps/curves"]
        intensity, errors, q = curves["I"][()], curves["I_errors"][()], curves["q"][()]
        files = [name.decode() for name in handle["saxs_transmission/scans/file_name"][()]]
    with h5py.File(operando_run.steps["map_masks"], "r") as handle:
        mask = handle["map_masks/masks/electrode/mask"][()].astype(bool)
    values = intensity[:, mask].astype(np.float64)
    expected = {"q": q, "I": values.mean(axis=1),
                "Idev": np.sqrt((errors[:, mask].astype(np.float64) ** 2).sum(axis=1)) / mask.sum(),
                "files": files, "points": int(mask.sum())}
    return output, expected


def test_electrode_mean_per_scan(exported) -> None:
    output, expected = exported
    assert np.isfinite(expected["I"]).all() and expected["points"] > 5
    with h5py.File(output, "r") as handle:
        entries = sorted(handle)
        assert entries == [f"sasentry{i + 1:02d}" for i in range(len(expected["files"]))]
        for scan, name in enumerate(entries):
            data = handle[f"{name}/sasdata01"]
            np.testing.assert_allclose(data["Q"][()], expected["q"], rtol=1e-6)
            np.testing.assert_allclose(data["I"][()], expected["I"][scan], rtol=1e-6)
            np.testing.assert_allclose(data["Idev"][()], expected["Idev"][scan], rtol=1e-6)
            assert data["Q"].attrs["units"] == "1/angstrom"
            assert data["I"].attrs["units"] == "arbitrary"  # the curves' "arbitrary units", as canSAS spells it
            assert handle[f"{name}/run"][()].decode() == Path(expected["files"][scan]).stem
            assert f"{expected['points']} points" in handle[f"{name}/title"][()].decode()
            assert data.attrs["timestamp"].startswith("20")
    assert not list(output.parent.glob(".*partial"))


def test_valid_nxcansas(exported, tmp_path) -> None:
    output, expected = exported
    reports = validate_file(output)
    assert len(reports) == len(expected["files"])
    assert all(r.definition == "NXcanSAS" and r.errors == 0 for r in reports), [r.messages for r in reports]
    broken = shutil.copy(output, tmp_path / "broken.h5")
    with h5py.File(broken, "r+") as handle:  # the validator does look: no canSAS class, no definition
        del handle["sasentry01/sasdata01"].attrs["canSAS_class"]
        del handle["sasentry01/definition"]
    assert validate_file(Path(broken))[0].errors > 0


def test_sasview_reads_it_back(exported) -> None:
    from sasdata.dataloader.loader import Loader

    output, expected = exported
    data = Loader().load(str(output))
    assert len(data) == len(expected["files"])
    for scan, curve in enumerate(data):
        assert curve.run == [Path(expected["files"][scan]).stem]
        np.testing.assert_allclose(curve.x, expected["q"], rtol=1e-6)
        np.testing.assert_allclose(curve.y, expected["I"][scan], rtol=1e-6)
        np.testing.assert_allclose(curve.dy, expected["Idev"][scan], rtol=1e-6)


def test_box_of_points(operando_run, tmp_path) -> None:  # noqa: F811
    path = operando_run.steps["saxs_transmission"]
    mean = export_nxcansas(path, "saxs_transmission", tmp_path / "box.h5", points="1:3,2:5")
    with h5py.File(path, "r") as handle:
        intensity = handle["saxs_transmission/maps/curves/I"][()].astype(np.float64)
    assert mean.points == 6
    with h5py.File(tmp_path / "box.h5", "r") as handle:
        np.testing.assert_allclose(handle["sasentry02/sasdata01/I"][()], intensity[1, 1:3, 2:5].mean(axis=(0, 1)),
                                   rtol=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    (["--entry", "nope", "--region", "electrode"], "no entry 'nope'"),
    (["--entry", "saxs_transmission", "--region", "anode"], "no mask region 'anode'"),
    (["--entry", "map_masks", "--region", "electrode"], "no curves"),
    (["--entry", "saxs_transmission", "--points", "0:2"], "--points '0:2'"),
    (["--entry", "saxs_transmission"], "give either a mask region"),
])
def test_bad_input_is_one_line(operando_run, tmp_path, args, message) -> None:  # noqa: F811
    pipeline_output = operando_run.outdir / "processed" / "operando.nxs"
    output = tmp_path / "out.h5"
    result = CliRunner().invoke(main, ["export", "nxcansas", str(pipeline_output), *args, "-o", str(output)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not output.exists()


def test_not_a_curves_file(tmp_path) -> None:
    text_file = tmp_path / "notes.nxs"
    text_file.write_text("not HDF5")
    result = CliRunner().invoke(main, ["export", "nxcansas", str(text_file), "--entry", "x", "--region", "electrode",
                                       "-o", str(tmp_path / "out.h5")])
    assert result.exit_code != 0 and str(text_file) in result.output and "not a readable HDF5 file" in result.output
