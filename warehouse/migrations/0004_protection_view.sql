-- protection: per position, every interval it was held without a live stop at the broker, its
-- length and its cause. A stop is live from its `order.new` until a final status (filled,
-- canceled, replaced, expired, rejected); a replacement is live from its own `new`, so a replace
-- that landed at once leaves no gap. Times are the broker's (position events and order updates
-- alike). A position still open is measured up to now.

CREATE VIEW protection AS
WITH positions AS (
    SELECT position_key,
           any_value(symbol)                             AS symbol,
           min(ts)                                       AS opened_at,
           max(ts) FILTER (event = 'position.closed')    AS closed_at
    FROM position_history
    WHERE position_key IS NOT NULL
    GROUP BY position_key
),
stops AS (
    SELECT o.position_key,
           o.order_id,
           o.status,
           coalesce(o.created_at, o.updated_at)          AS live_from,
           least(
               coalesce(
                   CASE WHEN o.status IN ('filled', 'canceled', 'replaced', 'expired', 'rejected')
                        THEN o.updated_at END,
                   p.closed_at,
                   now()
               ),
               coalesce(p.closed_at, now())
           )                                             AS live_to
    FROM orders AS o
    JOIN positions AS p USING (position_key)
    WHERE o.kind IN ('stop', 'stop_limit', 'trailing_stop')
      AND coalesce(o.created_at, o.updated_at) IS NOT NULL
),
covered AS (
    -- for each stop, how far the stops before it (by start) already covered, and which ended last
    SELECT s.*,
           max(live_to) OVER w                           AS covered_to,
           arg_max(status, live_to) OVER w               AS ended_status
    FROM stops AS s
    WINDOW w AS (PARTITION BY position_key ORDER BY live_from, order_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
gaps AS (
    -- before the first stop: opened, nothing resting yet
    SELECT p.position_key, p.symbol, p.opened_at AS unprotected_from,
           coalesce(min(s.live_from), coalesce(p.closed_at, now())) AS unprotected_to,
           CASE WHEN count(s.order_id) = 0 THEN 'no stop ever placed'
                ELSE 'opened: no stop yet' END AS cause
    FROM positions AS p
    LEFT JOIN stops AS s USING (position_key)
    GROUP BY p.position_key, p.symbol, p.opened_at, p.closed_at
    UNION ALL
    -- between stops: the previous one ended (canceled, expired, ...) before the next went live
    SELECT c.position_key, p.symbol, c.covered_to, c.live_from,
           'stop ' || coalesce(c.ended_status, 'ended') || ', next one not live yet'
    FROM covered AS c
    JOIN positions AS p USING (position_key)
    WHERE c.covered_to IS NOT NULL AND c.live_from > c.covered_to
    UNION ALL
    -- after the last stop ended, while the position was still held
    SELECT p.position_key, p.symbol, e.last_live_to, coalesce(p.closed_at, now()),
           'stop ' || e.last_status || ', none since'
    FROM positions AS p
    JOIN (SELECT position_key, max(live_to) AS last_live_to,
                 arg_max(status, live_to) AS last_status
          FROM stops GROUP BY position_key) AS e USING (position_key)
    WHERE e.last_live_to < coalesce(p.closed_at, now())
)
SELECT position_key,
       symbol,
       unprotected_from,
       unprotected_to,
       date_diff('millisecond', unprotected_from, unprotected_to) / 1000.0 AS seconds,
       cause
FROM gaps
WHERE unprotected_to > unprotected_from
ORDER BY position_key, unprotected_from;
