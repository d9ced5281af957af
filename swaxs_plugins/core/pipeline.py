"""Pipelines: a YAML file of inputs, an output and ordered steps; checked, then run or resumed.

Each step writes its own NeXus file next to the pipeline's output file (``<output>_steps/``); the
output file itself links every step's entry. A step whose implementation, parameters and input
content are unchanged since its file was written is not run again, so a killed run continues
where it stopped (:mod:`.fingerprint`: paths do not count, content and code do); a step whose file was
made differently is only replaced with ``overwrite`` or ``rerun_from``.

The output file and every step file are checked by :func:`check_pipeline` and created (or refused)
at the start of :func:`run_pipeline`, before any computation. The output file is rewritten as
incomplete when a run starts and after every step, and says complete only after the last step, so
a run that stopped (error, Ctrl-C, kill) never leaves an output that looks finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swaxs_plugins.core.errors import OutputError, PipelineError, PluginError, StepFailed, SwaxsError
from swaxs_plugins.core.executors import Executor
from swaxs_plugins.core.fingerprint import code_hash, step_fingerprint
from swaxs_plugins.core.interrupt import check_interrupt
from swaxs_plugins.core.registry import RegisteredStep, Registry
from swaxs_plugins.core.step import Estimate, Step, StepContext, StepOutputRef, parameter_units
from swaxs_plugins.io.nexus import InputRecord, StepWriter, read_quality, text, write_master
from swaxs_plugins.io.output import check_folder, check_output, prepare_output
from swaxs_plugins.io.raw import (LOCATION_SEPARATOR, FrameFile, RawSource, content_hash, dataset_shape, frame_files,
                                 split_location)
from swaxs_plugins.io.discover import resolve_source
from swaxs_plugins.io.raw_checks import scan_shape_of, source_problems

FINGERPRINT_ATTR = "swaxs_fingerprint"
PROJECT_REFERENCE = "https://github.com/swaxs-plugins/swaxs_plugins"


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
        return self.registered.impl.cls


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
    seen_kinds: dict[str, str] = {}
    for step in config.steps:
        planned = _plan_step(step, config, registry, seen_kinds, shapes, problems, base)
        if step.id in seen_kinds or step.id in config.inputs:
            problems.append(f"{_step_label(step.id, step.kind)}, field 'id': '{step.id}' is used twice")
        seen_kinds[step.id] = step.kind
        if planned is not None:
            steps.append(planned)
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


def _plan_step(step: StepConfig, config: PipelineConfig, registry: Registry, earlier: Mapping[str, str],
               shapes: dict[str, Mapping[str, tuple[int, ...]]], problems: list[str], base: Path) -> PlannedStep | None:
    label = _step_label(step.id, step.kind)
    try:
        registered = registry.get(step.kind, step.impl)
    except PluginError as error:
        problems.append(f"{label}, field '{'impl' if step.impl and step.kind in registry.kinds() else 'kind'}': {error}")
        return None
    step_class = registered.impl.cls
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


def _check_inputs(step: StepConfig, step_class: type[Step], config: PipelineConfig, earlier: Mapping[str, str],
                  problems: list[str]) -> None:
    label = _step_label(step.id, step.kind)
    for name, spec in step_class.inputs.items():
        if spec.required and name not in step.inputs:
            problems.append(f"{label}, field 'inputs.{name}': missing ({spec.description})")
    for name, reference in step.inputs.items():
        spec = step_class.inputs.get(name)
        where = f"{label}, field 'inputs.{name}'"
        if spec is None:
            problems.append(f"{where}: this step takes no input '{name}'; it takes {', '.join(step_class.inputs) or 'none'}")
        elif reference in config.inputs:
            if spec.source == "step":
                problems.append(f"{where}: '{reference}' is a raw input, but this input needs an earlier step's output")
        elif reference in earlier:
            if spec.source == "raw":
                problems.append(f"{where}: '{reference}' is a step, but this input needs a raw input")
            elif spec.step_kinds and earlier[reference] not in spec.step_kinds:
                problems.append(f"{where}: step '{reference}' is a {earlier[reference]} step; "
                                f"expected {' or '.join(spec.step_kinds)}")
        else:
            problems.append(f"{where}: '{reference}' is neither an input of the pipeline nor an earlier step")


@dataclass
class StepRun:
    """What happened to one step in a run, with its warnings and quality figures (of the run that
    made its file, for a step kept unchanged)."""

    step_id: str
    path: Path
    status: str
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)


def run_pipeline(plan: Plan, registry: Registry, executor: Executor, *, overwrite: bool = False,
                 rerun_from: str | None = None, progress: bool = True) -> list[StepRun]:
    """Run every step in order, skipping those whose output is unchanged; returns what happened.

    ``overwrite`` recomputes every step; ``rerun_from`` recomputes that step and every step that depends
    on it (:func:`dependent_steps`), and keeps the others where unchanged. The output file is written
    first (marked incomplete: a stale complete one must not survive a run that stops), then after every
    step; it is marked complete after the last one.
    """
    forced = {p.config.id for p in plan.steps} if overwrite else set()
    if rerun_from is not None:
        forced |= dependent_steps(plan, rerun_from)
    _prepare_outputs(plan)
    write_master(plan.output, [], None, steps_total=len(plan.steps))
    registry.hook.swaxs_before_pipeline(pipeline=plan.config)
    caches = _Caches()
    outputs: dict[str, StepOutputRef] = {}
    runs: list[StepRun] = []
    for index, planned in enumerate(plan.steps):
        check_interrupt()
        runs.append(_run_or_keep(plan, planned, index, registry, executor, outputs, caches,
                                 planned.config.id in forced, progress))
        caches.files.pop(runs[-1].path, None)
        outputs[planned.config.id] = StepOutputRef(planned.config.id, planned.config.kind, runs[-1].path,
                                                   planned.config.id)
        check_interrupt()
        write_master(plan.output, [(r.step_id, r.path) for r in runs], default=runs[-1].step_id,
                     steps_total=len(plan.steps))
    registry.hook.swaxs_after_pipeline(pipeline=plan.config, outputs={r.step_id: r.path for r in runs})
    return runs


def dependent_steps(plan: Plan, step_id: str) -> set[str]:
    """``step_id`` and every step that reads its output, directly or through other steps."""
    ids = [p.config.id for p in plan.steps]
    if step_id not in ids:
        raise PipelineError(str(plan.source), [f"option --from: no step '{step_id}' to rerun from; the steps are "
                                               f"{', '.join(ids)}"])
    found = {step_id}
    for planned in plan.steps:
        if found.intersection(planned.config.inputs.values()):
            found.add(planned.config.id)
    return found


@dataclass
class _Caches:
    """Content hashes of the files read and of the implementations' code, computed once per run."""

    files: dict[Path, str] = field(default_factory=dict)
    code: dict[str, str] = field(default_factory=dict)


