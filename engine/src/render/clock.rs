//! A source's clock: the time its records are sent at, which of them are late, and where its
//! capability (the watermark the rest of the dataflow sees) may move. On event time, each
//! partition a reader holds (a Kafka partition, a file's stripes) has its own watermark, and
//! the capability is their minimum: a record is late only behind its own partition's
//! watermark, so a fast partition does not make a slow one's records late.

use std::time::Instant;

use eddy_dsl::plan::SourceTime;
use eddy_dsl::Row;

use crate::connector::{error_row, now_ms, raw_row};

pub struct Clock {
    mode: Mode,
    idle_ms: i64,
    /// Whether every partition of an event-time source had no data for `idle_ms` at the last
    /// read (it then holds no other source back).
    pub idle: bool,
    epoch_ms: i64,
}

enum Mode {
    /// A batch job without event time: everything at time 0.
    Batch,
    /// Arrival time (rounded down to the epoch).
    Arrival,
    /// Event time from a field; each partition's watermark trails the largest time it has seen
    /// by `delay`.
    Event { field: usize, path: Vec<usize>, delay: i64, partitions: Vec<Partition>, streaming: bool },
}

/// What the clock knows of one partition.
struct Partition {
    /// The largest event time seen.
    largest: Option<i64>,
    /// When it last had data (for idleness).
    last_data: Instant,
}

impl Partition {
    fn new() -> Partition {
        Partition { largest: None, last_data: Instant::now() }
    }

    /// Its watermark. An idle partition does not hold windows open: its event time moves on
    /// from its last record's by the wall time since, so replayed history is not made late by
    /// a jump to now; one that never had data follows the clock.
    fn watermark(&self, delay: i64, idle: bool) -> u64 {
        let mut watermark = self.largest.map_or(0, |m| m.saturating_sub(delay)).max(0) as u64;
        if idle {
            let quiet = self.last_data.elapsed().as_millis().min(i64::MAX as u128) as i64;
            let moved = self.largest.map_or_else(now_ms, |m| m.saturating_add(quiet));
            watermark = watermark.max(moved.saturating_sub(delay).max(0) as u64);
        }
        watermark
    }
}

impl Clock {
    pub fn new(time: &SourceTime, streaming: bool) -> Clock {
        let mode = match time.watermark {
            Some((field, delay)) => {
                let path = time.path.clone();
                Mode::Event { field, path, delay, partitions: vec![Partition::new()], streaming }
            }
            None if streaming => Mode::Arrival,
            None => Mode::Batch,
        };
        Clock { mode, idle_ms: time.idle_ms, idle: false, epoch_ms: time.epoch_ms.max(1) }
    }

    /// Sets how many partitions the reader holds (one unless it says otherwise).
    pub fn partitions(&mut self, n: usize) {
        if let Mode::Event { partitions, .. } = &mut self.mode {
            partitions.resize_with(n.max(1), Partition::new);
        }
    }

    /// Whether the source has event time (and a watermark).
    pub fn event_time(&self) -> bool {
        matches!(self.mode, Mode::Event { .. })
    }

    pub fn streaming(&self) -> bool {
        matches!(self.mode, Mode::Arrival | Mode::Event { streaming: true, .. })
    }

    /// The time at which this activation's records are sent, given the capability's time.
    pub fn record_time(&self, held: u64) -> u64 {
        match self.mode {
            Mode::Arrival => held.max(self.epoch(now_ms())),
            _ => held,
        }
    }

    fn epoch(&self, ms: i64) -> u64 {
        (ms - ms.rem_euclid(self.epoch_ms)).max(0) as u64
    }

