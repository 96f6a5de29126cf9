SELECT category, count(*), avg(f), sum(f) FROM (SELECT b.auction, a.category, max(b.price) AS f FROM bids b JOIN auctions a ON b.auction = a.id GROUP BY b.auction, a.category) GROUP BY category