def _prepare_outputs(plan: Plan) -> None:
    """Create the folders of the output and step files, or refuse them, before any computation."""
    prepare_output(plan.output, "pipeline output")
    for planned in plan.steps:
        prepare_output(plan.step_file(planned.config.id), "step file")


def _run_or_keep(plan: Plan, planned: PlannedStep, index: int, registry: Registry, executor: Executor,
                 outputs: Mapping[str, StepOutputRef], caches: _Caches, overwrite: bool,
                 progress: bool) -> StepRun:
    """Run one step, or keep its file when inputs, parameters and implementation are unchanged."""
    step_file = plan.step_file(planned.config.id)
    inputs, records = _resolve_inputs(planned, plan.config, outputs, caches.files)
    fingerprint = step_fingerprint(_configuration(planned), file_parameters(planned.params),
                                   {r.name: r.content_hash for r in records},
                                   code_hash(planned.registered.impl.cls, caches.code))
    existing = _existing_fingerprint(step_file, planned.config.id)
    if existing == fingerprint and not overwrite:
        warnings, summary = read_quality(step_file, planned.config.id)
        return StepRun(planned.config.id, step_file, "unchanged", warnings, summary)
    if existing is not None and not overwrite:
        raise SwaxsError(f"step '{planned.config.id}': {step_file} was made from other inputs, parameters or "
                         f"code; run with --from {planned.config.id} to recompute it and the steps that depend on "
                         "it, or --overwrite to recompute all")
    context = StepContext(step_id=planned.config.id, kind=planned.config.kind, impl=planned.registered.impl.name,
                          inputs=inputs, executor=executor, workdir=plan.steps_dir, progress=progress)
    _run_step(planned, context, index, records, fingerprint, step_file, registry)
    return StepRun(planned.config.id, step_file, "ran", context.warnings, context.summary)


