SELECT auction, count(*), sum(price) / count(*), sum(price > 10000000), max(price) - min(price), auction * 2, CAST(sum(bidder % 2 = 0) AS REAL) / count(*) FROM bids GROUP BY auction
