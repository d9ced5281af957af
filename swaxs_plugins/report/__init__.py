"""A static HTML report of a pipeline's output file: run state, and per step its quality figures,
warnings, figures and provenance, in one folder that can be zipped and opened anywhere.

:func:`write_report` reads the file (:mod:`.collect`) and renders the page (:mod:`.page`).
"""

from swaxs_plugins.report.page import write_report

__all__ = ["write_report"]
