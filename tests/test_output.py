"""Output paths are created, or refused in one line naming the path, before any computation."""

from __future__ import annotations

import os

import pytest

from swaxs_plugins.core.errors import OutputError
from swaxs_plugins.io.output import check_output, prepare_folder, prepare_output


def test_a_missing_folder_is_created_by_prepare_but_not_by_check(tmp_path):
    target = tmp_path / "a" / "b" / "out.nxs"
    assert check_output(target) == target
    assert not (tmp_path / "a").exists()
    assert prepare_output(target) == target
    assert target.parent.is_dir() and not target.exists()


def test_a_folder_above_that_is_a_file_is_refused_naming_both(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    target = blocker / "sub" / "out.nxs"
    message = f"{target}: cannot write the step file, {blocker} is a file, not a folder; choose another path"
    for check in (check_output, prepare_output):
        with pytest.raises(OutputError) as error:
            check(target, "step file")
        assert str(error.value) == message
    with pytest.raises(OutputError) as error:
        prepare_folder(blocker, "demo folder")
    assert str(error.value) == f"{blocker}: the demo folder is a file; move it away or choose another place"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_an_output_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(OutputError, match=f"^{tmp_path}: the PONI file is a directory; give a file name inside it$"):
        prepare_output(tmp_path, "PONI file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits, so no folder is read-only "
                                              "for it; the tests above refuse through a folder that is a file")
def test_a_read_only_folder_or_file_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "old.nxs").write_text("")
    (folder / "old.nxs").chmod(0o444)
    with pytest.raises(OutputError, match="old.nxs: the output file exists and is read-only"):
        check_output(folder / "old.nxs")
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=f"cannot write the output file, {folder} is read-only"):
            prepare_output(folder / "new" / "out.nxs")
        with pytest.raises(OutputError, match=f"{folder} is read-only"):
            prepare_folder(folder / "sim")
    finally:
        folder.chmod(0o755)