    /// Sorts late records out of `batches[0]` into `batches[2]` (and records without an event
    /// time into `batches[1]`), and returns the time the capabilities may move to. `runs` says
    /// which partition the rows of `batches[0]` are of, as `(partition, rows)` in order (empty:
    /// all of partition 0); `advance` moves every partition's watermark (a test's `advance`).
    pub fn stamp(&mut self, held: u64, read: Read, batches: &mut [Vec<Row>; 3], source: &str) -> u64 {
        let idle_ms = self.idle_ms;
        let quiet = |p: &Partition, fresh: bool| !fresh && p.last_data.elapsed().as_millis() as i64 >= idle_ms;
        match &mut self.mode {
            Mode::Batch => held,
            Mode::Arrival => held.max(self.epoch(now_ms())),
            Mode::Event { field, path, delay, partitions, .. } => {
                let [ok, err, late] = batches;
                let whole = [(0, ok.len())];
                let runs = if read.runs.is_empty() { &whole[..] } else { read.runs };
                // Which partitions had data now; a reader of one partition counts its rejected
                // records as data too.
                let mut fresh = vec![false; partitions.len()];
                fresh[0] |= read.runs.is_empty() && !err.is_empty();
                let mut kept = Vec::with_capacity(ok.len());
                let mut rows = std::mem::take(ok).into_iter();
                for &(p, n) in runs {
                    let p = p.min(partitions.len() - 1);
                    fresh[p] |= n > 0;
                    let part = &mut partitions[p];
                    for row in rows.by_ref().take(n) {
                        let Some(t) = eddy_dsl::plan::timestamp_at(row.get(*field), path) else {
                            let raw = raw_row(&row);
                            err.push(error_row(raw.as_bytes(), "the event time is null".into(), source, String::new()));
                            continue;
                        };
                        match part.largest {
                            Some(max) if t < max.saturating_sub(*delay) => late.push(row),
                            _ => {
                                part.largest = Some(part.largest.map_or(t, |m| m.max(t)));
                                kept.push(row);
                            }
                        }
                    }
                }
                *ok = kept;
                for (part, fresh) in partitions.iter_mut().zip(&fresh) {
                    if *fresh {
                        part.last_data = Instant::now();
                    }
                    if let Some(t) = read.advance {
                        // Moving the watermark to t is seeing a record at t + delay.
                        let seen = t.saturating_add(*delay);
                        part.largest = Some(part.largest.map_or(seen, |m| m.max(seen)));
                    }
                }
                let idle: Vec<bool> = partitions.iter().zip(&fresh).map(|(p, f)| quiet(p, *f)).collect();
                self.idle = idle.iter().all(|i| *i);
                let delay = *delay;
                let watermark = partitions.iter().zip(&idle).map(|(p, i)| p.watermark(delay, *i)).min();
                held.max(watermark.unwrap_or(0))
            }
        }
    }
}

/// What a read gave the clock besides its rows.
pub struct Read<'a> {
    /// The partition of each run of rows (see `Clock::stamp`).
    pub runs: &'a [(usize, usize)],
    pub advance: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_dsl::Value;

    fn event_clock(partitions: usize) -> Clock {
        let time = SourceTime { watermark: Some((0, 10)), path: Vec::new(), idle_ms: 60_000, epoch_ms: 1 };
        let mut clock = Clock::new(&time, true);
        clock.partitions(partitions);
        clock
    }

    fn rows(ts: &[i64]) -> Vec<Row> {
        ts.iter().map(|t| vec![Value::Timestamp(*t)]).collect()
    }

    /// Stamps rows of partitions (`(partition, times)`), returning the capability's time and
    /// the times kept and late.
    fn stamp(clock: &mut Clock, held: u64, parts: &[(usize, &[i64])]) -> (u64, Vec<i64>, Vec<i64>) {
        let mut batches = [Vec::new(), Vec::new(), Vec::new()];
        let mut runs = Vec::new();
        for (p, ts) in parts {
            batches[0].extend(rows(ts));
            runs.push((*p, ts.len()));
        }
        let read = Read { runs: &runs, advance: None };
        let next = clock.stamp(held, read, &mut batches, "s");
        let times = |rows: &Vec<Row>| rows.iter().filter_map(|r| r[0].as_int()).collect();
        (next, times(&batches[0]), times(&batches[2]))
    }

    #[test]
    fn a_slow_partition_is_not_made_late_by_a_fast_one() {
        let mut clock = event_clock(2);
        // Partition 0 races ahead to 1000; partition 1 is at 100.
        let (held, kept, late) = stamp(&mut clock, 0, &[(0, &[500, 1000]), (1, &[100])]);
        assert_eq!((kept, late), (vec![500, 1000, 100], vec![]));
        // The capability is the slower partition's watermark: 100 - 10.
        assert_eq!(held, 90);
        // Partition 1's next record, at 95, is behind partition 0's watermark but not its own.
        let (held, kept, late) = stamp(&mut clock, held, &[(1, &[95, 200]), (0, &[980])]);
        assert_eq!((kept, late), (vec![95, 200], vec![980]));
        assert_eq!(held, 190);
    }

    #[test]
    fn a_partition_without_data_yet_holds_the_watermark() {
        let mut clock = event_clock(3);
        let (held, _, _) = stamp(&mut clock, 0, &[(0, &[500]), (1, &[700])]);
        assert_eq!(held, 0, "partition 2 has not been heard of");
        let (held, _, _) = stamp(&mut clock, held, &[(2, &[300])]);
        assert_eq!(held, 290);
    }

    #[test]
    fn one_partition_without_runs_is_as_before() {
        let mut clock = event_clock(1);
        let mut batches = [rows(&[100, 50, 95]), Vec::new(), Vec::new()];
        let read = Read { runs: &[], advance: None };
        assert_eq!(clock.stamp(0, read, &mut batches, "s"), 90);
        assert_eq!(batches[2], rows(&[50]));
        // A test's advance moves the watermark as a record at t + delay would.
        let read = Read { runs: &[], advance: Some(400) };
        let mut none = [Vec::new(), Vec::new(), Vec::new()];
        assert_eq!(clock.stamp(90, read, &mut none, "s"), 400);
    }
}
