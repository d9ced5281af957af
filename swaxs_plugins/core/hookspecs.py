"""The contract between swaxs_plugins and its plugins.

A plugin is a module (or object) with functions marked ``@hookimpl``. It registers step
implementations through :func:`swaxs_register_steps` and may watch pipelines and steps through
the lifecycle hooks, e.g. to add logging, metadata or notifications without forking. A hook
implementation may take any subset of its specification's arguments (pluggy matches them by name).

A function of a plugin whose name starts with ``swaxs_`` but is no hook below is a load error
(a misspelled hook would otherwise never be called). A lifecycle hook that raises is logged as a
warning naming its plugin and never stops the run: watching must not break processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from swaxs_plugins.core.plan import PipelineConfig, StepConfig
    from swaxs_plugins.core.step import Step, StepContext

PROJECT = "swaxs_plugins"
HOOK_PREFIX = "swaxs_"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

STEP_KINDS: tuple[str, ...] = (
    "calibrate",
    "integrate",
    "transmission",
    "background",
    "mask",
    "difference",
    "fit",
    "align",
    "reconstruct",
)
"""The step kinds of this project. A plugin may add a kind of its own."""


@dataclass(frozen=True)
class StepImpl:
    """One implementation of a step kind, as a plugin registers it.

    ``default=True`` asks to be the implementation a pipeline gets when it names none;
    the built-in plugins claim that for their kinds. ``version`` defaults to the version of the
    distribution that registers it (what ``pip`` installed), so it is not typed twice. ``cls`` is the
    class, or ``"module:Class"``: then listing and describing plugins imports nothing of the step
    until a pipeline selects it (the built-ins do so, ``swaxs_plugins/steps/catalogue.py``).
    """

    kind: str
    name: str
    cls: type[Step] | str
    version: str | None = None
    description: str = ""
    default: bool = False


@hookspec
def swaxs_register_steps() -> list[StepImpl]:
    """Return the step implementations this plugin provides."""


@hookspec
def swaxs_before_pipeline(pipeline: PipelineConfig) -> None:
    """Called once before the first step of ``pipeline`` runs."""


@hookspec
def swaxs_after_pipeline(pipeline: PipelineConfig, outputs: dict[str, Path]) -> None:
    """Called once after the last step; ``outputs`` maps step ids to their output files."""


@hookspec
def swaxs_before_step(step_config: StepConfig, context: StepContext) -> None:
    """Called before a step runs (not when it is kept unchanged on resume: see swaxs_step_skipped)."""


@hookspec
def swaxs_after_step(step_config: StepConfig, context: StepContext, output: Path, status: str,
                     seconds: float) -> None:
    """Called after a step wrote its output file ``output``; ``status`` is "ran", ``seconds`` its wall time."""


@hookspec
def swaxs_step_skipped(step_config: StepConfig, output: Path, reason: str) -> None:
    """Called instead of the before/after hooks for a step whose file is kept (``reason`` says why)."""


@hookspec
def swaxs_step_error(step_config: StepConfig, context: StepContext, error: BaseException,
                     seconds: float) -> None:
    """Called when a step raised, after ``seconds``; the error is re-raised afterwards."""
