"""Pipelines run: a checked plan (:mod:`.plan`) run step by step, or resumed.

Each step writes its own NeXus file next to the pipeline's output file (``<output>_steps/``); the
output file itself links every step's entry. A step whose implementation, parameters and input
content are unchanged since its file was written is not run again, so a killed run continues
where it stopped (:mod:`.fingerprint`: paths do not count, content and code do); a step whose file was
made differently is only replaced with ``overwrite`` or ``rerun_from``.

The output file and every step file are checked by :func:`~swaxs_plugins.core.plan.check_pipeline` and
created (or refused) at the start of :func:`run_pipeline`, before any computation. The output file is
rewritten as incomplete when a run starts and after every step, and says complete only after the last step, so
a run that stopped (error, Ctrl-C, kill) never leaves an output that looks finished.
"""

from __future__ import annotations

import inspect
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from swaxs_plugins.core.errors import DefinitionError, LayoutError, PipelineError, StepFailed, SwaxsError
from swaxs_plugins.core.executors import BLOCK_ATTR, Executor
from swaxs_plugins.core.fingerprint import code_hash, step_fingerprint
from swaxs_plugins.core.interrupt import check_interrupt
from swaxs_plugins.core.plan import PipelineConfig, Plan, PlannedStep, file_parameters
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.core.step import StepContext, StepOutputRef, parameter_units
from swaxs_plugins.data.layouts import layout_problems
from swaxs_plugins.io.nexus import InputRecord, StepWriter, read_quality, text, write_master
from swaxs_plugins.io.output import prepare_output
from swaxs_plugins.io.raw import content_hash
from swaxs_plugins.io.validation import validate_step_entry

FINGERPRINT_ATTR = "swaxs_fingerprint"
PROJECT_REFERENCE = "https://github.com/swaxs-plugins/swaxs_plugins"


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
    write_master(plan.output, [], None, steps_total=len(plan.steps), pipeline=plan.config.name)
    registry.notify("swaxs_before_pipeline", pipeline=plan.config)
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
        write_master(plan.output, [(r.step_id, r.path) for r in runs], default=_headline(plan, runs),
                     steps_total=len(plan.steps), pipeline=plan.config.name)
    registry.notify("swaxs_after_pipeline", pipeline=plan.config, outputs={r.step_id: r.path for r in runs})
    return runs


def _headline(plan: Plan, runs: Sequence[StepRun]) -> str:
    """The entry the output file opens on: the pipeline's ``default`` step once it has run, else the last step run."""
    wanted = plan.config.default
    return wanted if wanted in {r.step_id for r in runs} else runs[-1].step_id


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
                                   code_hash(planned.step_class, caches.code))
    existing = _existing_fingerprint(step_file, planned.config.id)
    if existing == fingerprint and not overwrite:
        warnings, summary = read_quality(step_file, planned.config.id)
        registry.notify("swaxs_step_skipped", step_config=planned.config, output=step_file,
                        reason="unchanged: its file was made from the same inputs, parameters and code")
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
    config, impl, cls = planned.config, planned.registered.impl, planned.step_class
    registry.notify("swaxs_before_step", step_config=config, context=context)
    began = time.perf_counter()
    try:
        with StepWriter(step_file, config.id, cls.definition) as writer:
            writer.entry.attrs[FINGERPRINT_ATTR] = fingerprint
            writer.write_process(
                program=planned.registered.program, version=planned.registered.version, sequence_index=index + 1,
                kind=impl.kind, implementation=impl.name, params=planned.params.model_dump(mode="json"),
                units=parameter_units(cls.Parameters), configuration=_configuration(planned),
                inputs=records, reference=PROJECT_REFERENCE)
            cls(planned.params).run(context, writer)
            problems = layout_problems(writer.entry, cls.produces)
            if problems:
                raise LayoutError(cls.produces, problems)
            writer.write_quality(context.warnings, context.summary)
        _check_definition(step_file, config.id, cls.definition)
    except Exception as error:
        registry.notify("swaxs_step_error", step_config=config, context=context, error=error,
                        seconds=time.perf_counter() - began)
        raise StepFailed(config.id, config.kind, impl.name, error, plugin=f"{planned.registered.program} "
                         f"{planned.registered.version}", block=getattr(error, BLOCK_ATTR, None),
                         where=plugin_line(error, cls)) from error
    registry.notify("swaxs_after_step", step_config=config, context=context, output=step_file, status="ran",
                    seconds=time.perf_counter() - began)


def _check_definition(step_file: Path, entry: str, definition: str) -> None:
    """The written entry against the application definition its step declares (where the project or
    nexusformat has it); a file that fails is removed, so that no wrong result looks complete."""
    report = validate_step_entry(step_file, entry, definition)
    if report is not None and not report.ok:
        step_file.unlink()
        raise DefinitionError(definition, report.messages or [f"{report.errors} errors"])


def plugin_line(error: BaseException, cls: type) -> str | None:
    """``file:line`` of the deepest frame of ``error``'s traceback in the plugin's own code (the folder of
    the module defining ``cls``), shown from its top-level package on; None where no frame is there. A
    traceback that came back from a Dask worker names no files ("<dynamic-code>"): its frames are matched to
    the functions of ``cls``'s module by name and line."""
    try:
        root = Path(inspect.getfile(cls)).resolve().parent
        top = Path(inspect.getfile(sys.modules[cls.__module__.split(".")[0]])).resolve()
    except (TypeError, OSError, KeyError):
        return None
    shown_from = top.parent.parent         # a package's __init__.py, or a one-file plugin in its folder
    codes = _plugin_code(cls)
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        filename = frame.filename
        if not Path(filename).is_file():
            filename = next((c.co_filename for c in codes.get(frame.name, ()) if _has_line(c, frame.lineno)), filename)
        path = Path(filename).resolve()
        if path.is_relative_to(root):
            found = f"{path.relative_to(shown_from)}:{frame.lineno}"
    return found


def _plugin_code(cls: type) -> dict[str, list[Any]]:
    """Code objects of the functions and methods of ``cls``'s module, by name."""
    module = inspect.getmodule(cls)
    codes: dict[str, list[Any]] = {}
    for member in vars(module).values() if module else ():
        functions = [m for m in vars(member).values() if inspect.isfunction(m)] if inspect.isclass(member) \
            else [member] if inspect.isfunction(member) else []
        for function in functions:
            codes.setdefault(function.__code__.co_name, []).append(function.__code__)
    return codes


def _has_line(code: Any, line: int | None) -> bool:
    lines = [number for _, _, number in code.co_lines() if number is not None]
    return bool(lines) and line is not None and min(lines + [code.co_firstlineno]) <= line <= max(lines)


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
    return {"id": planned.config.id, "kind": impl.kind, "implementation": impl.name,
            "version": planned.registered.version,
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
