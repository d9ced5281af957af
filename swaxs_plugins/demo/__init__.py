"""``swaxs demo``: simulate the default experiment, run the default pipelines, compare with the truth.

The demo is the project's main job on the embedded experiment: it writes raw data like a beamline,
processes it with the pipelines shipped in :mod:`swaxs_plugins.pipelines` — the operando 2-D
experiment (``operando.yaml``) and the ex-situ SAXS tomography of two samples at low and high
sodiation (``tomography.yaml``) — and reports every quantity the steps recover next to the value
the simulation put in.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

from swaxs_plugins.core.executors import make_executor
from swaxs_plugins.core.pipeline import StepRun, run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.demo import checks_tensor, checks_tomography
from swaxs_plugins.demo.checks import Comparison, compare_all
from swaxs_plugins.io.nxcansas import export_nxcansas
from swaxs_plugins.io.output import prepare_folder
from swaxs_plugins.io.validation import ValidationReport, validate_file
from swaxs_plugins.report import write_report
from swaxs_plugins.simulate import simulate_calibrants, simulate_operando, simulate_tomography

DEFAULT_PIPELINE = "operando.yaml"
TOMOGRAPHY_PIPELINE = "tomography.yaml"


@dataclass
class DemoReport:
    """What the demo produced: comparisons with the truth, files written and their validation."""

    outdir: Path
    comparisons: list[Comparison]
    validation: list[ValidationReport]
    figures: list[Path]
    runs: list[StepRun]
    pages: list[Path]                # the HTML report of each pipeline output
    exported: Path                   # the SAXS electrode mean per scan as NXcanSAS, for SasView

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons) and all(r.ok for r in self.validation)


def install_pipeline(name: str, outdir: Path) -> Path:
    """Copy a default pipeline shipped with the package next to the data, where a user can edit it."""
    target = outdir / name
    with files("swaxs_plugins.pipelines").joinpath(name).open("rb") as source, open(target, "wb") as copy:
        shutil.copyfileobj(source, copy)
    return target


def run_demo(outdir: Path, *, seed: int = 0, executor: str = "serial", workers: int | None = None,
             registry: Registry | None = None) -> DemoReport:
    """Simulate, process with the default pipelines, compare with the truth; writes ``summary.json``.

    ``outdir`` is created, or refused with an :class:`~swaxs_plugins.core.errors.OutputError`,
    before anything is simulated."""
    outdir = prepare_folder(outdir, "demo folder (OUTDIR)")
    simulated = [simulate_calibrants(outdir, seed=seed), simulate_operando(outdir, seed=seed)]
    tomography = simulate_tomography(outdir, seed=seed, samples=checks_tomography.SODIATION_ORDER)
    oriented = simulate_tomography(outdir, seed=seed, samples=[checks_tensor.SAMPLE], misalign=False)
    raw_files = [path for result in simulated for path in (*result.raw, *result.references)]
    raw_files += [sample.projections for sample in (*tomography.samples, *oriented.samples)]
    registry = registry or Registry.discover()
    plans = [check_pipeline(install_pipeline(name, outdir), registry) for name in (DEFAULT_PIPELINE,
                                                                                    TOMOGRAPHY_PIPELINE)]
    runs: list[StepRun] = []
    with make_executor(executor, workers=workers) as chosen:
        for plan in plans:
            runs += run_pipeline(plan, registry, chosen, overwrite=True)
    comparisons = compare_all(plans[0], outdir / "truth") + compare_all(
        plans[1], outdir / "truth", checks=(checks_tomography.comparisons, checks_tensor.comparisons))
    exported = outdir / "processed" / "saxs_electrode_nxcansas.h5"
    export_nxcansas(plans[0].output, "saxs_subtracted", exported, region="electrode")
    validation = [report for path in (*raw_files, *(plan.output for plan in plans), exported)
                  for report in validate_file(path)]
    figures = sorted(figure for plan in plans for figure in plan.steps_dir.glob("*.png"))
    pages = [write_report(plan.output) for plan in plans]
    report = DemoReport(outdir, comparisons, validation, figures, runs, pages, exported)
    write_summary(outdir / "summary.json", comparisons)
    return report


def write_summary(path: Path, comparisons: list[Comparison]) -> None:
    """The comparisons as a JSON list of {name, recovered, truth, tolerance, unit, ok}."""
    path.write_text(json.dumps([{**asdict(c), "ok": c.ok} for c in comparisons], indent=1))


def format_table(comparisons: list[Comparison]) -> str:
    """A plain-text table of recovered vs true values."""
    header = f"{'quantity':<52} {'recovered':>12} {'truth':>12} {'tolerance':>10}  {'unit':<10} ok"
    lines = [header, "-" * len(header)]
    for c in comparisons:
        lines.append(f"{c.name:<52} {c.recovered:>12.6g} {c.truth:>12.6g} {c.tolerance:>10.3g}  {c.unit:<10} "
                     f"{'yes' if c.ok else 'NO'}")
    return "\n".join(lines)
