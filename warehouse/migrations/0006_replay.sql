-- Replays (`position-manager replay`, the stop_policy_comparison asset): their bars and their
-- events, kept apart from the live history under a run id. Nothing here feeds the live views.

-- Minute bars from the broker (Alpaca's 1Min bars, or the minutes the simulator played).
CREATE TABLE minute_bars (
    symbol    VARCHAR NOT NULL,
    ts        TIMESTAMPTZ NOT NULL,           -- the minute's start
    open      DOUBLE,
    high      DOUBLE,
    low       DOUBLE,
    close     DOUBLE,
    volume    DOUBLE,
    source    VARCHAR NOT NULL,               -- 'simulator' | 'alpaca'
    loaded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, ts)
);

-- One row per replay: what was replayed, with which settings, and what came of it.
CREATE TABLE replay_runs (
    run_id             VARCHAR PRIMARY KEY,
    settings_set       VARCHAR,               -- the what-if set's name; NULL for a plain replay
    overrides          JSON NOT NULL,         -- the --set values, {"TRAIL_PERCENT_LARGE": "0.07"}
    first_day          DATE NOT NULL,
    last_day           DATE NOT NULL,
    symbols            VARCHAR[] NOT NULL,
    status             VARCHAR NOT NULL,      -- 'running' | 'ok' | 'failed'
    started_at         TIMESTAMPTZ NOT NULL,
    finished_at        TIMESTAMPTZ,
    minutes_played     INTEGER,
    minute_bar_days    INTEGER,               -- (symbol, day)s played from minute bars
    daily_bar_days     INTEGER,               -- ... expanded from a daily bar
    realized_pnl       DECIMAL(20, 6),
    unrealized_pnl     DECIMAL(20, 6),        -- at the last replayed minute
    worst_drawdown     DECIMAL(20, 6),        -- of realized + unrealized P&L, peak to trough
    orders             INTEGER,               -- order requests the worker made (order.new)
    longest_unprotected_s DOUBLE,             -- simulated seconds a held position had no stop
    stop_outs          INTEGER,
    stop_outs_recovered INTEGER,              -- stopped out, then the price came back above the exit
    error              VARCHAR
);

-- Every event a replay's worker and broker wrote (position.*, order.*, alert.*, session).
CREATE TABLE replay_events (
    run_id    VARCHAR NOT NULL,
    seq       INTEGER NOT NULL,               -- order within the run (stream order, then time)
    stream    VARCHAR NOT NULL,
    event     VARCHAR NOT NULL,
    ts        TIMESTAMPTZ NOT NULL,           -- on the replay's simulated clock
    symbol    VARCHAR,
    data      JSON NOT NULL,
    PRIMARY KEY (run_id, seq)
);
