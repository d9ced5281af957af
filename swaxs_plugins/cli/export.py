"""``swaxs export``: processed results in other programs' formats (``nxcansas``: mean curves for SasView).

A thin call into :mod:`swaxs_plugins.io.nxcansas`; bad input (no such file, entry or region; not a
curves file) is one line naming it and exit status 1, as every ``swaxs`` command does.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def export() -> None:
    """Export processed results in other programs' formats."""


@export.command("nxcansas")
@click.argument("input_file", metavar="INPUT.nxs", type=click.Path(path_type=Path))
@click.option("--entry", default=None, metavar="STEP",
              help="The step whose curves to average (default: the file's one entry holding curves).")
@click.option("--region", default=None, metavar="NAME", help="A mask region of a mask step, e.g. electrode.")
@click.option("--points", default=None, metavar="SELECTION",
              help="Scan points instead of a region: 'Y,X' parts joined by ';', each an index or a slice "
                   "(2:4,0:5 a box; 1,2;3,4 two points).")
@click.option("--masks", type=click.Path(path_type=Path), default=None, metavar="MASKS.nxs",
              help="The file holding the mask step's output (default: INPUT.nxs, e.g. a pipeline output).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, metavar="OUT.h5",
              help="The NXcanSAS file to write.")
def nxcansas(input_file: Path, entry: str | None, region: str | None, points: str | None, masks: Path | None,
             output: Path) -> None:
    """Write the mean curve per scan over a mask region or a selection of scan points as NXcanSAS (SasView)."""
    from swaxs_plugins.io.nxcansas import curves_entry, export_nxcansas

    for path, what in ((input_file, "INPUT"), (masks, "--masks")):
        if path is not None and not path.is_file():
            raise click.ClickException(f"{path}: file not found ({what})")
    chosen = entry or curves_entry(input_file)
    mean = export_nxcansas(input_file, chosen, output, region=region, masks=masks, points=points)
    excluded = mean.points * mean.valid.shape[1] * mean.valid.shape[0] - int(mean.valid.sum())
    click.echo(f"{output}: {mean.intensity.shape[0]} SASentry (one per scan), mean of {mean.region} over "
               f"{mean.points} points, {mean.q.size} Q bins in {mean.q_units}; {excluded} NaN point values left out")
