"""The fixed API keys of the local Alpaca simulator.

Both sides need them and neither may import the other: the simulator accepts only these keys by
default, and the broker factory sends them when BROKER resolves to the simulator. They are not
secrets; the simulator is a local paper broker with nothing behind it.
"""

from __future__ import annotations

from typing import Final

SIMULATOR_API_KEY: Final = "simulator-key"
SIMULATOR_SECRET_KEY: Final = "simulator-secret"
