"""The embedded experiment: raw data with a known truth, written the way a beamline writes it."""

from .calibrants import simulate_calibrants
from .operando import simulate_operando
from .result import SimulationResult
from .tomography import TomographyFiles, simulate_tomography

__all__ = ["SimulationResult", "TomographyFiles", "simulate_calibrants", "simulate_operando", "simulate_tomography"]
