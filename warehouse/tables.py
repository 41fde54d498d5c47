"""The one module that knows the warehouse's table and view names.

Python code refers to tables only through these constants (the SQL migrations are the other place
the names appear, and a test checks both agree), so a rename is one edit plus one migration.
"""

from __future__ import annotations

from typing import Final

SCHEMA_MIGRATIONS: Final = "schema_migrations"

# --- Written by the Dagster assets ------------------------------------------------------------
UNIVERSE: Final = "universe"
DAILY_BARS: Final = "daily_bars"
SYMBOL_PROFILES: Final = "symbol_profiles"
ATR: Final = "atr"
EARNINGS_CALENDAR: Final = "earnings_calendar"
RISK_PARAMETERS: Final = "risk_parameters"

# --- Written by the history / reconciliation jobs ---------------------------------------------
POSITION_EVENTS: Final = "position_events"
ORDERS: Final = "orders"
RECONCILIATION_RUNS: Final = "reconciliation_runs"
ALERTS: Final = "alerts"
STREAM_CURSORS: Final = "stream_cursors"  # how far the history job read each Redis stream

# --- Written by replays (apart from the live history) -----------------------------------------
MINUTE_BARS: Final = "minute_bars"
REPLAY_RUNS: Final = "replay_runs"
REPLAY_EVENTS: Final = "replay_events"

# --- Views users query ------------------------------------------------------------------------
LATEST_ATR: Final = "latest_atr"
POSITION_HISTORY: Final = "position_history"
OPEN_POSITIONS: Final = "open_positions"
CLOSED_TRADES: Final = "closed_trades"
DAILY_PNL: Final = "daily_pnl"
PROTECTION: Final = "protection"  # every interval a position had no live stop
STOP_GAPS: Final = "stop_gaps"  # every stop fill against its stop price, worst first

TABLES: Final = (
    UNIVERSE,
    DAILY_BARS,
    SYMBOL_PROFILES,
    ATR,
    EARNINGS_CALENDAR,
    RISK_PARAMETERS,
    POSITION_EVENTS,
    ORDERS,
    RECONCILIATION_RUNS,
    ALERTS,
    STREAM_CURSORS,
    MINUTE_BARS,
    REPLAY_RUNS,
    REPLAY_EVENTS,
)
VIEWS: Final = (
    LATEST_ATR,
    POSITION_HISTORY,
    OPEN_POSITIONS,
    CLOSED_TRADES,
    DAILY_PNL,
    PROTECTION,
    STOP_GAPS,
)
