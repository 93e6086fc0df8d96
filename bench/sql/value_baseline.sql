-- Hand-written DuckDB query: the value table's figures (members, buyers, revenue, orders,
-- returns, e-mails sent and opened) of every segment of $segments (one boolean column per
-- segment, as bench/sql/segments_baseline.sql makes it) over [$start, $end), the baseline
-- of bench/bench_insights.py. Orders are distinct order ids, or without one the instant.
WITH long AS (
    UNPIVOT $segments ON COLUMNS(* EXCLUDE (customer_id)) INTO NAME "group" VALUE inside
),
members AS (
    SELECT customer_id, "group" FROM long WHERE inside
),
per_customer AS (
    SELECT customer_id,
        sum(CASE WHEN type = 'purchase' THEN coalesce(amount, 0) ELSE 0 END) AS revenue,
        count(DISTINCT CASE WHEN type = 'purchase'
              THEN CASE WHEN order_id IS NOT NULL AND order_id <> '' THEN order_id
                        ELSE strftime("timestamp", '%Y-%m-%d %H:%M:%S.%f') END END) AS orders,
        sum(CASE WHEN type = 'return' THEN coalesce(amount, 0) ELSE 0 END) AS returns,
        count(*) FILTER (type = 'email_sent') AS sent,
        count(*) FILTER (type = 'email_open') AS opened
    FROM events
    WHERE "timestamp" >= $start AND "timestamp" < $end
    GROUP BY customer_id
)
SELECT m."group",
    count(*) AS members,
    count(*) FILTER (coalesce(p.orders, 0) > 0) AS buyers,
    coalesce(sum(p.revenue), 0) AS revenue,
    coalesce(sum(p.orders), 0) AS orders,
    coalesce(sum(p.returns), 0) AS returns,
    coalesce(sum(p.sent), 0) AS sent,
    coalesce(sum(p.opened), 0) AS opened
FROM members m
LEFT JOIN per_customer p ON p.customer_id = m.customer_id
GROUP BY m."group"
ORDER BY revenue DESC
