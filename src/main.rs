//! The `eddy` command: run, check and explain pipelines, and generate test data.

#[cfg(unix)]
mod signals;

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use eddy::{Pipeline, RunConfig};

/// Exit codes: 0 ok, 1 a mistake in the pipeline (see `eddy::Error::exit_code`), 2 a run-time
/// or I/O error (clap's usage errors are 2 as well), 128 + N a batch job stopped by signal N.
const RUNTIME_ERROR: u8 = 2;

/// The exit codes as `--help` and the README show them (a macro, for `concat!`).
macro_rules! exit_codes {
    () => {
        "Exit codes:\n  \
0    ok (a stream stopped by SIGINT or SIGTERM too)\n  \
1    the pipeline has mistakes (nothing ran), or `eddy test` found a failing test or none\n  \
2    a run-time or I/O error (an output that cannot be written, a worker failed, a cluster\n       \
that did not connect), or a mistake in the command line\n  \
130  a batch job stopped by SIGINT: its output is incomplete (143 for SIGTERM)"
    };
}

/// Records flow through the dataflow in batches: allocated by a source, freed by a later
/// operator. mimalloc's per-thread free lists serve that pattern several times faster than
/// glibc's malloc (measured on Nexmark: about a fifth of all instructions went to glibc's
/// malloc and free).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "eddy",
    version,
    about = "Event pipelines in a small declarative language, compiled to timely dataflow",
    after_help = concat!(exit_codes!(), "\n\nExamples:\n  eddy gen nexmark --events 100000 --out data\n  eddy run examples/nexmark/q1.eddy --workers 4\n  \
eddy check pipeline.eddy\n  eddy explain pipeline.eddy --param min_price=100")
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: a batch job ends when its inputs are done.
    #[command(after_help = "Examples:\n  eddy run q5.eddy\n  eddy run q5.eddy --workers 4 --param min_price=100\n  \
eddy run q5.eddy --local-cluster 2          # two local processes\n  \
eddy run q5.eddy --processes 2 --process 0 --hostfile hosts.txt")]
    Run(RunArgs),
    /// Check a pipeline: every mistake with its line and column; exit 1 if there is one.
    #[command(after_help = "Example:\n  eddy check q5.eddy --param min_price=100")]
    Check(FileArgs),
    /// Run the pipeline's `test` blocks: exit 1 when one fails, with the records that differ.
    #[command(after_help = "Example:\n  eddy test q5.eddy --workers 2")]
    Test(TestArgs),
    /// Print the plan: each node's schema, whether it is append-only or updating, and where
    /// data is exchanged.
    #[command(after_help = "Example:\n  eddy explain q5.eddy")]
    Explain(FileArgs),
    /// Generate data.
    Gen {
        #[command(subcommand)]
        what: Gen,
    },
}

#[derive(Subcommand)]
enum Gen {
    /// Nexmark events as persons.jsonl, auctions.jsonl and bids.jsonl.
    #[command(after_help = "Example:\n  eddy gen nexmark --events 1000000 --out data")]
    Nexmark {
        /// Number of events (1 in 50 a person, 3 in 50 an auction, 46 in 50 a bid).
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Directory to write the files to.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = eddy_engine::nexmark::DEFAULT_SEED)]
        seed: u64,
    },
}

#[derive(Args)]
struct FileArgs {
    /// The pipeline file (`.eddy`).
    file: PathBuf,
    /// Override a param: `--param name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
}

#[derive(Args)]
struct TestArgs {
    #[command(flatten)]
    file: FileArgs,
    /// Worker threads.
    #[arg(long, short = 'w', default_value_t = 1, value_parser = at_least_1)]
    workers: usize,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    file: FileArgs,
    /// Worker threads per process.
    #[arg(long, short = 'w', default_value_t = 1, value_parser = at_least_1)]
    workers: usize,
    /// Number of processes in a cluster (each started with its own --process).
    #[arg(long, default_value_t = 1, value_parser = at_least_1)]
    processes: usize,
    /// This process's index in the cluster, from 0.
    #[arg(long, default_value_t = 0)]
    process: usize,
    /// A file with one `host:port` per process, in process order (default: localhost:2101...).
    #[arg(long)]
    hostfile: Option<PathBuf>,
    /// Start this many local processes of the job and wait for them.
    #[arg(long, value_name = "P", conflicts_with_all = ["processes", "process", "hostfile"], value_parser = at_least_1)]
    local_cluster: Option<usize>,
    /// How long a process of a cluster waits for the others to connect (`250ms 10s 5m 1h`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// The process of `--local-cluster` that started this one: stop when it is gone.
    #[arg(long, hide = true)]
    parent: Option<u32>,
    /// Input lines longer than this go to `source.errors`.
    #[arg(long, default_value_t = 16 << 20)]
    max_line_bytes: usize,
    /// Do not print the summary.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// A count that must be at least 1 (workers, processes): clap rejects 0 as a usage error.
fn at_least_1(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        n => n.map_err(|e| e.to_string()),
    }
}

