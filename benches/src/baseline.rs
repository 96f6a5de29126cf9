//! Hand-written single-threaded baselines: what a Rust programmer would write for each query.
//!
//! - From JSON lines (`serde_loop`): read lines, deserialize with serde_json into a struct of
//!   only the fields the query needs (strings borrowed from the line where there is no escape),
//!   do the query, write the output with serde_json or `write!` into a `BufWriter`.
//! - From the generator (`gen_loop`): `Generator::fill` batches of rows, the query on the
//!   rows, and Eddy's own encoder for the output, so that against the Eddy pipeline on
//!   `generate(...)` both sides pay generation and encoding and the ratio is the engine's.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use eddy_dsl::{Field, Row, Schema, Type, Value};
use eddy_engine::format::{Encoder, Format};
use eddy_engine::nexmark::{self, Generator, Kind};
use serde::{Deserialize, Serialize};

use crate::workloads::{Workload, SEED};
use crate::BoxError;

/// Q0's row: every field of a bid, in the schema's order (which is the output's order).
#[derive(Serialize, Deserialize)]
pub struct BidQ0<'a> {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    #[serde(borrow)]
    pub channel: Cow<'a, str>,
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    #[serde(borrow)]
    pub date_time: Cow<'a, str>,
    #[serde(borrow)]
    pub extra: Option<Cow<'a, str>>,
}

/// Q1's input.
#[derive(Deserialize)]
pub struct BidQ1<'a> {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    #[serde(borrow)]
    pub date_time: Cow<'a, str>,
}

/// Q1's output: the price in euros.
#[derive(Serialize)]
pub struct EurosQ1<'a> {
    pub auction: i64,
    pub bidder: i64,
    pub price: f64,
    pub date_time: &'a str,
}

/// The two fields Q2 and the aggregate read.
#[derive(Clone, Serialize, Deserialize)]
pub struct AuctionPrice {
    pub auction: i64,
    pub price: i64,
}

/// Q5's input.
#[derive(Deserialize)]
pub struct BidQ5<'a> {
    pub auction: i64,
    pub price: i64,
    #[serde(borrow)]
    pub date_time: Cow<'a, str>,
}

/// Q5's window size and watermark delay (ms), and its output header.
pub const Q5_WINDOW: i64 = 10_000;
pub const Q5_DELAY: i64 = 2_000;
pub const Q5_HEADER: &str = "auction,window_start,window_end,bids,top\n";

/// Q5 in a plain loop: per window start, per auction (bids, highest price). A bid more than
/// the delay behind the latest one is late (dropped here; Eddy writes it to `bids.late`), and
/// a window is written once the watermark (latest - delay) reaches its end.
#[derive(Default)]
pub struct Q5State {
    windows: std::collections::BTreeMap<i64, AggState>,
    latest: Option<i64>,
    pub late: u64,
}

impl Q5State {
    /// Adds one bid; returns the windows the watermark has closed.
    pub fn add(&mut self, auction: i64, price: i64, t: i64, closed: &mut Vec<(i64, AggState)>) {
        if let Some(latest) = self.latest {
            if t < latest.saturating_sub(Q5_DELAY) {
                self.late += 1;
                return;
            }
        }
        let latest = self.latest.map_or(t, |l| l.max(t));
        self.latest = Some(latest);
        let start = t.div_euclid(Q5_WINDOW) * Q5_WINDOW;
        agg_add(self.windows.entry(start).or_default(), auction, 1, price);
        let watermark = latest.saturating_sub(Q5_DELAY);
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() + Q5_WINDOW > watermark {
                break;
            }
            let start = *entry.key();
            closed.push((start, entry.remove()));
        }
    }

    /// The windows still open at the end of the input.
    pub fn finish(self) -> impl Iterator<Item = (i64, AggState)> {
        self.windows.into_iter()
    }
}

/// One Q5 output line: `auction,window_start,window_end,bids,top`.
pub fn q5_line(out: &mut String, start: i64, auction: i64, (count, top): (i64, i64)) {
    use std::fmt::Write;
    let _ = write!(out, "{auction},");
    eddy_dsl::time::write_rfc3339(start, out);
    out.push(',');
    eddy_dsl::time::write_rfc3339(start + Q5_WINDOW, out);
    let _ = writeln!(out, ",{count},{top}");
}

