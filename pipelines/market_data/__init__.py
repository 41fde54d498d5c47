"""Market data: the universe (held symbols and the watchlist) and its daily bars.

The daily-bar checks (`ohlc_sane`, `no_missing_trading_days`) are check specs of the asset
itself, so `CHECKS` holds no separate check definition.
"""

from __future__ import annotations

import dagster as dg

from pipelines.market_data.daily_bars import daily_bars
from pipelines.market_data.universe import universe

ASSETS: list[dg.AssetsDefinition] = [universe, daily_bars]
CHECKS: list[dg.AssetChecksDefinition] = []
