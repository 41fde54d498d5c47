"""A local Alpaca-compatible paper broker: the embedded default and the tests' broker.

`start_simulator(...)` serves it on a free 127.0.0.1 port and returns a handle with `.url` (pass it
as alpaca-py's `url_override`), `.simulator` (feed quotes, move the clock, seed the demo book,
inject faults) and `.stop()`. `python -m simulator` runs one from the command line.
"""

from position_manager.simulator_keys import SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY
from simulator.config import EngineConfig, SimulatorConfig
from simulator.core import Simulator
from simulator.faults import FaultConfig
from simulator.server import SimulatorHandle, start_simulator

__all__ = [
    "SIMULATOR_API_KEY",
    "SIMULATOR_SECRET_KEY",
    "EngineConfig",
    "FaultConfig",
    "Simulator",
    "SimulatorConfig",
    "SimulatorHandle",
    "start_simulator",
]