/// A duration written as in the language: `250ms`, `10s`, `5m`, `2h`, `1d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    eddy_dsl::time::parse_duration(s)
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .ok_or_else(|| format!("expected a duration such as 500ms, 60s or 5m, found '{s}'"))
}

/// Writes to stderr. A closed stderr is not an error: there is nowhere left to say anything.
fn say(text: impl Display) {
    let _ = write!(std::io::stderr(), "{text}");
}

/// Writes to stdout. A closed stdout (`eddy explain f | head -1`) or a full disk is an error
/// (exit 2), never a panic as `print!` would give.
fn out(text: impl Display) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{text}").and_then(|()| stdout.flush()).context("cannot write to stdout")
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, found '{s}'"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = std::io::stderr().is_terminal();
    let result = match cli.command {
        Command::Run(args) => run(args, color),
        Command::Check(args) => check(args, color),
        Command::Test(args) => test(args, color),
        Command::Explain(args) => explain(args, color),
        Command::Gen { what: Gen::Nexmark { events, out, seed } } => gen(events, &out, seed),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            say(format_args!("error: {e:#}\n"));
            ExitCode::from(RUNTIME_ERROR)
        }
    }
}

fn pipeline(args: &FileArgs) -> Result<Pipeline, eddy::Error> {
    let mut p = Pipeline::from_file(&args.file)?;
    for (k, v) in &args.params {
        p = p.param(k, v);
    }
    Ok(p)
}

/// Prints a library error and returns its exit code.
fn fail(e: eddy::Error, color: bool) -> ExitCode {
    say(e.render(color));
    if let eddy::Error::Pipeline { .. } = e {
        say(format_args!("{e}\n"));
    }
    ExitCode::from(e.exit_code() as u8)
}

fn check(args: FileArgs, color: bool) -> anyhow::Result<ExitCode> {
    let compiled = match pipeline(&args).and_then(|p| p.compile()) {
        Ok(c) => c,
        Err(e) => return Ok(fail(e, color)),
    };
    say(compiled.render_warnings(color));
    say(format_args!("{}: ok\n", args.file.display()));
    Ok(ExitCode::SUCCESS)
}

fn test(args: TestArgs, color: bool) -> anyhow::Result<ExitCode> {
    let p = match pipeline(&args.file) {
        Ok(p) => p.check_files(false),
        Err(e) => return Ok(fail(e, color)),
    };
    let config = RunConfig { workers: args.workers, ..RunConfig::default() };
    let outcomes = match p.run_tests(&config) {
        Ok(o) => o,
        Err(e) => return Ok(fail(e, color)),
    };
    // Nothing tested is not a pass: a misspelt or forgotten test block must not look green.
    if outcomes.is_empty() {
        say(format_args!(
            "{}: no tests to run (write `test \"name\" {{ given ... expect ... }}` blocks)\n",
            args.file.file.display()
        ));
        return Ok(ExitCode::from(1));
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let mut report = String::new();
    for o in &outcomes {
        report += &format!("test \"{}\" ... {}\n", o.name, if o.passed() { "ok" } else { "FAILED" });
        for line in &o.failures {
            report += &format!("    {line}\n");
        }
    }
    report += &format!("{} passed, {failed} failed\n", outcomes.len() - failed);
    out(report)?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn explain(args: FileArgs, color: bool) -> anyhow::Result<ExitCode> {
    // Checked as `check` checks, input files too: one verdict for one pipeline.
    let compiled = match pipeline(&args).and_then(|p| p.compile()) {
        Ok(c) => c,
        Err(e) => return Ok(fail(e, color)),
    };
    say(compiled.render_warnings(color));
    out(&compiled.plan)?;
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs, color: bool) -> anyhow::Result<ExitCode> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Before any thread starts: see `signals`.
    #[cfg(unix)]
    let signals = signals::Signals::install(std::sync::Arc::clone(&stop)).context("cannot take signals")?;
    #[cfg(unix)]
    if let Some(parent) = args.parent {
        signals.watch_parent(parent);
    }
    if let Some(p) = args.local_cluster {
        #[cfg(unix)]
        signals.become_parent();
        return local_cluster(&args, p, |pid, running| {
            #[cfg(unix)]
            match running {
                true => signals.forward_to(pid),
                false => signals.forget(pid),
            }
        });
    }
    let addresses = match &args.hostfile {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read hostfile '{}'", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect(),
        None => Vec::new(),
    };
    // `eddy_engine::run` checks the configuration (process below processes, one address each).
    let config = RunConfig {
        workers: args.workers,
        processes: args.processes,
        process: args.process,
        addresses,
        connect_timeout: args.connect_timeout,
        max_line_bytes: args.max_line_bytes,
        stop,
    };
    let p = match pipeline(&args.file) {
        Ok(p) => p,
        Err(e) => return Ok(fail(e, color)),
    };
    let compiled = match p.compile_to_run() {
        Ok(c) => c,
        Err(e) => return Ok(fail(e, color)),
    };
    say(compiled.render_warnings(color));
    let started = std::time::Instant::now();
    let result = p.run_compiled(&compiled, &config);
    // The summary, also of a job that failed: what it wrote until then.
    if let Ok(summary) | Err(eddy::Error::Failed { summary, .. }) = &result {
        if !args.quiet && config.process == 0 {
            say(format_args!("{summary}done in {:.3}s\n", started.elapsed().as_secs_f64()));
        }
    }
    match result {
        // A batch job stopped by a signal: 128 + the signal, as shells report it.
        Ok(summary) if summary.incomplete => {
            #[cfg(unix)]
            let code = signals.received().map_or(RUNTIME_ERROR.into(), signals::exit_code);
            #[cfg(not(unix))]
            let code = RUNTIME_ERROR.into();
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(RUNTIME_ERROR)))
        }
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Ok(fail(e, color)),
    }
}

