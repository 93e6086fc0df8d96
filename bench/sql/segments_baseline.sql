-- Hand-written DuckDB query: the 50 segments of bench/bench_profile.py for every customer,
-- the engine's limit for bench/bench_segments.py. Parameters (computed once by the script,
-- from as_of in the workspace time zone):
--   $as_of      the evaluation instant (naive UTC)         $age_day   the last day as_of includes
--   $d7 $d30 $d90  as_of minus 7, 30 and 90 days          $m6 $m4    as_of minus 6 and 4 months
--   $w0 .. $w6  as_of minus 90, 120, ..., 270 days (the buyers-<category> windows)
-- Sums and averages of amounts are rounded to 9 decimals, as microseg rounds them.
WITH ev AS (
    SELECT * FROM events WHERE "timestamp" < $as_of
),
people AS (
    SELECT r.customer_id, h.gender, h.interests,
           date_part('year', $age_day::DATE) - date_part('year', h.birth_date)
             - CASE WHEN (date_part('month', h.birth_date), date_part('day', h.birth_date))
                         > (date_part('month', $age_day::DATE), date_part('day', $age_day::DATE))
                    THEN 1 ELSE 0 END AS age
    FROM customer_registry r
    LEFT JOIN customer_history h
      ON h.customer_id = r.customer_id AND h.valid_from < $as_of
     AND (h.valid_to IS NULL OR h.valid_to >= $as_of)
    WHERE r.merged_into IS NULL
),
agg AS (
    SELECT customer_id,
        count(*) FILTER (type = 'purchase' AND category = 'sports' AND "timestamp" >= $w0) AS b_sports,
        count(*) FILTER (type = 'purchase' AND category = 'travel' AND "timestamp" >= $w1) AS b_travel,
        count(*) FILTER (type = 'purchase' AND category = 'anime' AND "timestamp" >= $w2) AS b_anime,
        count(*) FILTER (type = 'purchase' AND category = 'electronics' AND "timestamp" >= $w3) AS b_electronics,
        count(*) FILTER (type = 'purchase' AND category = 'fashion' AND "timestamp" >= $w4) AS b_fashion,
        count(*) FILTER (type = 'purchase' AND category = 'grocery' AND "timestamp" >= $w5) AS b_grocery,
        count(*) FILTER (type = 'purchase' AND category = 'home' AND "timestamp" >= $w6) AS b_home,
        coalesce(round(sum(amount) FILTER (type = 'purchase' AND category = 'sports'), 9), 0) AS s_sports,
        coalesce(round(sum(amount) FILTER (type = 'purchase' AND category = 'travel'), 9), 0) AS s_travel,
        coalesce(round(sum(amount) FILTER (type = 'purchase' AND category = 'anime'), 9), 0) AS s_anime,
        coalesce(round(sum(amount) FILTER (type = 'purchase' AND category = 'electronics'), 9), 0) AS s_electronics,
        coalesce(round(sum(amount) FILTER (type = 'purchase' AND category = 'fashion'), 9), 0) AS s_fashion,
        coalesce(round(sum(amount) FILTER (type = 'purchase' AND category = 'grocery'), 9), 0) AS s_grocery,
        coalesce(round(sum(amount) FILTER (type = 'purchase' AND category = 'home'), 9), 0) AS s_home,
        count(*) FILTER (type = 'view' AND category = 'sports' AND (properties->>'device') = 'mobile') AS m_sports,
        count(*) FILTER (type = 'view' AND category = 'travel' AND (properties->>'device') = 'mobile') AS m_travel,
        count(*) FILTER (type = 'view' AND category = 'anime' AND (properties->>'device') = 'mobile') AS m_anime,
        count(*) FILTER (type = 'view' AND category = 'electronics' AND (properties->>'device') = 'mobile') AS m_electronics,
        count(*) FILTER (type = 'view' AND category = 'fashion' AND (properties->>'device') = 'mobile') AS m_fashion,
        count(*) FILTER (type = 'view' AND category = 'grocery' AND (properties->>'device') = 'mobile') AS m_grocery,
        count(*) FILTER (type = 'view' AND category = 'home' AND (properties->>'device') = 'mobile') AS m_home,
        count(*) FILTER (type = 'email_open' AND "timestamp" >= $d90) AS opens_90d,
        count(*) FILTER (type = 'search' AND lower("query") LIKE '%character%'
                         AND "timestamp" >= $m6 AND "timestamp" < $m4) AS searches,
        round(avg(amount) FILTER (type = 'purchase'), 9) AS avg_amount,
        count(DISTINCT channel) AS channels,
        max("timestamp") AS last_seen
    FROM ev
    GROUP BY customer_id
),
purchases AS (
    SELECT customer_id, "timestamp" AS ts, category FROM ev WHERE type = 'purchase'
),
repeats AS (
    SELECT DISTINCT p1.customer_id, p1.category
    FROM purchases p1
    JOIN purchases p2
      ON p2.customer_id = p1.customer_id
     AND p2.ts > p1.ts AND p2.ts <= p1.ts + INTERVAL 30 DAY
),
abandoned AS (
    SELECT DISTINCT c.customer_id
    FROM ev c
    WHERE c.type = 'cart_add' AND c."timestamp" >= $d30
      AND c."timestamp" + INTERVAL 2 DAY <= $as_of
      AND NOT EXISTS (
          SELECT 1 FROM purchases p
          WHERE p.customer_id = c.customer_id
            AND p.ts > c."timestamp" AND p.ts <= c."timestamp" + INTERVAL 2 DAY)
)
SELECT p.customer_id,
    coalesce(a.b_sports, 0) >= 1 AS "buyers-sports",
    coalesce(a.s_sports, 0) > 50 AS "spend-sports",
    coalesce(p.age BETWEEN 18 AND 30, false) AND coalesce(a.b_sports, 0) >= 1 AS "young-sports",
    coalesce(a.m_sports, 0) >= 3 AS "mobile-sports",
    NOT (coalesce(a.b_sports, 0) >= 1) AS "not-sports",
    EXISTS (SELECT 1 FROM repeats r WHERE r.customer_id = p.customer_id AND r.category = 'sports') AS "repeat-sports",
    coalesce(a.b_travel, 0) >= 1 AS "buyers-travel",
    coalesce(a.s_travel, 0) > 100 AS "spend-travel",
    coalesce(p.age BETWEEN 19 AND 31, false) AND coalesce(a.b_travel, 0) >= 1 AS "young-travel",
    coalesce(a.m_travel, 0) >= 3 AS "mobile-travel",
    NOT (coalesce(a.b_travel, 0) >= 1) AS "not-travel",
    EXISTS (SELECT 1 FROM repeats r WHERE r.customer_id = p.customer_id AND r.category = 'travel') AS "repeat-travel",
    coalesce(a.b_anime, 0) >= 1 AS "buyers-anime",
    coalesce(a.s_anime, 0) > 150 AS "spend-anime",
    coalesce(p.age BETWEEN 20 AND 32, false) AND coalesce(a.b_anime, 0) >= 1 AS "young-anime",
    coalesce(a.m_anime, 0) >= 3 AS "mobile-anime",
    NOT (coalesce(a.b_anime, 0) >= 1) AS "not-anime",
    EXISTS (SELECT 1 FROM repeats r WHERE r.customer_id = p.customer_id AND r.category = 'anime') AS "repeat-anime",
    coalesce(a.b_electronics, 0) >= 1 AS "buyers-electronics",
    coalesce(a.s_electronics, 0) > 200 AS "spend-electronics",
    coalesce(p.age BETWEEN 21 AND 33, false) AND coalesce(a.b_electronics, 0) >= 1 AS "young-electronics",
    coalesce(a.m_electronics, 0) >= 3 AS "mobile-electronics",
    NOT (coalesce(a.b_electronics, 0) >= 1) AS "not-electronics",
    EXISTS (SELECT 1 FROM repeats r WHERE r.customer_id = p.customer_id AND r.category = 'electronics') AS "repeat-electronics",
    coalesce(a.b_fashion, 0) >= 1 AS "buyers-fashion",
    coalesce(a.s_fashion, 0) > 250 AS "spend-fashion",
    coalesce(p.age BETWEEN 22 AND 34, false) AND coalesce(a.b_fashion, 0) >= 1 AS "young-fashion",
    coalesce(a.m_fashion, 0) >= 3 AS "mobile-fashion",
    NOT (coalesce(a.b_fashion, 0) >= 1) AS "not-fashion",
    EXISTS (SELECT 1 FROM repeats r WHERE r.customer_id = p.customer_id AND r.category = 'fashion') AS "repeat-fashion",
    coalesce(a.b_grocery, 0) >= 1 AS "buyers-grocery",
    coalesce(a.s_grocery, 0) > 300 AS "spend-grocery",
    coalesce(p.age BETWEEN 23 AND 35, false) AND coalesce(a.b_grocery, 0) >= 1 AS "young-grocery",
    coalesce(a.m_grocery, 0) >= 3 AS "mobile-grocery",
    NOT (coalesce(a.b_grocery, 0) >= 1) AS "not-grocery",
    EXISTS (SELECT 1 FROM repeats r WHERE r.customer_id = p.customer_id AND r.category = 'grocery') AS "repeat-grocery",
    coalesce(a.b_home, 0) >= 1 AS "buyers-home",
    coalesce(a.s_home, 0) > 350 AS "spend-home",
    coalesce(p.age BETWEEN 24 AND 36, false) AND coalesce(a.b_home, 0) >= 1 AS "young-home",
    coalesce(a.m_home, 0) >= 3 AS "mobile-home",
    NOT (coalesce(a.b_home, 0) >= 1) AS "not-home",
    EXISTS (SELECT 1 FROM repeats r WHERE r.customer_id = p.customer_id AND r.category = 'home') AS "repeat-home",
    p.customer_id IN (SELECT customer_id FROM abandoned) AS "abandoned",
    coalesce(a.opens_90d, 0) >= 1 AS "openers",
    coalesce(p.gender = 'female', false)
      AND coalesce(list_contains(list_transform(p.interests, lambda x: lower(x)), 'travel'), false) AS "women-travel",
    coalesce(a.searches, 0) >= 1 AS "searchers",
    md5_number_lower('h:' || p.customer_id) % 100 < 10 AS "holdout",
    coalesce(a.avg_amount >= 80, false) AS "big-basket",
    coalesce(a.channels, 0) >= 3 AS "many-channels",
    coalesce(a.last_seen >= $d7, false) AS "recent"
FROM people p
LEFT JOIN agg a ON a.customer_id = p.customer_id
