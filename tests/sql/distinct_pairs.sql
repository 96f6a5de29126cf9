SELECT seller, count(*) FROM (SELECT DISTINCT b.bidder, a.seller FROM bids b JOIN auctions a ON b.auction = a.id) GROUP BY seller
