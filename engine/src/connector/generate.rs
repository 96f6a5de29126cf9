//! `generate`: the Nexmark generator, each worker taking blocks of events in turn, paced to a
//! rate or as fast as it goes.

use eddy_dsl::{Row, Schema, Value};

use super::{now_ms, Reader, Status, BATCH};
use crate::nexmark;

/// This worker's share of the Nexmark events, projected onto the source's schema.
pub struct GenerateReader {
    generator: nexmark::Generator,
    kind: nexmark::Kind,
    /// The next event index, and the end of the events (`u64::MAX`: unbounded).
    next: u64,
    end: u64,
    /// Workers take blocks of this many events in turn, skipping `skip` events (the other
    /// workers' blocks) after each.
    block: u64,
    skip: u64,
    /// For each field of the source's schema, its position in the generated row.
    projection: Option<Vec<usize>>,
    buf: Vec<Row>,
    pace: Option<Pace>,
}

/// Events per second of wall time; event times then follow the clock from the start.
struct Pace {
    /// Events per second, over all workers.
    rate: u64,
    started: std::time::Instant,
    /// Epoch ms of the start: the model's time is mapped onto the clock from here, at
    /// `1000 / rate` ms per event.
    start_ms: i64,
    /// Positions of `date_time` and `expires` in the generated row.
    times: Vec<usize>,
}

impl GenerateReader {
    pub fn new(
        kind: &str,
        events: Option<u64>,
        seed: u64,
        rate: u64,
        schema: &Schema,
        worker: usize,
        peers: usize,
    ) -> Result<GenerateReader, String> {
        let kind = nexmark::Kind::parse(kind).ok_or_else(|| format!("unknown Nexmark kind '{kind}'"))?;
        let full = nexmark::schema(kind);
        let projection: Vec<usize> = schema.fields.iter().filter_map(|f| full.index_of(&f.name)).collect();
        let identity = projection.len() == full.len() && projection.iter().enumerate().all(|(i, p)| i == *p);
        let (w, p) = (worker as u64, peers as u64);
        // Workers take blocks of events in turn, so that all of them move through event time
        // together (the watermark, their minimum, keeps up and windows close early): blocks of
        // a batch's size, so that no worker waits long for its turn.
        let block = BATCH as u64;
        let (next, end) = (w * block, events.unwrap_or(u64::MAX));
        let pace = (rate > 0).then(|| Pace {
            rate,
            started: std::time::Instant::now(),
            start_ms: now_ms(),
            times: ["date_time", "expires"].iter().filter_map(|f| full.index_of(f)).collect(),
        });
        Ok(GenerateReader {
            generator: nexmark::Generator::new(seed),
            kind,
            next,
            end,
            block,
            skip: (p - 1) * block,
            projection: (!identity).then_some(projection),
            buf: Vec::new(),
            pace,
        })
    }

    /// Appends the records of the kind among `events` to `ok`, in the source's schema.
    fn fill(&mut self, events: std::ops::Range<u64>, ok: &mut Vec<Row>) {
        self.buf.clear();
        self.generator.fill(self.kind, events, &mut self.buf);
        if let Some(pace) = &self.pace {
            for row in &mut self.buf {
                for &t in &pace.times {
                    if let Value::Timestamp(ms) = &mut row[t] {
                        *ms = pace.start_ms + (*ms - nexmark::BASE_TIME) * 1000 / pace.rate as i64;
                    }
                }
            }
        }
        match &self.projection {
            None => ok.append(&mut self.buf),
            Some(projection) => ok.extend(self.buf.drain(..).map(|mut row| {
                if projection.is_sorted() {
                    // In place: each field moves down to its position (never onto one still to
                    // be read), and the unread ones at the end are dropped.
                    for (j, &i) in projection.iter().enumerate() {
                        row.swap(j, i);
                    }
                    row.truncate(projection.len());
                    row
                } else {
                    projection.iter().map(|i| std::mem::take(&mut row[*i])).collect()
                }
            })),
        }
    }
}

impl Reader for GenerateReader {
    /// Up to `max` records of the kind (not events: persons are 1 event in 50), from as many
    /// of this worker's blocks as that takes, or fewer where a paced generator's time has not
    /// come.
    fn read(&mut self, max: usize, ok: &mut Vec<Row>, _err: &mut Vec<Row>) -> Result<Status, String> {
        let mut wanted = max as u64;
        while wanted > 0 && self.next < self.end {
            let block_end = (self.next / self.block + 1) * self.block;
            let mut to = nexmark::end_holding(self.kind, self.next, wanted).min(self.end).min(block_end);
            if let Some(pace) = &self.pace {
                // Only the events whose time has come.
                let due = (pace.started.elapsed().as_secs_f64() * pace.rate as f64) as u64;
                to = to.min(due.max(self.next));
                if to == self.next {
                    return Ok(if wanted < max as u64 { Status::More } else { Status::Idle });
                }
            }
            self.fill(self.next..to, ok);
            wanted = wanted.saturating_sub(nexmark::count(self.kind, self.next..to));
            self.next = to;
            if to == block_end {
                self.next = self.next.saturating_add(self.skip);
            }
        }
        Ok(if self.next >= self.end { Status::Done } else { Status::More })
    }
}
