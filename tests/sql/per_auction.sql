SELECT auction, count(*), count(DISTINCT bidder), min(price), max(price), avg(price), sum(price) FROM bids GROUP BY auction
