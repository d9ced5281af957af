"""``swaxs simulate``: the embedded experiment's raw data, written like a beamline's, truth kept apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.group()
def simulate() -> None:
    """Simulate the embedded experiment: raw data written like a beamline's, truth kept apart."""


def _simulation_options(func: Any) -> Any:
    func = click.option("--seed", type=int, default=0, show_default=True, help="Random seed (reproducible runs).")(func)
    func = click.option("--scale", type=click.Choice(["small", "paper"]), default="small", show_default=True,
                        help="Demo size, or the reference paper's size (slow, large).")(func)
    return click.argument("outdir", type=click.Path(path_type=Path))(func)


@simulate.command("calibrants")
@_simulation_options
def simulate_calibrants_command(outdir: Path, seed: int, scale: str) -> None:
    """AgBh on the SAXS detector and LaB6 on the WAXS strip, with their true PONI files."""
    from swaxs_plugins.simulate import simulate_calibrants

    _report_simulation(_simulated(simulate_calibrants, outdir, seed, scale))


@simulate.command("operando")
@_simulation_options
def simulate_operando_command(outdir: Path, seed: int, scale: str) -> None:
    """Raster scans of a sodiating hard-carbon anode (pristine + operando), SAXS and WAXS."""
    from swaxs_plugins.simulate import simulate_operando

    _report_simulation(_simulated(simulate_operando, outdir, seed, scale))


@simulate.command("tomography")
@_simulation_options
@click.option("--samples", "samples", multiple=True, metavar="NAME[,NAME...]",
              help="Samples to simulate, one file each named after it: electrode (anisotropic, the default), "
                   "low_sodiation, high_sodiation (isotropic ex-situ samples). Repeatable or comma-separated.")
@click.option("--raw", is_flag=True, help="Write raw scans (detector frames, one scan per projection, 16³ voxels, "
                                          "24 projections) instead of segmented projections.")
@click.option("--anisotropy", type=click.FloatRange(min=0.0), default=None,
              help="Factor on the fibre anisotropy of every sample (default: each sample's own, 1 or 0).")
def simulate_tomography_command(outdir: Path, seed: int, scale: str, samples: tuple[str, ...], raw: bool,
                                anisotropy: float | None) -> None:
    """SAXS tomography of hard-carbon electrodes with known misalignments: segmented projections, or raw scans."""
    from functools import partial

    from swaxs_plugins.simulate import simulate_tomography

    names = [name.strip() for value in samples for name in value.split(",") if name.strip()] or None
    files = _simulated(partial(simulate_tomography, samples=names, raw=raw, anisotropy=anisotropy), outdir, seed,
                       scale)
    for sample in files.samples:
        written = sample.projections or f"{sample.scans[0].parent} ({len(sample.scans)} scans)"
        click.echo(f"{sample.name:<15} {written}\n{'':<15} truth {sample.truth}")
    for label, path in (("empty beam", files.empty), ("mask", files.mask), ("true PONI", files.poni)):
        if path is not None:
            click.echo(f"{label:<15} {path}")


def _simulated(simulator: Any, outdir: Path, seed: int, scale: str) -> Any:
    """Run a simulator into OUTDIR, created (or refused) first; its ValueErrors become one clear message."""
    from swaxs_plugins.io.output import prepare_folder

    prepare_folder(outdir, "simulation folder (OUTDIR)")
    try:
        return simulator(outdir, seed=seed, scale=scale)
    except ValueError as error:
        raise click.ClickException(f"[simulate] {error}") from error


def _report_simulation(result: Any) -> None:
    for label, paths in (("raw", result.raw), ("reference", result.references), ("image", result.images),
                         ("truth", result.truth)):
        for path in paths:
            click.echo(f"{label:<10} {path}")
