"""The contract between swaxs_plugins and its plugins.

A plugin is a module (or object) with functions marked ``@hookimpl``. It registers step
implementations through :func:`swaxs_register_steps` and may watch pipelines and steps through
the lifecycle hooks, e.g. to add logging, metadata or notifications without forking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from swaxs_plugins.core.step import Step

PROJECT = "swaxs_plugins"
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
    the built-in plugins claim that for their kinds.
    """

    kind: str
    name: str
    cls: type[Step]
    version: str
    description: str
    default: bool = False


@hookspec
def swaxs_register_steps() -> list[StepImpl]:
    """Return the step implementations this plugin provides."""


@hookspec
def swaxs_before_pipeline(pipeline: Any) -> None:
    """Called once before the first step of ``pipeline`` runs."""


@hookspec
def swaxs_after_pipeline(pipeline: Any, outputs: dict[str, Any]) -> None:
    """Called once after the last step; ``outputs`` maps step ids to their output files."""


@hookspec
def swaxs_before_step(step_config: Any, context: Any) -> None:
    """Called before a step runs (not when it is skipped as unchanged on resume)."""


@hookspec
def swaxs_after_step(step_config: Any, context: Any, output: Any) -> None:
    """Called after a step wrote its output file ``output``."""


@hookspec
def swaxs_step_error(step_config: Any, context: Any, error: BaseException) -> None:
    """Called when a step raised; the error is re-raised afterwards."""