def _run_step(planned: PlannedStep, context: StepContext, index: int, records: list[InputRecord],
              fingerprint: str, step_file: Path, registry: Registry) -> None:
    config, impl = planned.config, planned.registered.impl
    registry.hook.swaxs_before_step(step_config=config, context=context)
    try:
        with StepWriter(step_file, config.id, impl.cls.definition) as writer:
            writer.entry.attrs[FINGERPRINT_ATTR] = fingerprint
            writer.write_process(
                program=planned.registered.program, version=impl.version, sequence_index=index + 1,
                kind=impl.kind, implementation=impl.name, params=planned.params.model_dump(mode="json"),
                units=parameter_units(impl.cls.Parameters), configuration=_configuration(planned),
                inputs=records, reference=PROJECT_REFERENCE)
            impl.cls(planned.params).run(context, writer)
            writer.write_quality(context.warnings, context.summary)
    except Exception as error:
        registry.hook.swaxs_step_error(step_config=config, context=context, error=error)
        raise StepFailed(config.id, config.kind, impl.name, error) from error
    registry.hook.swaxs_after_step(step_config=config, context=context, output=step_file)


def _resolve_inputs(planned: PlannedStep, config: PipelineConfig, outputs: Mapping[str, StepOutputRef],
                    hashes: dict[Path, str]) -> tuple[dict[str, Any], list[InputRecord]]:
    """The step's inputs, and a provenance record (with content hash) for every file it reads."""
    inputs: dict[str, Any] = {}
    records = [InputRecord(f"parameter_{name}", path, f"file named by parameter '{name}'", _hash(path, hashes))
               for name, path in file_parameters(planned.params).items()]
    for name, reference in planned.config.inputs.items():
        if reference in config.inputs:
            source = config.inputs[reference]
            inputs[name] = source
            for i, path in enumerate(source.files):
                description = f"raw input '{reference}': {source.model_dump_json(exclude={'files'}, exclude_none=True)}"
                records.append(InputRecord(f"{name}_{i}", path, description, _hash(path, hashes)))
        else:
            ref = outputs[reference]
            inputs[name] = ref
            records.append(InputRecord(name, ref.path, f"output of step '{ref.step_id}' ({ref.kind})",
                                       _hash(ref.path, hashes)))
    return inputs, records


def _hash(path: Path, cache: dict[Path, str]) -> str:
    if path not in cache:
        cache[path] = content_hash(path)
    return cache[path]


def _configuration(planned: PlannedStep) -> dict[str, Any]:
    """The full configuration of a step, as stored in its NXnote and fingerprinted for resume."""
    impl = planned.registered.impl
    return {"id": planned.config.id, "kind": impl.kind, "implementation": impl.name, "version": impl.version,
            "program": planned.registered.program, "inputs": planned.config.inputs,
            "params": planned.params.model_dump(mode="json")}


def _existing_fingerprint(step_file: Path, entry: str) -> str | None:
    if not step_file.exists():
        return None
    try:
        with h5py.File(step_file, "r") as handle:
            value = handle[entry].attrs.get(FINGERPRINT_ATTR)
    except (OSError, KeyError):
        return ""
    return None if value is None else text(value)
