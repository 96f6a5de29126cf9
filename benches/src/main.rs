//! `nexmark-bench`: Nexmark workloads run by Eddy and by hand-written Rust, in one invocation,
//! reported as ratios (see benches/README.md).
//!
//! Every measured run is a child process (this binary re-executed with `--child WORKLOAD
//! VARIANT`), so that its peak RSS is its own; runs are interleaved in rounds (every
//! workload's Eddy, baseline, ... variants, then again) and summarised by medians. Every
//! variant's output is checked against the baseline's (line count and a hash of the sorted
//! lines).

mod baseline;
mod baseline_join;
mod report;
mod stream;
mod system;
mod tstruct;
mod tstruct_join;
mod windows;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use eddy_engine::nexmark::{self, Kind};
use workloads::{jsonl_file, Input, Variant, Workload, SEED};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The `eddy` binary's allocator, for Eddy and the hand-written baselines alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage: nexmark-bench [--events N] [--join-scale K] [--runs R] [--scaling-runs S] [--workers-list 1,2] [--data DIR]
                     [--only q0,q1,...] [--report PATH] [--profile FILE] [--analysis FILE] [--command TEXT]

  --events N         Nexmark events (all kinds: 46 in 50 are bids, 3 auctions, 1 a person) [2000000]
  --join-scale K     q3 and q8 read only persons and auctions (4 in 50 events): they run on
                     K x N events, to read about as many records as the others    [5]
  --runs R           rounds of every variant (each round runs every workload); medians are reported [5]
  --scaling-runs S   rounds of q0, q2 and q5's scaling variants (Eddy JSONL at each worker
                     count, serde-loop, serde-loop-x2); R of them, spread evenly, run every variant [15]
  --workers-list L   worker counts for the Eddy and timely JSONL variants     [1,2]
  --data DIR         where the JSONL files are (generated there if missing)
                     [<temp dir>/eddy-nexmark-<N>]; those of K x N events in DIR-x<K>
  --only LIST        workloads: q0,q1,q2,agg,q3,q5,q7,q8
  --report PATH      write the markdown report there
  --profile FILE     a profile summary (text) to include in the report
  --analysis FILE    markdown to include as the report's analysis
  --command TEXT     the command to show in the report (default: this one)
  --commit TEXT      the commit to show in the report (default: from git)
  --section FILE     a section made by --latency or --memory to include (repeatable)

nexmark-bench --latency [--rates 100000,1000000] [--secs 5] [--workers 1] [--out FILE]
  Q5-style stream (1-s windows, watermark 200 ms) over the paced generator at each rate;
  p50/p99/max of (result arrival - watermark passing the window end); markdown to FILE.
nexmark-bench --memory [--rate 100000] [--secs 20] [--workers 1] [--out FILE]
  Q5 over the paced generator for --secs seconds, VmRSS sampled every second.";

