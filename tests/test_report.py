"""``swaxs report``: the HTML page of a small real pipeline output, its links, run state, quality figures,
warnings and input hashes, checked against what the step files hold."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner
from conftest import TEST_PLUGINS, write_pipeline
from test_pipeline import expected_sums, pipeline_text

from swaxs_plugins.cli import main
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.io.nexus import read_quality, resolve_entry, text, write_master

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class Page(HTMLParser):
    """The links, images, ids, warning items and table cells of a page."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.cells: list[str] = []
        self.warnings: list[str] = []
        self.tags: set[str] = set()
        self._stack: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.add(tag)
        self.links += [values[a] for a in ("src", "href") if values.get(a)]
        if values.get("id"):
            self.ids.add(values["id"])
        self._stack.append(values.get("class") or tag)

    def handle_endtag(self, tag: str) -> None:
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        if "td" in self._stack:
            self.cells.append(data)
        if "warnings" in self._stack and self._stack[-1] == "li":
            self.warnings.append(data)


@pytest.fixture
def output(raw_scan, tmp_path) -> Path:
    """A two-step pipeline run with the test plugins, a warning with markup in it, and figures."""
    raw, _ = raw_scan
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", pipeline_text(raw)), Registry.discover([TEST_PLUGINS]))
    run_pipeline(plan, Registry.discover([TEST_PLUGINS]), SerialExecutor(progress=False))
    steps = plan.output.parent / "sums_steps"
    with h5py.File(steps / "shifted.nxs", "r+") as handle:
        note = handle["shifted/reduction/warnings"]
        del note["data"]
        note["data"] = "offset <b>1.5</b> & large"
    for name in ("sums.png", "sums_detail.png", "shifted_map.png"):
        (steps / name).write_bytes(PNG)
    return plan.output


def report_of(output: Path, *args: str) -> tuple[Path, Page]:
    result = CliRunner().invoke(main, ["report", str(output), *args])
    assert result.exit_code == 0, result.output
    index = Path(result.output.split("wrote ")[1].strip())
    return index, Page(index.read_text(encoding="utf-8"))


def test_every_link_resolves_and_figures_are_copied(output):
    index, page = report_of(output)
    assert index == output.with_name("sums_report") / "index.html"
    local = [link for link in page.links if not link.startswith("#")]
    assert sorted(local) == sorted(f"figures/{n}" for n in ("sums.png", "sums_detail.png", "shifted_map.png") * 2)
    assert all((index.parent / link).read_bytes() == PNG for link in local)
    assert {link[1:] for link in page.links if link.startswith("#")} == {"sums", "shifted"} <= page.ids
    assert "script" not in page.tags and "http" not in " ".join(page.links)


def test_each_step_shows_its_quality_and_input_hashes(output, raw_scan):
    _, page = report_of(output)
    with h5py.File(output, "r") as handle:
        entries = {name: resolve_entry(handle, name) for name in handle}
    assert set(entries) == {"sums", "shifted"}
    _, quality = read_quality(*entries["sums"])
    assert quality == {"largest sum": f"{expected_sums(raw_scan[1], 2.0).max():.6g}"}
    for key, value in quality.items():
        assert key in page.cells and value in page.cells
    for path, entry in entries.values():
        with h5py.File(path, "r") as handle:
            process = handle[entry]["reduction"]
            hashes = [text(process[n]["data"][()]) for n in process if n.startswith("source_")]
            assert hashes and all(len(h) == 64 and h in page.cells for h in hashes)
            assert text(process["date"][()]) in page.cells
    parameters = page.cells[page.cells.index("factor"):]
    assert parameters[:2] == ["factor", "2.0"] and "1.5 counts" in page.cells


def test_warnings_are_highlighted_and_escaped(output):
    index, page = report_of(output)
    assert page.warnings == ["offset <b>1.5</b> & large"]
    assert "&quot;offset&quot;: 1.5" in index.read_text(encoding="utf-8")  # the folded configuration
    assert "offset &lt;b&gt;1.5&lt;/b&gt; &amp; large" in index.read_text(encoding="utf-8")


def test_an_incomplete_run_is_flagged(output, tmp_path):
    with h5py.File(output, "r") as handle:
        first = resolve_entry(handle, "sums")[0]
    write_master(output, [("sums", first)], None, steps_total=2)
    index, page = report_of(output, "-o", str(tmp_path / "r"))
    source = index.read_text(encoding="utf-8")
    assert index == tmp_path / "r" / "index.html"
    assert "INCOMPLETE RUN: only 1 of 2 steps completed" in source and 'class="state incomplete"' in source
    assert page.ids >= {"sums"} and "shifted" not in page.ids


def test_a_rerun_replaces_the_report_atomically(output):
    index, _ = report_of(output)
    (index.parent / "figures" / "stale.png").write_bytes(PNG)
    report_of(output)
    assert sorted(p.name for p in index.parent.parent.iterdir() if "report" in p.name) == ["sums_report"]
    assert not (index.parent / "figures" / "stale.png").exists()


@pytest.mark.parametrize("kind", ["missing", "not a pipeline output"])
def test_bad_input_exits_non_zero_naming_the_file(output, raw_scan, tmp_path, kind):
    path = tmp_path / "nosuch.nxs" if kind == "missing" else raw_scan[0]
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 1
    assert str(path) in result.output and kind.replace("missing", "no such file") in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_folder_that_is_not_a_report_is_not_replaced(output, tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "data.txt").write_text("mine")
    result = CliRunner().invoke(main, ["report", str(output), "-o", str(tmp_path / "keep")])
    assert result.exit_code == 1 and str(tmp_path / "keep") in result.output
    assert (tmp_path / "keep" / "data.txt").read_text() == "mine"
