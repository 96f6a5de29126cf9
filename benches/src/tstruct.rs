//! Hand-written timely dataflow with struct rows: each worker reads its byte range of
//! `bids.jsonl` (aligned to lines), deserializes owned structs in batches of 4096, runs the
//! query with `map`/`filter` (the aggregate combines per worker, exchanges partials by key and
//! merges them), and a sink writes through a per-worker buffer into one shared file.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Filter, Map};
use timely::dataflow::{Scope, StreamVec};

use crate::baseline::{
    agg_add, chosen, euros, parse_time, q5_line, AggState, AuctionPrice, AGG_HEADER, Q5_DELAY, Q5_HEADER, Q5_WINDOW,
};
use crate::workloads::Workload;
use crate::BoxError;

const BATCH: usize = 4096;

/// Q0's owned row.
#[derive(Clone, Serialize, Deserialize)]
struct Bid {
    auction: i64,
    bidder: i64,
    price: i64,
    channel: String,
    url: String,
    date_time: String,
    extra: Option<String>,
}

/// Q1's owned input row.
#[derive(Clone, Serialize, Deserialize)]
struct BidQ1 {
    auction: i64,
    bidder: i64,
    price: i64,
    date_time: String,
}

/// Q1's owned output row.
#[derive(Clone, Serialize, Deserialize)]
struct Euros {
    auction: i64,
    bidder: i64,
    price: f64,
    date_time: String,
}

/// Q5's owned input row.
#[derive(Clone, Serialize, Deserialize)]
struct BidQ5 {
    auction: i64,
    price: i64,
    date_time: String,
}

type Shared = Arc<Mutex<BufWriter<File>>>;
type Errors = Arc<Mutex<Option<String>>>;

fn fail(errors: &Errors, e: String) {
    if let Ok(mut slot) = errors.lock() {
        slot.get_or_insert(e);
    }
}

/// Runs `workload` on `workers` threads; returns the number of bids read.
pub fn run(workload: Workload, workers: usize, data: &Path, out: &Path) -> Result<u64, BoxError> {
    std::fs::create_dir_all(out)?;
    let path = out.join(workload.output_file());
    let mut file = BufWriter::with_capacity(1 << 16, File::create(&path)?);
    if workload == Workload::Agg {
        file.write_all(AGG_HEADER.as_bytes())?;
    }
    if workload == Workload::Q5 {
        file.write_all(Q5_HEADER.as_bytes())?;
    }
    let shared: Shared = Arc::new(Mutex::new(file));
    let bids = data.join("bids.jsonl");
    let config = if workers > 1 { timely::Config::process(workers) } else { timely::Config::thread() };
    let errors: Errors = Arc::new(Mutex::new(None));
    let worker_errors = Arc::clone(&errors);
    let worker_shared = Arc::clone(&shared);
    let guards = timely::execute(config, move |worker| {
        let read = Rc::new(Cell::new(0u64));
        let (bids, sink_out, errors, read2) = (
            bids.clone(),
            (Arc::clone(&worker_shared), Arc::clone(&worker_errors)),
            Arc::clone(&worker_errors),
            Rc::clone(&read),
        );
        worker.dataflow::<u64, _, _>(move |scope| match workload {
            Workload::Q0 => {
                let rows = file_source::<Bid>(scope, bids, errors, read2);
                json_sink(rows, sink_out);
            }
            Workload::Q1 => {
                let rows = file_source::<BidQ1>(scope, bids, errors, read2).map(|b| Euros {
                    auction: b.auction,
                    bidder: b.bidder,
                    price: euros(b.price),
                    date_time: b.date_time,
                });
                json_sink(rows, sink_out);
            }
            Workload::Q2 => {
                let rows = file_source::<AuctionPrice>(scope, bids, errors, read2).filter(|b| chosen(b.auction));
                sink(rows, sink_out, |b, out| {
                    let _ = writeln!(out, "{},{}", b.auction, b.price);
                });
            }
            Workload::Q5 => {
                let rows = q5_source(scope, bids, errors, read2);
                let windows = q5_windows(rows);
                sink(windows, sink_out, |(start, auction, agg), out| {
                    let mut line = String::new();
                    q5_line(&mut line, *start, *auction, *agg);
                    out.extend_from_slice(line.as_bytes());
                });
            }
            _ => {
                let rows = file_source::<AuctionPrice>(scope, bids, errors, read2);
                let partials = aggregate(rows.map(|b| (b.auction, (1, b.price))), Pipeline);
                let totals = aggregate(partials, Exchange::new(|(auction, _): &(i64, (i64, i64))| *auction as u64));
                sink(totals, sink_out, |(auction, (n, top)), out| {
                    let _ = writeln!(out, "{auction},{n},{top}");
                });
            }
        });
        while worker.step() {}
        read.get()
    })?;
    let mut total = 0;
    for result in guards.join() {
        total += result?;
    }
    if let Some(e) = errors.lock().map_err(|_| "poisoned")?.take() {
        return Err(e.into());
    }
    shared.lock().map_err(|_| "poisoned")?.flush()?;
    Ok(total)
}

