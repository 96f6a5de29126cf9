//! A deterministic Nexmark event generator: persons, auctions and bids computed from
//! `(seed, index)` alone, so any worker can generate any range of events independently.
//!
//! The model follows Beam's and Flink's Nexmark generators:
//! - In each block of 50 events, position 0 is a person, 1..=3 are auctions and 4..=49 are
//!   bids (proportions 1:3:46). Person and auction ids count up from 1000, so the id of an
//!   event and the last id that exists before it follow from its index in O(1).
//! - Event time is `BASE_TIME + i` ms, except that one event in 20 is late by 1..=2000 ms
//!   (never before `BASE_TIME`).
//! - Hot entities, with Beam's ratios: a bid's auction is, with probability 1/2, the most
//!   recent auction rounded down to an even id (a "hot" auction), else one of the 100 most
//!   recent auctions; a bid's bidder and an auction's seller are, with probability 3/4, a
//!   hot person (the latest id rounded down to a multiple of 4, plus 1 for bidders), else
//!   one of the 1000 most recent persons. Unlike Beam, references never point to an id
//!   that does not exist yet.
//! - Prices are `round(10^(u*6) * 100)` cents (100 to 10^8), u uniform in [0, 1);
//!   `reserve = initial_bid + price`; `expires = date_time + 10 s..=10 min`.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use eddy_dsl::{Row, Schema, Value};
use serde::{Deserialize, Serialize};

use crate::format::{Encoder, Format};

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 42;
/// Event time of event 0: 2023-11-14T22:13:20Z in epoch ms.
pub const BASE_TIME: i64 = 1_700_000_000_000;
/// The first person id and the first auction id.
pub const FIRST_ID: i64 = 1000;

const BLOCK: u64 = 50;
const PERSONS_PER_BLOCK: u64 = 1;
const AUCTIONS_PER_BLOCK: u64 = 3;
const LATE_ONE_IN: u64 = 20;
const MAX_LATENESS_MS: u64 = 2000;
const HOT_AUCTION_RATIO: u64 = 2;
const HOT_BIDDER_RATIO: u64 = 4;
const HOT_SELLER_RATIO: u64 = 4;
const IN_FLIGHT_AUCTIONS: u64 = 100;
const ACTIVE_PERSONS: u64 = 1000;

