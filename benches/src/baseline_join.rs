//! The hand-written single-threaded loops of the queries over several windows or sources,
//! in the style of `baseline.rs`:
//! - Q3: a hash join: the persons of OR, ID and CA into a map by id, then the auctions of
//!   category 10 looked up by seller.
//! - Q7: per 10-s window, the highest price and the bids at it; written when the window closes.
//! - Q8: per 10-s window, its persons by id and its auctions; joined when the window closes.
//!
//! The windowed state (`windows.rs`) judges lateness as one reader of each file does, and
//! closes a window once the watermark reaches its end. Q8 reads its two files merged by event
//! time, so that windows close as it goes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use eddy_dsl::time::write_rfc3339;
use eddy_dsl::{Row, Type, Value};
use eddy_engine::format::{Encoder, Format};
use eddy_engine::nexmark::{Generator, Kind};
use serde::{Deserialize, Serialize};

use crate::baseline::{create, for_each_line, parse_time, schema, Q5_WINDOW as WINDOW};
use crate::windows::{Q7State, Q8State, Q8Window, Top, TopBid};
use crate::workloads::{jsonl_file, Workload, SEED};
use crate::BoxError;

pub const Q3_HEADER: &str = "name,city,state,auction\n";
pub const Q7_HEADER: &str = "auction,bidder,price,date_time,window_start,window_end\n";
pub const Q8_HEADER: &str = "person,name,auction,window_start,window_end\n";

/// The output header of Q3, Q7 or Q8 (CSV files).
pub fn header(workload: Workload) -> &'static str {
    match workload {
        Workload::Q3 => Q3_HEADER,
        Workload::Q7 => Q7_HEADER,
        Workload::Q8 => Q8_HEADER,
        _ => "",
    }
}

/// Q3's category.
pub const Q3_CATEGORY: i64 = 10;

/// Q3's states.
pub fn local(state: &str) -> bool {
    matches!(state, "OR" | "ID" | "CA")
}

/// Q3's person.
#[derive(Deserialize)]
struct PersonQ3<'a> {
    id: i64,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    city: Cow<'a, str>,
    #[serde(borrow)]
    state: Cow<'a, str>,
}

/// Q3's auction.
#[derive(Clone, Serialize, Deserialize)]
pub struct AuctionQ3 {
    pub id: i64,
    pub seller: i64,
    pub category: i64,
}

/// Q7's bid.
#[derive(Deserialize)]
pub struct BidQ7<'a> {
    pub auction: i64,
    pub bidder: i64,
    pub price: i64,
    #[serde(borrow)]
    pub date_time: Cow<'a, str>,
}

/// Q8's person.
#[derive(Deserialize)]
pub struct PersonQ8<'a> {
    pub id: i64,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub date_time: Cow<'a, str>,
}

/// Q8's auction.
#[derive(Deserialize)]
pub struct AuctionQ8<'a> {
    pub id: i64,
    pub seller: i64,
    #[serde(borrow)]
    pub date_time: Cow<'a, str>,
}

/// One Q7 output line: `auction,bidder,price,date_time,window_start,window_end`.
pub fn q7_line(out: &mut String, start: i64, bid: &TopBid) {
    use std::fmt::Write;
    let _ = write!(out, "{},{},{},", bid.auction, bid.bidder, bid.price);
    write_rfc3339(bid.t, out);
    out.push(',');
    write_rfc3339(start, out);
    out.push(',');
    write_rfc3339(start + WINDOW, out);
    out.push('\n');
}

/// One Q8 output line: `person,name,auction,window_start,window_end`.
pub fn q8_line(out: &mut String, start: i64, person: i64, name: &str, auction: i64) {
    use std::fmt::Write;
    let _ = write!(out, "{person},");
    push_csv(out, name);
    let _ = write!(out, ",{auction},");
    write_rfc3339(start, out);
    out.push(',');
    write_rfc3339(start + WINDOW, out);
    out.push('\n');
}

/// A CSV cell as Eddy writes it: quoted (quotes doubled) if it holds a comma, a quote or a
/// line break, `""` if empty.
pub fn push_csv(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("\"\"");
    } else if text.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The non-empty lines of a file, one at a time (for reading two files in step).
struct Lines {
    reader: BufReader<File>,
    line: Vec<u8>,
    read: u64,
}

impl Lines {
    fn open(path: &Path) -> Result<Lines, BoxError> {
        let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Lines { reader: BufReader::with_capacity(1 << 20, file), line: Vec::with_capacity(512), read: 0 })
    }

    fn next(&mut self) -> Result<Option<&[u8]>, BoxError> {
        loop {
            self.line.clear();
            if self.reader.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(None);
            }
            if self.line.len() > usize::from(self.line.ends_with(b"\n")) {
                self.read += 1;
                return Ok(Some(self.line.strip_suffix(b"\n").unwrap_or(&self.line)));
            }
        }
    }
}

