//! `run`: a plan on N worker threads in this process, or as one of P processes of a timely
//! cluster; returns the job's summary once every source is done and every sink has written.

use std::any::Any;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_dsl::plan::{Done, NodeKind, Plan, SinkConnector};
use timely::dataflow::operators::capture::Extract;
use timely::dataflow::operators::vec::{Broadcast, Filter};
use timely::dataflow::operators::{Capture, ToStream};
use timely::{CommunicationConfig, WorkerConfig};

use crate::connector::sink::{self, RustSink, SinkSpec};
use crate::connector::{Ack, Feed};
use crate::render::{self, Shared, SinkTarget};
use crate::summary::{Counters, Summary};

/// How to run a job.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Worker threads per process.
    pub workers: usize,
    /// Processes in the cluster (at least 1), and this one's index (below `processes`).
    pub processes: usize,
    pub process: usize,
    /// `host:port` of every process, in process order: one per process, or none for
    /// localhost from port 2101.
    pub addresses: Vec<String>,
    /// How long a process of a cluster waits for the others to connect before it gives up.
    pub connect_timeout: Duration,
    /// Longer input lines are rejected to `.errors`.
    pub max_line_bytes: usize,
    /// Set it to stop the job cleanly: sources stop reading, what is in flight is written,
    /// and `run` returns the summary (what SIGINT and SIGTERM do in the CLI).
    pub stop: Arc<AtomicBool>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workers: 1,
            processes: 1,
            process: 0,
            addresses: Vec::new(),
            connect_timeout: Duration::from_secs(60),
            max_line_bytes: 16 << 20,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl RunConfig {
    /// Why this configuration cannot run, if it cannot.
    fn invalid(&self) -> Option<String> {
        let (processes, process) = (self.processes, self.process);
        if self.workers == 0 {
            Some("there must be at least 1 worker".into())
        } else if processes == 0 {
            Some("there must be at least 1 process".into())
        } else if process >= processes {
            Some(format!("process {process} is not one of the {processes} processes (numbered from 0)"))
        } else if !self.addresses.is_empty() && self.addresses.len() != processes {
            Some(format!("{} addresses for {processes} processes: give one per process, or none", self.addresses.len()))
        } else {
            None
        }
    }
}

/// What the embedding program connects: feeds for sources and receivers for streams.
#[derive(Default)]
pub struct Bindings {
    pub sources: HashMap<String, Arc<Feed>>,
    /// The program's acknowledgement callbacks, by source name (see `Reader::ack`).
    pub acks: HashMap<String, Ack>,
    /// Receivers of streams, by the name in their `Rust` sink connector.
    pub sinks: HashMap<String, RustSink>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Runtime(String),
    #[error("cannot start the workers: {0}")]
    Startup(String),
    /// The job ran and failed (a sink could not write, an input could not be read); the
    /// summary counts what it did until then.
    #[error("{error}")]
    Failed { error: String, summary: Summary },
}

