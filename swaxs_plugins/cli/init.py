"""``swaxs init``: a starter pipeline for a facility's raw files, written and checked."""

from __future__ import annotations

from pathlib import Path

import click

from swaxs_plugins.core.errors import SwaxsError


def _by_role(values: tuple[str, ...], option: str) -> dict[str, Path]:
    """``saxs=FILE`` options as {role: path}; an error naming the option for any other form."""
    found = {}
    for value in values:
        role, sep, path = value.partition("=")
        if not sep or role not in ("saxs", "waxs") or not path:
            raise SwaxsError(f"option '{option}' {value!r}: give saxs=FILE or waxs=FILE")
        found[role] = Path(path)
    return found


@click.command("init")
@click.argument("scans", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--empty", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The empty-beam (air) scan: its monitor and diode give the transmission's reference.")
@click.option("--poni", "ponis", multiple=True, metavar="ROLE=FILE", required=True,
              help="Geometry of the saxs or the waxs detector (repeat for both), e.g. --poni saxs=saxs.poni.")
@click.option("--mask", "masks", multiple=True, metavar="ROLE=FILE",
              help="Mask image of a detector (0 = valid), e.g. --mask saxs=beamstop.edf (repeatable).")
@click.option("--cycler-log", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The cycler's log (CSV or BioLogic .mpt), plotted above the difference time series.")
@click.option("--name", default="operando", show_default=True, help="Name of the pipeline (and its output file).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("pipeline.yaml"),
              show_default=True, help="Pipeline file to write (not replaced where it exists).")
@click.pass_context
def init(ctx: click.Context, scans: tuple[Path, ...], empty: Path, ponis: tuple[str, ...], masks: tuple[str, ...],
         cycler_log: Path | None, name: str, output: Path) -> None:
    """Inspect SCANS (one raw file per scan), say what they hold, and write the default operando pipeline
    adapted to their layout, then check it: `swaxs run` it as it is, or edit it first."""
    from swaxs_plugins.cli import _registry
    from swaxs_plugins.core.plan import check_pipeline
    from swaxs_plugins.pipelines.starter import starter_pipeline

    if output.exists():
        raise SwaxsError(f"{output}: exists; give another --output or remove it")
    starter = starter_pipeline(scans, empty, _by_role(ponis, "--poni"), output.resolve().parent,
                               masks=_by_role(masks, "--mask"), cycler_log=cycler_log, name=name)
    for line in starter.found:
        click.echo(f"  {line}")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(starter.text)
    partial.replace(output)
    plan = check_pipeline(output, _registry(ctx))
    click.echo(f"wrote {output}: {len(plan.steps)} steps, checked; run it with: swaxs run {output}")
