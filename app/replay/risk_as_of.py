"""Each replayed day's risk parameters, as that morning's refresh would have sized them.

The same maths as the `atr` and `risk_parameters` assets (`pipelines.lib.atr.atr_series`,
`pipelines.lib.risk.risk_parameters_for`), on the daily bars dated before the day, the cap class
the warehouse knows, the next report date from that day on, and the replay's own entry prices
as the reference: a replay never reads the live `risk_parameters` (sized for today, not then).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import duckdb

from pipelines.lib.atr import atr_series, latest_atr
from pipelines.lib.risk import RiskInputs, RiskParameters, risk_parameters_for
from pipelines.risk.atr import BARS_READ_SCHEMA, implausible_atr
from position_manager.config import Settings
from rules.params import RuleParams
from warehouse.frames import read_frame
from warehouse.tables import DAILY_BARS, EARNINGS_CALENDAR, SYMBOL_PROFILES


def risk_as_of(
    conn: duckdb.DuckDBPyConnection,
    entries: Mapping[str, float],
    day: date,
    settings: Settings,
    as_of: datetime,
) -> list[RiskParameters]:
    """Risk parameters for `entries` (symbol -> entry price) on the morning of `day`."""
    symbols = sorted(entries)
    period, method = settings.atr_period, settings.atr_method.value
    bars = read_frame(
        conn,
        f"SELECT symbol, date, open, high, low, close, quality_issue FROM {DAILY_BARS} "
        "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) AND date < ? ORDER BY symbol, date",
        [symbols, day],
        schema=BARS_READ_SCHEMA,
    )
    latest = latest_atr(atr_series(bars, period=period, method=method))
    bad = set(implausible_atr(latest)["symbol"].to_list())
    atr_by = {r["symbol"]: r for r in latest.iter_rows(named=True)}
    profiles = {
        s: (c, m, src)
        for s, c, m, src in conn.execute(
            f"SELECT symbol, cap_class, market_cap, source FROM {SYMBOL_PROFILES} "
            "WHERE symbol IN (SELECT unnest(?::VARCHAR[]))",
            [symbols],
        ).fetchall()
    }
    reports = dict(
        conn.execute(
            f"SELECT symbol, min(report_date) FROM {EARNINGS_CALENDAR} "
            "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) AND report_date >= ? GROUP BY symbol",
            [symbols, day],
        ).fetchall()
    )
    params = RuleParams.from_settings(settings)
    out = []
    for symbol in symbols:
        cap, market_cap, source = profiles.get(symbol, ("large", None, "missing"))
        row = atr_by.get(symbol)
        atr = row["atr"] if row is not None and symbol not in bad else None
        reason = (
            "no bars in the warehouse"
            if row is None
            else ("implausible ATR" if symbol in bad else row["reason"])
        )
        inputs = RiskInputs(
            symbol=symbol,
            cap_class=cap,
            market_cap=market_cap,
            profile_source=source,
            avg_entry_price=entries[symbol],
            last_close=row["close"] if row is not None else None,
            atr=atr,
            atr_pct=row["atr_pct"] if row is not None else None,
            atr_reason=reason,
            next_report_date=reports.get(symbol),
        )
        out.append(
            risk_parameters_for(inputs, params, atr_period=period, atr_method=method, as_of=as_of)
        )
    return out
