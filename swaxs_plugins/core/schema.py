"""The JSON Schema of pipeline files, for editors (completion, hover help and checks while typing).

:func:`pipeline_schema` starts from the pydantic models that parse a pipeline
(:class:`~swaxs_plugins.core.plan.PipelineConfig`, with its steps and raw inputs) and, given a registry,
adds what each step kind takes: its implementations, the names of its inputs and the schema of its
parameters (that of the implementation a step names with ``impl``, else the kind's default). A kind the
registry does not know is left open, so that a pipeline using a plugin installed elsewhere still
validates. ``swaxs check`` remains the full check (files, shapes, references between steps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.core.plan import PipelineConfig
from swaxs_plugins.core.registry import RegisteredStep, Registry

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
STEP_DEF = "StepConfig"


def pipeline_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a pipeline file; with ``registry``, per-kind parameters too."""
    schema = PipelineConfig.model_json_schema()
    schema = {"$schema": JSON_SCHEMA_DIALECT, **schema}
    if registry is not None:
        _add_kinds(schema, registry)
    return schema


def _add_kinds(schema: dict[str, Any], registry: Registry) -> None:
    step = schema["$defs"][STEP_DEF]
    kinds = registry.kinds()
    step["properties"]["kind"]["examples"] = kinds
    step["properties"]["kind"]["description"] = "the step kind: " + ", ".join(kinds) + " (or a plugin's)"
    conditions = []
    for kind in kinds:
        implementations = registry.implementations(kind)
        default = _default(registry, kind)
        conditions.append(_kind_condition(kind, implementations))
        for registered in implementations:
            definition = f"{kind}.{registered.impl.name}"
            schema["$defs"].update(_hoisted(definition, registered.step_class.Parameters.model_json_schema()))
            conditions.append(_impl_condition(kind, registered, definition, registered.impl.name == default))
    step["allOf"] = conditions


def _default(registry: Registry, kind: str) -> str | None:
    try:
        return registry.default_name(kind)
    except SwaxsError:
        return None


def _kind_condition(kind: str, implementations: list[RegisteredStep]) -> dict[str, Any]:
    """Of a step of ``kind``: the implementations it may name."""
    names = [s.impl.name for s in implementations]
    described = "; ".join(f"{s.impl.name}: {s.impl.description}" for s in implementations)
    return {"if": _is_kind(kind),
            "then": {"properties": {"impl": {"enum": [*names, None], "description": described}}}}


def _impl_condition(kind: str, registered: RegisteredStep, definition: str, default: bool) -> dict[str, Any]:
    """Of a step of ``kind`` naming this implementation (or none, for the default): its inputs and parameters."""
    name = registered.impl.name
    condition = _is_kind(kind)
    condition["properties"]["impl"] = {"anyOf": [{"const": name}, {"type": "null"}]} if default else {"const": name}
    if not default:
        condition["required"] = ["kind", "impl"]
    inputs = {key: {"type": "string", "description": spec.description}
              for key, spec in registered.step_class.inputs.items()}
    return {"if": condition,
            "then": {"properties": {"inputs": {"properties": inputs, "additionalProperties": False},
                                    "params": {"$ref": f"#/$defs/{definition}"}}}}


def _is_kind(kind: str) -> dict[str, Any]:
    return {"properties": {"kind": {"const": kind}}, "required": ["kind"]}


def _hoisted(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A parameter schema and its own ``$defs`` as definitions of the pipeline schema, references renamed."""
    nested = parameters.pop("$defs", {})
    renamed = {f"#/$defs/{key}": f"#/$defs/{name}.{key}" for key in nested}
    hoisted = {name: _rename_refs(parameters, renamed)}
    hoisted.update({f"{name}.{key}": _rename_refs(value, renamed) for key, value in nested.items()})
    return hoisted


def _rename_refs(node: Any, renamed: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: renamed.get(value, value) if key == "$ref" else _rename_refs(value, renamed)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_rename_refs(value, renamed) for value in node]
    return node
