"""Sphinx extension: the data layouts steps exchange and the NeXus application definitions in ``nexus/``.

``swaxs-layouts`` tables :data:`swaxs_plugins.data.layouts.LAYOUTS` with, from the registry, the steps
that write each layout and the inputs that take it. ``swaxs-nxdl`` writes a section per
``nexus/*.nxdl.xml`` (path given as the directive's argument, relative to the page): what it extends,
its documentation, and every group, field and attribute with type, whether optional, and its text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from swaxs_nodes import (
    code,
    field_list,
    inline,
    page_ref,
    paragraph,
    python_ref,
    section,
    table,
)
from swaxs_steps_ref import step_anchor

from swaxs_plugins.core.registry import Registry
from swaxs_plugins.data.layouts import LAYOUTS

NXDL = "{http://definition.nexusformat.org/nxdl/3.1}"
MEMBERS = ("group", "field", "attribute")


def nxdl_anchor(name: str) -> str:
    return f"nxdl-{name}"


def doc_text(element: ET.Element) -> str:
    """An element's own <doc>, on one line."""
    doc = element.find(f"{NXDL}doc")
    return re.sub(r"\s+", " ", doc.text or "").strip() if doc is not None else ""


def member_rows(element: ET.Element, path: str = "") -> list[list[Any]]:
    """Every group, field and attribute under ``element``, depth first: path, what, type, optional, doc."""
    rows = []
    for child in element:
        tag = child.tag.removeprefix(NXDL)
        if tag not in MEMBERS:
            continue
        name = child.get("name") or child.get("type", "").removeprefix("NX").upper()
        here = f"{path}/@{name}" if tag == "attribute" else f"{path}/{name}"
        optional = child.get("optional") == "true" or child.get("minOccurs") == "0" or child.get("recommended")
        kind = child.get("type", "") if tag == "group" else child.get("type", "NX_CHAR")
        rows.append([code(here), tag, kind, "optional" if optional else "required", doc_text(child)])
        rows += member_rows(child, here)
    return rows


class NxdlDirective(SphinxDirective):
    """``swaxs-nxdl FOLDER``: a section per application definition in FOLDER (relative to the page)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        _, folder = self.env.relfn2path(self.arguments[0], self.env.docname)
        files = sorted(Path(folder).glob("*.nxdl.xml"))
        if not files:
            raise self.error(f"no *.nxdl.xml in {folder}")
        found = []
        for path in files:
            self.env.note_dependency(str(path))
            found.append(self._definition(path))
        return found

    def _definition(self, path: Path) -> nodes.section:
        root = ET.parse(path).getroot()
        name = root.get("name", path.stem)
        node = section(self, name, nxdl_anchor(name))
        extends = root.get("extends", "")
        node += field_list([("file", code(f"nexus/{path.name}")),
                            ("extends", page_ref(nxdl_anchor(extends), extends) if extends.startswith("NXswaxs")
                             else code(extends))])
        node += paragraph(doc_text(root))
        node += table(["path", "member", "type", "", "description"], member_rows(root), [26, 8, 12, 8, 40])
        return node


class LayoutsDirective(SphinxDirective):
    """``swaxs-layouts``: one row per layout, with its reader and the steps that write and read it."""

    def run(self) -> list[nodes.Node]:
        registry = Registry.discover(autoload=False)
        steps = [s for kind in registry.kinds() for s in registry.implementations(kind)]
        rows = []
        for name, layout in LAYOUTS.items():
            writers = [s for s in steps if name in s.step_class.produces]
            readers = [(s, key) for s in steps for key, spec in s.step_class.inputs.items() if name in spec.layouts]
            holds = [*inline(layout.description), nodes.Text("; read with "),
                     python_ref(layout.reader, short=True)]
            used = [nodes.strong(text="written by "), *_step_links([(s, None) for s in writers]),
                    nodes.Text("; "), nodes.strong(text="read by "), *_step_links(readers)]
            rows.append([code(name), holds, used])
        return [table(["layout", "holds", "steps"], rows, [10, 45, 45])]


def _step_links(steps: list[tuple[Any, str | None]]) -> list[nodes.Node]:
    links: list[nodes.Node] = []
    for step, key in steps:
        label = f"{step.impl.kind}/{step.impl.name}" + (f" ({key})" if key else "")
        links += [nodes.Text(", ")] if links else []
        links.append(page_ref(step_anchor(step.impl.kind, step.impl.name), label))
    return links or [nodes.Text("—")]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("swaxs-nxdl", NxdlDirective)
    app.add_directive("swaxs-layouts", LayoutsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
