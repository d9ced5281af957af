"""The embedded experiment: raw data with a known truth, written the way a beamline writes it."""

from .calibrants import simulate_calibrants
from .operando import simulate_operando
from .result import SimulationResult

__all__ = ["SimulationResult", "simulate_calibrants", "simulate_operando"]
