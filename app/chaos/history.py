"""The history ingest at the end of a chaos run: the real Dagster job the history sensor
launches (`ingest_position_history`), executed in-process on an ephemeral instance, then the
`closed_trades` view read back."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    position_key: str
    symbol: str
    realized_pnl: Decimal


def ingest_history(redis_url: str, warehouse: Path, data_dir: Path) -> list[ClosedTrade]:
    """Positions, orders and alerts streams -> DuckDB, exactly as a sensor-launched run does it;
    returns the closed trades. Raises if the run fails."""
    warnings.filterwarnings("ignore", module="dagster")
    import dagster as dg

    from pipelines.history.jobs import ingest_position_history
    from pipelines.resources import PipelineConfigResource, RedisResource, WarehouseResource
    from warehouse.connection import open_warehouse

    pm_config = PipelineConfigResource(
        settings_overrides={"redis_url": redis_url, "data_dir": str(data_dir)}
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = ingest_position_history.execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            resources={
                "duckdb": WarehouseResource(database=str(warehouse)),
                "redis": RedisResource(pm_config=pm_config, url=redis_url),
            },
        )
    if not result.success:
        raise RuntimeError("the history ingest run failed")
    with open_warehouse(warehouse, read_only=True) as conn:
        rows = conn.execute(
            "SELECT position_key, symbol, realized_pnl FROM closed_trades ORDER BY closed_at"
        ).fetchall()
    return [ClosedTrade(str(k), str(s), Decimal(str(p))) for k, s, p in rows]
