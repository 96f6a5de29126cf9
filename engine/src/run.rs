//! `run`: a plan on N worker threads in this process, or as one of P processes of a timely
//! cluster; returns the job's summary once every source is done and every sink has written.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use eddy_dsl::plan::{NodeKind, Plan, SinkConnector};
use timely::dataflow::operators::capture::Extract;
use timely::dataflow::operators::{Capture, Exchange, ToStream};
use timely::{CommunicationConfig, WorkerConfig};

use crate::connector::Feed;
use crate::render::{self, RustSink, Shared, SinkTarget};
use crate::summary::{Counters, Summary};

/// How to run a job.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Worker threads per process.
    pub workers: usize,
    /// Processes in the cluster, and this one's index.
    pub processes: usize,
    pub process: usize,
    /// `host:port` of every process, in process order (default: localhost from port 2101).
    pub addresses: Vec<String>,
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
            max_line_bytes: 16 << 20,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What the embedding program connects: feeds for sources and receivers for streams.
#[derive(Default)]
pub struct Bindings {
    pub sources: HashMap<String, Arc<Feed>>,
    /// Receivers of streams, by the name in their `Rust` sink connector.
    pub sinks: HashMap<String, RustSink>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Runtime(String),
    #[error("cannot start the workers: {0}")]
    Startup(String),
}

/// Runs the plan to completion and returns the summary (complete in process 0; other
/// processes of a cluster return their own counts).
pub fn run(plan: &Plan, config: &RunConfig, bindings: Bindings) -> Result<Summary, Error> {
    let sources: Vec<String> =
        plan.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Source { .. })).map(|n| n.name.clone()).collect();
    let sinks: Vec<(String, String)> =
        plan.sinks.iter().map(|s| (plan.nodes[s.input].name.clone(), s.connector.to_string())).collect();
    let mut targets = Vec::new();
    for (i, s) in plan.sinks.iter().enumerate() {
        let rust = match &s.connector {
            SinkConnector::Rust { stream } => bindings.sinks.get(stream).cloned(),
            _ => None,
        };
        targets
            .push(SinkTarget::open(&s.connector, &plan.sink_schema(i), config.process, rust).map_err(Error::Runtime)?);
    }
    let shared = Arc::new(Shared::new(
        targets,
        bindings.sources,
        config.max_line_bytes,
        (config.process, config.processes),
        Arc::clone(&config.stop),
        plan.streaming,
    ));

    let (builders, guard) = if config.processes > 1 {
        let addresses: Vec<String> = if config.addresses.is_empty() {
            (0..config.processes).map(|i| format!("localhost:{}", 2101 + i)).collect()
        } else {
            config.addresses.clone()
        };
        crate::cluster::allocators(&addresses, config.process, config.workers).map_err(Error::Startup)?
    } else {
        let communication =
            if config.workers > 1 { CommunicationConfig::Process(config.workers) } else { CommunicationConfig::Thread };
        communication.try_build().map_err(Error::Startup)?
    };

    let plan = Arc::new(plan.clone());
    let (totals_tx, totals_rx) = std::sync::mpsc::channel();
    let totals_tx = Arc::new(Mutex::new(totals_tx));
    let worker_shared = Arc::clone(&shared);
    let iterates: Vec<(String, u64)> = plan
        .nodes
        .iter()
        .filter_map(|n| match n.kind {
            NodeKind::Iterate { max, .. } => Some((n.name.clone(), max)),
            _ => None,
        })
        .collect();
    let (n_sources, n_sinks, n_iterates) = (sources.len(), sinks.len(), iterates.len());
    let guards = timely::execute::execute_from(builders, guard, WorkerConfig::default(), move |worker| {
        let shared = Arc::clone(&worker_shared);
        let plan = Arc::clone(&plan);
        let counters = Rc::new(Counters::new(n_sources, n_sinks, n_iterates));
        worker.dataflow::<u64, _, _>(|scope| render::render(scope, &plan, &shared, &counters));
        // Idle workers park (until data, an activation or a timer wakes them) rather than spin:
        // more workers than cores must not steal time from the busy ones.
        while worker.step_or_park(None) {}
        // The counts of every worker meet at worker 0, through a second small dataflow.
        let mine = vec![counters.snapshot()];
        let tx = totals_tx.lock().map(|t| t.clone());
        worker.dataflow::<u64, _, _>(|scope| {
            let gathered = mine.to_stream(scope).container::<Vec<_>>().exchange(|_| 0);
            if let Ok(tx) = tx {
                gathered.capture_into(tx);
            }
        });
        while worker.step_or_park(None) {}
    })
    .map_err(Error::Startup)?;
    for result in guards.join() {
        result.map_err(|e| Error::Runtime(format!("a worker failed: {e}")))?;
    }
    if let Some(e) = shared.error() {
        return Err(Error::Runtime(e));
    }
    let mut totals = vec![0u64; 3 * sources.len() + sinks.len() + iterates.len()];
    for (_, snapshots) in totals_rx.extract() {
        for snapshot in snapshots {
            totals.iter_mut().zip(snapshot).for_each(|(t, n)| *t += n);
        }
    }
    Ok(Summary::from_totals(sources, sinks, iterates, &totals))
}
