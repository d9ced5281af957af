"""The report as one static HTML page: run state, contents, then every step with its figures, quality
figures, warnings and provenance. No script and no network resource (the stylesheet is inlined); every
text from the files goes through :func:`html.escape`, every figure link is relative (``figures/…``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

from swaxs_plugins import __version__
from swaxs_plugins.report.collect import COMPLETED, RunReport, StepRecord
from swaxs_plugins.report.style import CSS


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def render(report: RunReport, figure_hrefs: Mapping[Path, str]) -> str:
    """The page of ``report``; ``figure_hrefs`` gives each figure's link relative to the page."""
    title = f"{report.pipeline} — pipeline report"
    body = "\n".join([_header(report), _contents(report.steps, report.state.total - report.state.completed),
                      *(_step(step, figure_hrefs) for step in report.steps), _footer()])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{esc(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


def anchor(step: StepRecord) -> str:
    return f"step-{quote(step.step_id, safe='')}"


def _header(report: RunReport) -> str:
    state = report.state
    if state.complete:
        verdict = f'<div class="state ok" id="run-state">Run complete: all {state.total} steps completed</div>'
    else:
        missing = state.total - state.completed
        verdict = (f'<div class="state bad" id="run-state">INCOMPLETE RUN: {state.completed} of {state.total} steps '
                   f"completed<span>{missing} step{'s' if missing != 1 else ''} did not complete (failed, stopped or "
                   "not run yet): the results below are partial. Run the pipeline again to resume it.</span></div>")
    broken = [step.step_id for step in report.steps if step.status != COMPLETED]
    if broken:
        verdict += (f'<div class="state bad">Steps that cannot be read: {esc(", ".join(broken))}'
                    "<span>see their sections below.</span></div>")
    return (f"<header>\n<h1>{esc(report.pipeline)} <small>pipeline report</small></h1>\n"
            f'<p class="meta">Output <code>{esc(report.output)}</code> · written {esc(_when(report.written))}'
            f" · opens on <code>{esc(report.default or '-')}</code></p>\n{verdict}\n</header>")


def _contents(steps: list[StepRecord], missing: int) -> str:
    rows = "\n".join(
        f'<tr><td class="num">{step.sequence_index or "?"}</td>'
        f'<td class="name"><a href="#{anchor(step)}">{esc(step.step_id)}</a></td>'
        f"<td>{esc(step.kind)}/{esc(step.implementation)}</td><td>{_status(step)}</td>"
        f"<td>{_warning_count(step)}</td><td>{len(step.figures) or '–'}</td>"
        f"<td>{esc(_headline(step))}</td></tr>"
        for step in steps)
    if missing:
        rows += (f'\n<tr><td class="num">…</td><td colspan="6" class="missing">{missing} more step'
                 f"{'s' if missing > 1 else ''} not completed: not in the output file</td></tr>")
    return ('<nav class="card" id="contents">\n<h2>Contents</h2>\n<table>\n<tr><th>#</th><th>step</th><th>kind/'
            "implementation</th><th>status</th><th>warnings</th><th>figures</th><th>quality</th></tr>\n"
            f"{rows}\n</table>\n</nav>")


def _headline(step: StepRecord) -> str:
    """The step's quality figure named 'quality', else its first, shortened, for the contents table."""
    if not step.quality:
        return ""
    if "quality" in step.quality:
        line = step.quality["quality"]
    else:
        name, value = next(iter(step.quality.items()))
        line = f"{name}: {value}"
    return line if len(line) <= 90 else f"{line[:88]}…"


def _status(step: StepRecord) -> str:
    css = "status-ok" if step.status == COMPLETED else "status-bad"
    return f'<span class="tag {css}">{esc(step.status)}</span>'


def _warning_count(step: StepRecord) -> str:
    if not step.warnings:
        return '<span class="muted">none</span>'
    return f'<span class="tag status-warn">{len(step.warnings)} warning{"s" if len(step.warnings) > 1 else ""}</span>'


def _step(step: StepRecord, figure_hrefs: Mapping[Path, str]) -> str:
    parts = [f'<section class="card" id="{anchor(step)}">',
             (f'<h2>{step.sequence_index or "?"}. {esc(step.step_id)} '
              f'<span class="tag kind">{esc(step.kind)}/{esc(step.implementation)}</span> {_status(step)}</h2>')]
    if step.problem:
        parts.append(f'<p class="problem">{esc(step.problem)}</p>')
    if step.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in step.warnings)
        parts.append(f'<div class="warnings"><strong>Warnings ({len(step.warnings)})</strong><ul>{items}</ul></div>')
    parts += [_quality(step), _figures(step, figure_hrefs), _provenance(step), "</section>"]
    return "\n".join(part for part in parts if part)


def _quality(step: StepRecord) -> str:
    if step.status != COMPLETED:
        return ""
    if not step.quality:
        return '<h3>Quality</h3>\n<p class="muted">This step reports no quality figures.</p>'
    return "<h3>Quality</h3>\n" + _table(("figure", "value"), step.quality.items(), css="quality")


def _figures(step: StepRecord, figure_hrefs: Mapping[Path, str]) -> str:
    if not step.figures:
        return ""
    items = "\n".join(
        f'<figure><a href="{esc(figure_hrefs[path])}"><img src="{esc(figure_hrefs[path])}" '
        f'alt="{esc(path.stem)}"></a><figcaption>{esc(path.name)}</figcaption></figure>'
        for path in step.figures)
    return f'<h3>Figures</h3>\n<div class="figures">\n{items}\n</div>'


def _provenance(step: StepRecord) -> str:
    if step.status != COMPLETED:
        return f'<h3>Provenance</h3>\n<p class="meta">Step file <code>{esc(step.file)}</code></p>'
    facts = (("program", f"{step.program} {step.version}"), ("date", _when(step.date)), ("step file", str(step.file)))
    listing = "".join(f"<dt>{esc(name)}</dt><dd><code>{esc(value)}</code></dd>" for name, value in facts)
    inputs = [(i.name, f"<code>{esc(i.file)}</code><br><span class='muted'>{esc(i.description)}</span>",
               f"<span class='hash'>{esc(i.content_hash)}</span>") for i in step.inputs]
    parameters = [(p.name, f"<code>{esc(p.value)}</code>", esc(p.units)) for p in step.parameters]
    parts = ["<h3>Provenance</h3>", f'<dl class="provenance">{listing}</dl>', "<h3>Inputs</h3>",
             _raw_table(("input", "file", "sha256"), inputs, css="inputs") if inputs
             else '<p class="muted">none recorded</p>',
             f"<h3>Parameters ({len(parameters)})</h3>", _parameters(parameters)]
    if step.configuration:
        parts.append(f"<details><summary>Configuration (JSON)</summary><pre>{esc(step.configuration)}</pre></details>")
    return "\n".join(parts)


def _parameters(rows: list[tuple[str, str, str]]) -> str:
    """The parameters as two tables side by side (first half, second half), so that a long list stays short."""
    if not rows:
        return '<p class="muted">none</p>'
    half = (len(rows) + 1) // 2
    tables = (_raw_table(("parameter", "value", "units"), part, css="parameters") for part in (rows[:half], rows[half:])
              if part)
    return f'<div class="columns">{"".join(tables)}</div>'


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, str]], css: str) -> str:
    """A table of plain texts (escaped here)."""
    return _raw_table(header, [(name, esc(value)) for name, value in rows], css)


def _raw_table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]], css: str) -> str:
    """A table whose first column is plain text (escaped here) and whose other cells are HTML already."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "\n".join(f'<tr><td class="name">{esc(first)}</td>' + "".join(f"<td>{cell}</td>" for cell in rest) + "</tr>"
                     for first, *rest in rows)
    return f'<table class="{css}">\n<tr>{head}</tr>\n{body}\n</table>'


def _when(iso: str) -> str:
    return iso.replace("T", " ") if iso else "?"


def _footer() -> str:
    return f'<p class="meta">Made by <code>swaxs report</code> (swaxs_plugins {esc(__version__)}).</p>'
