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
    """A step raised while running. The message names the step, its kind and implementation, the
    plugin's distribution and version, the exception's type, the block it raised on (where
    ``process`` raised) and the line of the plugin's own code it came from::

        step 'shifted' (background/offset, acme-swaxs 1.2) failed in block 3 of 8 (range(16, 24)):
        ValueError: negative offset [at acme_swaxs/steps.py:42]
    """

    def __init__(self, step_id: str, kind: str, impl: str, cause: BaseException, *, plugin: str = "",
                 block: str | None = None, where: str | None = None) -> None:
        self.step_id, self.kind, self.impl, self.cause = step_id, kind, impl, cause
        self.plugin, self.block, self.where = plugin, block, where
        label = f"{kind}/{impl}, {plugin}" if plugin else f"{kind}/{impl}"
        super().__init__(f"step '{step_id}' ({label}) failed{f' in {block}' if block else ''}: "
                         f"{type(cause).__name__}: {cause}"
                         f"{f' [at {where}]' if where else ''}")


class OutputError(SwaxsError):
    """An output file cannot be written where it was asked for (checked before any computation)."""


class LayoutError(SwaxsError):
    """A step's entry lacks what a layout it declares (``Step.produces``) asks for; found where it is written."""

    def __init__(self, declared: tuple[str, ...], problems: list[str]) -> None:
        self.problems = problems
        lines = "; ".join(problems)
        super().__init__(f"its output does not hold the layouts it declares (produces = {declared!r}): {lines}")


class DefinitionError(SwaxsError):
    """A step's entry does not follow the application definition it declares (``Step.definition``)."""

    def __init__(self, definition: str, messages: list[str]) -> None:
        self.messages = messages
        shown = "; ".join(messages[:3]) + (f"; and {len(messages) - 3} more" if len(messages) > 3 else "")
        super().__init__(f"its output does not follow its application definition {definition}: {shown} "
                         "(the file is not kept)")
