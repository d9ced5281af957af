"""Errors a user can act on: each names the file, dataset, step or field it is about.

The CLI prints them as one clear message and exits non-zero; anything else is a bug.
"""

from __future__ import annotations


class SwaxsError(Exception):
    """Base class of every error meant for the user rather than for a developer."""


class PluginError(SwaxsError):
    """A plugin could not be found, loaded, or is claimed twice."""


class PipelineError(SwaxsError):
    """A pipeline file is invalid; ``problems`` lists every finding, each naming step and field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class InputDataError(SwaxsError):
    """Raw or intermediate input data is missing, unreadable or inconsistent."""


class StepFailed(SwaxsError):
    """A step raised while running; the message names the step, its kind and implementation."""

    def __init__(self, step_id: str, kind: str, impl: str, cause: BaseException) -> None:
        self.step_id, self.kind, self.impl, self.cause = step_id, kind, impl, cause
        super().__init__(f"step '{step_id}' ({kind}/{impl}) failed: {cause}")


class OutputError(SwaxsError):
    """An output file cannot be written where it was asked for (checked before any computation)."""
