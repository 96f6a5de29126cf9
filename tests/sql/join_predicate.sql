SELECT b.auction, b.bidder, b.price, a.reserve, a.seller FROM bids b JOIN auctions a ON b.auction = a.id AND b.price > a.reserve AND b.date_time <= a.expires
