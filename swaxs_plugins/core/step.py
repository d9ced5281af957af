"""The step contract: typed parameters, a context, and setup → process(blocks) → finalize.

A step is a class. Its parameters are a pydantic model (validated, with defaults and units, and
exported as JSON schema for docs and ``swaxs check``). The framework calls :meth:`Step.setup` once
with a :class:`StepContext`, maps the pure :meth:`Step.process` over :meth:`Step.blocks` through the
executor, and hands the results in block order to :meth:`Step.finalize`, which writes the outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from swaxs_plugins.core.executors import Executor
    from swaxs_plugins.io.nexus import StepWriter

LOG = logging.getLogger("swaxs_plugins")


class StepParameters(BaseModel):
    """Base of every step's parameter model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parameter(default: Any = ..., *, description: str, unit: str | None = None, **kwargs: Any) -> Any:
    """A documented parameter field; ``unit`` lands in the JSON schema (and the NXparameters)."""
    extra = {"unit": unit} if unit else None
    return Field(default, description=description, json_schema_extra=extra, **kwargs)


def parameter_units(model: type[StepParameters]) -> dict[str, str]:
    """The unit of every parameter that declares one."""
    units = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get("unit"):
            units[name] = str(extra["unit"])
    return units


@dataclass(frozen=True)
class InputSpec:
    """An input a step needs: a raw source (``raw``), an earlier step's output (``step``), or either
    (``any``: the step gets a :class:`~swaxs_plugins.io.raw.RawSource` or a :class:`StepOutputRef`).

    ``layouts`` names the layouts (:mod:`swaxs_plugins.data.layouts`) the input takes: any earlier step
    that writes one of them fits, whatever its kind. ``step_kinds`` takes steps by kind instead (or as
    well); an input naming neither takes any step.
    """

    description: str
    source: str = "step"
    step_kinds: tuple[str, ...] = ()
    required: bool = True
    layouts: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepOutputRef:
    """Where an earlier step's result lives: its NeXus file and the NXentry inside it."""

    step_id: str
    kind: str
    path: Path
    entry: str


@dataclass(frozen=True)
class Estimate:
    """What ``swaxs check`` learns from a step without data: output shapes and peak memory."""

    outputs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    memory_bytes: int = 0


@dataclass
class StepContext:
    """Everything a step may know about its surroundings; there is no global state.

    ``inputs`` maps the step's input names to a :class:`~swaxs_plugins.io.raw.RawSource` or a
    :class:`StepOutputRef`: geometry, masks and scan shapes reach a step through them. A step that
    establishes ``scan_shape``, ``geometry`` or ``mask`` records it here, so that lifecycle hooks
    (``swaxs_after_step`` gets this context) can log or catalogue it.

    A step reports how far its result can be trusted through :meth:`warn` (a usable result that
    needs a look) and :attr:`summary` (its quality figures, e.g. the share of failed fits); both
    are printed in the run summary and stored in the step's NXprocess. A result that cannot be used
    is an exception, not a warning.
    """

    step_id: str
    kind: str
    impl: str
    inputs: Mapping[str, Any]
    executor: Executor
    workdir: Path
    progress: bool = True
    scan_shape: tuple[int, ...] | None = None
    geometry: Any = None
    mask: Any = None
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        """Flag a usable result that needs a look: logged now, kept for the run summary and the entry."""
        self.warnings.append(message)
        LOG.warning("step '%s': %s", self.step_id, message)


class Step:
    """Base class of every step implementation.

    Subclasses set ``Parameters`` (a :class:`StepParameters` model), ``inputs`` (name →
    :class:`InputSpec`), ``definition`` (the NeXus application definition their entry follows),
    ``produces`` (the layouts of :mod:`swaxs_plugins.data.layouts` their entry holds: checked after
    ``finalize``, and what lets later steps take it) and implement ``setup``/``blocks``/``process``/
    ``finalize``. ``process`` must be pure, picklable with the step (less its ``setup_only``
    attributes), and thread-safe: executors may run it in threads, other processes or machines.
    """

    Parameters: ClassVar[type[StepParameters]] = StepParameters
    inputs: ClassVar[Mapping[str, InputSpec]] = {}
    definition: ClassVar[str] = "NXswaxs_step"
    produces: ClassVar[tuple[str, ...]] = ()
    setup_only: ClassVar[tuple[str, ...]] = ()
    """Attributes that stay in the main process: left out when the step (with ``process``) is pickled for
    a worker. What ``process`` needs travels in its blocks instead (lean workers)."""

    def __init__(self, params: StepParameters) -> None:
        self.params = params

    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name not in self.setup_only}

    def setup(self, context: StepContext) -> None:
        """Prepare once: read geometry, masks and shapes from the inputs."""

    def blocks(self) -> Sequence[Any]:
        """The work, split into independent blocks (frames, curves, projections)."""
        return []

    def process(self, block: Any) -> Any:
        """Process one block. Pure: the same block gives the same result wherever it runs."""
        raise NotImplementedError(f"{type(self).__name__} defines blocks but not process()")

    def finalize(self, results: list[Any], writer: StepWriter) -> None:
        """Assemble the block results (in block order) and write them through ``writer``."""

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        """Output shapes and memory from input shapes alone (for ``swaxs check``)."""
        return Estimate()

    def run(self, context: StepContext, writer: StepWriter) -> None:
        """setup → process every block through the context's executor → finalize."""
        self.setup(context)
        blocks = self.blocks()
        results = context.executor.map(self.process, blocks, description=context.step_id) if blocks else []
        self.finalize(results, writer)


def chunk_ranges(n_items: int, chunk_size: int) -> list[range]:
    """Split ``range(n_items)`` into consecutive chunks of at most ``chunk_size``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [range(start, min(start + chunk_size, n_items)) for start in range(0, n_items, chunk_size)]