/// RFC 3339 text to epoch ms, as a hand-written loop would: the fixed shape the generator
/// writes (`2023-11-14T22:13:20.004Z`) by hand, anything else through chrono.
pub fn parse_time(text: &str) -> Result<i64, BoxError> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let fixed = || -> Option<i64> {
        if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'.' || b[23] != b'Z' {
            return None;
        }
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, s, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
        if !(1..=12).contains(&m) || !(1..=28).contains(&d) || h > 23 || mi > 59 || s > 59 {
            return None;
        }
        // Days from civil (Howard Hinnant).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
        Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
    };
    match fixed() {
        Some(t) => Ok(t),
        None => eddy_dsl::time::parse_timestamp(text).ok_or_else(|| format!("bad timestamp {text:?}").into()),
    }
}

/// Q1's conversion.
pub fn euros(price: i64) -> f64 {
    price as f64 * 0.908
}

/// Q2's predicate.
pub fn chosen(auction: i64) -> bool {
    auction % 123 == 0
}

/// The aggregate's output header.
pub const AGG_HEADER: &str = "auction,n,top\n";

/// Per auction: (bids, highest price).
pub type AggState = HashMap<i64, (i64, i64)>;

pub fn agg_add(state: &mut AggState, auction: i64, n: i64, top: i64) {
    let e = state.entry(auction).or_insert((0, i64::MIN));
    e.0 += n;
    e.1 = e.1.max(top);
}

pub fn create(out: &Path, workload: Workload) -> Result<BufWriter<File>, BoxError> {
    std::fs::create_dir_all(out)?;
    let path = out.join(workload.output_file());
    let file = File::create(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 16, file))
}

/// Calls `f` with every non-empty line of `path` (without its terminator).
pub fn for_each_line(path: &Path, mut f: impl FnMut(&[u8]) -> Result<(), BoxError>) -> Result<u64, BoxError> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(512);
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(n);
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if !text.is_empty() {
            n += 1;
            f(text)?;
        }
    }
}

/// The serde loop from `data/bids.jsonl` (Q3, Q7 and Q8: `baseline_join`); returns the number
/// of records read.
pub fn serde_loop(workload: Workload, data: &Path, out: &Path) -> Result<u64, BoxError> {
    if matches!(workload, Workload::Q3 | Workload::Q7 | Workload::Q8) {
        return crate::baseline_join::serde_loop(workload, data, out);
    }
    let bids = data.join("bids.jsonl");
    let mut w = create(out, workload)?;
    let n = match workload {
        Workload::Q0 => for_each_line(&bids, |line| {
            let bid: BidQ0 = serde_json::from_slice(line)?;
            serde_json::to_writer(&mut w, &bid)?;
            w.write_all(b"\n")?;
            Ok(())
        })?,
        Workload::Q1 => for_each_line(&bids, |line| {
            let bid: BidQ1 = serde_json::from_slice(line)?;
            let out = EurosQ1 {
                auction: bid.auction,
                bidder: bid.bidder,
                price: euros(bid.price),
                date_time: &bid.date_time,
            };
            serde_json::to_writer(&mut w, &out)?;
            w.write_all(b"\n")?;
            Ok(())
        })?,
        Workload::Q2 => for_each_line(&bids, |line| {
            let bid: AuctionPrice = serde_json::from_slice(line)?;
            if chosen(bid.auction) {
                writeln!(w, "{},{}", bid.auction, bid.price)?;
            }
            Ok(())
        })?,
        Workload::Agg => {
            let mut state = AggState::new();
            let n = for_each_line(&bids, |line| {
                let bid: AuctionPrice = serde_json::from_slice(line)?;
                agg_add(&mut state, bid.auction, 1, bid.price);
                Ok(())
            })?;
            w.write_all(AGG_HEADER.as_bytes())?;
            for (auction, (count, top)) in state {
                writeln!(w, "{auction},{count},{top}")?;
            }
            n
        }
        Workload::Q5 => {
            let mut state = Q5State::default();
            let (mut closed, mut text) = (Vec::new(), String::with_capacity(1 << 16));
            text.push_str(Q5_HEADER);
            let n = for_each_line(&bids, |line| {
                let bid: BidQ5 = serde_json::from_slice(line)?;
                state.add(bid.auction, bid.price, parse_time(&bid.date_time)?, &mut closed);
                for (start, auctions) in closed.drain(..) {
                    for (auction, agg) in auctions {
                        q5_line(&mut text, start, auction, agg);
                    }
                }
                if text.len() >= 1 << 16 {
                    w.write_all(text.as_bytes())?;
                    text.clear();
                }
                Ok(())
            })?;
            for (start, auctions) in state.finish() {
                for (auction, agg) in auctions {
                    q5_line(&mut text, start, auction, agg);
                }
            }
            w.write_all(text.as_bytes())?;
            n
        }
        other => return Err(format!("{other}: {}", other.unsupported().unwrap_or("no baseline")).into()),
    };
    w.flush()?;
    Ok(n)
}

