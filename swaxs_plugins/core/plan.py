"""Pipeline files checked into a plan: the YAML model, every step resolved, every input's metadata read.

:func:`load_pipeline` reads and structurally validates a pipeline file (paths relative to it);
:func:`check_pipeline` resolves every step's implementation, parameters, inputs and files, reads the
metadata of every raw input (datasets found by NeXus conventions where an input names none), estimates
output shapes and memory, and checks that every output can be written, reporting every problem at once,
each naming its step and field. :mod:`.pipeline` runs the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swaxs_plugins.core.errors import OutputError, PipelineError, PluginError, SwaxsError
from swaxs_plugins.core.registry import RegisteredStep, Registry
from swaxs_plugins.core.step import Estimate, InputSpec, Step
from swaxs_plugins.io.discover import resolve_source
from swaxs_plugins.io.output import check_folder, check_output
from swaxs_plugins.io.raw import LOCATION_SEPARATOR, FrameFile, RawSource, dataset_shape, frame_files, split_location
from swaxs_plugins.io.raw_checks import scan_shape_of, source_problems


class StepConfig(BaseModel):
    """One step of a pipeline: its id, kind, optional implementation, inputs and parameters."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: str
    impl: str | None = None
    inputs: dict[str, str] = {}
    params: dict[str, Any] = {}


class PipelineConfig(BaseModel):
    """A whole pipeline file. Relative paths are relative to the pipeline file's folder."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    inputs: dict[str, RawSource] = {}
    output: Path
    default: str | None = Field(None, description="the step whose result the output file opens on in silx "
                                                  "(its headline plot); default: the last step")
    steps: list[StepConfig] = Field(min_length=1)


@dataclass
class PlannedStep:
    """A step resolved against the registry: its implementation, parameters and input references."""

    config: StepConfig
    registered: RegisteredStep
    params: Any
    estimate: Estimate = field(default_factory=Estimate)

    @property
    def step_class(self) -> type[Step]:
        return self.registered.step_class


@dataclass
class Plan:
    """A checked pipeline, ready to run: every step resolved, shapes and memory estimated."""

    config: PipelineConfig
    source: Path
    steps: list[PlannedStep]
    found: dict[str, list[str]] = field(default_factory=dict)
    """Per input that names no frames: what its datasets were found to be (io.discover)."""

    @property
    def output(self) -> Path:
        return self.config.output

    @property
    def steps_dir(self) -> Path:
        return self.output.with_name(f"{self.output.stem}_steps")

    def step_file(self, step_id: str) -> Path:
        return self.steps_dir / f"{step_id}.nxs"

    @property
    def memory_bytes(self) -> int:
        return max((s.estimate.memory_bytes for s in self.steps), default=0)


def load_pipeline(path: Path, base_dir: Path | None = None) -> PipelineConfig:
    """Read and structurally validate a pipeline file; relative paths resolve against ``base_dir``."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(str(path), ["pipeline file not found"])
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise PipelineError(str(path), [f"not valid YAML: {error}"]) from error
    if not isinstance(document, dict):
        raise PipelineError(str(path), ["the file must hold a mapping with 'name', 'output' and 'steps'"])
    try:
        config = PipelineConfig.model_validate(document)
    except ValidationError as error:
        raise PipelineError(str(path), [_describe_error(document, e) for e in error.errors()]) from error
    return _resolve_paths(config, base_dir or path.parent)


def _resolve_paths(config: PipelineConfig, base: Path) -> PipelineConfig:
    inputs = {name: source.model_copy(update={"files": [p for f in source.files for p in _resolve_files(base, f)]})
              for name, source in config.inputs.items()}
    return config.model_copy(update={"inputs": inputs, "output": (base / config.output).resolve()})


def _resolve_files(base: Path, pattern: Path) -> list[Path]:
    """A file path, or a glob pattern expanded in sorted order (kept as is when nothing matches)."""
    path = base / pattern
    if any(ch in str(pattern) for ch in "*?["):
        matches = sorted(path.parent.glob(path.name))
        return [m.resolve() for m in matches] or [path]
    return [path.resolve()]


def _describe_error(document: Mapping[str, Any], error: Mapping[str, Any]) -> str:
    """A pydantic error as 'step 'id' (kind), field 'params.npt': message'."""
    loc = list(error["loc"])
    message = error["msg"]
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = document.get("steps") or []
        step = steps[loc[1]] if loc[1] < len(steps) and isinstance(steps[loc[1]], dict) else {}
        where = _step_label(step.get("id", f"#{loc[1] + 1}"), step.get("kind", "?"))
        field_name = ".".join(str(p) for p in loc[2:]) or "(step)"
        return f"{where}, field '{field_name}': {message}"
    return f"field '{'.'.join(str(p) for p in loc)}': {message}"


