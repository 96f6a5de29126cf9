SELECT seller, n FROM (SELECT seller, n, RANK() OVER (ORDER BY n DESC) AS r FROM (SELECT seller, count(*) AS n FROM auctions GROUP BY seller)) WHERE r <= 3
