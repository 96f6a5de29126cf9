//! The state of the windowed loops (Q7 and Q8; Q5's is `baseline::Q5State`): 10-s tumbling
//! windows of event time, kept by their start.
//!
//! Lateness is judged as one reader of each file judges it: a record more than 2 s behind
//! the latest one of its source is late and dropped (Eddy writes it to `x.late`). A window is
//! closed once the watermark, the least over the sources of (latest - 2 s), reaches its end.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::baseline::{Q5_DELAY as DELAY, Q5_WINDOW as WINDOW};

/// The start of the 10-s window of event time `t`.
pub fn window_start(t: i64) -> i64 {
    t.div_euclid(WINDOW) * WINDOW
}

/// A source's watermark as one reader of it sees it: the latest event time minus the delay.
#[derive(Default)]
pub struct Watermark {
    latest: Option<i64>,
    ended: bool,
}

impl Watermark {
    /// Whether a record at `t` is on time (not behind the watermark); it then counts.
    pub fn admit(&mut self, t: i64) -> bool {
        match self.latest {
            Some(latest) if t < latest.saturating_sub(DELAY) => false,
            latest => {
                self.latest = Some(latest.map_or(t, |l| l.max(t)));
                true
            }
        }
    }

    /// The watermark: no event time before it is to come (the end of time once the source ended).
    pub fn get(&self) -> i64 {
        match (self.ended, self.latest) {
            (true, _) => i64::MAX,
            (false, latest) => latest.map_or(i64::MIN, |l| l.saturating_sub(DELAY)),
        }
    }

    pub fn end(&mut self) {
        self.ended = true;
    }
}

/// Moves the windows (by start) that end at or before `watermark` into `closed`, in order.
fn close<W>(windows: &mut BTreeMap<i64, W>, watermark: i64, closed: &mut Vec<(i64, W)>) {
    while let Some(entry) = windows.first_entry() {
        if entry.key().saturating_add(WINDOW) > watermark {
            break;
        }
        let start = *entry.key();
        closed.push((start, entry.remove()));
    }
}

/// A bid of Q7's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopBid {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    /// Event time, epoch ms.
    pub t: i64,
}

/// A window's highest price and every bid at it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Top {
    pub price: i64,
    pub bids: Vec<TopBid>,
}

impl Top {
    pub fn add(&mut self, bid: TopBid) {
        if self.bids.is_empty() || bid.price > self.price {
            self.price = bid.price;
            self.bids.clear();
        }
        if bid.price == self.price {
            self.bids.push(bid);
        }
    }

    /// Merges the top of the same window from another share of the bids.
    pub fn merge(&mut self, other: Top) {
        if self.bids.is_empty() || (!other.bids.is_empty() && other.price > self.price) {
            *self = other;
        } else if other.price == self.price {
            self.bids.extend(other.bids);
        }
    }
}

/// Q7 in a loop: per window start, its top.
#[derive(Default)]
pub struct Q7State {
    windows: BTreeMap<i64, Top>,
    watermark: Watermark,
    pub late: u64,
}

impl Q7State {
    /// Adds one bid; moves the windows the watermark has closed into `closed`.
    pub fn add(&mut self, bid: TopBid, closed: &mut Vec<(i64, Top)>) {
        if !self.watermark.admit(bid.t) {
            self.late += 1;
            return;
        }
        self.windows.entry(window_start(bid.t)).or_default().add(bid);
        close(&mut self.windows, self.watermark.get(), closed);
    }

    /// The windows still open at the end of the input.
    pub fn finish(self) -> impl Iterator<Item = (i64, Top)> {
        self.windows.into_iter()
    }
}

/// One Q8 window: its persons by id (with their name `N`), its auctions as (seller, id).
pub struct Q8Window<N> {
    persons: HashMap<i64, N>,
    auctions: Vec<(i64, i64)>,
}

impl<N> Default for Q8Window<N> {
    fn default() -> Self {
        Q8Window { persons: HashMap::new(), auctions: Vec::new() }
    }
}

impl<N> Q8Window<N> {
    pub fn person(&mut self, id: i64, name: N) {
        self.persons.insert(id, name);
    }

