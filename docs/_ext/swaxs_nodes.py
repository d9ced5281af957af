"""Docutils node builders shared by the documentation's generated pages: sections, tables, inline text.

The generated pages (step reference, layouts, application definitions) are built as nodes, not as
text to parse, so that they come out the same from Markdown (MyST) and reStructuredText pages and no
description needs escaping.
"""

from __future__ import annotations

from collections.abc import Sequence

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes

Cell = str | nodes.Node | Sequence[nodes.Node]


def section(directive: Directive, title: str, anchor: str) -> nodes.section:
    """A section titled ``title`` labelled ``anchor``: the page's contents list it, ``{ref}`anchor``` links it."""
    node = nodes.section(ids=[nodes.make_id(anchor)], names=[nodes.fully_normalize_name(anchor)])
    node += nodes.title(text=title)
    directive.state.document.note_explicit_target(node, node)
    return node


def inline(text: str) -> list[nodes.Node]:
    """Plain text, with ````double-backquoted```` parts (as written in docstrings) set as code."""
    parts = text.split("``")
    return [nodes.literal(text=part) if i % 2 else nodes.Text(part) for i, part in enumerate(parts) if part]


def paragraph(text: str) -> nodes.paragraph:
    node = nodes.paragraph()
    node.extend(inline(text))
    return node


def field_list(fields: Sequence[tuple[str, Cell]]) -> nodes.field_list:
    """A list of ``name: value`` lines (implementation, version, definition, ...)."""
    node = nodes.field_list()
    for name, value in fields:
        body = nodes.field_body()
        body += _cell_paragraph(value)
        node += nodes.field("", nodes.field_name(text=name), body)
    return node


def table(header: Sequence[str], rows: Sequence[Sequence[Cell]], widths: Sequence[int] | None = None) -> nodes.table:
    """A table with a header row; a cell is text (double backquotes as code), a node or a list of nodes."""
    group = nodes.tgroup(cols=len(header))
    for width in widths or [1] * len(header):
        group += nodes.colspec(colwidth=width)
    group += nodes.thead("", _row(header))
    body = nodes.tbody()
    body.extend(_row(row) for row in rows)
    group += body
    return nodes.table("", group, classes=["swaxs-table"])


def code(text: str) -> nodes.literal:
    return nodes.literal(text=text)


def python_ref(target: str, kind: str = "func", short: bool = False) -> addnodes.pending_xref:
    """A link to the API reference's entry for ``target`` (plain code where it is not documented); ``short``
    shows the last two parts of its name only (``curves.read_curves``)."""
    node = addnodes.pending_xref("", refdomain="py", reftype=kind, reftarget=target, refexplicit=short)
    shown = ".".join(target.split(".")[-2:]) if short else target
    node += nodes.literal(text=shown, classes=["xref", "py", f"py-{kind}"])
    return node


def page_ref(target: str, title: str) -> addnodes.pending_xref:
    """A link to the section labelled ``target`` (as the ``ref`` role makes)."""
    node = addnodes.pending_xref("", refdomain="std", reftype="ref", reftarget=target.lower(), refexplicit=True,
                                refwarn=True)
    node += nodes.inline(text=title)
    return node


def _row(cells: Sequence[Cell]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += _cell_paragraph(cell)
        row += entry
    return row


def _cell_paragraph(cell: Cell) -> nodes.paragraph:
    if isinstance(cell, str):
        return paragraph(cell)
    node = nodes.paragraph()
    node.extend([cell] if isinstance(cell, nodes.Node) else list(cell))
    return node
