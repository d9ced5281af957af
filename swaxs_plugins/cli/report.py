"""``swaxs report``: a static HTML page of a pipeline's output file (run state, and per step its quality
figures, warnings, figures and provenance), in a folder that can be zipped and sent."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("output", type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Folder of the report (default: <OUTPUT stem>_report beside OUTPUT); index.html inside.")
def report(output: Path, directory: Path | None) -> None:
    """Write an HTML report of pipeline output OUTPUT (a .nxs written by 'swaxs run')."""
    from swaxs_plugins.report import write_report

    click.echo(f"wrote {write_report(output, directory)}")