/// The command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub events: u64,
    /// How many times `events` the workloads of persons and auctions run on (`--join-scale`).
    pub join_scale: u64,
    pub runs: usize,
    /// Rounds of the scaling workloads' scaling variants (`Variant::scales`), `runs` of them
    /// (spread evenly) with every variant: the 2-worker runs vary most on a shared machine.
    pub scaling_runs: usize,
    pub workers_list: Vec<usize>,
    pub data: PathBuf,
    pub only: Vec<Workload>,
    pub report: Option<PathBuf>,
    pub profile: Option<PathBuf>,
    pub analysis: Option<PathBuf>,
    pub command: String,
    /// The commit to show instead of asking git (for a tree that is not a checkout).
    pub commit: Option<String>,
    /// Sections made by `--latency` and `--memory` (see `stream::TARGET_TAG`).
    pub sections: Vec<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut events = 2_000_000u64;
    let mut join_scale = 5u64;
    let mut runs = 5usize;
    let mut scaling_runs = 15usize;
    let mut workers_list = vec![1, 2];
    let mut data = None;
    let mut only: Vec<Workload> = Workload::ALL.to_vec();
    let (mut report, mut profile, mut analysis, mut command, mut commit) = (None, None, None, None, None);
    let mut sections = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--events" => events = value()?.replace('_', "").parse().map_err(|e| format!("--events: {e}"))?,
            "--join-scale" => join_scale = value()?.parse().map_err(|e| format!("--join-scale: {e}"))?,
            "--runs" => runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--scaling-runs" => scaling_runs = value()?.parse().map_err(|e| format!("--scaling-runs: {e}"))?,
            "--workers-list" => {
                workers_list = value()?
                    .split(',')
                    .map(|w| w.trim().parse::<usize>().ok().filter(|n| *n > 0))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("--workers-list: worker counts such as 1,2")?;
            }
            "--data" => data = Some(PathBuf::from(value()?)),
            "--only" => {
                only = value()?
                    .split(',')
                    .map(|w| Workload::parse(w.trim()).ok_or_else(|| format!("--only: unknown workload '{w}'")))
                    .collect::<Result<_, _>>()?;
            }
            "--report" => report = Some(PathBuf::from(value()?)),
            "--profile" => profile = Some(PathBuf::from(value()?)),
            "--analysis" => analysis = Some(PathBuf::from(value()?)),
            "--command" => command = Some(value()?),
            "--commit" => commit = Some(value()?),
            "--section" => sections.push(PathBuf::from(value()?)),
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if runs == 0 || events == 0 || join_scale == 0 || workers_list.is_empty() {
        return Err("--runs, --events, --join-scale and --workers-list must not be zero or empty".to_string());
    }
    let data = data.unwrap_or_else(|| std::env::temp_dir().join(format!("eddy-nexmark-{events}")));
    let command = command.unwrap_or_else(|| {
        let mut words = vec!["nexmark-bench".to_string()];
        words.extend(args.iter().cloned());
        words.join(" ")
    });
    Ok(Options {
        events,
        join_scale,
        runs,
        scaling_runs: scaling_runs.max(runs),
        workers_list,
        data,
        only,
        report,
        profile,
        analysis,
        command,
        commit,
        sections,
    })
}

impl Options {
    /// The rounds of the whole measurement: `scaling_runs` when a selected workload has a
    /// scaling target and more than one worker count runs, else `runs` (see `bench`).
    pub fn rounds(&self) -> usize {
        let scaling = self.workers_list.len() > 1 && self.only.iter().any(|w| w.scaling_target());
        if scaling {
            self.scaling_runs
        } else {
            self.runs
        }
    }

    /// The events `workload` runs on, and where their JSONL files are.
    pub fn input(&self, workload: Workload) -> (u64, PathBuf) {
        if self.join_scale == 1 || workload.kinds().contains(&Kind::Bid) {
            return (self.events, self.data.clone());
        }
        let mut dir = self.data.clone().into_os_string();
        dir.push(format!("-x{}", self.join_scale));
        (self.events * self.join_scale, dir.into())
    }
}

/// Writes the Nexmark data set of `events` events into `dir` unless its three files are there.
pub fn ensure_data(dir: &Path, events: u64) -> Result<(), BoxError> {
    if nexmark::Kind::ALL.iter().all(|&kind| dir.join(jsonl_file(kind)).is_file()) {
        return Ok(());
    }
    eprintln!("generating {events} Nexmark events into {} ...", dir.display());
    nexmark::write_jsonl(dir, events, SEED)?;
    std::fs::write(dir.join("bench-data.txt"), format!("events={events} seed={SEED}\n"))?;
    Ok(())
}

/// Runs one variant of one workload in this process; returns (seconds, records read by all
/// its sources).
pub fn run_variant(
    workload: Workload,
    variant: Variant,
    events: u64,
    data: &Path,
    out: &Path,
) -> Result<(f64, u64), BoxError> {
    if let Some(why) = workload.unsupported() {
        return Err(format!("{workload}: {why}").into());
    }
    std::fs::create_dir_all(out)?;
    let start = Instant::now();
    let records = match variant {
        Variant::Eddy { input, workers } => {
            let text = workload.pipeline(input, events)?;
            let summary = eddy::Pipeline::from_text(&format!("{workload}.eddy"), &text)
                .param("data", &data.display().to_string())
                .param("out", &out.display().to_string())
                .run(&eddy::RunConfig { workers, ..eddy::RunConfig::default() })
                .map_err(|e| e.render(false))?;
            if summary.sources.is_empty() {
                return Err("the pipeline has no source".into());
            }
            if let Some(s) = summary.sources.iter().find(|s| s.rejected > 0) {
                return Err(format!("source {}: {} records were rejected", s.name, s.rejected).into());
            }
            summary.sources.iter().map(|s| s.read).sum()
        }
        Variant::SerdeLoop => baseline::serde_loop(workload, data, out)?,
        Variant::Timely { workers } => tstruct::run(workload, workers, data, out)?,
        Variant::GenLoop => baseline::gen_loop(workload, events, out)?,
        Variant::SerdeLoopPair => {
            let second = out.join("second");
            let (a, b) = std::thread::scope(|s| {
                let b = s.spawn(|| run_variant(workload, Variant::SerdeLoop, events, data, &second));
                let a = run_variant(workload, Variant::SerdeLoop, events, data, out);
                (a, b.join())
            });
            let (b, a) = (b.map_err(|_| "the second serde loop panicked")??, a?);
            return Ok((a.0.max(b.0), a.1));
        }
    };
    Ok((start.elapsed().as_secs_f64(), records))
}

