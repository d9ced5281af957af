"""Renders the report of a pipeline's output file as one static HTML page in a folder of its own.

The page has inline CSS only (no JavaScript, nothing fetched from the network), so it opens the same
anywhere; the figures are copied into ``figures/`` beside it and linked relatively, so the folder can
be zipped and sent. The folder is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from html import escape
from pathlib import Path

from swaxs_plugins.report.collect import Report, ReportError, Step, collect

FIGURES = "figures"
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#1b1f23;line-height:1.4;font-size:15px}
h1{margin:.2em 0}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}h3{margin:1em 0 .3em}
table{border-collapse:collapse;margin:.3em 0 .8em}td,th{border:1px solid #d0d7de;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f4f6}code{font-size:13px;overflow-wrap:anywhere}
td:first-child{white-space:nowrap}table.wide{width:100%}
.state{padding:.7em 1em;border-radius:6px;font-size:1.15em;font-weight:600;margin:.6em 0}
.complete{background:#dafbe1;border:1px solid #2da44e}.incomplete{background:#ffebe9;border:3px solid #cf222e;
color:#82071e;font-size:1.4em}.warnings{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;
padding:.4em 1em}.warnings li{color:#7d4e00;font-weight:600}.ok{color:#1a7f37}.muted{color:#57606a}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1em}
figure{margin:0}pre{background:#f6f8fa;padding:.5em;font-size:12px;overflow-x:auto}
summary{cursor:pointer;color:#0969da}figure img{max-width:100%;border:1px solid #d0d7de}figcaption{font-size:13px;color:#57606a}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;background:#fff8c5;color:#7d4e00;font-size:13px}
"""


def write_report(output: Path, directory: Path | None = None) -> Path:
    """Write the report of pipeline output ``output`` into ``directory`` (default: ``<stem>_report``
    beside it) and return the path of its ``index.html``."""
    output = Path(output)
    report = collect(output)
    target = Path(directory) if directory is not None else output.with_name(f"{output.stem}_report")
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        (partial / FIGURES).mkdir()
        for step in report.steps:
            for figure in step.figures:
                shutil.copy2(figure, partial / FIGURES / figure.name)
        (partial / "index.html").write_text(render(report), encoding="utf-8")
        _move_into_place(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target / "index.html"


def _check_target(target: Path) -> None:
    """A folder in the way is replaced only when it is an earlier report (it holds index.html) or empty."""
    if target.exists() and not (target.is_dir() and ((target / "index.html").is_file() or not any(target.iterdir()))):
        raise ReportError(f"{target}: exists and is not an earlier report; choose another folder with -o")


def _move_into_place(partial: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(partial, target)
    shutil.rmtree(old, ignore_errors=True)


def render(report: Report) -> str:
    """The whole page."""
    title = f"swaxs report: {report.pipeline}"
    body = "\n".join([f"<h1>{escape(title)}</h1>", _header(report), _contents(report.steps),
                      *(_section(step) for step in report.steps)])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def _header(report: Report) -> str:
    state = report.state
    if state.complete:
        banner = f'<div class="state complete">Run complete: {state.completed} of {state.total} steps</div>'
    else:
        banner = (f'<div class="state incomplete">INCOMPLETE RUN: only {state.completed} of {state.total} steps '
                  "completed; the results below are partial</div>")
    return (f'{banner}<p class="muted">Pipeline <b>{escape(report.pipeline)}</b>, output file '
            f"<code>{escape(str(report.output.resolve()))}</code></p>")


def _contents(steps: list[Step]) -> str:
    rows = "".join(f'<tr><td>{s.sequence_index}</td><td><a href="#{escape(s.step_id)}">{escape(s.step_id)}</a></td>'
                   f"<td>{escape(_kind(s))}</td><td>{_warning_badge(s)}</td></tr>" for s in steps)
    return ("<h2>Contents</h2><table><tr><th>#</th><th>step</th><th>kind/implementation</th><th>warnings</th></tr>"
            f"{rows}</table>")


def _kind(step: Step) -> str:
    """kind/implementation from the NXprocess note ("swaxs_plugins step 'x': kind/impl")."""
    return step.note.rpartition(": ")[2]


def _warning_badge(step: Step) -> str:
    count = len(step.warnings)
    return f'<span class="badge">{count} warning{"s" * (count != 1)}</span>' if count else '<span class="ok">none</span>'


def _section(step: Step) -> str:
    heading = (f'<h2 id="{escape(step.step_id)}">{step.sequence_index}. {escape(step.step_id)} '
               f'<span class="muted">({escape(_kind(step))})</span></h2>')
    return "\n".join([heading, _warnings(step), _quality(step), _figures(step), _provenance(step)])


def _warnings(step: Step) -> str:
    if not step.warnings:
        return '<p class="ok">No warnings.</p>'
    items = "".join(f"<li>{escape(w)}</li>" for w in step.warnings)
    return f'<div class="warnings"><b>Warnings</b><ul>{items}</ul></div>'


def _quality(step: Step) -> str:
    if not step.quality:
        return '<p class="muted">No quality figures recorded.</p>'
    return "<h3>Quality</h3>" + _table(("figure", "value"), step.quality.items(), code=False)


def _figures(step: Step) -> str:
    if not step.figures:
        return ""
    items = "".join(f'<figure><a href="{FIGURES}/{escape(f.name)}"><img src="{FIGURES}/{escape(f.name)}" '
                    f'alt="{escape(f.stem)}"></a><figcaption>{escape(f.name)}</figcaption></figure>'
                    for f in step.figures)
    return f'<h3>Figures</h3><div class="figures">{items}</div>'


def _provenance(step: Step) -> str:
    made = _table(("program", "version", "date", "file"),
                  [(step.program, step.version, step.date, str(step.file.resolve()))])
    inputs = _table(("input", "file", "what", "sha256"),
                    [(s.name, s.file, s.description, s.content_hash) for s in step.sources])
    return (f"<h3>Provenance</h3>{made}<h3>Parameters</h3>{_table(('parameter', 'value'), step.parameters.items())}"
            f"<h3>Inputs</h3>{inputs}<details><summary>Whole configuration (JSON)</summary>"
            f"<pre>{escape(step.configuration)}</pre></details>")


def _table(header: tuple[str, ...], rows: object, *, code: bool = True) -> str:
    """A full-width table of escaped cells, in monospace where ``code`` (values, paths, hashes)."""
    cell = "<td><code>{}</code></td>" if code else "<td>{}</td>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell.format(escape(str(c))) for c in row) + "</tr>" for row in rows)
    return f'<table class="wide"><tr>{head}</tr>{body}</table>'
