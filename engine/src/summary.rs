//! Counts of what each source read and each sink wrote: gathered per process while the job
//! runs, summed over all processes through the dataflow when it ends.

use std::cell::Cell;
use std::fmt;

/// The counters of one worker, shared by its operators.
#[derive(Debug, Default)]
pub struct Counters {
    /// Per source: records read (decoded or not), rejected (to `.errors`).
    pub read: Vec<Cell<u64>>,
    pub rejected: Vec<Cell<u64>>,
    /// Per source: records behind the watermark (to `.late`).
    pub late: Vec<Cell<u64>>,
    /// Per sink: records written.
    pub written: Vec<Cell<u64>>,
    /// Per iterate: changes dropped because they came after its last round.
    pub capped: Vec<Cell<u64>>,
    /// Per sink: whether a write failed (what came after was not written).
    pub failed: Vec<Cell<u64>>,
}

impl Counters {
    pub fn new(sources: usize, sinks: usize, iterates: usize) -> Counters {
        let zeros = |n: usize| (0..n).map(|_| Cell::new(0)).collect();
        Counters {
            read: zeros(sources),
            rejected: zeros(sources),
            late: zeros(sources),
            written: zeros(sinks),
            capped: zeros(iterates),
            failed: zeros(sinks),
        }
    }

    pub fn add(counter: &Cell<u64>, n: u64) {
        counter.set(counter.get() + n);
    }

    /// All counters in one vector: read, rejected, late, written, capped, failed.
    pub fn snapshot(&self) -> Vec<u64> {
        let all = self.read.iter().chain(&self.rejected).chain(&self.late).chain(&self.written);
        let all = all.chain(&self.capped).chain(&self.failed);
        all.map(Cell::get).collect()
    }
}

/// What a job did, summed over all workers and processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub sources: Vec<SourceSummary>,
    pub sinks: Vec<SinkSummary>,
    pub iterations: Vec<IterateSummary>,
    /// A batch job stopped (`RunConfig::stop`, a signal) before its input ended: what it
    /// wrote is incomplete, and its file sinks were left as they were.
    pub incomplete: bool,
}

/// How an `iterate` ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IterateSummary {
    /// The stream the iterate belongs to.
    pub stream: String,
    pub max: u64,
    /// Whether it stopped at `max` rounds (rather than at a fixed point).
    pub capped: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceSummary {
    pub name: String,
    /// Records read: `read = accepted + rejected + late`.
    pub read: u64,
    /// Records that failed to decode and went to `name.errors`.
    pub rejected: u64,
    /// Records behind the watermark, which went to `name.late`.
    pub late: u64,
}

impl SourceSummary {
    /// Records that entered the pipeline: `read = accepted + rejected + late`.
    pub fn accepted(&self) -> u64 {
        self.read - self.rejected - self.late
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// The stream the sink writes.
    pub stream: String,
    /// Where it writes, as the plan shows it.
    pub target: String,
    pub written: u64,
    /// Whether a write failed (a full disk, a closed pipe): `written` counts what came before.
    pub failed: bool,
}

impl Summary {
    /// Rebuilds a summary from the sum of `Counters::snapshot` vectors.
    pub fn from_totals(
        sources: Vec<String>,
        sinks: Vec<(String, String)>,
        iterates: Vec<(String, u64)>,
        totals: &[u64],
    ) -> Summary {
        let n = sources.len();
        let m = sinks.len();
        let it = iterates.len();
        let sources = sources
            .into_iter()
            .enumerate()
            .map(|(i, name)| SourceSummary { name, read: totals[i], rejected: totals[n + i], late: totals[2 * n + i] })
            .collect();
        let sinks = sinks
            .into_iter()
            .enumerate()
            .map(|(i, (stream, target))| SinkSummary {
                stream,
                target,
                written: totals[3 * n + i],
                failed: totals[3 * n + m + it + i] > 0,
            })
            .collect();
        let iterations = iterates
            .into_iter()
            .enumerate()
            .map(|(i, (stream, max))| IterateSummary { stream, max, capped: totals[3 * n + m + i] > 0 })
            .collect();
        Summary { sources, sinks, iterations, incomplete: false }
    }

    pub fn source(&self, name: &str) -> Option<&SourceSummary> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn sink(&self, stream: &str) -> Option<&SinkSummary> {
        self.sinks.iter().find(|s| s.stream == stream)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.sources {
            let (name, read, accepted, rejected, late) = (&s.name, s.read, s.accepted(), s.rejected, s.late);
            writeln!(f, "source {name}: read {read}, accepted {accepted}, rejected {rejected}, late {late}")?;
        }
        for s in &self.sinks {
            let failed = if s.failed { ", then a write failed" } else { "" };
            writeln!(f, "sink {} -> {}: written {}{failed}", s.stream, s.target, s.written)?;
        }
        for it in &self.iterations {
            match it.capped {
                true => writeln!(f, "iterate in {}: stopped after its maximum of {} rounds", it.stream, it.max)?,
                false => writeln!(f, "iterate in {}: reached a fixed point", it.stream)?,
            }
        }
        if self.incomplete {
            writeln!(
                f,
                "stopped before the input ended: the output is incomplete (file sinks were left as they were)"
            )?;
        }
        Ok(())
    }
}
