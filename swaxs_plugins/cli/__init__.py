"""The ``swaxs`` command. Each subcommand is a thin call into the library.

Every command ends in one of three ways: its result and exit 0; one clear message naming the file,
step or field and exit 1 (a :class:`SwaxsError`); or, on Ctrl-C, one line and exit 130. The library
is imported inside the commands, so that the Ctrl-C handler is in place within a moment of start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from swaxs_plugins import __version__
from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.core.interrupt import check_interrupt, interrupt_guard

if TYPE_CHECKING:
    from swaxs_plugins.core.registry import Registry

INTERRUPTED_EXIT = 130
"""Exit status after Ctrl-C (128 + SIGINT), as a shell reports a command stopped by it."""
RESUME_HINT = {"run": "; steps that completed are kept, run the same command again to resume",
               "demo": "; run it again to start over"}


class SwaxsGroup(click.Group):
    """Turns every :class:`SwaxsError` into one clear message on stderr and exit status 1, and
    Ctrl-C, wherever it lands, into one line on stderr and exit status 130."""

    def invoke(self, ctx: click.Context) -> Any:
        with interrupt_guard():
            try:
                result = super().invoke(ctx)
                check_interrupt()
                return result
            except KeyboardInterrupt:
                command = ctx.invoked_subcommand or ""
                click.echo(f"[{command}] interrupted{RESUME_HINT.get(command, '')}", err=True)
                ctx.exit(INTERRUPTED_EXIT)
            except SwaxsError as error:
                raise click.ClickException(f"[{ctx.invoked_subcommand or ''}] {error}") from error


def _registry(ctx: click.Context) -> Registry:
    from swaxs_plugins.core.registry import Registry

    obj = ctx.find_root().obj
    if "registry" not in obj:
        obj["registry"] = Registry.discover(obj["plugin_dirs"])
    return obj["registry"]


def _report_load_errors(registry: Registry) -> None:
    """One line on stderr per plugin that failed to load; the pipeline may not need it."""
    for failure in registry.load_errors:
        click.echo(f"warning: plugin '{failure.source.name}' ({failure.source}) failed to load: {failure.message}; "
                   "see 'swaxs plugins'", err=True)


@click.group(cls=SwaxsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="swaxs")
@click.option("--plugins-dir", "plugin_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Folder of one-file plugins to load (repeatable); SWAXS_PLUGINS_PATH adds more.")
@click.pass_context
def main(ctx: click.Context, plugin_dirs: tuple[Path, ...]) -> None:
    """Scanning SAXS/WAXS and SAXS tomography: pipelines of plugin steps, NeXus in and out."""
    ctx.ensure_object(dict)
    ctx.obj["plugin_dirs"] = plugin_dirs


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List step implementations, defaults, conflicts and plugins that failed to load."""
    registry = _registry(ctx)
    rows = _plugin_rows(registry)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        click.echo(_plugin_line(row))
    click.echo("(* = default implementation of its kind, ! = could not be used)")


def _plugin_line(row: dict[str, Any]) -> str:
    """One row of ``swaxs plugins``; a plugin that could not be used shows where it came from and why
    (a plugin that failed to load has no kind yet: '?')."""
    if row["error"]:
        return f"! {row['kind'] or '?':<13} {row['name']:<16} ERROR {row['error']} [{row['source']}]"
    mark = "*" if row["default"] else " "
    where = row["distribution"] or row["source"]
    return f"{mark} {row['kind']:<13} {row['name']:<16} {row['version'] or '':<10} {where}"


def _plugin_rows(registry: Registry) -> list[dict[str, Any]]:
    rows = []
    for kind in registry.kinds():
        try:
            default = registry.default_name(kind)
        except SwaxsError:
            default = None
        for step in registry.implementations(kind):
            rows.append(_row(kind, step.impl.name, step.impl.version, step.source.distribution, str(step.source),
                             step.impl.name == default, None, step.impl.description))
    for (kind, name), claimants in registry.conflicts.items():
        error = "registered twice, by " + " and ".join(str(s.source) for s in claimants)
        for step in claimants:
            rows.append(_row(kind, name, step.impl.version, step.source.distribution, str(step.source), False, error,
                             step.impl.description))
    for failure in registry.load_errors:
        rows.append(_row(None, failure.source.name, failure.source.version, failure.source.distribution,
                         str(failure.source), False, failure.message, ""))
    return rows