/// How the parent runs a variant.
pub enum Exec {
    /// Re-executes this binary with `--child` (measures peak RSS per run).
    Child(PathBuf),
    /// In this process (tests: no RSS).
    InProcess,
}

/// One timed run.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub secs: f64,
    pub records: u64,
    pub rss_kb: Option<u64>,
    /// CPU time, user and system, of all its threads.
    pub cpu_secs: Option<f64>,
    /// The round it ran in (`bench`): ratios pair samples of the same round.
    pub round: usize,
}

const RESULT_TAG: &str = "NEXMARK-BENCH-RESULT";

/// Waits for a child and reads its sample.
fn finish(child: std::process::Child, workload: Workload, variant: Variant) -> Result<Sample, BoxError> {
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{workload} {} failed ({}): {}", variant.name(), output.status, stderr.trim()).into());
    }
    let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT_TAG)).ok_or("the child printed no result")?;
    let mut fields = line.split_whitespace();
    let mut next = |name: &str| fields.next().ok_or_else(|| format!("the child's result lacks {name}"));
    let secs: f64 = next("secs")?.parse()?;
    let records: u64 = next("records")?.parse()?;
    let rss_kb = next("rss")?.parse().ok();
    let cpu_secs = next("cpu")?.parse().ok();
    Ok(Sample { secs, records, rss_kb, cpu_secs, round: 0 })
}

/// One run of `variant` in child processes (the pair: two serde loops started together).
fn run_child(
    exe: &Path,
    workload: Workload,
    variant: Variant,
    events: u64,
    data: &Path,
    out: &Path,
) -> Result<Sample, BoxError> {
    let spawn = |variant: Variant, out: &Path| {
        Command::new(exe)
            .args(["--child", workload.name(), &variant.name(), "--events", &events.to_string()])
            .arg("--data")
            .arg(data)
            .arg("--out")
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    if variant != Variant::SerdeLoopPair {
        return finish(spawn(variant, out)?, workload, variant);
    }
    let loop_ = Variant::SerdeLoop;
    let first = spawn(loop_, out)?;
    let second = spawn(loop_, &out.join("second"));
    let (a, b) = (finish(first, workload, loop_)?, finish(second?, workload, loop_)?);
    // The later of the two to finish; the records of one; the CPU time of both.
    let cpu_secs = a.cpu_secs.zip(b.cpu_secs).map(|(a, b)| a + b);
    Ok(Sample { secs: a.secs.max(b.secs), records: a.records, rss_kb: a.rss_kb.max(b.rss_kb), cpu_secs, round: 0 })
}

/// The child: `--child WORKLOAD VARIANT --events N --data DIR --out DIR`.
fn child(args: &[String]) -> Result<(), BoxError> {
    let (workload, variant) = match args {
        [w, v, ..] => (
            Workload::parse(w).ok_or_else(|| format!("unknown workload '{w}'"))?,
            Variant::parse(v).ok_or_else(|| format!("unknown variant '{v}'"))?,
        ),
        _ => return Err("--child WORKLOAD VARIANT --events N --data DIR --out DIR".into()),
    };
    let (mut events, mut data, mut out) = (None, None, None);
    let mut it = args[2..].iter();
    while let Some(arg) = it.next() {
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--events" => events = Some(value.parse::<u64>()?),
            "--data" => data = Some(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            other => return Err(format!("unknown child argument '{other}'").into()),
        }
    }
    let (events, data, out) = (events.ok_or("--events")?, data.ok_or("--data")?, out.ok_or("--out")?);
    if variant.input() == Input::Jsonl {
        ensure_data(&data, events)?;
    }
    let (secs, records) = run_variant(workload, variant, events, &data, &out)?;
    let rss = system::peak_rss_kb().map_or_else(|| "-".to_string(), |kb| kb.to_string());
    let cpu = system::cpu_secs().map_or_else(|| "-".to_string(), |s| s.to_string());
    println!("{RESULT_TAG} {secs} {records} {rss} {cpu}");
    Ok(())
}

/// The results of one variant of a workload.
#[derive(Clone, Debug)]
pub struct VariantResult {
    pub variant: Variant,
    pub samples: Vec<Sample>,
    /// Of the first run's output.
    pub digest: system::Digest,
}

/// A comparison of outputs.
#[derive(Clone, Debug)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Unsupported(&'static str),
    Failed(String),
    Measured { variants: Vec<VariantResult>, checks: Vec<Check> },
}

