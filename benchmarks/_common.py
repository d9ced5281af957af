"""What every benchmark of the project shares: one command line, one JSON shape, one table.

``python benchmarks/NAME.py [--json PATH]`` prints a table and writes
``{"benchmark": NAME, "machine": ..., "cases": [{"name", "ours", "peer", "unit", "speedup", ...}]}``;
``speedup`` > 1 means ours is faster, and accuracy figures sit beside the timings in each case.
Every benchmark also has a tiny size (its options) that ``tests/test_benchmarks.py`` runs, so that a
benchmark which no longer runs on the current code fails the tests instead of going stale.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def parse_args(name: str, description: str, extra: Sequence[tuple[str, dict[str, Any]]] = (),
               argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The shared command line (``--json PATH``) plus a benchmark's own options (``argv``: default sys.argv)."""
    parser = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=description)
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON to this file")
    for flag, options in extra:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {"node": platform.node(), "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "system": platform.platform()}


def case(name: str, ours: float, peer: float, unit: str, *, higher_is_better: bool, **extra: Any) -> dict[str, Any]:
    """One comparison; ``speedup`` > 1 when ours is faster whichever way the unit counts."""
    speedup = ours / peer if higher_is_better else peer / ours
    return {"name": name, "ours": ours, "peer": peer, "unit": unit, "speedup": speedup, **extra}


def report(benchmark: str, cases: list[dict[str, Any]], json_path: Path | None) -> dict[str, Any]:
    """Print the table and write the JSON (when asked); returns the document."""
    document = {"benchmark": benchmark, "machine": machine(), "cases": cases}
    width = max(len(c["name"]) for c in cases)
    print(f"{'case':<{width}}  {'ours':>10}  {'peer':>10}  {'unit':<10} {'speedup':>8}  extra")
    for c in cases:
        extra = {k: v for k, v in c.items() if k not in ("name", "ours", "peer", "unit", "speedup")}
        print(f"{c['name']:<{width}}  {c['ours']:>10.4g}  {c['peer']:>10.4g}  {c['unit']:<10} {c['speedup']:>8.2f}  "
              f"{json.dumps(extra, default=str)}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=1, default=str))
        print(f"wrote {json_path}")
    return document


def peak_rss_bytes() -> int:
    """The peak resident memory of this process since it started (VmHWM of /proc/self/status; getrusage's
    ru_maxrss would count the parent's RSS at the fork, which Linux carries across exec), ru_maxrss where /proc
    has none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # kB on Linux