/// Runs the plan to completion and returns the summary (of the whole cluster, in every
/// process).
pub fn run(plan: &Plan, config: &RunConfig, bindings: Bindings) -> Result<Summary, Error> {
    if let Some(e) = config.invalid() {
        return Err(Error::Startup(e));
    }
    let sources: Vec<String> =
        plan.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Source { .. })).map(|n| n.name.clone()).collect();
    let sinks: Vec<(String, String)> =
        plan.sinks.iter().map(|s| (plan.nodes[s.input].name.clone(), s.connector.to_string())).collect();
    let mut targets = Vec::new();
    for (i, (s, (stream, connector))) in plan.sinks.iter().zip(&sinks).enumerate() {
        let rust = match &s.connector {
            SinkConnector::Rust { stream } => bindings.sinks.get(stream).cloned(),
            _ => None,
        };
        let label = format!("{stream} -> {connector}");
        let schema = plan.sink_schema(i);
        let (process, streaming) = (config.process, plan.streaming);
        let spec =
            SinkSpec { connector: &s.connector, schema: &schema, label: label.clone(), process, streaming, rust };
        targets.push(SinkTarget { label, sink: sink::open(spec).map_err(Error::Runtime)? });
    }
    let shared = Arc::new(Shared::new(
        targets,
        (bindings.sources, bindings.acks),
        config.max_line_bytes,
        (config.process, config.processes),
        Arc::clone(&config.stop),
        plan.streaming,
    ));

    let iterates: Vec<(String, u64)> = plan
        .nodes
        .iter()
        .filter_map(|n| match n.kind {
            NodeKind::Iterate { max, .. } => Some((n.name.clone(), max)),
            _ => None,
        })
        .collect();
    // The counters, then how many processes failed and how many were stopped.
    let counts = 3 * sources.len() + 2 * sinks.len() + iterates.len();
    let mut totals = vec![0u64; counts + 2];
    let (builders, guard) = if config.processes > 1 {
        let addresses: Vec<String> = if config.addresses.is_empty() {
            (0..config.processes).map(|i| format!("localhost:{}", 2101 + i)).collect()
        } else {
            config.addresses.clone()
        };
        let (me, workers, timeout) = (config.process, config.workers, config.connect_timeout);
        match crate::cluster::allocators(&addresses, me, workers, timeout, &config.stop).map_err(Error::Startup)? {
            Some(allocators) => allocators,
            // Stopped while waiting for the others: nothing ran.
            None => {
                let mut summary = Summary::from_totals(sources, sinks, iterates, &totals);
                summary.incomplete = !plan.streaming;
                return Ok(summary);
            }
        }
    } else {
        let communication =
            if config.workers > 1 { CommunicationConfig::Process(config.workers) } else { CommunicationConfig::Thread };
        communication.try_build().map_err(Error::Startup)?
    };

    let streaming = plan.streaming;
    let worker_plan = Arc::new(plan.clone());
    let (totals_tx, totals_rx) = std::sync::mpsc::channel();
    let totals_tx = Arc::new(Mutex::new(totals_tx));
    let worker_shared = Arc::clone(&shared);
    // Set when a worker of this process panics: the others would wait for it for ever.
    let panicked = Arc::new(AtomicBool::new(false));
    let (n_sources, n_sinks, n_iterates) = (sources.len(), sinks.len(), iterates.len());
    // The first worker of this process, by its index in the cluster.
    let first = config.process * config.workers;
    let stop = Arc::clone(&config.stop);
    let guards = timely::execute::execute_from(builders, guard, WorkerConfig::default(), move |worker| {
        let shared = Arc::clone(&worker_shared);
        let plan = Arc::clone(&worker_plan);
        let panicked = Arc::clone(&panicked);
        // Idle workers park (until data, an activation or a timer wakes them) rather than spin:
        // more workers than cores must not steal time from the busy ones. They wake now and
        // then to see whether a peer panicked, whose progress will never come.
        let run = |worker: &mut timely::worker::Worker| {
            while worker.step_or_park(Some(PARK)) {
                if panicked.load(Ordering::Relaxed) {
                    return false;
                }
            }
            true
        };
        // A panic ends this worker with its message (timely would show only `Any { .. }`),
        // and the others leave the dataflow.
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            let counters = Rc::new(Counters::new(n_sources, n_sinks, n_iterates));
            worker.dataflow::<u64, _, _>(|scope| render::render(scope, &plan, &shared, &counters));
            if !run(worker) {
                return;
            }
            // The counts of every worker reach every worker, through a second small dataflow,
            // with whether its process failed or was stopped: a process that did neither must
            // not give its files their names when another did. One worker per process keeps them.
            let keeper = worker.index() == first;
            let mut mine = counters.snapshot();
            mine.push(u64::from(shared.error().is_some() && keeper));
            mine.push(u64::from(stop.load(Ordering::Relaxed) && keeper));
            let tx = totals_tx.lock().map(|t| t.clone());
            worker.dataflow::<u64, _, _>(|scope| {
                // Every worker builds the same operators (timely needs that): the others keep none.
                let gathered = vec![mine].to_stream(scope).container::<Vec<_>>().broadcast().filter(move |_| keeper);
                if let Ok(tx) = tx {
                    gathered.capture_into(tx);
                }
            });
            run(worker);
        }))
        .map_err(|payload| {
            panicked.store(true, Ordering::Relaxed);
            panic_message(&*payload)
        })
    })
    .map_err(Error::Startup)?;
    for result in guards.join() {
        result.and_then(|r| r).map_err(|e| Error::Runtime(format!("a worker failed: {e}")))?;
    }
    for (_, snapshots) in totals_rx.extract() {
        for snapshot in snapshots {
            totals.iter_mut().zip(snapshot).for_each(|(t, n)| *t += n);
        }
    }
    let (failed, stopped) = (totals[counts], totals[counts + 1]);
    let mut summary = Summary::from_totals(sources, sinks, iterates, &totals);
    // A batch job stopped before its end wrote part of its output: its files are not given
    // their names (see `SinkTarget::commit`).
    summary.incomplete = !streaming && (stopped > 0 || config.stop.load(Ordering::Relaxed));
    let committed = match (shared.error(), failed, summary.incomplete) {
        (Some(e), _, _) => Err(e),
        (None, 1.., _) => Err("another process of the cluster failed: this one's files were left as they were".into()),
        (None, 0, false) => shared.sinks.iter().try_for_each(SinkTarget::commit),
        (None, 0, true) => Ok(()),
    };
    if committed.is_ok() && !config.stop.load(Ordering::Relaxed) && stopped == 0 {
        ack_at_end(plan, &shared);
    }
    match committed {
        Ok(()) => Ok(summary),
        Err(error) => Err(Error::Failed { error, summary }),
    }
}

/// The job ended successfully, its inputs read to their end: every sink's output is complete
/// and visible, so what a source read is done, unless a stage keeps its results changing for
/// ever (`Done::Never`: only a checkpoint would make them durable).
fn ack_at_end(plan: &Plan, shared: &Shared) {
    for node in &plan.nodes {
        if let NodeKind::Source { done: Done::AtEnd | Done::After { .. }, .. } = &node.kind {
            shared.connectors.done_at_end(&node.name);
        }
    }
}

/// The longest a worker parks before it looks whether a peer panicked.
const PARK: Duration = Duration::from_millis(100);

/// The message of a panic (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_string(),
    }
}