/// Writes `text` out once it holds 64 KiB.
fn spill(w: &mut BufWriter<File>, text: &mut String) -> Result<(), BoxError> {
    if text.len() >= 1 << 16 {
        w.write_all(text.as_bytes())?;
        text.clear();
    }
    Ok(())
}

/// The serde loop of Q3, Q7 or Q8 from the JSONL files of `data`; returns the records read.
pub fn serde_loop(workload: Workload, data: &Path, out: &Path) -> Result<u64, BoxError> {
    let file = |kind| data.join(jsonl_file(kind));
    use std::fmt::Write as _;
    let mut w = create(out, workload)?;
    let mut text = String::with_capacity(1 << 17);
    text.push_str(header(workload));
    let n = match workload {
        Workload::Q3 => {
            // Per local person: the start of its output lines, `name,city,state,`.
            let mut sellers: HashMap<i64, String> = HashMap::new();
            let persons = for_each_line(&file(Kind::Person), |line| {
                let p: PersonQ3 = serde_json::from_slice(line)?;
                if local(&p.state) {
                    let mut prefix = String::with_capacity(48);
                    for cell in [&p.name, &p.city, &p.state] {
                        push_csv(&mut prefix, cell);
                        prefix.push(',');
                    }
                    sellers.insert(p.id, prefix);
                }
                Ok(())
            })?;
            let auctions = for_each_line(&file(Kind::Auction), |line| {
                let a: AuctionQ3 = serde_json::from_slice(line)?;
                if a.category == Q3_CATEGORY {
                    if let Some(prefix) = sellers.get(&a.seller) {
                        let _ = writeln!(text, "{prefix}{}", a.id);
                        spill(&mut w, &mut text)?;
                    }
                }
                Ok(())
            })?;
            persons + auctions
        }
        Workload::Q7 => {
            let mut state = Q7State::default();
            let mut closed = Vec::new();
            let n = for_each_line(&file(Kind::Bid), |line| {
                let b: BidQ7 = serde_json::from_slice(line)?;
                let t = parse_time(&b.date_time)?;
                state.add(TopBid { auction: b.auction, bidder: b.bidder, price: b.price, t }, &mut closed);
                for (start, top) in closed.drain(..) {
                    top.bids.iter().for_each(|bid| q7_line(&mut text, start, bid));
                }
                spill(&mut w, &mut text)
            })?;
            for (start, top) in state.finish() {
                top.bids.iter().for_each(|bid| q7_line(&mut text, start, bid));
            }
            n
        }
        Workload::Q8 => {
            let (mut persons, mut auctions) = (Lines::open(&file(Kind::Person))?, Lines::open(&file(Kind::Auction))?);
            let next_person = |lines: &mut Lines| -> Result<Option<(i64, i64, String)>, BoxError> {
                let Some(line) = lines.next()? else { return Ok(None) };
                let p: PersonQ8 = serde_json::from_slice(line)?;
                Ok(Some((parse_time(&p.date_time)?, p.id, p.name.into_owned())))
            };
            let next_auction = |lines: &mut Lines| -> Result<Option<(i64, i64, i64)>, BoxError> {
                let Some(line) = lines.next()? else { return Ok(None) };
                let a: AuctionQ8 = serde_json::from_slice(line)?;
                Ok(Some((parse_time(&a.date_time)?, a.id, a.seller)))
            };
            let mut state = Q8State::default();
            let mut closed = Vec::new();
            let (mut person, mut auction) = (next_person(&mut persons)?, next_auction(&mut auctions)?);
            loop {
                // The earlier of the two next records.
                match (person.take(), auction.take()) {
                    (Some((t, id, name)), a) if a.as_ref().is_none_or(|a| t <= a.0) => {
                        auction = a;
                        state.person(id, name, t, &mut closed);
                        person = next_person(&mut persons)?;
                        if person.is_none() {
                            state.end_persons(&mut closed);
                        }
                    }
                    (p, Some((t, id, seller))) => {
                        person = p;
                        state.auction(id, seller, t, &mut closed);
                        auction = next_auction(&mut auctions)?;
                        if auction.is_none() {
                            state.end_auctions(&mut closed);
                        }
                    }
                    _ => break,
                }
                for (start, window) in closed.drain(..) {
                    for (person, name, auction) in window.matches() {
                        q8_line(&mut text, start, person, name, auction);
                    }
                }
                spill(&mut w, &mut text)?;
            }
            for (start, window) in state.finish() {
                for (person, name, auction) in window.matches() {
                    q8_line(&mut text, start, person, name, auction);
                }
            }
            persons.read + auctions.read
        }
        other => return Err(format!("{other}: not a join workload").into()),
    };
    w.write_all(text.as_bytes())?;
    w.flush()?;
    Ok(n)
}

