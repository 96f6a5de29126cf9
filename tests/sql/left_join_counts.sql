SELECT p.id, count(*), count(a.id) FROM persons p LEFT JOIN auctions a ON p.id = a.seller GROUP BY p.id
