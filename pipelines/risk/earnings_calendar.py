"""The whole market's earnings calendar: one Alpha Vantage request a day, or the sample source.

One EARNINGS_CALENDAR request without `symbol` covers every position (a call per symbol
would spend the free tier's 25 daily requests). If Alpha Vantage fails and a cached answer exists,
the stale cache is used and the freshness check turns red; without one the asset fails clearly.
"""

# No `from __future__ import annotations` here: Dagster checks the `context` annotation's type.

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from pipelines.common import WAREHOUSE_POOL, new_york_today, now_utc, table_metadata
from pipelines.lib.alpha_vantage import AlphaVantageError, EarningsCalendar
from pipelines.resources import AlphaVantageResource, PipelineConfigResource, WarehouseResource
from position_manager.sample_data import SAMPLE_UNIVERSE, sample_next_report_date
from warehouse.frames import insert_frame
from warehouse.tables import EARNINGS_CALENDAR

CALENDAR_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "name": pl.String(),
    "report_date": pl.Date(),
    "fiscal_date_ending": pl.Date(),
    "estimate": pl.Float64(),
    "currency": pl.String(),
    "time_of_the_day": pl.String(),
}


def calendar_frame(calendar: EarningsCalendar) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (r.symbol, r.name, r.report_date, r.fiscal_date_ending, r.estimate, r.currency,
             r.time_of_the_day)
            for r in calendar.rows
        ],
        schema=CALENDAR_SCHEMA,
        orient="row",
    )  # fmt: skip


def sample_calendar_frame(today: date) -> pl.DataFrame:
    """The deterministic sample: each sample symbol's next report, relative to today."""
    rows = []
    for spec in SAMPLE_UNIVERSE:
        report = sample_next_report_date(spec.symbol, today)
        if report is not None:
            rows.append((spec.symbol, spec.name, report, None, None, "USD", None))
    return pl.DataFrame(rows, schema=CALENDAR_SCHEMA, orient="row")


@dg.asset(
    group_name="reference_data",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Upcoming earnings reports for the whole market (Alpha Vantage or sample).",
)
def earnings_calendar(
    context: AssetExecutionContext,
    alpha_vantage: AlphaVantageResource,
    duckdb: WarehouseResource,
    pm_config: PipelineConfigResource,
) -> dg.MaterializeResult:
    horizon = pm_config.settings().earnings_horizon
    client = alpha_vantage.client()
    note = ""
    skipped = 0
    if client is None:
        frame, source, fetched_at = sample_calendar_frame(new_york_today()), "sample", now_utc()
    else:
        try:
            calendar = client.earnings_calendar(horizon)
        except AlphaVantageError as exc:
            stale = client.stale_earnings_calendar(horizon)
            if stale is None:
                raise
            context.log.warning(f"earnings_calendar using stale cache: {exc}")
            calendar, note = stale, f"stale cache used: {exc}"
        frame, fetched_at = calendar_frame(calendar), calendar.fetched_at
        source = "cache" if calendar.from_cache else "alpha_vantage"
        skipped = len(calendar.skipped)
    with duckdb.get_connection() as conn:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DELETE FROM {EARNINGS_CALENDAR}")

        insert_frame(
            conn,
            EARNINGS_CALENDAR,
            frame.with_columns(
                horizon=pl.lit(horizon), source=pl.lit(source), fetched_at=pl.lit(fetched_at)
            ),
        )
        conn.execute("COMMIT")
    return dg.MaterializeResult(
        metadata=table_metadata(
            frame.sort("report_date"),
            source=source,
            horizon=horizon,
            fetched_at=fetched_at.isoformat(),
            skipped_rows=skipped,
            note=note or "none",
        )
    )


@dg.asset_check(
    asset=earnings_calendar,
    pool=WAREHOUSE_POOL,
    description="The calendar was fetched within EARNINGS_CACHE_TTL.",
)
def earnings_calendar_fresh(
    duckdb: WarehouseResource, pm_config: PipelineConfigResource
) -> dg.AssetCheckResult:
    ttl = timedelta(seconds=pm_config.settings().earnings_cache_ttl)
    with duckdb.get_connection() as conn:
        row = conn.execute(f"SELECT max(fetched_at), count(*) FROM {EARNINGS_CALENDAR}").fetchone()
    fetched_at, count = (row[0], row[1]) if row else (None, 0)
    if fetched_at is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reason": "the earnings calendar is empty"},
        )
    age = datetime.now(UTC) - fetched_at.astimezone(UTC)
    return dg.AssetCheckResult(
        passed=age <= ttl,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "age_hours": round(age.total_seconds() / 3600, 2),
            "ttl_hours": round(ttl.total_seconds() / 3600, 2),
            "rows": int(count),
        },
    )
