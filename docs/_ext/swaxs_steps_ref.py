"""Sphinx extension: the reference of every step kind and implementation, from their parameter schemas.

The directive ``swaxs-steps`` asks the registry (built-in plugins only, as ``swaxs plugins`` and
``swaxs describe`` find them) for every kind, its implementations and default, and writes per
implementation its description, NeXus definition, the layouts it produces, its inputs and a table of its
parameters (type, default, unit, description) from ``Parameters.model_json_schema()``: the page cannot
drift from the code. Nested parameter models (e.g. a fit's peaks) get a table of their own.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from swaxs_nodes import code, field_list, page_ref, paragraph, section, table

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.core.registry import RegisteredStep, Registry
from swaxs_plugins.core.schema import pipeline_schema
from swaxs_plugins.core.step import InputSpec

CONSTRAINTS = {"exclusiveMinimum": "> {}", "minimum": "≥ {}", "exclusiveMaximum": "< {}", "maximum": "≤ {}",
               "minLength": "at least {} items", "maxLength": "at most {} items",
               "minItems": "at least {} items", "maxItems": "at most {} items", "pattern": "matches {}"}
HEADER = ["parameter", "type", "default", "unit", "description"]
WIDTHS = [14, 14, 12, 8, 40]
LONG_DEFAULT = 40
"""Defaults longer than this (as JSON) are shown as YAML below the table."""


def step_anchor(kind: str, name: str) -> str:
    return f"step-{kind}-{name}"


def schema_type(prop: dict[str, Any]) -> str:
    """A JSON-schema property as a short type: ``int``, ``float | null``, ``[float, float]``, ``dict[str, PeakSpec]``."""
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " | ".join(schema_type(option) for option in prop["anyOf"])
    if "enum" in prop:
        return " | ".join(json.dumps(value) for value in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    kind = prop.get("type", "any")
    if kind == "array" and "prefixItems" in prop:
        return "[" + ", ".join(schema_type(item) for item in prop["prefixItems"]) + "]"
    if kind == "array":
        return f"list[{schema_type(prop.get('items', {}))}]"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"dict[str, {schema_type(prop['additionalProperties'])}]"
    return {"integer": "int", "number": "float", "string": "path" if prop.get("format") == "path" else "str",
            "boolean": "bool", "object": "dict"}.get(kind, kind)


def constraints(prop: dict[str, Any]) -> str:
    """The bounds a value must keep, e.g. ``> 1``, from the property or the non-null option of an ``anyOf``."""
    options = [prop, *prop.get("anyOf", [])]
    found = [template.format(option[key]) for option in options for key, template in CONSTRAINTS.items()
             if key in option and not (key.endswith("Items") and "prefixItems" in option)]
    return f" ({', '.join(found)})" if found else ""


def default_cell(name: str, prop: dict[str, Any], required: set[str], long: dict[str, Any]) -> Any:
    """The default as code; 'required' where there is none; a long one is set aside in ``long`` (shown below)."""
    if name in required or "default" not in prop:
        return "required"
    text = json.dumps(prop["default"])
    if len(text) <= LONG_DEFAULT:
        return code(text)
    long[name] = prop["default"]
    return "below"


def parameter_rows(schema: dict[str, Any], long: dict[str, Any], units: bool = True) -> list[list[Any]]:
    """One row per parameter: name, type, default (or 'required'), unit (where ``units``), description."""
    required = set(schema.get("required", []))
    return [[code(name), code(schema_type(prop)), default_cell(name, prop, required, long),
             *([prop.get("unit", "")] if units else []), prop.get("description", "") + constraints(prop)]
            for name, prop in schema.get("properties", {}).items()]


def parameter_table(schema: dict[str, Any], units: bool = True) -> list[nodes.Node]:
    """A model's table, then its long defaults as YAML, as a pipeline would write them."""
    long: dict[str, Any] = {}
    header, widths = (HEADER, WIDTHS) if units else (["field", *HEADER[1:3], HEADER[4]], [*WIDTHS[:3], WIDTHS[4]])
    found: list[nodes.Node] = [table(header, parameter_rows(schema, long, units), widths)]
    for name, value in long.items():
        found.append(paragraph(f"Default of ``{name}``:"))
        found.append(nodes.literal_block(text=yaml.safe_dump({name: value}, sort_keys=False), language="yaml"))
    return found


