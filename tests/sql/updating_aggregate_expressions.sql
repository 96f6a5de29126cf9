SELECT auction, count(*), sum(bidder % 2 = 1), max(bidder) - min(bidder) FROM (SELECT DISTINCT auction, bidder FROM bids) GROUP BY auction