/// The kind of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    Person,
    Auction,
    Bid,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Person, Kind::Auction, Kind::Bid];

    /// `"person"`, `"auction"` or `"bid"`.
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "person" => Some(Kind::Person),
            "auction" => Some(Kind::Auction),
            "bid" => Some(Kind::Bid),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Auction => "auction",
            Kind::Bid => "bid",
        }
    }

    /// The positions of this kind's events within a block of 50.
    fn offsets(self) -> Range<u64> {
        match self {
            Kind::Person => 0..PERSONS_PER_BLOCK,
            Kind::Auction => PERSONS_PER_BLOCK..PERSONS_PER_BLOCK + AUCTIONS_PER_BLOCK,
            Kind::Bid => PERSONS_PER_BLOCK + AUCTIONS_PER_BLOCK..BLOCK,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The schema of a kind's rows.
pub fn schema(kind: Kind) -> Schema {
    // The checker knows the generator's schemas too: one definition, in the language crate.
    eddy_dsl::connectors::nexmark_schema(kind.name()).unwrap_or_default()
}

/// The number of events of `kind` among events `0..i`.
pub fn count_before(kind: Kind, i: u64) -> u64 {
    let offsets = kind.offsets();
    let per_block = offsets.end - offsets.start;
    let in_block = (i % BLOCK).clamp(offsets.start, offsets.end) - offsets.start;
    i / BLOCK * per_block + in_block
}

/// The number of events of `kind` in `range`.
pub fn count(kind: Kind, range: Range<u64>) -> u64 {
    count_before(kind, range.end).saturating_sub(count_before(kind, range.start))
}

/// The end of the shortest range of events from `from` that holds `n` events of `kind`.
pub fn end_holding(kind: Kind, from: u64, n: u64) -> u64 {
    let target = count_before(kind, from).saturating_add(n);
    // Every block holds at least one event of each kind: the end is within n + 1 blocks.
    let (mut lo, mut hi) = (from, from.saturating_add(n.saturating_add(1).saturating_mul(BLOCK)));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if count_before(kind, mid) >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Generates events; everything about event `i` depends on `(seed, i)` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generator {
    pub seed: u64,
}

impl Default for Generator {
    fn default() -> Generator {
        Generator { seed: DEFAULT_SEED }
    }
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator { seed }
    }

    /// The kind of event `i`.
    pub fn kind_of(i: u64) -> Kind {
        match i % BLOCK {
            o if o < PERSONS_PER_BLOCK => Kind::Person,
            o if o < PERSONS_PER_BLOCK + AUCTIONS_PER_BLOCK => Kind::Auction,
            _ => Kind::Bid,
        }
    }

    /// Event `i` as a row in its kind's schema.
    pub fn row(&self, i: u64) -> (Kind, Row) {
        let kind = Generator::kind_of(i);
        (kind, self.row_of(kind, i))
    }

    /// The event time of event `i` (epoch ms).
    pub fn date_time(&self, i: u64) -> i64 {
        self.start(i).1
    }

    /// Appends the rows of the events of `kind` among the events in `range`, in order.
    pub fn fill(&self, kind: Kind, range: Range<u64>, out: &mut Vec<Row>) {
        if range.is_empty() {
            return;
        }
        out.reserve(usize::try_from(count(kind, range.clone())).unwrap_or(0));
        let offsets = kind.offsets();
        for block in range.start / BLOCK..=(range.end - 1) / BLOCK {
            let base = block * BLOCK;
            let lo = (base + offsets.start).max(range.start);
            let hi = (base + offsets.end).min(range.end);
            for i in lo..hi {
                out.push(self.row_of(kind, i));
            }
        }
    }

    fn row_of(&self, kind: Kind, i: u64) -> Row {
        match kind {
            Kind::Person => self.person(i),
            Kind::Auction => self.auction(i),
            Kind::Bid => self.bid(i),
        }
    }

    /// The event's random stream, after drawing its event time.
    fn start(&self, i: u64) -> (Rng, i64) {
        let mut rng = Rng::for_event(self.seed, i);
        let late = rng.below(LATE_ONE_IN) == 0;
        let lateness = 1 + rng.below(MAX_LATENESS_MS);
        let on_time = BASE_TIME.saturating_add_unsigned(i);
        let date_time = if late { (on_time - lateness as i64).max(BASE_TIME) } else { on_time };
        (rng, date_time)
    }

    fn person(&self, i: u64) -> Row {
        let (mut rng, date_time) = self.start(i);
        let id = FIRST_ID + count_before(Kind::Person, i) as i64;
        let mut name = String::with_capacity(16);
        name.push_str(rng.pick::<&str>(FIRST_NAMES));
        name.push(' ');
        name.push_str(rng.pick::<&str>(LAST_NAMES));
        let mut email = String::with_capacity(16);
        rng.letters(7, &mut email);
        email.push('@');
        rng.letters(5, &mut email);
        email.push_str(".com");
        let mut card = String::with_capacity(19);
        let mut digits = rng.next();
        for k in 0..16 {
            if k > 0 && k % 4 == 0 {
                card.push(' ');
            }
            card.push(char::from(b'0' + (digits % 10) as u8));
            digits /= 10;
        }
        let (city, state) = *rng.pick(CITIES);
        vec![
            Value::Int(id),
            Value::Str(name.into()),
            Value::Str(email.into()),
            Value::Str(card.into()),
            Value::str(city),
            Value::str(state),
            Value::Timestamp(date_time),
            rng.extra(),
        ]
    }

    fn auction(&self, i: u64) -> Row {
        let (mut rng, date_time) = self.start(i);
        let id = FIRST_ID + count_before(Kind::Auction, i) as i64;
        let mut item_name = String::with_capacity(16);
        let len = 4 + rng.below(9) as usize;
        rng.letters(len, &mut item_name);
        let mut description = String::with_capacity(64);
        for k in 0..4 + rng.below(7) {
            if k > 0 {
                description.push(' ');
            }
            description.push_str(rng.pick::<&str>(WORDS));
        }
        let initial_bid = rng.price();
        let reserve = initial_bid + rng.price();
        let expires = date_time + 10_000 + rng.below(590_001) as i64;
        // Persons 0..=last exist (base 0): the block's person precedes its auctions.
        let last = count_before(Kind::Person, i) - 1;
        let seller = FIRST_ID + rng.person(last, HOT_SELLER_RATIO, 0) as i64;
        let category = 10 + rng.below(5) as i64;
        vec![
            Value::Int(id),
            Value::Str(item_name.into()),
            Value::Str(description.into()),
            Value::Int(initial_bid),
            Value::Int(reserve),
            Value::Timestamp(date_time),
            Value::Timestamp(expires),
            Value::Int(seller),
            Value::Int(category),
            rng.extra(),
        ]
    }

    fn bid(&self, i: u64) -> Row {
        let (mut rng, date_time) = self.start(i);
        // Auctions 0..=last exist (base 0): the block's auctions precede its bids.
        let last = count_before(Kind::Auction, i) - 1;
        let auction = if rng.below(HOT_AUCTION_RATIO) > 0 {
            last / HOT_AUCTION_RATIO * HOT_AUCTION_RATIO
        } else {
            let window = (last + 1).min(IN_FLIGHT_AUCTIONS);
            last + 1 - window + rng.below(window)
        };
        let bidder = rng.person(count_before(Kind::Person, i) - 1, HOT_BIDDER_RATIO, 1);
        let price = rng.price();
        let channel = *rng.pick(CHANNELS);
        let mut url = String::with_capacity(48);
        url.push_str("https://www.nexmark.com/");
        for _ in 0..3 {
            rng.letters(5, &mut url);
            url.push('/');
        }
        url.push_str("item.htm?query=1");
        vec![
            Value::Int(FIRST_ID + auction as i64),
            Value::Int(FIRST_ID + bidder as i64),
            Value::Int(price),
            Value::str(channel),
            Value::Str(url.into()),
            Value::Timestamp(date_time),
            rng.extra(),
        ]
    }
}

/// Writes `events` events as `persons.jsonl`, `auctions.jsonl` and `bids.jsonl` in `dir`
/// (created if missing) and returns the number of persons, auctions and bids written.
pub fn write_jsonl(dir: &Path, events: u64, seed: u64) -> std::io::Result<[u64; 3]> {
    const FLUSH_AT: usize = 1 << 18;
    std::fs::create_dir_all(dir)?;
    let generator = Generator::new(seed);
    let mut outputs = Vec::with_capacity(3);
    for (kind, file) in Kind::ALL.into_iter().zip(["persons.jsonl", "auctions.jsonl", "bids.jsonl"]) {
        let file = std::fs::File::create(dir.join(file))?;
        outputs.push((Encoder::new(&Format::Jsonl, &schema(kind)), file, String::with_capacity(2 * FLUSH_AT)));
    }
    let mut counts = [0u64; 3];
    for i in 0..events {
        let (kind, row) = generator.row(i);
        let (encoder, file, buf) = &mut outputs[kind.index()];
        encoder.encode(&row, buf);
        counts[kind.index()] += 1;
        if buf.len() >= FLUSH_AT {
            file.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    for (_, mut file, buf) in outputs {
        file.write_all(buf.as_bytes())?;
        file.flush()?;
    }
    Ok(counts)
}

/// splitmix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A splitmix64 stream for one event. The start state hashes the index, so the streams of
/// neighbouring events do not overlap.
struct Rng(u64);

impl Rng {
    fn for_event(seed: u64, i: u64) -> Rng {
        Rng(mix(seed ^ mix(i.wrapping_mul(GOLDEN).wrapping_add(GOLDEN))))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `n` random lowercase letters.
    fn letters(&mut self, n: usize, out: &mut String) {
        let mut bits = 0;
        for k in 0..n {
            if k % 13 == 0 {
                bits = self.next(); // 26^13 < 2^64
            }
            out.push(char::from(b'a' + (bits % 26) as u8));
            bits /= 26;
        }
    }

    /// `round(10^(u*6) * 100)`, computed with plain arithmetic (no libm) so that it is the
    /// same on every machine.
    fn price(&mut self) -> i64 {
        (exp10(self.unit() * 6.0) * 100.0).round() as i64
    }

    /// A person (base-0 id) among `0..=last`: hot with probability `(ratio - 1) / ratio`.
    fn person(&mut self, last: u64, ratio: u64, hot_offset: u64) -> u64 {
        if self.below(ratio) > 0 {
            (last / ratio * ratio + hot_offset).min(last)
        } else {
            let window = (last + 1).min(ACTIVE_PERSONS);
            last + 1 - window + self.below(window)
        }
    }

    /// `extra`: null one time in four, else 8 to 24 letters.
    fn extra(&mut self) -> Value {
        if self.below(4) == 0 {
            return Value::Null;
        }
        let mut s = String::with_capacity(24);
        let n = 8 + self.below(17) as usize;
        self.letters(n, &mut s);
        Value::str(&s)
    }
}

/// 10^x for x in [0, 6]: an exact integer power times e^(f ln 10) for the fraction f, by a
/// Taylor series on f ln 10 / 8 and three squarings.
fn exp10(x: f64) -> f64 {
    let k = x.floor();
    let y = (x - k) * std::f64::consts::LN_10 / 8.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=14 {
        term *= y / f64::from(n);
        sum += term;
    }
    let e = sum * sum;
    let e = e * e;
    let mut result = e * e;
    for _ in 0..k as i32 {
        result *= 10.0;
    }
    result
}

const FIRST_NAMES: &[&str] =
    &["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: &[&str] = &["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
const CITIES: &[(&str, &str)] = &[
    ("Phoenix", "AZ"),
    ("Tucson", "AZ"),
    ("Los Angeles", "CA"),
    ("San Francisco", "CA"),
    ("Boise", "ID"),
    ("Portland", "OR"),
    ("Bend", "OR"),
    ("Redmond", "WA"),
    ("Seattle", "WA"),
    ("Kent", "WA"),
    ("Cheyenne", "WY"),
    ("Las Vegas", "NV"),
    ("Reno", "NV"),
];
const CHANNELS: &[&str] = &["Google", "Facebook", "Baidu", "Apple"];
const WORDS: &[&str] = &[
    "vintage", "rare", "mint", "signed", "antique", "lamp", "clock", "guitar", "bicycle", "camera", "watch",
    "painting", "vase", "chair", "table", "record", "book", "coin", "stamp", "poster", "with", "original", "box",
    "classic", "restored", "large", "small", "red", "blue", "brass", "oak", "limited",
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::format::Decoder;

    #[test]
    fn the_shortest_range_holding_n_events_of_a_kind() {
        // Every 50 events: a person at 0, auctions at 1..4, bids at 4..50.
        assert_eq!(end_holding(Kind::Person, 0, 1), 1);
        assert_eq!(end_holding(Kind::Person, 1, 1), 51);
        assert_eq!(end_holding(Kind::Auction, 0, 4), 52);
        assert_eq!(end_holding(Kind::Bid, 0, 1), 5);
        for kind in Kind::ALL {
            for from in [0, 1, 3, 4, 49, 50, 777] {
                for n in [1, 2, 45, 46, 47, 1024] {
                    let end = end_holding(kind, from, n);
                    assert!(count(kind, from..end) == n && count(kind, from..end - 1) < n, "{kind:?} {from} {n}");
                }
            }
        }
    }

    #[test]
    fn proportions_and_ids() {
        let g = Generator::new(DEFAULT_SEED);
        let mut counts = [0u64; 3];
        let (mut next_person, mut next_auction) = (FIRST_ID, FIRST_ID);
        for i in 0..50_000 {
            let (kind, row) = g.row(i);
            assert_eq!(row.len(), schema(kind).len());
            counts[kind.index()] += 1;
            match kind {
                Kind::Person => {
                    assert_eq!(row[0], Value::Int(next_person));
                    next_person += 1;
                }
                Kind::Auction => {
                    assert_eq!(row[0], Value::Int(next_auction));
                    next_auction += 1;
                    let seller = row[7].as_int().unwrap();
                    assert!((FIRST_ID..next_person).contains(&seller), "seller {seller}");
                    assert!((10..=14).contains(&row[8].as_int().unwrap()));
                    let (initial, reserve) = (row[3].as_int().unwrap(), row[4].as_int().unwrap());
                    assert!((100..=100_000_000).contains(&initial) && reserve >= initial);
                    let (dt, exp) = (row[5].as_int().unwrap(), row[6].as_int().unwrap());
                    assert!((dt + 10_000..=dt + 600_000).contains(&exp));
                }
                Kind::Bid => {
                    let auction = row[0].as_int().unwrap();
                    assert!((FIRST_ID..next_auction).contains(&auction), "auction {auction} at {i}");
                    let bidder = row[1].as_int().unwrap();
                    assert!((FIRST_ID..next_person).contains(&bidder), "bidder {bidder} at {i}");
                    assert!((100..=100_000_000).contains(&row[2].as_int().unwrap()));
                    assert!(CHANNELS.contains(&row[3].as_str().unwrap()));
                }
            }
            for kind in Kind::ALL {
                assert_eq!(count_before(kind, i + 1), counts[kind.index()]);
            }
        }
        assert_eq!(counts, [1000, 3000, 46_000]);
        assert_eq!(count(Kind::Bid, 10..60), 46);
        assert_eq!(count(Kind::Auction, 2..51), 2);
    }

    #[test]
    fn event_times() {
        let g = Generator::default();
        let mut late = 0;
        for i in 0..20_000u64 {
            let (kind, row) = g.row(i);
            let dt = row[schema(kind).index_of("date_time").unwrap()].as_int().unwrap();
            assert_eq!(dt, g.date_time(i));
            let on_time = BASE_TIME + i as i64;
            assert!(dt <= on_time && dt >= BASE_TIME && dt >= on_time - 2000);
            late += u32::from(dt < on_time);
        }
        assert!((800..1200).contains(&late), "{late} late events");
        assert_eq!(g.date_time(0), BASE_TIME);
    }

    #[test]
    fn deterministic_and_independent_of_the_split() {
        let (a, b) = (Generator::new(7), Generator::new(7));
        for i in [0, 1, 5, 49, 50, 123_456_789] {
            assert_eq!(a.row(i), b.row(i));
        }
        assert_ne!(Generator::new(7).row(5), Generator::new(8).row(5));
        for kind in Kind::ALL {
            let mut whole = Vec::new();
            a.fill(kind, 3..10_007, &mut whole);
            let mut parts = Vec::new();
            for (lo, hi) in [(3, 4), (4, 51), (51, 51), (51, 2000), (2000, 10_007)] {
                a.fill(kind, lo..hi, &mut parts);
            }
            assert_eq!(whole, parts);
            assert_eq!(whole.len() as u64, count(kind, 3..10_007));
            let expect: Vec<Row> = (3..10_007).map(|i| a.row(i)).filter(|(k, _)| *k == kind).map(|(_, r)| r).collect();
            assert_eq!(whole, expect);
        }
    }

    #[test]
    fn prices_cover_their_range() {
        let mut rng = Rng::for_event(1, 2);
        let prices: Vec<i64> = (0..100_000).map(|_| rng.price()).collect();
        assert!(prices.iter().all(|p| (100..=100_000_000).contains(p)));
        assert!(prices.iter().any(|&p| p < 200) && prices.iter().any(|&p| p > 50_000_000));
        for x in [0.0, 0.5, 1.0, 2.3, 5.999_999] {
            let want = 10f64.powf(x);
            assert!((exp10(x) - want).abs() <= want * 1e-14, "{x}");
        }
    }

    #[test]
    fn persons_look_right() {
        let (_, row) = Generator::default().row(50);
        assert_eq!(row[0], Value::Int(1001));
        let card = row[3].as_str().unwrap();
        assert_eq!(card.len(), 19);
        assert!(row[2].as_str().unwrap().ends_with(".com"));
        assert!(CITIES.iter().any(|(c, s)| Some(*c) == row[4].as_str() && Some(*s) == row[5].as_str()));
        assert_eq!(Kind::parse("auction"), Some(Kind::Auction));
        assert_eq!(Kind::parse("bids"), None);
        assert_eq!(Kind::Bid.name(), "bid");
    }

    #[test]
    fn writes_jsonl_that_decodes() {
        let dir = std::env::temp_dir().join(format!("eddy-nexmark-{}", std::process::id()));
        let counts = write_jsonl(&dir, 5000, DEFAULT_SEED).unwrap();
        assert_eq!(counts, [100, 300, 4600]);
        let g = Generator::default();
        for (kind, file) in Kind::ALL.into_iter().zip(["persons.jsonl", "auctions.jsonl", "bids.jsonl"]) {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let s = schema(kind);
            let mut decoder = Decoder::new(&Format::Jsonl, &s, &vec![true; s.len()]);
            let mut expect = Vec::new();
            g.fill(kind, 0..5000, &mut expect);
            let mut row = Row::new();
            let mut n = 0;
            for (line, want) in text.lines().zip(&expect) {
                decoder.decode(line.as_bytes(), &mut row).unwrap();
                assert_eq!(&row, want);
                n += 1;
            }
            assert_eq!(n, counts[kind.index()]);
            assert_eq!(text.lines().count() as u64, counts[kind.index()]);
        }
        let first = std::fs::read_to_string(dir.join("bids.jsonl")).unwrap();
        assert!(first.starts_with("{\"auction\":"), "{}", &first[..80]);
        assert!(first.contains("\"date_time\":\"2023-11-14T22:13:20.0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
