-- What the history and reconciliation jobs need beyond 0001 (issue 6).

-- alert.* stream messages, appended idempotently by stream id (like position_events).
CREATE TABLE alerts (
    stream_id   VARCHAR PRIMARY KEY,
    event_id    VARCHAR NOT NULL,
    event       VARCHAR NOT NULL,             -- 'alert.unprotected_position', ...
    ts          TIMESTAMPTZ NOT NULL,
    symbol      VARCHAR,                      -- NULL for account-wide alerts (worker down, ...)
    message     VARCHAR,
    data        JSON,
    ingested_at TIMESTAMPTZ NOT NULL
);

-- How far the history job has read each Redis stream. Written in the same transaction as the rows
-- it covers, so a failed or repeated run neither loses nor doubles a message.
CREATE TABLE stream_cursors (
    stream     VARCHAR PRIMARY KEY,
    last_id    VARCHAR NOT NULL,              -- the last stream id ingested ('0-0' before any)
    rows_read  BIGINT NOT NULL,               -- messages read so far, malformed ones included
    rows_bad   BIGINT NOT NULL,               -- malformed messages skipped (see the run's logs)
    updated_at TIMESTAMPTZ NOT NULL
);

-- Reconciliation runs say who acted and what happened: found = discrepancies seen,
-- fixed = corrected by this run, remaining = found - fixed (asked of the worker, or left).
-- status now also takes 'delegated' (the worker was asked) and 'partial' (some left).
ALTER TABLE reconciliation_runs ADD COLUMN mode VARCHAR;       -- 'self' | 'worker'
ALTER TABLE reconciliation_runs ADD COLUMN trigger VARCHAR;    -- 'schedule' | 'sensor' | 'manual'
ALTER TABLE reconciliation_runs ADD COLUMN found INTEGER;
ALTER TABLE reconciliation_runs ADD COLUMN fixed INTEGER;
ALTER TABLE reconciliation_runs ADD COLUMN remaining INTEGER;