/// The next non-empty line (without its '\n') of a worker's byte range; `None` at its end.
fn next_line<'a>(
    r: &mut impl BufRead,
    line: &'a mut Vec<u8>,
    offset: &mut u64,
    end: u64,
) -> std::io::Result<Option<&'a [u8]>> {
    loop {
        if *offset >= end {
            return Ok(None);
        }
        line.clear();
        let n = r.read_until(b'\n', line)?;
        if n == 0 {
            return Ok(None);
        }
        *offset += n as u64;
        if line.len() > usize::from(line.ends_with(b"\n")) {
            break;
        }
    }
    Ok(Some(line.strip_suffix(b"\n").unwrap_or(line)))
}

/// This worker's share of the lines of `path`, deserialized; errors end the source and are kept.
fn file_source<'s, D: DeserializeOwned + 'static>(
    scope: Scope<'s, u64>,
    path: PathBuf,
    errors: Errors,
    read: Rc<Cell<u64>>,
) -> StreamVec<'s, u64, D> {
    let (index, peers) = (scope.index() as u64, scope.peers() as u64);
    source(scope, "FileSource", move |cap, info| {
        let activator = scope.activator_for(info.address);
        let report = move |e: String| fail(&errors, e);
        let opened = open_range(&path, index, peers);
        let (mut reader, mut offset, end) = match opened {
            Ok(r) => (Some(r.0), r.1, r.2),
            Err(e) => {
                report(e.to_string());
                (None, 0, 0)
            }
        };
        let mut cap = Some(cap);
        let mut line = Vec::with_capacity(512);
        let mut batch: Vec<D> = Vec::with_capacity(BATCH);
        move |output| {
            let mut done = true;
            if let (Some(c), Some(r)) = (cap.as_ref(), reader.as_mut()) {
                done = false;
                while batch.len() < BATCH {
                    let text = match next_line(r, &mut line, &mut offset, end) {
                        Ok(Some(text)) => text,
                        Ok(None) => {
                            done = true;
                            break;
                        }
                        Err(e) => {
                            report(e.to_string());
                            done = true;
                            break;
                        }
                    };
                    match serde_json::from_slice(text) {
                        Ok(d) => batch.push(d),
                        Err(e) => {
                            report(e.to_string());
                            done = true;
                            break;
                        }
                    }
                }
                read.set(read.get() + batch.len() as u64);
                output.session(c).give_container(&mut batch);
                batch.clear();
            }
            if done {
                cap = None;
                reader = None;
            } else {
                activator.activate();
            }
        }
    })
    .container::<Vec<D>>()
}

/// Q5's source: this worker's bids as `(auction, price, event time)`, sent at the watermark
/// (the latest event time minus the delay, per worker), late bids dropped.
fn q5_source<'s>(
    scope: Scope<'s, u64>,
    path: PathBuf,
    errors: Errors,
    read: Rc<Cell<u64>>,
) -> StreamVec<'s, u64, (i64, i64, i64)> {
    let (index, peers) = (scope.index() as u64, scope.peers() as u64);
    source(scope, "Q5Source", move |cap, info| {
        let activator = scope.activator_for(info.address);
        let report = move |e: String| fail(&errors, e);
        let (mut reader, mut offset, end) = match open_range(&path, index, peers) {
            Ok(r) => (Some(r.0), r.1, r.2),
            Err(e) => {
                report(e.to_string());
                (None, 0, 0)
            }
        };
        let mut cap = Some(cap);
        let mut latest: Option<i64> = None;
        let mut line = Vec::with_capacity(512);
        let mut batch = Vec::with_capacity(BATCH);
        move |output| {
            let mut done = true;
            if let (Some(c), Some(r)) = (cap.as_mut(), reader.as_mut()) {
                done = false;
                let mut lines = 0;
                while lines < BATCH {
                    let text = match next_line(r, &mut line, &mut offset, end) {
                        Ok(Some(text)) => text,
                        Ok(None) => {
                            done = true;
                            break;
                        }
                        Err(e) => {
                            report(e.to_string());
                            done = true;
                            break;
                        }
                    };
                    lines += 1;
                    let parsed = serde_json::from_slice::<BidQ5>(text)
                        .map_err(|e| e.to_string())
                        .and_then(|b| Ok((b.auction, b.price, parse_time(&b.date_time).map_err(|e| e.to_string())?)));
                    match parsed {
                        Ok((auction, price, t)) => {
                            if latest.is_some_and(|l| t < l.saturating_sub(Q5_DELAY)) {
                                continue; // late
                            }
                            latest = Some(latest.map_or(t, |l| l.max(t)));
                            batch.push((auction, price, t));
                        }
                        Err(e) => {
                            report(e);
                            done = true;
                            break;
                        }
                    }
                }
                read.set(read.get() + lines as u64);
                output.session(&*c).give_container(&mut batch);
                batch.clear();
                let watermark = latest.map_or(0, |l| l.saturating_sub(Q5_DELAY).max(0) as u64);
                if watermark > *c.time() {
                    c.downgrade(&watermark);
                }
            }
            if done {
                cap = None;
                reader = None;
            } else {
                activator.activate();
            }
        }
    })
    .container::<Vec<_>>()
}

