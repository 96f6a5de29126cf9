SELECT DISTINCT bidder, channel FROM bids
