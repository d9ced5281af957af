"""``swaxs schema``: the JSON Schema of pipeline files, for an editor's completion and checks while typing.

The schema holds the parameters of every step implementation installed here (plugins included), so a
facility that adds plugins regenerates it rather than using the copy in the documentation.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write the schema to (default: print it).")
@click.pass_context
def schema(ctx: click.Context, output: Path | None) -> None:
    """Print (or write) the JSON Schema of pipeline files, with the parameters of every installed step:
    e.g. '# yaml-language-server: $schema=pipeline.schema.json' atop a pipeline, for VS Code's YAML extension."""
    from swaxs_plugins.cli import _registry
    from swaxs_plugins.core.errors import SwaxsError
    from swaxs_plugins.core.schema import pipeline_schema

    text = json.dumps(pipeline_schema(_registry(ctx)), indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    partial = output.with_name(f".{output.name}.partial")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text)
        partial.replace(output)
    except OSError as error:
        raise SwaxsError(f"{output}: cannot write the schema ({error.strerror or error})") from error
    click.echo(f"wrote {output}")
