"""Position history: the job that appends the Redis event streams to DuckDB, and its sensor."""

from __future__ import annotations

from pipelines.history.jobs import ingest_position_history
from pipelines.history.sensors import position_history_sensor

JOBS = [ingest_position_history]
SENSORS = [position_history_sensor]
