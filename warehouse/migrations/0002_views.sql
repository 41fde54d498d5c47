-- Views users query. P&L sign: a short gains when the exit price is below the entry.

CREATE VIEW latest_atr AS
SELECT *
FROM atr
QUALIFY row_number() OVER (PARTITION BY symbol, period, method ORDER BY date DESC) = 1;

CREATE VIEW position_history AS
SELECT
    e.ts,
    e.symbol,
    e.position_key,
    e.event,
    e.side,
    e.quantity,
    e.filled_qty,
    e.price,
    e.entry_price,
    e.stop_price,
    e.unrealized_pnl,
    CASE
        WHEN e.realized_pnl IS NOT NULL THEN e.realized_pnl
        WHEN e.event <> 'position.opened' AND e.filled_qty > 0
             AND e.price IS NOT NULL AND e.entry_price IS NOT NULL
        THEN (e.price - e.entry_price) * e.filled_qty
             * (CASE WHEN e.side = 'short' THEN -1 ELSE 1 END)
    END AS realized_pnl,
    e.stream_id
FROM position_events AS e
ORDER BY e.ts, e.stream_id;

CREATE VIEW open_positions AS
SELECT
    position_key,
    any_value(symbol)                        AS symbol,
    arg_max(side, ts) FILTER (side IS NOT NULL)               AS side,
    arg_max(quantity, ts) FILTER (quantity IS NOT NULL)       AS quantity,
    arg_max(entry_price, ts) FILTER (entry_price IS NOT NULL) AS entry_price,
    arg_max(stop_price, ts) FILTER (stop_price IS NOT NULL)   AS stop_price,
    arg_max(price, ts) FILTER (price IS NOT NULL)             AS last_price,
    arg_max(unrealized_pnl, ts) FILTER (unrealized_pnl IS NOT NULL) AS unrealized_pnl,
    coalesce(sum(realized_pnl), 0)           AS realized_pnl,
    min(ts)                                  AS opened_at,
    max(ts)                                  AS last_event_at
FROM position_history
WHERE position_key IS NOT NULL
GROUP BY position_key
HAVING count(*) FILTER (event = 'position.closed') = 0
   AND coalesce(arg_max(quantity, ts) FILTER (quantity IS NOT NULL), 1) <> 0;

CREATE VIEW closed_trades AS
SELECT
    position_key,
    any_value(symbol)                                      AS symbol,
    arg_min(side, ts) FILTER (side IS NOT NULL)             AS side,
    arg_min(entry_price, ts) FILTER (entry_price IS NOT NULL) AS entry_price,
    min(ts)                                                AS opened_at,
    max(ts) FILTER (event = 'position.closed')             AS closed_at,
    sum(filled_qty) FILTER (event <> 'position.opened')     AS exited_qty,
    coalesce(sum(realized_pnl), 0)                         AS realized_pnl
FROM position_history
WHERE position_key IS NOT NULL
GROUP BY position_key
HAVING count(*) FILTER (event = 'position.closed') > 0;

CREATE VIEW daily_pnl AS
WITH realized AS (
    SELECT CAST(timezone('America/New_York', ts) AS DATE) AS date,
           sum(realized_pnl) AS realized_pnl
    FROM position_history
    WHERE realized_pnl IS NOT NULL
    GROUP BY 1
),
unrealized_by_position AS (
    SELECT CAST(timezone('America/New_York', ts) AS DATE) AS date,
           position_key,
           arg_max(unrealized_pnl, ts) AS unrealized_pnl
    FROM position_history
    WHERE unrealized_pnl IS NOT NULL AND position_key IS NOT NULL
    GROUP BY 1, 2
),
unrealized AS (
    SELECT date, sum(unrealized_pnl) AS unrealized_pnl
    FROM unrealized_by_position
    GROUP BY 1
)
SELECT
    coalesce(r.date, u.date)           AS date,
    coalesce(r.realized_pnl, 0)        AS realized_pnl,
    coalesce(u.unrealized_pnl, 0)      AS unrealized_pnl_last,
    coalesce(r.realized_pnl, 0) + coalesce(u.unrealized_pnl, 0) AS total_pnl
FROM realized AS r
FULL OUTER JOIN unrealized AS u ON r.date = u.date
ORDER BY 1;
