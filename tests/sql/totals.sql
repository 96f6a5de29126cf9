SELECT count(*), sum(price), avg(price), sum(CASE WHEN price < 10000 THEN 1 ELSE 0 END), count(length(extra)), sum(length(extra)) FROM bids