def _row(kind: str | None, name: str, version: str | None, distribution: str | None, source: str, default: bool,
         error: str | None, description: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "version": version, "distribution": distribution, "source": source,
            "default": default, "error": error, "description": description}


@main.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.pass_context
def describe(ctx: click.Context, kind: str, name: str | None) -> None:
    """Show a step's inputs and parameters (JSON schema with units and defaults)."""
    step = _registry(ctx).get(kind, name)
    cls = step.impl.cls
    click.echo(json.dumps({"kind": kind, "name": step.impl.name, "version": step.impl.version,
                           "description": step.impl.description, "definition": cls.definition,
                           "inputs": {k: asdict(v) for k, v in cls.inputs.items()},
                           "parameters": cls.Parameters.model_json_schema()}, indent=1))


@main.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, pipeline: Path) -> None:
    """Validate PIPELINE without processing data: schema, plugins, references, files, shapes, memory."""
    from swaxs_plugins.core.pipeline import check_pipeline

    registry = _registry(ctx)
    _report_load_errors(registry)
    plan = check_pipeline(pipeline, registry)
    for step in plan.steps:
        shapes = ", ".join(f"{k} {list(v)}" for k, v in step.estimate.outputs.items()) or "-"
        click.echo(f"  {step.config.id:<20} {step.config.kind}/{step.registered.impl.name:<12} {shapes}")
    click.echo(f"{pipeline}: OK, {len(plan.steps)} steps; estimated peak memory "
               f"{plan.memory_bytes / 2**20:.0f} MiB; output {plan.output}")


@main.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--executor", type=click.Choice(["serial", "threads", "dask"]), default="serial", show_default=True,
              help="Where frame-wise work runs: this thread, a pool of threads, or a Dask cluster.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Threads, or workers of the local Dask cluster (default: one per core).")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler, e.g. tcp://host:8786.")
@click.option("--overwrite", is_flag=True, help="Recompute every step and replace existing results.")
@click.pass_context
def run(ctx: click.Context, pipeline: Path, executor: str, workers: int | None, scheduler: str | None,
        overwrite: bool) -> None:
    """Run PIPELINE; unchanged steps of an earlier run are kept (resume). Ctrl-C stops it (exit 130)."""
    from swaxs_plugins.core.executors import make_executor
    from swaxs_plugins.core.pipeline import check_pipeline, run_pipeline

    registry = _registry(ctx)
    _report_load_errors(registry)
    plan = check_pipeline(pipeline, registry)
    with make_executor(executor, workers=workers, scheduler=scheduler) as chosen:
        runs = run_pipeline(plan, registry, chosen, overwrite=overwrite)
    _echo_runs(runs)
    click.echo(f"wrote {plan.output}")


