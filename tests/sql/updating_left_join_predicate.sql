SELECT a.id, a.reserve, p.n, p.high FROM auctions a LEFT JOIN (SELECT auction, count(*) AS n, max(price) AS high FROM bids GROUP BY auction) p ON a.id = p.auction AND p.high > a.reserve
