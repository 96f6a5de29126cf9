SELECT DISTINCT bidder, upper(channel), printf('%.2f', price / 100.0) FROM bids WHERE price >= 100000 AND (channel = 'Google' OR lower(channel) = 'apple')
