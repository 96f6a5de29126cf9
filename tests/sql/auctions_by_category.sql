SELECT category, CASE WHEN extra IS NOT NULL THEN 'true' ELSE 'false' END, count(*), count(DISTINCT seller), sum(reserve - initial_bid), avg(reserve / 100.0), count(extra) FROM auctions GROUP BY 1, 2
