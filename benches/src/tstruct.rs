//! Hand-written timely dataflow with struct rows: each worker reads its stripes of
//! `bids.jsonl` (as Eddy does), deserializes owned structs in batches of 4096, runs the
//! query with `map`/`filter` (the aggregate combines per worker, exchanges partials by key and
//! merges them), and a sink writes through a per-worker buffer into one shared file. The
//! windowed queries' sources send records at their watermark; Q3, Q7 and Q8 are in
//! `tstruct_join.rs`.

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
use crate::{baseline_join, tstruct_join, BoxError};

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

pub type Shared = Arc<Mutex<BufWriter<File>>>;
pub type Errors = Arc<Mutex<Option<String>>>;

fn fail(errors: &Errors, e: String) {
    if let Ok(mut slot) = errors.lock() {
        slot.get_or_insert(e);
    }
}

/// Runs `workload` on `workers` threads; returns the number of records read.
pub fn run(workload: Workload, workers: usize, data: &Path, out: &Path) -> Result<u64, BoxError> {
    std::fs::create_dir_all(out)?;
    let path = out.join(workload.output_file());
    let mut file = BufWriter::with_capacity(1 << 16, File::create(&path)?);
    match workload {
        Workload::Agg => file.write_all(AGG_HEADER.as_bytes())?,
        Workload::Q5 => file.write_all(Q5_HEADER.as_bytes())?,
        _ => file.write_all(baseline_join::header(workload).as_bytes())?,
    }
    let shared: Shared = Arc::new(Mutex::new(file));
    let data = data.to_path_buf();
    let bids = data.join("bids.jsonl");
    let config = if workers > 1 { timely::Config::process(workers) } else { timely::Config::thread() };
    let errors: Errors = Arc::new(Mutex::new(None));
    let worker_errors = Arc::clone(&errors);
    let worker_shared = Arc::clone(&shared);
    let guards = timely::execute(config, move |worker| {
        let read = Rc::new(Cell::new(0u64));
        let (data, bids, sink_out, errors, read2) = (
            data.clone(),
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
            Workload::Q3 => tstruct_join::q3(scope, &data, errors, read2, sink_out),
            Workload::Q7 => tstruct_join::q7(scope, &data, errors, read2, sink_out),
            Workload::Q8 => tstruct_join::q8(scope, &data, errors, read2, sink_out),
            Workload::Q5 => {
                let rows = event_source(scope, "Q5Source", bids, errors, read2, |line| {
                    let b: BidQ5 = serde_json::from_slice(line).map_err(|e| e.to_string())?;
                    let t = parse_time(&b.date_time).map_err(|e| e.to_string())?;
                    Ok((t, (b.auction, b.price, t)))
                });
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

/// A worker's share of a file, read as Eddy reads it: stripes of 1 MiB taken by the workers
/// in turn, a line belonging to the stripe that
/// holds its first byte. Workers thus move through a time-ordered file together.
struct Lines {
    reader: BufReader<File>,
    line: Vec<u8>,
    /// The offset of the next line, the end of the current stripe, the stripe's size, the
    /// distance to this worker's next stripe, and the file's length.
    offset: u64,
    end: u64,
    stripe: u64,
    step: u64,
    len: u64,
}

impl Lines {
    fn open(path: &Path, index: u64, peers: u64) -> std::io::Result<Lines> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let stripe = 1 << 20;
        let mut lines = Lines {
            reader: BufReader::with_capacity(1 << 20, file),
            line: Vec::with_capacity(512),
            offset: 0,
            end: (index + 1) * stripe,
            stripe,
            step: peers * stripe,
            len,
        };
        lines.seek(index * stripe)?;
        Ok(lines)
    }

    /// Moves to the first line starting at or after `at` (the one straddling it is not ours).
    /// Lines are read in order, so at or after `offset` there is nothing to skip; reads start
    /// on a page boundary (the kernel copies a read that starts within a page slowly).
    fn seek(&mut self, at: u64) -> std::io::Result<()> {
        if at > self.offset {
            let page = (at - 1) & !4095;
            self.reader.seek(SeekFrom::Start(page))?;
            let skip = self.reader.fill_buf()?.len().min((at - 1 - page) as usize);
            self.reader.consume(skip);
            let n = self.reader.read_until(b'\n', &mut self.line)?;
            self.offset = at - 1 + n as u64;
        }
        Ok(())
    }

    /// The next line, or `None` at the end of this worker's share or after an error (reported).
    fn next_or_report(&mut self, report: &impl Fn(String)) -> Option<&[u8]> {
        self.next().unwrap_or_else(|e| {
            report(e.to_string());
            None
        })
    }

    /// The next non-empty line (without its '\n'); `None` at the end of this worker's share.
    fn next(&mut self) -> std::io::Result<Option<&[u8]>> {
        loop {
            while self.offset >= self.end {
                let start = self.end - self.stripe + self.step;
                if start >= self.len {
                    return Ok(None);
                }
                self.end = start + self.stripe;
                self.seek(start)?;
            }
            self.line.clear();
            let n = self.reader.read_until(b'\n', &mut self.line)?;
            if n == 0 {
                return Ok(None);
            }
            self.offset += n as u64;
            if self.line.len() > usize::from(self.line.ends_with(b"\n")) {
                break;
            }
        }
        Ok(Some(self.line.strip_suffix(b"\n").unwrap_or(&self.line)))
    }
}

/// This worker's share of the lines of `path`, deserialized; errors end the source and are kept.
pub fn file_source<'s, D: DeserializeOwned + 'static>(
    scope: Scope<'s, u64>,
    path: PathBuf,
    errors: Errors,
    read: Rc<Cell<u64>>,
) -> StreamVec<'s, u64, D> {
    let (index, peers) = (scope.index() as u64, scope.peers() as u64);
    source(scope, "FileSource", move |cap, info| {
        let activator = scope.activator_for(info.address);
        let report = move |e: String| fail(&errors, e);
        let mut reader = Lines::open(&path, index, peers).map_err(|e| report(e.to_string())).ok();
        let mut cap = Some(cap);
        let mut batch: Vec<D> = Vec::with_capacity(BATCH);
        move |output| {
            let mut done = true;
            if let (Some(c), Some(r)) = (cap.as_ref(), reader.as_mut()) {
                done = false;
                while batch.len() < BATCH {
                    let Some(text) = r.next_or_report(&report) else {
                        done = true;
                        break;
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

/// A windowed query's source: this worker's share of the lines of `path`, parsed into (event
/// time, record), sent at the watermark (the latest event time minus the delay, per worker:
/// Eddy's per-partition watermark), late records dropped.
pub fn event_source<'s, D: 'static>(
    scope: Scope<'s, u64>,
    name: &str,
    path: PathBuf,
    errors: Errors,
    read: Rc<Cell<u64>>,
    parse: impl Fn(&[u8]) -> Result<(i64, D), String> + 'static,
) -> StreamVec<'s, u64, D> {
    let (index, peers) = (scope.index() as u64, scope.peers() as u64);
    source(scope, name, move |cap, info| {
        let activator = scope.activator_for(info.address);
        let report = move |e: String| fail(&errors, e);
        let mut reader = Lines::open(&path, index, peers).map_err(|e| report(e.to_string())).ok();
        let mut cap = Some(cap);
        let mut latest: Option<i64> = None;
        let mut batch = Vec::with_capacity(BATCH);
        move |output| {
            let mut done = true;
            if let (Some(c), Some(r)) = (cap.as_mut(), reader.as_mut()) {
                done = false;
                let mut lines = 0;
                while lines < BATCH {
                    let Some(text) = r.next_or_report(&report) else {
                        done = true;
                        break;
                    };
                    lines += 1;
                    match parse(text) {
                        Ok((t, record)) => {
                            if latest.is_some_and(|l| t < l.saturating_sub(Q5_DELAY)) {
                                continue; // late
                            }
                            latest = Some(latest.map_or(t, |l| l.max(t)));
                            batch.push(record);
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
pub fn sink<D: 'static>(
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
