"""Sphinx configuration of the swaxs_plugins documentation site (MyST Markdown pages, furo theme).

Build with ``sphinx-build -W -b html docs docs/_build/html``. The step reference, the layouts and the
NeXus definitions are generated from the code (extensions in ``_ext/``); nothing is executed here
beyond importing the package and its built-in step classes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.application import Sphinx

from swaxs_plugins import __version__

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "swaxs_plugins"
author = "swaxs_plugins developers"
copyright = "swaxs_plugins developers, MIT licence"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode",
              "swaxs_steps_ref", "swaxs_nexus_ref"]
source_suffix = {".md": "markdown"}
root_doc = "index"
smartquotes = False  # descriptions quote parameter names and values as code does
exclude_patterns = ["_build", "_ext", "**/__pycache__"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"swaxs_plugins {release}"
html_static_path: list[str] = []

OPTIONAL_PAGES = ("nxcansas", "report")
"""Pages being written alongside this site: listed in the index's toctree, dropped there until they exist."""


def _drop_missing_pages(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != root_doc:
        return
    missing = [page for page in OPTIONAL_PAGES if not (HERE / f"{page}.md").exists()]
    lines = source[0].splitlines(keepends=True)
    source[0] = "".join(line for line in lines if line.strip() not in missing)


def setup(app: Sphinx) -> None:
    app.connect("source-read", _drop_missing_pages)