#[derive(Clone, Debug)]
pub struct WorkloadResult {
    pub workload: Workload,
    pub outcome: Outcome,
}

/// Runs every selected workload in rounds: each round runs every workload's variants once, so
/// that a workload's runs are spread over the whole measurement instead of following each
/// other (this machine's speed changes from minute to minute). The scaling workloads run their
/// scaling variants in each of `scaling_runs` rounds; everything else runs in `runs` of them,
/// spread evenly (round 0 among them).
pub fn bench(opts: &Options, exec: &Exec) -> Result<Vec<WorkloadResult>, BoxError> {
    let out_root = std::env::temp_dir().join(format!("eddy-bench-out-{}", std::process::id()));
    let mut benches = Vec::new();
    for &workload in &opts.only {
        if let Some(why) = workload.unsupported() {
            eprintln!("{workload}: {why}");
            benches.push(Err(why));
            continue;
        }
        let (events, data) = opts.input(workload);
        ensure_data(&data, events)?;
        let round = Variant::round(&opts.workers_list, workload.scaling_target());
        benches.push(Ok(Bench {
            workload,
            samples: vec![Vec::new(); round.len()],
            round,
            digests: Vec::new(),
            failed: None,
        }));
    }
    let rounds = opts.rounds();
    for run in 0..rounds {
        let full = run * opts.runs % rounds < opts.runs;
        for b in benches.iter_mut().flatten().filter(|b| b.failed.is_none()) {
            if !full && !b.workload.scaling_target() {
                continue;
            }
            if let Err(e) = b.run(opts, exec, &out_root, (run, rounds), full) {
                eprintln!("{}: FAILED: {e}", b.workload);
                b.failed = Some(e.to_string());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out_root);
    let results = opts.only.iter().zip(benches).map(|(&workload, b)| WorkloadResult {
        workload,
        outcome: match b {
            Err(why) => Outcome::Unsupported(why),
            Ok(b) => b.outcome(),
        },
    });
    Ok(results.collect())
}

/// One workload's measurement under way.
struct Bench {
    workload: Workload,
    round: Vec<Variant>,
    /// Per variant of `round`, its samples so far.
    samples: Vec<Vec<Sample>>,
    /// The outputs of the first round, per variant.
    digests: Vec<system::Digest>,
    failed: Option<String>,
}

impl Bench {
    /// Runs round `run` of `rounds`: every variant if `full`, else the scaling variants.
    fn run(
        &mut self,
        opts: &Options,
        exec: &Exec,
        out_root: &Path,
        (run, rounds): (usize, usize),
        full: bool,
    ) -> Result<(), BoxError> {
        let workload = self.workload;
        let (events, data) = opts.input(workload);
        for (i, &variant) in self.round.iter().enumerate() {
            if !full && !variant.scales() {
                continue;
            }
            let out = out_root.join(workload.name()).join(variant.name());
            let mut sample = match exec {
                Exec::Child(exe) => run_child(exe, workload, variant, events, &data, &out)?,
                Exec::InProcess => {
                    let (secs, records) = run_variant(workload, variant, events, &data, &out)?;
                    Sample { secs, records, rss_kb: None, cpu_secs: None, round: 0 }
                }
            };
            sample.round = run;
            eprintln!(
                "{workload} round {}/{rounds} {:<14} {:>8.3} s {:>6.2} M records/s{}",
                run + 1,
                variant.name(),
                sample.secs,
                sample.records as f64 / sample.secs / 1e6,
                sample.rss_kb.map_or_else(String::new, |kb| format!("  peak RSS {:.0} MB", kb as f64 / 1024.0)),
            );
            if run == 0 {
                let file = out.join(workload.output_file());
                self.digests.push(system::digest(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?);
            }
            std::fs::remove_dir_all(&out)?;
            self.samples[i].push(sample);
        }
        Ok(())
    }

    fn outcome(self) -> Outcome {
        if let Some(e) = self.failed {
            return Outcome::Failed(e);
        }
        let variants: Vec<VariantResult> = self
            .round
            .iter()
            .zip(self.samples)
            .zip(self.digests)
            .map(|((&variant, samples), digest)| VariantResult { variant, samples, digest })
            .collect();
        let checks = check_outputs(&variants);
        for c in checks.iter().filter(|c| !c.ok) {
            eprintln!("{}: OUTPUT MISMATCH: {}", self.workload, c.what);
        }
        Outcome::Measured { variants, checks }
    }
}

/// Every JSONL variant against the serde loop, every generator variant against the generator
/// loop, and the two loops against each other (they agree when the data set was generated with
/// the same number of events and seed).
fn check_outputs(variants: &[VariantResult]) -> Vec<Check> {
    let find = |v: Variant| variants.iter().find(|r| r.variant == v);
    let mut checks = Vec::new();
    for (reference, input) in [(Variant::SerdeLoop, Input::Jsonl), (Variant::GenLoop, Input::Generator)] {
        let Some(reference) = find(reference) else { continue };
        for r in variants.iter().filter(|r| r.variant.input() == input && r.variant != reference.variant) {
            let ok =
                r.digest == reference.digest && r.samples.iter().all(|s| s.records == reference.samples[0].records);
            checks.push(Check {
                what: format!(
                    "{} = {}: {} vs {}",
                    r.variant.name(),
                    reference.variant.name(),
                    r.digest,
                    reference.digest
                ),
                ok,
            });
        }
    }
    if let (Some(a), Some(b)) = (find(Variant::SerdeLoop), find(Variant::GenLoop)) {
        checks.push(Check {
            what: format!("serde-loop (file) = gen-loop (generator): {} vs {}", a.digest, b.digest),
            ok: a.digest == b.digest,
        });
    }
    checks
}

/// `--latency ...` or `--memory ...`: a streaming measurement; prints its section and writes
/// it to `--out`.
fn streaming(mode: &str, args: &[String]) -> Result<(), BoxError> {
    let (mut rates, mut rate, mut secs, mut workers, mut out) =
        (vec![100_000u64, 1_000_000], 100_000u64, None, 1, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--rates" => {
                rates = value.split(',').map(|r| r.trim().replace('_', "").parse()).collect::<Result<_, _>>()?
            }
            "--rate" => rate = value.replace('_', "").parse()?,
            "--secs" => secs = Some(value.parse::<f64>()?),
            "--workers" => workers = value.parse()?,
            "--out" => out = Some(PathBuf::from(value)),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}").into()),
        }
    }
    if workers == 0 || rate == 0 || rates.contains(&0) {
        return Err("--workers and rates must not be zero".into());
    }
    let text = if mode == "--latency" {
        let secs = secs.unwrap_or(5.0);
        let mut runs = Vec::new();
        for &rate in &rates {
            eprintln!("latency: {rate} events/s, {workers} worker(s), {secs} s ...");
            let run = stream::latency(rate, secs, workers)?;
            eprintln!(
                "  achieved {:.0} events/s, {} results, p50 {:?} ms, p99 {:?} ms",
                run.achieved_rate(),
                run.latencies_ms.len(),
                stream::quantile(&run.latencies_ms, 0.5),
                stream::quantile(&run.latencies_ms, 0.99)
            );
            runs.push(run);
        }
        stream::latency_markdown(&runs, secs)
    } else {
        let secs = secs.unwrap_or(20.0);
        eprintln!("memory: Q5 at {rate} events/s, {workers} worker(s), {secs} s ...");
        stream::memory_markdown(&stream::memory(rate, secs, workers)?)
    };
    println!("{text}");
    if let Some(out) = out {
        std::fs::write(&out, &text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(mode @ ("--latency" | "--memory")) = args.first().map(String::as_str) {
        if let Err(e) = streaming(mode, &args[1..]) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--child") {
        if let Err(e) = child(&args[1..]) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(if e == USAGE { 0 } else { 2 });
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find this executable: {e}");
            std::process::exit(2);
        }
    };
    match bench(&opts, &Exec::Child(exe)) {
        Ok(results) => {
            let text = report::markdown(&opts, &results, &system::machine());
            println!("{}", report::summary_table(&opts, &results));
            println!("{}", report::targets(&opts, &results));
            if let Some(path) = &opts.report {
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    std::process::exit(2);
                }
                eprintln!("report written to {}", path.display());
            }
            let failed = results.iter().any(|r| match &r.outcome {
                Outcome::Failed(_) => true,
                Outcome::Measured { checks, .. } => checks.iter().any(|c| !c.ok),
                Outcome::Unsupported(_) => false,
            });
            if failed {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every implemented workload, every variant, once, at a tiny size, through the same code
    /// as the benchmark (in process instead of child processes); outputs must agree. No timing.
    #[test]
    fn every_workload_runs_and_agrees_at_a_tiny_size() {
        let dir = std::env::temp_dir().join(format!("eddy-bench-test-{}", std::process::id()));
        let opts = Options {
            events: 2000,
            join_scale: 2,
            runs: 1,
            scaling_runs: 2,
            workers_list: vec![1, 2],
            data: dir.join("data"),
            only: Workload::ALL.to_vec(),
            report: None,
            profile: None,
            analysis: None,
            command: "test".to_string(),
            commit: None,
            sections: Vec::new(),
        };
        let results = bench(&opts, &Exec::InProcess).unwrap();
        let mut measured = 0;
        for r in &results {
            match &r.outcome {
                Outcome::Measured { variants, checks } => {
                    measured += 1;
                    // The scaling workloads also run two serde loops at once.
                    let pair = usize::from(r.workload.scaling_target());
                    assert_eq!(variants.len(), 7 + pair, "{}", r.workload);
                    assert_eq!(checks.len(), 6 + pair, "{}", r.workload);
                    for c in checks {
                        assert!(c.ok, "{}: {}", r.workload, c.what);
                    }
                    assert!(variants.iter().all(|v| v.digest.lines > 0), "{}", r.workload);
                    if matches!(r.workload, Workload::Q3 | Workload::Q7 | Workload::Q8) {
                        // Rows besides the header: every query finds some.
                        assert!(variants.iter().all(|v| v.digest.lines > 1), "{}", r.workload);
                    }
                    // 1840 bids, or (at twice the events) 80 persons and 240 auctions.
                    let records = if r.workload.kinds().len() == 2 { 320 } else { 1840 };
                    assert_eq!(r.workload.records(opts.input(r.workload).0), records, "{}", r.workload);
                    assert!(variants.iter().all(|v| v.samples[0].records == records), "{}", r.workload);
                    // The scaling workloads' scaling variants run a second round.
                    for v in variants {
                        let rounds = if pair == 1 && v.variant.scales() { 2 } else { 1 };
                        assert_eq!(v.samples.len(), rounds, "{} {}", r.workload, v.variant.name());
                    }
                }
                Outcome::Unsupported(_) => assert!(r.workload.unsupported().is_some()),
                Outcome::Failed(e) => panic!("{}: {e}", r.workload),
            }
        }
        assert_eq!(measured, Workload::ALL.len());
        let text = report::markdown(&opts, &results, &system::machine());
        for w in ["q3", "q7", "q8"] {
            assert!(text.contains(&format!("| {w} |")) && text.contains(&format!("### {w} ")), "{text}");
        }
        assert!(!text.contains("not in the harness yet"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Hand-made data with late records (and a tie, and a name that needs quoting): the loops
    /// and timely drop what Eddy sends to `x.late`. One reader of a file (Eddy 1 worker, the
    /// serde loop, timely 1 worker) judges lateness the same way. At N workers each worker's
    /// share of a file has its own watermark, so which records are late depends on how the file
    /// is split: Eddy and timely split it alike (no generated record is ever late).
    #[test]
    fn late_records_are_dropped_as_eddy_drops_them() {
        let dir = std::env::temp_dir().join(format!("eddy-bench-late-{}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let at = |s: u32| format!("2024-05-01T12:00:{s:02}.000Z");
        let bids =
            [(1, 10, 100, 1), (2, 11, 300, 3), (3, 12, 300, 9), (1, 13, 250, 12), (4, 15, 999, 8), (1, 14, 200, 15)];
        let persons = [
            (1, "Ada", "Bend", "OR", 1),
            (2, "Bob, Jr.", "Boise", "ID", 8),
            (3, "Cy", "Seattle", "WA", 15),
            (4, "Dee", "Fresno", "CA", 11),
        ];
        let auctions = [(10, 1, 10, 5), (11, 2, 10, 9), (12, 3, 10, 16), (13, 1, 11, 2), (14, 4, 10, 17)];
        let mut text = String::new();
        for (auction, bidder, price, t) in bids {
            text += &format!(
                "{{\"auction\":{auction},\"bidder\":{bidder},\"price\":{price},\"date_time\":\"{}\"}}\n",
                at(t)
            );
        }
        std::fs::write(data.join("bids.jsonl"), &text).unwrap();
        text.clear();
        for (id, name, city, state, t) in persons {
            text += &format!(
                "{{\"id\":{id},\"name\":\"{name}\",\"city\":\"{city}\",\"state\":\"{state}\",\"date_time\":\"{}\"}}\n",
                at(t)
            );
        }
        std::fs::write(data.join("persons.jsonl"), &text).unwrap();
        text.clear();
        for (id, seller, category, t) in auctions {
            text +=
                &format!("{{\"id\":{id},\"seller\":{seller},\"category\":{category},\"date_time\":\"{}\"}}\n", at(t));
        }
        std::fs::write(data.join("auctions.jsonl"), &text).unwrap();
        let output = |workload: Workload, variant: Variant| {
            let out = dir.join(workload.name()).join(variant.name());
            run_variant(workload, variant, 0, &data, &out).unwrap();
            std::fs::read_to_string(out.join(workload.output_file())).unwrap()
        };
        // The header, then the rows in order.
        let sorted = |text: String| {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines[1..].sort();
            lines
        };
        // (workload, the serde loop's output lines after the header).
        let expected: [(Workload, &[&str]); 3] = [
            (Workload::Q3, &["\"Bob, Jr.\",Boise,ID,11", "Ada,Bend,OR,10", "Dee,Fresno,CA,14"]),
            (
                // The late bid of 999 is not the window's top.
                Workload::Q7,
                &[
                    "1,13,250,2024-05-01T12:00:12.000Z,2024-05-01T12:00:10.000Z,2024-05-01T12:00:20.000Z",
                    "2,11,300,2024-05-01T12:00:03.000Z,2024-05-01T12:00:00.000Z,2024-05-01T12:00:10.000Z",
                    "3,12,300,2024-05-01T12:00:09.000Z,2024-05-01T12:00:00.000Z,2024-05-01T12:00:10.000Z",
                ],
            ),
            (
                // Dee (12:00:11 after 12:00:15) and auction 13 (12:00:02 after 12:00:16) are late.
                Workload::Q8,
                &[
                    "1,Ada,10,2024-05-01T12:00:00.000Z,2024-05-01T12:00:10.000Z",
                    "2,\"Bob, Jr.\",11,2024-05-01T12:00:00.000Z,2024-05-01T12:00:10.000Z",
                    "3,Cy,12,2024-05-01T12:00:10.000Z,2024-05-01T12:00:20.000Z",
                ],
            ),
        ];
        for (workload, rows) in expected {
            let reference = sorted(output(workload, Variant::SerdeLoop));
            assert_eq!(reference[0], baseline_join::header(workload).trim_end(), "{workload}");
            assert_eq!(reference[1..], *rows, "{workload}");
            for variant in [Variant::Eddy { input: Input::Jsonl, workers: 1 }, Variant::Timely { workers: 1 }] {
                assert_eq!(sorted(output(workload, variant)), reference, "{workload} {}", variant.name());
            }
            // At 2 workers, Eddy and timely split the files into the same stripes: the same
            // records are late, and the outputs agree.
            let eddy2 = sorted(output(workload, Variant::Eddy { input: Input::Jsonl, workers: 2 }));
            assert_eq!(eddy2, sorted(output(workload, Variant::Timely { workers: 2 })), "{workload} at 2 workers");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn arguments() {
        let args: Vec<String> =
            ["--events", "1_000", "--only", "q0,agg", "--workers-list", "1,4"].iter().map(|s| s.to_string()).collect();
        let o = parse_args(&args).unwrap();
        assert_eq!((o.events, o.runs, o.workers_list.clone()), (1000, 5, vec![1, 4]));
        assert_eq!(o.only, vec![Workload::Q0, Workload::Agg]);
        assert!(parse_args(&["--only".to_string(), "q9".to_string()]).is_err());
        assert!(parse_args(&["--runs".to_string(), "0".to_string()]).is_err());
    }
}