/// Removes the hostfile of a local cluster however `local_cluster` ends.
struct Hostfile(PathBuf);

impl Drop for Hostfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts `p` processes of this job on this machine, on free local ports, and waits for all.
/// `watch(pid, true)` is called as each child starts, `watch(pid, false)` once it is reaped,
/// so that the caller forwards signals to the children while they run (and to no one else).
fn local_cluster(args: &RunArgs, p: usize, mut watch: impl FnMut(u32, bool)) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the eddy executable")?;
    let listeners: Vec<std::net::TcpListener> = (0..p)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("cannot find free ports")?;
    let mut ports = Vec::new();
    for l in &listeners {
        ports.push(l.local_addr()?.port());
    }
    drop(listeners);
    let first = ports.first().copied().unwrap_or_default();
    let hostfile = Hostfile(std::env::temp_dir().join(format!("eddy-hosts-{}-{first}", std::process::id())));
    let hosts: String = ports.iter().map(|port| format!("127.0.0.1:{port}\n")).collect();
    std::fs::write(&hostfile.0, hosts).context("cannot write the hostfile")?;
    let mut children = Vec::new();
    for i in 0..p {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("run").arg(&args.file.file).args(["--workers", &args.workers.to_string()]);
        cmd.args(["--processes", &p.to_string(), "--process", &i.to_string()]).arg("--hostfile").arg(&hostfile.0);
        cmd.args(["--max-line-bytes", &args.max_line_bytes.to_string()]);
        cmd.arg("--connect-timeout").arg(format!("{}ms", args.connect_timeout.as_millis()));
        cmd.args(["--parent", &std::process::id().to_string()]);
        for (k, v) in &args.file.params {
            cmd.arg("--param").arg(format!("{k}={v}"));
        }
        if args.quiet {
            cmd.arg("--quiet");
        }
        match cmd.spawn() {
            Ok(child) => {
                watch(child.id(), true);
                children.push(child);
            }
            // The children already started see their parent go, and stop.
            Err(e) => return Err(e).context("cannot start a process"),
        }
    }
    let mut worst = 0;
    for mut child in children {
        let status = child.wait().context("cannot wait for a process")?;
        watch(child.id(), false);
        worst = worst.max(exit_code(status));
    }
    Ok(ExitCode::from(worst.clamp(0, 255) as u8))
}

/// A child's exit code; one ended by signal N counts as 128 + N, as shells report it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return 128 + signal;
    }
    status.code().unwrap_or(i32::from(RUNTIME_ERROR))
}

fn gen(events: u64, out: &std::path::Path, seed: u64) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create '{}'", out.display()))?;
    let started = std::time::Instant::now();
    let [persons, auctions, bids] = eddy_engine::nexmark::write_jsonl(out, events, seed)
        .with_context(|| format!("cannot write to '{}'", out.display()))?;
    eprintln!(
        "wrote {persons} persons, {auctions} auctions and {bids} bids to {} in {:.2}s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
