"""The pipeline JSON Schema for editors: the committed copy is current, the shipped pipelines validate,
and typing mistakes an editor should flag are flagged (unknown parameter, wrong type, unknown input)."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from swaxs_plugins.cli import main
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.core.schema import pipeline_schema

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "pipeline.schema.json"
SHIPPED = sorted(p.name for p in files("swaxs_plugins.pipelines").iterdir() if p.name.endswith(".yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = pipeline_schema(Registry.discover(autoload=False))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _shipped(name: str) -> dict:
    return yaml.safe_load(files("swaxs_plugins.pipelines").joinpath(name).read_text())


def _errors(validator: jsonschema.Draft202012Validator, document: dict) -> list[tuple[list, str]]:
    return sorted((list(e.absolute_path), e.message) for e in validator.iter_errors(document))


def test_committed_schema_is_the_generated_one() -> None:
    generated = pipeline_schema(Registry.discover(autoload=False))
    assert json.loads(COMMITTED.read_text()) == generated, (
        "docs/pipeline.schema.json is stale: run SWAXS_DISABLE_PLUGIN_AUTOLOAD=1 swaxs schema -o docs/pipeline.schema.json")


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "pipeline.schema.json"
    result = CliRunner().invoke(main, ["schema", "-o", str(target)], env={"SWAXS_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text()) == json.loads(COMMITTED.read_text())
    assert list(target.parent.iterdir()) == [target]


def test_schema_command_names_a_file_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["schema", "-o", str(blocker / "schema.json")])
    assert result.exit_code == 1
    assert f"{blocker / 'schema.json'}: cannot write the schema" in result.output


def test_schema_lists_every_kind_and_its_parameters(validator: jsonschema.Draft202012Validator) -> None:
    registry = Registry.discover(autoload=False)
    schema = validator.schema
    assert schema["$defs"]["StepConfig"]["properties"]["kind"]["examples"] == registry.kinds()
    for kind in registry.kinds():
        for step in registry.implementations(kind):
            params = schema["$defs"][f"{kind}.{step.impl.name}"]
            assert set(params["properties"]) == set(step.step_class.Parameters.model_fields)
    assert schema["$defs"]["integrate.pyfai"]["properties"]["npt"]["default"] == 1000


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_pipelines_validate(validator: jsonschema.Draft202012Validator, name: str) -> None:
    assert _errors(validator, _shipped(name)) == []


def test_mistakes_are_flagged_where_they_are(validator: jsonschema.Draft202012Validator) -> None:
    document = copy.deepcopy(_shipped("operando.yaml"))
    index = next(i for i, s in enumerate(document["steps"]) if s["kind"] == "integrate")
    step = document["steps"][index]
    step["params"].update(npt="many", nptt=3)
    step["inputs"]["scan"] = "saxs_scans"
    assert _errors(validator, document) == [
        (["steps", index, "inputs"], "Additional properties are not allowed ('scan' was unexpected)"),
        (["steps", index, "params"], "Additional properties are not allowed ('nptt' was unexpected)"),
        (["steps", index, "params", "npt"], "'many' is not of type 'integer'"),
    ]


def test_a_named_implementation_gets_its_own_parameters(validator: jsonschema.Draft202012Validator) -> None:
    step = {"id": "volumes", "kind": "reconstruct", "impl": "tensor", "inputs": {}, "params": {}}
    document = {"name": "t", "output": "out.nxs", "steps": [step]}
    assert _errors(validator, document) == []
    step["impl"] = "nonexistent"
    assert [path for path, _ in _errors(validator, document)] == [["steps", 0, "impl"]]
    step.update(impl=None, params={"ell_max": 4})
    assert ["steps", 0, "params"] in [path for path, _ in _errors(validator, document)]


def test_an_unknown_kind_is_left_open(validator: jsonschema.Draft202012Validator) -> None:
    step = {"id": "mine", "kind": "facility_thing", "impl": "x", "params": {"anything": 1}}
    assert _errors(validator, {"name": "t", "output": "out.nxs", "steps": [step]}) == []