pub fn schema(fields: &[(&str, Type)]) -> Schema {
    Schema::new(fields.iter().map(|(name, ty)| Field { name: (*name).to_string(), ty: ty.clone() }).collect())
}

/// The loop over `Generator::fill` for the bids among `events` events (Q3, Q7 and Q8:
/// `baseline_join`); returns the number of records generated.
pub fn gen_loop(workload: Workload, events: u64, out: &Path) -> Result<u64, BoxError> {
    if matches!(workload, Workload::Q3 | Workload::Q7 | Workload::Q8) {
        return crate::baseline_join::gen_loop(workload, events, out);
    }
    const BATCH: u64 = 4096;
    let generator = Generator::new(SEED);
    let mut w = create(out, workload)?;
    let csv = Format::Csv { header: false, delimiter: b',' };
    let encoder = match workload {
        Workload::Q0 => Encoder::new(&Format::Jsonl, &nexmark::schema(Kind::Bid)),
        Workload::Q1 => Encoder::new(
            &Format::Jsonl,
            &schema(&[
                ("auction", Type::INT),
                ("bidder", Type::INT),
                ("price", Type::FLOAT),
                ("date_time", Type::TIMESTAMP),
            ]),
        ),
        Workload::Q2 => Encoder::new(&csv, &schema(&[("auction", Type::INT), ("price", Type::INT)])),
        Workload::Agg => Encoder::new(&csv, &schema(&[("auction", Type::INT), ("n", Type::INT), ("top", Type::INT)])),
        Workload::Q5 => Encoder::new(
            &csv,
            &schema(&[
                ("auction", Type::INT),
                ("window_start", Type::TIMESTAMP),
                ("window_end", Type::TIMESTAMP),
                ("bids", Type::INT),
                ("top", Type::INT),
            ]),
        ),
        other => return Err(format!("{other}: {}", other.unsupported().unwrap_or("no baseline")).into()),
    };
    let int = |v: &Value| v.as_int().unwrap_or(0);
    let mut rows: Vec<Row> = Vec::with_capacity(BATCH as usize);
    let mut buf = String::with_capacity(1 << 17);
    let mut state = AggState::new();
    let mut q5 = Q5State::default();
    let mut closed = Vec::new();
    if workload == Workload::Q5 {
        buf.push_str(Q5_HEADER);
    }
    let mut n = 0;
    let mut start = 0;
    while start < events {
        let end = (start + BATCH).min(events);
        generator.fill(Kind::Bid, start..end, &mut rows);
        start = end;
        n += rows.len() as u64;
        for row in rows.drain(..) {
            // Bid fields: auction 0, bidder 1, price 2, channel 3, url 4, date_time 5, extra 6.
            match workload {
                Workload::Q0 => encoder.encode(&row, &mut buf),
                Workload::Q1 => {
                    let price = Value::float(euros(int(&row[2])));
                    encoder.encode(&[row[0].clone(), row[1].clone(), price, row[5].clone()], &mut buf)
                }
                Workload::Q2 => {
                    if chosen(int(&row[0])) {
                        encoder.encode(&[row[0].clone(), row[2].clone()], &mut buf)
                    }
                }
                Workload::Q5 => {
                    q5.add(int(&row[0]), int(&row[2]), int(&row[5]), &mut closed);
                    for (start, auctions) in closed.drain(..) {
                        encode_q5_window(&encoder, start, auctions, &mut buf);
                    }
                }
                _ => agg_add(&mut state, int(&row[0]), 1, int(&row[2])),
            }
        }
        if buf.len() >= 1 << 16 {
            w.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    if workload == Workload::Agg {
        buf.push_str(AGG_HEADER);
        for (auction, (count, top)) in state {
            encoder.encode(&[Value::Int(auction), Value::Int(count), Value::Int(top)], &mut buf);
        }
    }
    if workload == Workload::Q5 {
        for (start, auctions) in q5.finish() {
            encode_q5_window(&encoder, start, auctions, &mut buf);
        }
    }
    w.write_all(buf.as_bytes())?;
    w.flush()?;
    Ok(n)
}

/// Writes one closed Q5 window's results as Eddy writes them: auction, window, count, top price.
fn encode_q5_window(encoder: &Encoder, start: i64, auctions: AggState, buf: &mut String) {
    for (auction, (count, top)) in auctions {
        let row = [
            Value::Int(auction),
            Value::Timestamp(start),
            Value::Timestamp(start + Q5_WINDOW),
            Value::Int(count),
            Value::Int(top),
        ];
        encoder.encode(&row, buf);
    }
}