def _step_label(step_id: str, kind: str) -> str:
    return f"step '{step_id}' ({kind})"


def check_pipeline(path: Path, registry: Registry, base_dir: Path | None = None) -> Plan:
    """Validate a pipeline without reading data: schema, plugins, parameters, references, files, shapes.

    Raises :class:`PipelineError` listing every problem, each naming its step and field.
    """
    base = Path(base_dir or Path(path).parent)
    config = load_pipeline(path, base)
    problems: list[str] = []
    config, found = _discover_datasets(config, problems)
    shapes: dict[str, Mapping[str, tuple[int, ...]]] = {}
    for name, source in config.inputs.items():
        shapes[name] = _source_shapes(name, source, problems)
    steps: list[PlannedStep] = []
    earlier: dict[str, Producer] = {}
    for step in config.steps:
        planned = _plan_step(step, config, registry, earlier, shapes, problems, base)
        if step.id in earlier or step.id in config.inputs:
            problems.append(f"{_step_label(step.id, step.kind)}, field 'id': '{step.id}' is used twice")
        earlier[step.id] = Producer(step.kind, None if planned is None else planned.step_class.produces)
        if planned is not None:
            steps.append(planned)
    if config.default is not None and config.default not in earlier:
        problems.append(f"field 'default': '{config.default}' is not a step of this pipeline; the steps are "
                        f"{', '.join(earlier)}")
    plan = Plan(config=config, source=Path(path), steps=steps, found=found)
    problems += _output_problems(plan)
    if problems:
        raise PipelineError(str(path), problems)
    return plan


def _discover_datasets(config: PipelineConfig, problems: list[str]) -> tuple[PipelineConfig, dict[str, list[str]]]:
    """The inputs that name no frames, their datasets found by NeXus conventions; what was found, by input."""
    inputs, found = dict(config.inputs), {}
    for name, source in config.inputs.items():
        try:
            inputs[name], found[name] = resolve_source(source)
        except SwaxsError as error:
            problems.append(f"input '{name}': {error}")
    return config.model_copy(update={"inputs": inputs}), {k: v for k, v in found.items() if v}


def _output_problems(plan: Plan) -> list[str]:
    """Why the output file or a step file could not be written (nothing is created here); a cause
    shared by all of them (a file where the output's folder should be) is reported once."""
    try:
        check_output(plan.output, "pipeline output")
        check_folder(plan.steps_dir, "folder of the step files")
    except OutputError as error:
        return [f"field 'output': {error}"]
    problems = []
    for step in plan.steps:
        try:
            check_output(plan.step_file(step.config.id), "step file")
        except OutputError as error:
            problems.append(f"{_step_label(step.config.id, step.config.kind)}, its output: {error}")
    return problems


def _source_shapes(name: str, source: RawSource, problems: list[str]) -> dict[str, tuple[int, ...]]:
    missing = [str(f) for f in source.files if not f.exists()]
    if not source.files or missing:
        what = ", ".join(missing) if missing else "no files given"
        problems.append(f"input '{name}', field 'files': file not found: {what}")
        return {}
    if source.frames is None:
        return {}
    try:
        files = frame_files(source)
        stacks = [_stack_shape(f) for f in files]
    except SwaxsError as error:
        problems.append(f"input '{name}', field 'frames': {error}")
        return {}
    problems += source_problems(name, source, list(zip(files, stacks)))
    if len({s[1:] for s in stacks}) > 1:
        problems.append(f"input '{name}', field 'files': frames of different sizes {sorted({s[1:] for s in stacks})}")
        return {}
    shapes = {"frames": (sum(s[0] for s in stacks), *stacks[0][1:]), "files": (len(stacks),)}
    first_file = sum(s[0] for f, s in zip(files, stacks) if f.path == files[0].path)
    scan = scan_shape_of(source, files[0].path, first_file)
    return {**shapes, "scan": scan} if scan else shapes


def _stack_shape(frame_file: FrameFile) -> tuple[int, ...]:
    """(frames, rows, cols) of a frame stack; an HDF5 dataset of higher rank (segmented projections
    [n, J, K, segment, q]) as it is, for the steps that read it to estimate from."""
    if frame_file.dataset is not None:
        shape = dataset_shape(frame_file.path, frame_file.dataset)
        if len(shape) > 3:
            return shape
    return frame_file.shape


