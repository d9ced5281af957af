"""The ``swaxs`` command. Each subcommand is a thin call into the library.

This module holds the group and the pipeline commands (plugins, describe, check, run, validate, view,
demo); :mod:`.simulate` the simulations, :mod:`.instrument` integrate, calibrate and geometry; :mod:`.init`
the starter pipeline; :mod:`.authoring` new-plugin and plugins verify.

Every command ends in one of three ways: its result and exit 0; one clear message naming the file,
step or field and exit 1 (a :class:`SwaxsError`); or, on Ctrl-C, one line and exit 130. The library
is imported inside the commands, so that the Ctrl-C handler is in place within a moment of start.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import traceback
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
                if (ctx.obj or {}).get("traceback"):
                    traceback.print_exception(error.__cause__ or error, file=sys.stderr)
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
@click.option("--traceback", "show_traceback", is_flag=True,
              help="On an error, print the whole traceback (of a failing step: of the plugin's exception).")
@click.option("-v", "--verbose", is_flag=True, help="Log informational messages; implies --traceback.")
@click.pass_context
def main(ctx: click.Context, plugin_dirs: tuple[Path, ...], show_traceback: bool, verbose: bool) -> None:
    """Scanning SAXS/WAXS and SAXS tomography: pipelines of plugin steps, NeXus in and out."""
    ctx.ensure_object(dict)
    ctx.obj["plugin_dirs"] = plugin_dirs
    ctx.obj["traceback"] = show_traceback or verbose
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List step implementations, defaults, conflicts and plugins that failed to load (no step module is
    imported); 'swaxs plugins verify' checks them."""
    if ctx.invoked_subcommand is not None:
        return
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
            rows.append(_row(kind, step.impl.name, step.version, step.source.distribution, str(step.source),
                             step.impl.name == default, None, step.impl.description))
    for (kind, name), claimants in registry.conflicts.items():
        rows.append(_row(kind, name, None, None, " and ".join(str(s.source) for s in claimants), False,
                         registry.clash_explanation(kind, name), claimants[0].impl.description))
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
    cls = step.step_class
    click.echo(json.dumps({"kind": kind, "name": step.impl.name, "version": step.version,
                           "description": step.impl.description, "definition": cls.definition,
                           "inputs": {k: asdict(v) for k, v in cls.inputs.items()},
                           "parameters": cls.Parameters.model_json_schema()}, indent=1))


@main.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, pipeline: Path) -> None:
    """Validate PIPELINE without processing data: schema, plugins, references, files, shapes, memory."""
    from swaxs_plugins.core.plan import check_pipeline

    registry = _registry(ctx)
    _report_load_errors(registry)
    plan = check_pipeline(pipeline, registry)
    for name, lines in plan.found.items():
        for line in lines:
            click.echo(f"  input '{name}': {line}")
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
@click.option("--from", "rerun_from", metavar="STEP", default=None,
              help="Recompute STEP and every step that depends on it; keep the others where unchanged.")
@click.option("-q", "--quiet", is_flag=True, help="Print no step progress on stderr, only failures and the summary.")
@click.option("--log-file", type=click.Path(path_type=Path), default=None,
              help="Also append the step progress lines to this file.")
@click.pass_context
def run(ctx: click.Context, pipeline: Path, executor: str, workers: int | None, scheduler: str | None,
        overwrite: bool, rerun_from: str | None, quiet: bool, log_file: Path | None) -> None:
    """Run PIPELINE; unchanged steps of an earlier run are kept (resume). Ctrl-C stops it (exit 130).

    A step counts as unchanged when its implementation (version and code), parameters and the content of
    what it reads are: a processed folder moved or copied elsewhere resumes. Each step's start and end (with
    its time) are printed on stderr as they happen: 'step k/N id (kind/impl)'.
    """
    from swaxs_plugins.cli.progress import reporter_for
    from swaxs_plugins.core.executors import make_executor
    from swaxs_plugins.core.pipeline import run_pipeline
    from swaxs_plugins.core.plan import check_pipeline

    registry = _registry(ctx)
    _report_load_errors(registry)
    plan = check_pipeline(pipeline, registry)
    registry.manager.register(reporter_for(quiet, log_file), name="swaxs run progress")
    with make_executor(executor, workers=workers, scheduler=scheduler) as chosen:
        runs = run_pipeline(plan, registry, chosen, overwrite=overwrite, rerun_from=rerun_from)
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
    """Open FILE in silx view (needs the gui extra: pip install "swaxs-plugins[gui]")."""
    missing = missing_gui_packages()
    if missing:
        raise click.ClickException(f"swaxs view: {', '.join(missing)} not installed; silx's viewer needs a Qt "
                                   "binding, qtawesome and PyOpenGL: pip install \"swaxs-plugins[gui]\"")
    sys.exit(subprocess.call([sys.executable, "-m", "silx", "view", str(file)]))


def missing_gui_packages() -> list[str]:
    """What silx's viewer needs and is not importable here: a Qt binding, qtawesome, PyOpenGL."""
    from importlib.util import find_spec

    needed = {"a Qt binding (PySide6, PyQt6 or PyQt5)": ("PySide6", "PyQt6", "PyQt5"), "qtawesome": ("qtawesome",),
              "PyOpenGL": ("OpenGL",)}
    return [what for what, modules in needed.items() if not any(find_spec(m) for m in modules)]


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
    for page in report.pages:
        click.echo(f"report {page}")
    click.echo(f"NXcanSAS (SasView) {report.exported}")
    click.echo(f"summary: {outdir / 'summary.json'}")
    if not report.ok:
        raise click.ClickException("[demo] some recovered values are outside their tolerance or files are invalid")


def _register_commands() -> None:
    """The simulation and instrument commands live in modules of their own (:mod:`.simulate`, :mod:`.instrument`)."""
    from swaxs_plugins.cli.authoring import new_plugin, verify
    from swaxs_plugins.cli.export import export
    from swaxs_plugins.cli.init import init
    from swaxs_plugins.cli.instrument import calibrate, geometry, integrate_command
    from swaxs_plugins.cli.report import report
    from swaxs_plugins.cli.schema import schema
    from swaxs_plugins.cli.simulate import simulate

    for command in (init, simulate, integrate_command, calibrate, geometry, new_plugin, export, report, schema):
        main.add_command(command)
    plugins.add_command(verify)


_register_commands()
