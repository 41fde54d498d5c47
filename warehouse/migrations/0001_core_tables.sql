-- The tables the Dagster assets and the history/reconciliation jobs write.
-- Prices the pipeline computes with are DOUBLE (polars maths); money the trader books is DECIMAL.

CREATE TABLE universe (
    symbol          VARCHAR PRIMARY KEY,
    held            BOOLEAN NOT NULL,         -- a position is open at the broker
    on_watchlist    BOOLEAN NOT NULL,         -- listed in WATCHLIST
    qty             DECIMAL(20, 6),           -- signed: negative is a short
    side            VARCHAR,                  -- 'long' | 'short' | NULL when not held
    avg_entry_price DECIMAL(20, 6),
    as_of           TIMESTAMPTZ NOT NULL
);

CREATE TABLE daily_bars (
    symbol        VARCHAR NOT NULL,
    date          DATE NOT NULL,              -- the session's date in New York
    open          DOUBLE,
    high          DOUBLE,
    low           DOUBLE,
    close         DOUBLE,
    volume        DOUBLE,
    quality_issue VARCHAR,                    -- NULL when the bar passed the OHLC sanity rules
    source        VARCHAR NOT NULL,           -- 'simulator' | 'alpaca'
    loaded_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, date)
);

CREATE TABLE symbol_profiles (
    symbol     VARCHAR PRIMARY KEY,
    name       VARCHAR,
    market_cap DOUBLE,                        -- dollars; NULL when no source knows it
    cap_class  VARCHAR NOT NULL,              -- 'micro' | 'large'
    source     VARCHAR NOT NULL,              -- 'alpha_vantage' | 'cache' | 'override' | 'sample' | 'unknown'
    note       VARCHAR,                       -- why a row is flagged (unknown symbol, rate limit...)
    fetched_at TIMESTAMPTZ,                   -- when the source answered (cache age)
    as_of      TIMESTAMPTZ NOT NULL
);

CREATE TABLE atr (
    symbol      VARCHAR NOT NULL,
    date        DATE NOT NULL,
    period      INTEGER NOT NULL,
    method      VARCHAR NOT NULL,             -- 'sma' (the default) | 'wilder'
    true_range  DOUBLE,
    atr         DOUBLE,                       -- NULL with a reason when it cannot be trusted
    atr_pct     DOUBLE,                       -- atr / close
    close       DOUBLE,
    reason      VARCHAR,
    computed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, date, period, method)
);

CREATE TABLE earnings_calendar (
    symbol             VARCHAR NOT NULL,
    name               VARCHAR,
    report_date        DATE NOT NULL,
    fiscal_date_ending DATE,
    estimate           DOUBLE,
    currency           VARCHAR,
    time_of_the_day    VARCHAR,               -- newer responses only: 'pre-market' | 'post-market'
    horizon            VARCHAR NOT NULL,
    source             VARCHAR NOT NULL,      -- 'alpha_vantage' | 'cache' | 'sample'
    fetched_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE risk_parameters (
    symbol           VARCHAR PRIMARY KEY,
    cap_class        VARCHAR NOT NULL,
    atr              DOUBLE,
    atr_period       INTEGER NOT NULL,
    atr_method       VARCHAR NOT NULL,
    atr_pct          DOUBLE,
    atr_reason       VARCHAR,                 -- why ATR is NULL (then the fallback stop applies)
    reference_price  DOUBLE,
    stop_pct         DOUBLE NOT NULL,
    target_pct       DOUBLE NOT NULL,
    trail_pct        DOUBLE NOT NULL,
    stop_method      VARCHAR NOT NULL,        -- 'atr' | 'fallback'
    next_report_date DATE,
    market_cap       DOUBLE,
    profile_source   VARCHAR NOT NULL,
    as_of            TIMESTAMPTZ NOT NULL
);

-- One row per position.* stream message, appended idempotently by stream id.
-- filled_qty and price are set on the events that record a fill (entry or exit);
-- realized_pnl may be set by the producer, otherwise the views compute it from the entry price.
CREATE TABLE position_events (
    stream_id      VARCHAR PRIMARY KEY,
    event_id       VARCHAR NOT NULL,
    event          VARCHAR NOT NULL,
    ts             TIMESTAMPTZ NOT NULL,
    symbol         VARCHAR NOT NULL,
    position_key   VARCHAR,
    side           VARCHAR,                   -- 'long' | 'short'
    quantity       DECIMAL(20, 6),            -- signed position quantity after the event
    filled_qty     DECIMAL(20, 6),            -- shares traded by this event (magnitude)
    price          DECIMAL(20, 6),
    entry_price    DECIMAL(20, 6),
    stop_price     DECIMAL(20, 6),
    unrealized_pnl DECIMAL(20, 6),
    realized_pnl   DECIMAL(20, 6),
    data           JSON,
    ingested_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE orders (
    order_id         VARCHAR PRIMARY KEY,
    client_order_id  VARCHAR NOT NULL UNIQUE,
    symbol           VARCHAR NOT NULL,
    side             VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL,
    qty              DECIMAL(20, 6),
    filled_qty       DECIMAL(20, 6),
    filled_avg_price DECIMAL(20, 6),
    stop_price       DECIMAL(20, 6),
    limit_price      DECIMAL(20, 6),
    trail_percent    DECIMAL(10, 6),
    status           VARCHAR NOT NULL,
    position_key     VARCHAR,
    action           VARCHAR,                 -- 'stop' | 'trail' | 'profit_1' | 'earnings' ...
    replaced_by      VARCHAR,
    created_at       TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ,
    recorded_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE reconciliation_runs (
    run_id               VARCHAR PRIMARY KEY,
    started_at           TIMESTAMPTZ NOT NULL,
    finished_at          TIMESTAMPTZ,
    status               VARCHAR NOT NULL,    -- 'ok' | 'fixed' | 'failed'
    positions_checked    INTEGER,
    stops_placed         INTEGER,
    discrepancies        INTEGER,
    worker_heartbeat_age DOUBLE,              -- seconds; NULL when no heartbeat was found
    details              JSON
);
