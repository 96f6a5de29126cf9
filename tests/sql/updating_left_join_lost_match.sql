SELECT a.id, a.seller, p.n FROM auctions a LEFT JOIN (SELECT auction, count(*) AS n FROM bids GROUP BY auction) p ON a.id = p.auction AND p.n < 4
