-- stop_gaps: every fill of one of our stops, how far from its stop price it filled (gap risk at
-- the open, or through a fast market), worst first. `slippage` is per share and positive when
-- the fill was worse than the stop (a long's sell below it, a short's buy above it); the worker
-- records the stop price it knew on the fill's `position.reduced` / `position.closed`.

CREATE VIEW stop_gaps AS
SELECT
    ts,
    symbol,
    position_key,
    side,
    stop_price,
    price                                                                    AS fill_price,
    filled_qty                                                               AS shares,
    (stop_price - price) * (CASE WHEN side = 'short' THEN -1 ELSE 1 END)      AS slippage,
    (stop_price - price) * (CASE WHEN side = 'short' THEN -1 ELSE 1 END)
        / stop_price                                                         AS slippage_pct,
    (stop_price - price) * (CASE WHEN side = 'short' THEN -1 ELSE 1 END)
        * filled_qty                                                         AS slippage_dollars
FROM position_history
WHERE event IN ('position.reduced', 'position.closed')
  AND stop_price IS NOT NULL AND price IS NOT NULL
ORDER BY slippage_pct DESC, ts;
