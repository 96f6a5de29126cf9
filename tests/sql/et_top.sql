SELECT bidder, auction, price FROM (SELECT *, RANK() OVER (PARTITION BY bidder ORDER BY price DESC) AS r FROM bids) WHERE r <= 2