/// Q5's windows: bids exchanged by auction, counted per window, and each window emitted (at
/// its end) once the frontier passes its end.
fn q5_windows<'s>(rows: StreamVec<'s, u64, (i64, i64, i64)>) -> StreamVec<'s, u64, (i64, i64, (i64, i64))> {
    use std::collections::HashMap;
    use timely::dataflow::operators::Capability;
    let pact = Exchange::new(|(auction, _, _): &(i64, i64, i64)| *auction as u64);
    rows.unary_frontier(pact, "Q5Windows", |_cap, _info| {
        let mut windows: HashMap<u64, (Capability<u64>, AggState)> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                for (auction, price, t) in data.drain(..) {
                    let end = (t.div_euclid(Q5_WINDOW) * Q5_WINDOW + Q5_WINDOW).max(0) as u64;
                    let (_, state) = windows.entry(end).or_insert_with(|| {
                        let at = cap.least().map_or(end, |t| end.max(*t));
                        (cap.delayed(&at, 0), AggState::new())
                    });
                    agg_add(state, auction, 1, price);
                }
            });
            let mut closed: Vec<u64> = windows.keys().copied().filter(|end| !frontier.less_than(end)).collect();
            closed.sort_unstable();
            for end in closed {
                if let Some((cap, state)) = windows.remove(&end) {
                    let start = end as i64 - Q5_WINDOW;
                    output.session(&cap).give_iterator(state.into_iter().map(|(auction, agg)| (start, auction, agg)));
                }
            }
        }
    })
    .container::<Vec<_>>()
}

/// The file from the first line starting in worker `index`'s byte range: (reader, offset, end).
fn open_range(path: &Path, index: u64, peers: u64) -> std::io::Result<(BufReader<File>, u64, u64)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let (mut start, end) = (len * index / peers, len * (index + 1) / peers);
    let mut reader = BufReader::with_capacity(1 << 20, file);
    if start > 0 {
        // The line that straddles `start` belongs to the previous worker.
        reader.seek(SeekFrom::Start(start - 1))?;
        let mut skipped = Vec::new();
        start += reader.read_until(b'\n', &mut skipped)? as u64 - 1;
    }
    Ok((reader, start, end))
}

/// Merges `(auction, (count, top))` per key with `pact`, emitting the totals once the input is complete.
fn aggregate<'s, P>(rows: StreamVec<'s, u64, (i64, (i64, i64))>, pact: P) -> StreamVec<'s, u64, (i64, (i64, i64))>
where
    P: timely::dataflow::channels::pact::ParallelizationContract<u64, Vec<(i64, (i64, i64))>>,
{
    rows.unary_frontier(pact, "Aggregate", |cap, _info| {
        let mut cap = Some(cap);
        let mut state = AggState::new();
        move |(input, frontier), output| {
            input.for_each(|_, data| {
                for (auction, (n, top)) in data.drain(..) {
                    agg_add(&mut state, auction, n, top);
                }
            });
            if frontier.is_empty() {
                if let Some(c) = cap.take() {
                    output.session(&c).give_iterator(std::mem::take(&mut state).into_iter());
                }
            }
        }
    })
    .container::<Vec<_>>()
}

fn json_sink<D: Serialize + 'static>(rows: StreamVec<'_, u64, D>, target: (Shared, Errors)) {
    sink(rows, target, |d, out| {
        let _ = serde_json::to_writer(&mut *out, d);
        out.push(b'\n');
    })
}

/// Encodes rows into a per-worker buffer that goes to the shared file in 64 KiB pieces, and
/// the rest once the input is complete.
fn sink<D: 'static>(
    rows: StreamVec<'_, u64, D>,
    (shared, errors): (Shared, Errors),
    encode: impl Fn(&D, &mut Vec<u8>) + 'static,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 17);
    let flush = move |buf: &mut Vec<u8>| {
        if let Ok(mut w) = shared.lock() {
            if let Err(e) = w.write_all(buf) {
                fail(&errors, format!("cannot write the output: {e}"));
            }
        }
        buf.clear();
    };
    let mut ended = false;
    rows.sink(Pipeline, "FileSink", move |(input, frontier)| {
        input.for_each(|_, data| {
            for d in data.iter() {
                encode(d, &mut buf);
            }
            if buf.len() >= 1 << 16 {
                flush(&mut buf);
            }
        });
        if frontier.is_empty() && !ended {
            ended = true;
            flush(&mut buf);
        }
    });
}