/// The loop over `Generator::fill` for Q3, Q7 or Q8 among `events` events, with Eddy's encoder
/// for the output; returns the records generated.
pub fn gen_loop(workload: Workload, events: u64, out: &Path) -> Result<u64, BoxError> {
    const BATCH: u64 = 4096;
    let generator = Generator::new(SEED);
    let mut w = create(out, workload)?;
    let csv = Format::Csv { header: false, delimiter: b',' };
    let int = |v: &Value| v.as_int().unwrap_or(0);
    let mut buf = String::with_capacity(1 << 17);
    buf.push_str(header(workload));
    let mut rows: Vec<Row> = Vec::with_capacity(BATCH as usize);
    // Calls `f` with the rows of each of `kinds` among the events of each batch, in turn.
    let mut batches = |kinds: &[Kind], f: &mut dyn FnMut(Kind, &mut Vec<Row>, &mut String)| -> Result<u64, BoxError> {
        let (mut n, mut start) = (0, 0);
        while start < events {
            let end = (start + BATCH).min(events);
            for &kind in kinds {
                generator.fill(kind, start..end, &mut rows);
                n += rows.len() as u64;
                f(kind, &mut rows, &mut buf);
                rows.clear();
            }
            start = end;
            spill(&mut w, &mut buf)?;
        }
        Ok(n)
    };
    // Person fields: id 0, name 1, city 4, state 5, date_time 6. Auction: id 0, date_time 5,
    // seller 7, category 8. Bid: auction 0, bidder 1, price 2, date_time 5.
    let ts = Value::Timestamp;
    let n = match workload {
        Workload::Q3 => {
            let fields =
                [("name", Type::STRING), ("city", Type::STRING), ("state", Type::STRING), ("auction", Type::INT)];
            let encoder = Encoder::new(&csv, &schema(&fields));
            let mut sellers: HashMap<i64, [Value; 3]> = HashMap::new();
            let persons = batches(&[Kind::Person], &mut |_, rows, _| {
                for row in rows.drain(..) {
                    if row[5].as_str().is_some_and(local) {
                        sellers.insert(int(&row[0]), [row[1].clone(), row[4].clone(), row[5].clone()]);
                    }
                }
            })?;
            let auctions = batches(&[Kind::Auction], &mut |_, rows, buf| {
                for row in rows.iter().filter(|r| int(&r[8]) == Q3_CATEGORY) {
                    if let Some([name, city, state]) = sellers.get(&int(&row[7])) {
                        encoder.encode(&[name.clone(), city.clone(), state.clone(), row[0].clone()], buf);
                    }
                }
            })?;
            persons + auctions
        }
        Workload::Q7 => {
            let fields = [
                ("auction", Type::INT),
                ("bidder", Type::INT),
                ("price", Type::INT),
                ("date_time", Type::TIMESTAMP),
                ("window_start", Type::TIMESTAMP),
                ("window_end", Type::TIMESTAMP),
            ];
            let encoder = Encoder::new(&csv, &schema(&fields));
            let encode = |start: i64, top: Top, buf: &mut String| {
                for b in top.bids {
                    let (auction, bidder, price) = (Value::Int(b.auction), Value::Int(b.bidder), Value::Int(b.price));
                    encoder.encode(&[auction, bidder, price, ts(b.t), ts(start), ts(start + WINDOW)], buf);
                }
            };
            let (mut state, mut closed) = (Q7State::default(), Vec::new());
            let n = batches(&[Kind::Bid], &mut |_, rows, buf| {
                for row in rows.iter() {
                    let bid =
                        TopBid { auction: int(&row[0]), bidder: int(&row[1]), price: int(&row[2]), t: int(&row[5]) };
                    state.add(bid, &mut closed);
                    for (start, top) in closed.drain(..) {
                        encode(start, top, buf);
                    }
                }
            })?;
            for (start, top) in state.finish() {
                encode(start, top, &mut buf);
            }
            n
        }
        Workload::Q8 => {
            let fields = [
                ("person", Type::INT),
                ("name", Type::STRING),
                ("auction", Type::INT),
                ("window_start", Type::TIMESTAMP),
                ("window_end", Type::TIMESTAMP),
            ];
            let encoder = Encoder::new(&csv, &schema(&fields));
            let encode = |start: i64, window: Q8Window<Value>, buf: &mut String| {
                for (person, name, auction) in window.matches() {
                    let row = [Value::Int(person), name.clone(), Value::Int(auction), ts(start), ts(start + WINDOW)];
                    encoder.encode(&row, buf);
                }
            };
            let (mut state, mut closed) = (Q8State::default(), Vec::new());
            let n = batches(&[Kind::Person, Kind::Auction], &mut |kind, rows, buf| {
                for row in rows.drain(..) {
                    match kind {
                        Kind::Person => state.person(int(&row[0]), row[1].clone(), int(&row[6]), &mut closed),
                        _ => state.auction(int(&row[0]), int(&row[7]), int(&row[5]), &mut closed),
                    }
                    for (start, window) in closed.drain(..) {
                        encode(start, window, buf);
                    }
                }
            })?;
            for (start, window) in state.finish() {
                encode(start, window, &mut buf);
            }
            n
        }
        other => return Err(format!("{other}: not a join workload").into()),
    };
    w.write_all(buf.as_bytes())?;
    w.flush()?;
    Ok(n)
}
