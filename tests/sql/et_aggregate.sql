SELECT auction, count(*), max(price), sum(price), count(DISTINCT bidder) FROM bids GROUP BY auction