    pub fn auction(&mut self, id: i64, seller: i64) {
        self.auctions.push((seller, id));
    }

    /// (person, name, auction) for every auction whose seller registered in this window.
    pub fn matches(&self) -> impl Iterator<Item = (i64, &N, i64)> + '_ {
        self.auctions.iter().filter_map(|&(seller, id)| Some((seller, self.persons.get(&seller)?, id)))
    }
}

/// Q8 in a loop: per window start, its persons and auctions; each source has its watermark.
pub struct Q8State<N> {
    windows: BTreeMap<i64, Q8Window<N>>,
    persons: Watermark,
    auctions: Watermark,
    pub late: u64,
}

impl<N> Default for Q8State<N> {
    fn default() -> Self {
        Q8State { windows: BTreeMap::new(), persons: Watermark::default(), auctions: Watermark::default(), late: 0 }
    }
}

impl<N> Q8State<N> {
    pub fn person(&mut self, id: i64, name: N, t: i64, closed: &mut Vec<(i64, Q8Window<N>)>) {
        if !self.persons.admit(t) {
            self.late += 1;
            return;
        }
        self.windows.entry(window_start(t)).or_default().person(id, name);
        self.close(closed);
    }

    pub fn auction(&mut self, id: i64, seller: i64, t: i64, closed: &mut Vec<(i64, Q8Window<N>)>) {
        if !self.auctions.admit(t) {
            self.late += 1;
            return;
        }
        self.windows.entry(window_start(t)).or_default().auction(id, seller);
        self.close(closed);
    }

    /// The persons have ended: the auctions alone hold the windows open.
    pub fn end_persons(&mut self, closed: &mut Vec<(i64, Q8Window<N>)>) {
        self.persons.end();
        self.close(closed);
    }

    /// The auctions have ended: the persons alone hold the windows open.
    pub fn end_auctions(&mut self, closed: &mut Vec<(i64, Q8Window<N>)>) {
        self.auctions.end();
        self.close(closed);
    }

    fn close(&mut self, closed: &mut Vec<(i64, Q8Window<N>)>) {
        close(&mut self.windows, self.persons.get().min(self.auctions.get()), closed);
    }

    /// The windows still open at the end of the input.
    pub fn finish(self) -> impl Iterator<Item = (i64, Q8Window<N>)> {
        self.windows.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(price: i64, t: i64) -> TopBid {
        TopBid { auction: 1, bidder: t, price, t }
    }

    #[test]
    fn tops_keep_ties_and_merge() {
        let (mut a, mut b) = (Top::default(), Top::default());
        [bid(5, 1), bid(7, 2), bid(7, 3), bid(6, 4)].into_iter().for_each(|x| a.add(x));
        assert_eq!((a.price, a.bids.len()), (7, 2));
        b.add(bid(7, 5));
        a.merge(b);
        assert_eq!((a.price, a.bids.len()), (7, 3));
        let mut c = Top::default();
        c.merge(Top::default());
        assert!(c.bids.is_empty());
        c.add(bid(-3, 6)); // below the default price of an empty top
        c.merge(a.clone());
        assert_eq!(c.bids, a.bids);
    }

    #[test]
    fn windows_close_at_the_least_watermark_and_late_records_are_dropped() {
        let mut q8 = Q8State::default();
        let mut closed = Vec::new();
        q8.person(1, "a", 1_000, &mut closed);
        q8.auction(10, 1, 2_000, &mut closed);
        q8.person(2, "b", 13_000, &mut closed); // persons' watermark 11 s; auctions' 0 s
        assert!(closed.is_empty());
        q8.auction(11, 2, 12_500, &mut closed); // auctions' watermark 10.5 s: [0, 10) closes
        assert_eq!(closed.len(), 1);
        let (start, window) = closed.pop().unwrap();
        assert_eq!((start, window.matches().collect::<Vec<_>>()), (0, vec![(1, &"a", 10)]));
        q8.auction(12, 1, 9_000, &mut closed); // behind 10.5 s: late
        assert_eq!(q8.late, 1);
        q8.end_auctions(&mut closed);
        assert!(closed.is_empty()); // the persons still hold [10, 20) open
        q8.end_persons(&mut closed);
        assert_eq!(closed.len(), 1);
    }
}
