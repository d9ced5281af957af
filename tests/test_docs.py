"""The documentation site builds with warnings as errors, and its generated pages cover what the code has:
every step kind and implementation, every layout, every application definition in nexus/."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from swaxs_plugins.core.registry import Registry
from swaxs_plugins.data.layouts import LAYOUTS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
                            str(out)], check=False, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"sphinx-build failed:\n{build.stdout}\n{build.stderr}"
    assert "WARNING" not in build.stderr
    return out


def _text(page: Path) -> str:
    """A page's text without tags, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split())


def _ids(page: Path) -> set[str]:
    return set(re.findall(r'<section id="([^"]+)"', page.read_text()))


def test_every_step_kind_and_implementation_is_in_the_reference(site: Path) -> None:
    registry = Registry.discover(autoload=False)
    ids = _ids(site / "reference" / "steps.html")
    expected = {f"kind-{kind}" for kind in registry.kinds()}
    expected |= {f"step-{kind}-{step.impl.name}" for kind in registry.kinds() for step in registry.implementations(kind)}
    assert expected <= ids
    assert len(expected) >= 20
    assert "swaxs describe integrate pyfai" in _text(site / "reference" / "steps.html")
    assert 'href="../nexus-layouts.html#nxdl-nxswaxs-maps"' in (site / "reference" / "steps.html").read_text()


def test_layouts_and_definitions_are_listed(site: Path) -> None:
    page = site / "nexus-layouts.html"
    text = _text(page)
    for name, layout in LAYOUTS.items():
        assert f"{name} {layout.description}" in text
    definitions = sorted(path.name.removesuffix(".nxdl.xml") for path in (ROOT / "nexus").glob("*.nxdl.xml"))
    assert len(definitions) == 10
    assert {f"nxdl-{name.lower().replace('_', '-')}" for name in definitions} <= _ids(page)
    assert "/ENTRY/reduction/program" in text


def test_every_page_is_built_and_its_images_copied(site: Path) -> None:
    sources = {path.relative_to(DOCS).with_suffix(".html") for path in DOCS.rglob("*.md")
               if "_build" not in path.parts}
    assert {Path("tutorial.html"), Path("notebook.html"), Path("pipeline-format.html")} <= sources
    assert all((site / page).is_file() for page in sources)
    tutorial = (site / "tutorial.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', tutorial)
    assert len(images) >= 6 and all((site / image).is_file() for image in images)
    assert list((site / "_downloads").rglob("pipeline.schema.json"))
