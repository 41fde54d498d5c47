"""Market cap and cap class per universe symbol (overrides > Alpha Vantage > sample)."""

# No `from __future__ import annotations` here: Dagster checks the `context` annotation's type.

from dataclasses import asdict

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from pipelines.common import WAREHOUSE_POOL, markdown_table, now_utc, table_metadata
from pipelines.lib.profiles import resolve_profiles
from pipelines.market_data.universe import universe, universe_symbols
from pipelines.resources import AlphaVantageResource, PipelineConfigResource, WarehouseResource
from warehouse.frames import insert_frame
from warehouse.tables import SYMBOL_PROFILES

PROFILE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "name": pl.String(),
    "market_cap": pl.Float64(),
    "cap_class": pl.String(),
    "source": pl.String(),
    "note": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
}
FLAGGED_SOURCES = ("unknown", "unavailable")
FLAGGED_LOGGED = 20  # symbols named in the run's warning (the metadata table has them all)


@dg.asset(
    deps=[universe],
    group_name="reference_data",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Market cap and micro/large class per symbol; source says where it came from.",
    check_specs=[
        dg.AssetCheckSpec(
            "market_cap_known_for_held_symbols",
            asset="symbol_profiles",
            description="Every held symbol has a market cap (else it is treated as large-cap).",
        )
    ],
)
def symbol_profiles(
    context: AssetExecutionContext,
    alpha_vantage: AlphaVantageResource,
    duckdb: WarehouseResource,
    pm_config: PipelineConfigResource,
) -> dg.MaterializeResult:
    settings = pm_config.settings()
    now = now_utc()
    with duckdb.get_connection() as conn:
        symbols = universe_symbols(conn)
        held = set(universe_symbols(conn, held_only=True))
        profiles = resolve_profiles(
            symbols,
            threshold=settings.micro_cap_threshold,
            overrides=pm_config.market_caps(),
            client=alpha_vantage.client(),
            now=now,
        )
        frame = pl.DataFrame([asdict(p) for p in profiles], schema=PROFILE_SCHEMA)
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DELETE FROM {SYMBOL_PROFILES}")
        insert_frame(conn, SYMBOL_PROFILES, frame.with_columns(as_of=pl.lit(now)))
        conn.execute("COMMIT")
    flagged = frame.filter(pl.col("market_cap").is_null())
    if flagged.height:
        # One line, not one per symbol: each log line is an event in Dagster's storage, and a
        # universe of 5,000 unknown symbols spent seconds writing them.
        for (note,), group in flagged.group_by("note", maintain_order=True):
            named = group["symbol"].head(FLAGGED_LOGGED).to_list()
            more = f" and {group.height - len(named)} more" if group.height > len(named) else ""
            context.log.warning(
                f"symbol_profiles flagged={group.height} symbols={','.join(named)}{more} "
                f"note={note}"
            )
    unknown_held = flagged.filter(pl.col("symbol").is_in(sorted(held)))
    by_source = frame.group_by("source").len().sort("source")
    return dg.MaterializeResult(
        metadata=table_metadata(
            frame,
            sources=dg.MetadataValue.md(markdown_table(by_source)),
            micro_caps=int((frame["cap_class"] == "micro").sum()),
            flagged=flagged.height,
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="market_cap_known_for_held_symbols",
                passed=unknown_held.is_empty(),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "unknown": dg.MetadataValue.md(
                        markdown_table(unknown_held.select("symbol", "source", "note"))
                    )
                },
            )
        ],
    )
