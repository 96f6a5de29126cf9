SELECT auction, bidder, price * 0.908, date_time FROM bids