def _echo_runs(runs: list[Any]) -> None:
    """Every step's status and file, its quality figures and its warnings (the run summary)."""
    for step in runs:
        click.echo(f"  {step.step_id:<20} {step.status:<10} {step.path}")
        for name, value in step.summary.items():
            click.echo(f"      {name}: {value}")
        for warning in step.warnings:
            click.echo(f"      warning: {warning}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check FILES against the NeXus application definitions their entries declare."""
    from swaxs_plugins.io.validation import validate_file

    failed = False
    for path in files:
        for report in validate_file(path):
            verdict = "OK" if report.ok else "FAILED"
            click.echo(f"{path}::{report.entry} [{report.definition}] {verdict}: "
                       f"{report.errors} errors, {report.warnings} warnings")
            for message in report.messages if not report.ok else []:
                click.echo(f"    {message}")
            failed |= not report.ok
    if failed:
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def view(file: Path) -> None:
    """Open FILE in silx view."""
    sys.exit(subprocess.call([sys.executable, "-m", "silx", "view", str(file)]))


@main.command()
@click.argument("outdir", type=click.Path(path_type=Path), default="demo_output")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the simulation.")
@click.option("--executor", type=click.Choice(["serial", "threads", "dask"]), default="threads", show_default=True,
              help="Where frame-wise work runs.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Threads or Dask workers.")
@click.pass_context
def demo(ctx: click.Context, outdir: Path, seed: int, executor: str, workers: int | None) -> None:
    """Simulate the default experiment, run the default pipelines, compare with the truth."""
    from swaxs_plugins.demo import format_table, run_demo

    report = run_demo(outdir, seed=seed, executor=executor, workers=workers, registry=_registry(ctx))
    _echo_runs(report.runs)
    click.echo(format_table(report.comparisons))
    for result in report.validation:
        click.echo(f"NeXus {result.file}::{result.entry} [{result.definition}]: "
                   f"{'valid' if result.ok else 'INVALID'} ({result.errors} errors)")
    for figure in report.figures:
        click.echo(f"figure {figure}")
    click.echo(f"summary: {outdir / 'summary.json'}")
    if not report.ok:
        raise click.ClickException("[demo] some recovered values are outside their tolerance or files are invalid")

@main.group()
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


@main.command("integrate")
@click.argument("source", metavar="INPUT")
@click.option("--poni", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="PONI file of the geometry.")
@click.option("--orientation", type=click.IntRange(1, 4), default=None,
              help="pyFAI detector orientation 1-4 replacing the PONI's (2: a PONI made on an image flipped "
                   "up-down, as Dioptas does). Default: the PONI's.")
@click.option("--npt", type=click.IntRange(min=2), default=1000, show_default=True, help="Radial bins.")
@click.option("--unit", type=click.Choice(["q_A^-1", "q_nm^-1", "2th_deg"]), default="q_A^-1", show_default=True)
@click.option("--segments", type=click.IntRange(min=0), default=0, show_default=True,
              help="Azimuthal segments I(chi, q); 0 = 1D only.")
@click.option("--mask", default=None, help="Mask image (0 = valid, pyFAI's convention) or file.h5::/path.")
@click.option("--monitor", default=None, metavar="DATASET",
              help="Per-frame monitor dataset in INPUT (HDF5); each frame is divided by its value.")
@click.option("--dummy", type=float, default=None,
              help="A pixel value marking invalid pixels; NaN, ±inf, negative values and the maximum of an "
                   "integer frame type (uint32 4294967295) are masked anyway.")
@click.option("--delta-dummy", type=click.FloatRange(min=0), default=None,
              help="Tolerance of --dummy (|value - dummy| <= delta), as pyFAI's.")
@click.option("--polarization", type=click.FloatRange(-1, 1), default=None, help="Polarization factor.")
@click.option("--method", default="bbox,csr,cython", show_default=True,
              help="pyFAI method: a name or split,algo,impl.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="NeXus file to write (NXazint1d); its folder is created.")
def integrate_command(source: str, poni: Path, orientation: int | None, npt: int, unit: str, segments: int,
                      mask: str | None, monitor: str | None, dummy: float | None, delta_dummy: float | None,
                      polarization: float | None, method: str, output: Path) -> None:
    """Integrate INPUT (an image file, or file.h5::/path/to/frames) azimuthally to I(q) in NeXus.

    Pixels invalid in a frame are masked there and counted; the count is printed and stored in the file.
    """
    from swaxs_plugins.io.raw import RawSource, split_location
    from swaxs_plugins.steps.integrate import IntegrateParameters, integrate_file

    path, dataset = split_location(source)
    parts = tuple(part.strip() for part in method.split(","))
    params = IntegrateParameters(poni=poni, orientation=orientation, npt=npt, unit=unit, segments=segments,
                                 mask=mask, dummy=dummy, delta_dummy=delta_dummy, polarization=polarization,
                                 method=parts if len(parts) == 3 else parts[0])
    context = integrate_file(RawSource(files=[path], frames=dataset, monitor=monitor), params, output)
    for name, value in context.summary.items():
        click.echo(f"{name}: {value}")
    for warning in context.warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"wrote {output}")


@main.command()
@click.argument("image")
@click.option("--calibrant", required=True, help="pyFAI calibrant name: AgBh, LaB6, CeO2, Si, ...")
@click.option("--detector", required=True, help="pyFAI detector name, e.g. Pilatus2M.")
@click.option("--orientation", type=click.IntRange(1, 4), default=None,
              help="pyFAI detector orientation of the image (1-4; 3 is pyFAI's default).")
@click.option("--wavelength", type=float, default=None, help="Wavelength [Å] (or --energy).")
@click.option("--energy", type=float, default=None, help="Energy [keV] (or --wavelength).")
@click.option("--distance", type=float, required=True, help="Sample-detector distance guess [m], within about ±15 %.")
@click.option("--beam-center", nargs=2, type=float, default=None,
              help="Beam centre guess ROW COL [px], on or off the detector; found from the rings when absent.")
@click.option("--center-search", type=click.FloatRange(min=0), default=None,
              help="Search the centre this far around --beam-center [px] (default 40).")
@click.option("--rot1", type=float, default=0.0, help="rot1 guess [rad].")
@click.option("--rot2", type=float, default=0.0, help="rot2 guess [rad].")
@click.option("--rot3", type=float, default=0.0, help="rot3 guess [rad].")
@click.option("--fix", default="rot3", show_default=True, help="Comma-separated parameters to hold fixed.")
@click.option("--mask", "mask_file", default=None, help="Mask image or file.h5::/dataset (nonzero = masked).")
@click.option("--max-rings", type=click.IntRange(min=1), default=None, help="Control points on at most this many rings.")
@click.option("--max-rms", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Quality gate: largest residual rms [px] (default 0.5).")
@click.option("--min-rings", type=click.IntRange(min=1), default=None,
              help="Quality gate: fewest rings holding control points (default 2).")
@click.option("--accept-poor", is_flag=True, help="Write a geometry the quality gate refuses (with warnings).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop with a message after this many seconds (default 60).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PONI file to write.")
def calibrate(image: str, output: Path, fix: str, beam_center: tuple[float, float] | None, accept_poor: bool,
              **options: Any) -> None:
    """Refine the detector geometry from the calibrant frame IMAGE (file or file.h5::/dataset).

    Exits non-zero, saying why, when no calibrant rings are found or the geometry fails the quality
    gate (residual rms, rings found, parameters at bounds, centre and distance errors).
    """
    from pydantic import ValidationError

    from swaxs_plugins.io.output import prepare_output
    from swaxs_plugins.steps.calibrate import CalibrateParameters, calibrate_with, read_image

    values = {name: value for name, value in options.items() if value is not None}
    try:
        params = CalibrateParameters(**values, accept_poor=accept_poor, beam_center=beam_center or None,
                                     fix=[name.strip() for name in fix.split(",") if name.strip()])
    except ValidationError as error:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-') or 'options'}: {e['msg']}"
                             for e in error.errors())
        raise click.UsageError(problems) from error
    prepare_output(output, "PONI file")
    result = calibrate_with(params, read_image(image), image)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(result.poni_text())
    partial.replace(output)
    g = result.geometry
    click.echo(f"dist {g.dist:.6f} m  poni1 {g.poni1:.6f} m  poni2 {g.poni2:.6f} m  "
               f"rot1 {g.rot1:.6f}  rot2 {g.rot2:.6f}  rot3 {g.rot3:.6f} rad")
    row, col = result.beam_center
    click.echo(f"beam centre (row {row:.3f}, col {col:.3f}) px, direct distance {result.direct_distance:.6f} m")
    click.echo(result.quality.summary())
    for problem in result.problems:
        click.echo(f"warning: poor calibration accepted: {problem}", err=True)
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