def parameter_tables(schema: dict[str, Any]) -> list[nodes.Node]:
    """The parameter table, and one per nested model the parameters use."""
    if not schema.get("properties"):
        return [paragraph("No parameters.")]
    found = parameter_table(schema)
    for name, nested in schema.get("$defs", {}).items():
        found.append(nodes.rubric(text=name))
        if nested.get("description"):
            found.append(paragraph(nested["description"]))
        found += parameter_table(nested)
    return found


def input_rows(inputs: dict[str, InputSpec]) -> list[list[Any]]:
    """One row per input: name, what it takes (raw data, layouts, kinds), required, description."""
    rows = []
    for name, spec in inputs.items():
        takes = [spec.source] + [f"layout {layout}" for layout in spec.layouts]
        takes += [f"kind {kind}" for kind in spec.step_kinds]
        rows.append([code(name), ", ".join(takes), "yes" if spec.required else "no", spec.description])
    return rows


class PipelineModelDirective(SphinxDirective):
    """``swaxs-pipeline-model NAME``: the fields of a part of the pipeline file (``PipelineConfig``,
    ``StepConfig``, ``RawSource``), from the pipeline schema."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        schema = pipeline_schema()
        model = schema if self.arguments[0] == schema["title"] else schema["$defs"].get(self.arguments[0])
        if model is None:
            raise self.error(f"no part '{self.arguments[0]}' in the pipeline schema; there are {schema['title']}, "
                             + ", ".join(schema["$defs"]))
        return parameter_table(model, units=False)


class StepsDirective(SphinxDirective):
    """``swaxs-steps``: a section per kind, a subsection per implementation."""

    def run(self) -> list[nodes.Node]:
        registry = Registry.discover(autoload=False)
        if registry.load_errors:
            raise self.error("built-in plugins failed to load: " + "; ".join(e.message for e in registry.load_errors))
        return [self._kind(registry, kind) for kind in registry.kinds()]

    def _kind(self, registry: Registry, kind: str) -> nodes.section:
        node = section(self, kind, f"kind-{kind}")
        try:
            default = registry.default_name(kind)
        except SwaxsError:
            default = None
        names = ", ".join(s.impl.name + (" (default)" if s.impl.name == default else "")
                          for s in registry.implementations(kind))
        node += paragraph(f"Implementations: {names}. In a pipeline: ``kind: {kind}``, and ``impl: NAME`` for "
                          "another implementation than the default.")
        for step in registry.implementations(kind):
            node += self._implementation(step, step.impl.name == default)
        return node

    def _implementation(self, step: RegisteredStep, default: bool) -> nodes.section:
        kind, name = step.impl.kind, step.impl.name
        node = section(self, f"{kind}/{name}" + (" (default)" if default else ""), step_anchor(kind, name))
        cls = step.step_class
        node += paragraph(step.impl.description)
        produces = ", ".join(cls.produces) or "none (read by no later step)"
        node += field_list([("class", code(f"{cls.__module__}.{cls.__qualname__}")),
                            ("from", f"{step.program} {step.version}"),
                            ("NeXus definition", page_ref(f"nxdl-{cls.definition}", cls.definition)
                             if cls.definition.startswith("NXswaxs") else code(cls.definition)),
                            ("layouts written", produces),
                            ("describe", code(f"swaxs describe {kind} {name}"))])
        node += nodes.rubric(text="Inputs")
        node += table(["input", "takes", "required", "description"], input_rows(dict(cls.inputs)), [12, 22, 8, 46]) \
            if cls.inputs else paragraph("No inputs.")
        node += nodes.rubric(text="Parameters")
        node.extend(parameter_tables(cls.Parameters.model_json_schema()))
        return node


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("swaxs-steps", StepsDirective)
    app.add_directive("swaxs-pipeline-model", PipelineModelDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
