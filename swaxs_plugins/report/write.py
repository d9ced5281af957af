"""Writing the report folder: ``index.html`` and its figures copied into ``figures/``, so that the folder
can be zipped and mailed with every link resolving. It is built under a temporary name beside the target
and renamed into place only when complete; an earlier report there is replaced, any other folder refused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from swaxs_plugins.core.errors import OutputError
from swaxs_plugins.io.output import prepare_folder
from swaxs_plugins.report.collect import RunReport, collect_report
from swaxs_plugins.report.html import render

INDEX = "index.html"
FIGURES = "figures"
REPORT_MEMBERS = {INDEX, FIGURES}


def default_directory(output: Path) -> Path:
    """``<output stem>_report/`` beside the output file."""
    return Path(output).with_name(f"{Path(output).stem}_report")


def write_report(output: Path, directory: Path | None = None) -> Path:
    """Write the HTML report of the pipeline output file ``output`` into ``directory`` (default
    :func:`default_directory`); returns the page (``directory/index.html``)."""
    report = collect_report(Path(output))
    directory = Path(directory) if directory is not None else default_directory(output)
    _check_target(directory)
    prepare_folder(directory.parent, "folder of the report")
    partial = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".partial", dir=directory.parent))
    try:
        partial.chmod(0o755)
        hrefs = _copy_figures(report, partial)
        (partial / INDEX).write_text(render(report, hrefs), encoding="utf-8")
        _swap(partial, directory)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return directory / INDEX


def _check_target(directory: Path) -> None:
    """The report may replace only a folder that holds nothing but an earlier report."""
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory}: the report folder is a file; move it away or choose another -o")
    if directory.is_dir():
        others = sorted(p.name for p in directory.iterdir() if p.name not in REPORT_MEMBERS)
        if others:
            raise OutputError(f"{directory}: the folder exists and is not a report (it holds {', '.join(others[:3])}"
                              f"{' …' if len(others) > 3 else ''}); choose another -o or empty it")


def _copy_figures(report: RunReport, folder: Path) -> dict[Path, str]:
    """Copy every step's figures into ``folder/figures``; each figure's link relative to the page."""
    hrefs: dict[Path, str] = {}
    taken: set[str] = set()
    for step in report.steps:
        for figure in step.figures:
            name = figure.name if figure.name not in taken else f"{step.step_id}-{len(taken)}-{figure.name}"
            taken.add(name)
            (folder / FIGURES).mkdir(exist_ok=True)
            shutil.copyfile(figure, folder / FIGURES / name)
            hrefs[figure] = f"{FIGURES}/{name}"
    return hrefs


def _swap(partial: Path, directory: Path) -> None:
    """Put the complete ``partial`` folder in place of ``directory``, an earlier report moved aside first."""
    aside = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    had_old = directory.exists()
    try:
        if had_old:
            os.replace(directory, aside)
        os.replace(partial, directory)
    except OSError as error:
        if had_old and aside.exists() and not directory.exists():
            os.replace(aside, directory)
        raise OutputError(f"{directory}: cannot write the report ({error.strerror})") from error
    shutil.rmtree(aside, ignore_errors=True)
