"""The operando experiment's plan: map size and timing per scale, scan times, monitor counts, the cycler log.

Shared by the scans and the truth of :mod:`.operando`; nothing here depends on the sample.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

TIME_ORIGIN = datetime(2025, 1, 15, 10, 0, tzinfo=timezone.utc)
THICKNESS_MM = 1.0            # inner diameter of the capillary: the sample thickness everywhere
DIODE_GAIN = 0.5              # diode counts per transmitted monitor count


@dataclass(frozen=True)
class ScanPlan:
    """Size and timing of the experiment at one scale."""

    nx: int
    ny: int
    n_operando: int
    n_empty: int = 4
    width_mm: float = 1.5
    height_mm: float = 1.0
    point_period_s: float = 0.25
    scan_interval_s: float = 600.0
    i0_mean: float = 1.0e5

    @property
    def labels(self) -> tuple[str, ...]:
        return ("pristine",) + tuple(f"op{k}" for k in range(1, self.n_operando + 1))

    @property
    def n_points(self) -> int:
        return self.nx * self.ny

    @property
    def duration_s(self) -> float:
        return self.n_points * self.point_period_s


PLANS = {"small": ScanPlan(nx=10, ny=6, n_operando=4), "paper": ScanPlan(nx=60, ny=20, n_operando=8)}


def scan_times(plan: ScanPlan) -> tuple[np.ndarray, float, float]:
    """Start times (s from TIME_ORIGIN) of every scan, the start of the current and the end of sodiation.

    Scan k (k >= 1) is centred at current_on + k x interval, so its time fraction is k / N.
    """
    current_on = plan.duration_s + 60.0
    starts = np.array([0.0] + [current_on + k * plan.scan_interval_s - plan.duration_s / 2
                               for k in range(1, plan.n_operando + 1)])
    return starts, current_on, current_on + plan.n_operando * plan.scan_interval_s


def sodiation_voltage(s: np.ndarray) -> np.ndarray:
    """Cell voltage (V) vs. sodiation fraction s: sloping from 2.5 V to 0.1 V, then the low-voltage plateau to 0 V."""
    s = np.clip(s, 0.0, 1.0)
    return np.where(s < 0.6, 0.1 + 2.4 * (1.0 - s / 0.6) ** 3, 0.1 - 0.1 * ((s - 0.6) / 0.4) ** 2)


def write_cycler_log(path: Path, plan: ScanPlan, rng: np.random.Generator) -> Path:
    """Galvanostatic sodiation log (time_s from TIME_ORIGIN, voltage_V, current_mA), every 10 s."""
    starts, current_on, end = scan_times(plan)
    time_s = np.arange(0.0, starts[-1] + plan.duration_s + 120.0, 10.0)
    sodiating = time_s >= current_on
    voltage = np.where(sodiating, sodiation_voltage((time_s - current_on) / (end - current_on)), 2.5)
    voltage += rng.normal(0.0, 5e-4, time_s.size)
    current = np.where(sodiating, -0.050, 0.0)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "voltage_V", "current_mA"])
        writer.writerows(zip(np.round(time_s, 1), np.round(voltage, 5), current))
    return path


def monitor_counts(plan: ScanPlan, start_s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """I0 per point: the ring current decays slowly (-4 % over the experiment) plus 0.5 % jitter."""
    total = plan.n_operando * plan.scan_interval_s + 2 * plan.duration_s
    t = start_s + np.arange(n) * plan.point_period_s
    return np.round(plan.i0_mean * (1.0 - 0.04 * t / total) * (1.0 + 0.005 * rng.standard_normal(n)))


def map_positions(plan: ScanPlan) -> tuple[np.ndarray, np.ndarray]:
    """Motor positions (y, x) in mm of the raster [ny, nx]."""
    iy, ix = np.indices((plan.ny, plan.nx))
    return iy * plan.height_mm / plan.ny, ix * plan.width_mm / plan.nx