@dataclass(frozen=True)
class Producer:
    """An earlier step as a later one's input sees it: its kind and the layouts it writes (None: its
    implementation could not be resolved, a problem reported already)."""

    kind: str
    layouts: tuple[str, ...] | None


def _plan_step(step: StepConfig, config: PipelineConfig, registry: Registry, earlier: Mapping[str, Producer],
               shapes: dict[str, Mapping[str, tuple[int, ...]]], problems: list[str], base: Path) -> PlannedStep | None:
    label = _step_label(step.id, step.kind)
    try:
        registered = registry.get(step.kind, step.impl)
        step_class = registered.step_class
    except PluginError as error:
        problems.append(f"{label}, field '{'impl' if step.impl and step.kind in registry.kinds() else 'kind'}': {error}")
        return None
    _check_inputs(step, step_class, config, earlier, problems)
    try:
        params = step_class.Parameters.model_validate(step.params)
    except ValidationError as error:
        for e in error.errors():
            problems.append(f"{label}, field 'params.{'.'.join(str(p) for p in e['loc'])}': {e['msg']}")
        return None
    params = _resolve_file_parameters(params, base, label, problems)
    planned = PlannedStep(step, registered, params)
    input_shapes = {name: shapes.get(ref, {}) for name, ref in step.inputs.items()}
    try:
        planned.estimate = step_class(params).estimate(input_shapes)
    except SwaxsError as error:
        problems.append(f"{label}, field 'inputs': {error}")
    shapes[step.id] = planned.estimate.outputs
    return planned


def _accepts(spec: InputSpec, producer: Producer) -> bool:
    """Whether an input takes an earlier step: one of its layouts is written, or (for inputs that name kinds)
    the kind is one of them; an input that names neither takes any step, and an unresolved one is not judged."""
    if producer.layouts is None or not (spec.layouts or spec.step_kinds):
        return True
    return bool(set(spec.layouts) & set(producer.layouts)) or producer.kind in spec.step_kinds


def _layout_text(layouts: tuple[str, ...] | None) -> str:
    return f"the layouts {', '.join(layouts)}" if layouts else "no declared layout"


def _wanted_text(spec: InputSpec) -> str:
    wanted = [f"a step writing the layout {' or '.join(spec.layouts)}"] if spec.layouts else []
    wanted += [f"a {' or '.join(spec.step_kinds)} step"] if spec.step_kinds else []
    return " or ".join(wanted)


def _resolve_file_parameters(params: Any, base: Path, label: str, problems: list[str]) -> Any:
    """Path-typed parameters (mask files, PONI files) resolve against the pipeline's folder and must exist."""
    updates = {}
    for name, value in params:
        if isinstance(value, Path):
            file, dataset = split_location(str(value))
            resolved = (base / file).resolve()
            if not resolved.is_file():
                problems.append(f"{label}, field 'params.{name}': file not found: {resolved}")
            updates[name] = Path(f"{resolved}{LOCATION_SEPARATOR}{dataset}") if dataset else resolved
    return params.model_copy(update=updates)


def file_parameters(params: Any) -> dict[str, Path]:
    """The files that Path-typed parameters name (without any ``::dataset`` part)."""
    return {name: split_location(str(value))[0] for name, value in params if isinstance(value, Path)}


def _check_inputs(step: StepConfig, step_class: type[Step], config: PipelineConfig, earlier: Mapping[str, Producer],
                  problems: list[str]) -> None:
    label = _step_label(step.id, step.kind)
    for name, spec in step_class.inputs.items():
        if spec.required and name not in step.inputs:
            problems.append(f"{label}, field 'inputs.{name}': missing ({spec.description})")
    for name, reference in step.inputs.items():
        spec = step_class.inputs.get(name)
        where = f"{label}, field 'inputs.{name}'"
        if spec is None:
            taken = ", ".join(step_class.inputs) or "none"
            problems.append(f"{where}: this step takes no input '{name}'; it takes {taken}")
        elif reference in config.inputs:
            if spec.source == "step":
                problems.append(f"{where}: '{reference}' is a raw input, but this input needs an earlier step's output")
        elif reference in earlier:
            if spec.source == "raw":
                problems.append(f"{where}: '{reference}' is a step, but this input needs a raw input")
            elif not _accepts(spec, earlier[reference]):
                producer = earlier[reference]
                problems.append(f"{where}: step '{reference}' ({producer.kind}) writes "
                                f"{_layout_text(producer.layouts)}; this input takes {_wanted_text(spec)}")
        else:
            problems.append(f"{where}: '{reference}' is neither an input of the pipeline nor an earlier step")


