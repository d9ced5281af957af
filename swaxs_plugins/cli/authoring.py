"""Commands for plugin authors: ``swaxs new-plugin`` (a package that works) and ``swaxs plugins verify``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("new-plugin")
@click.argument("name")
@click.option("--kind", required=True, help="Step kind of the implementation (a built-in one or a new one).")
@click.option("-o", "--output", "folder", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder to write the package folder NAME in.")
def new_plugin(name: str, kind: str, folder: Path) -> None:
    """Write an installable plugin package NAME: pyproject with the entry point, a step, a README, tests."""
    from swaxs_plugins.scaffold import new_plugin as scaffold

    root = scaffold(name, kind, folder)
    click.echo(f"wrote {root}: cd {root} && pip install -e '.[test]' && swaxs plugins verify {name} && pytest")


@click.command()
@click.argument("name", required=False)
@click.option("--dask", is_flag=True, help="Also compare a run on a local Dask cluster with the serial one (slow).")
@click.option("--params", "params_json", default=None, metavar="JSON",
              help='Parameters for the runs, e.g. \'{"q_range": [0.1, 0.3]}\' (default: the step\'s defaults).')
@click.pass_context
def verify(ctx: click.Context, name: str | None, dask: bool, params_json: str | None) -> None:
    """Run the contract checks on NAME (kind/name, plugin or distribution; default: every third-party step):
    imports, documented parameters, known layouts, a run on test inputs, pickling, executors, determinism."""
    from swaxs_plugins.cli import _registry
    from swaxs_plugins.verify import selected
    from swaxs_plugins.verify import verify as run_checks

    registry = _registry(ctx)
    broken = [e for e in registry.load_errors if name is None or name in (e.source.name, e.source.distribution)]
    for failure in broken:
        click.echo(f"FAIL {failure.source.name:<28} {'loads':<14} {failure.message} [{failure.source}]")
    steps = selected(registry, name) if not (broken and name is not None) else []
    if not steps and not broken:
        click.echo("no third-party step implementation is installed; name one (e.g. integrate/pyfai) to check it")
        return
    checks = run_checks(steps, dask=dask, params=_params(params_json))
    for check in checks:
        click.echo(str(check))
    failed = [c for c in checks if c.status == "FAIL"]
    click.echo(f"{len(checks) - len(failed)} of {len(checks)} checks passed or skipped")
    if failed or broken:
        sys.exit(1)


def _params(text: str | None) -> dict:
    """The --params JSON object; a clear error where it is not one."""
    if text is None:
        return {}
    from swaxs_plugins.core.errors import SwaxsError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise SwaxsError(f"plugins verify, option --params: not JSON ({error})") from error
    if not isinstance(value, dict):
        raise SwaxsError("plugins verify, option --params: give a JSON object of parameter names and values")
    return value
