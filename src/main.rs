//! The `eddy` command: run, check and explain pipelines, and generate test data.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use eddy::{Pipeline, RunConfig};

/// Exit codes: 0 ok, 1 a mistake in the pipeline (see `eddy::Error::exit_code`), 2 a run-time
/// or I/O error.
const RUNTIME_ERROR: u8 = 2;

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
    after_help = "Exit codes: 0 ok, 1 the pipeline has mistakes, 2 a run-time or I/O error.\n\n\
Examples:\n  eddy gen nexmark --events 100000 --out data\n  eddy run examples/nexmark/q1.eddy --workers 4\n  \
eddy check pipeline.eddy\n  eddy explain pipeline.eddy --param min_price=100"
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
    #[arg(long, short = 'w', default_value_t = 1)]
    workers: usize,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    file: FileArgs,
    /// Worker threads per process.
    #[arg(long, short = 'w', default_value_t = 1)]
    workers: usize,
    /// Number of processes in a cluster (each started with its own --process).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// This process's index in the cluster, from 0.
    #[arg(long, default_value_t = 0)]
    process: usize,
    /// A file with one `host:port` per process, in process order (default: localhost:2101...).
    #[arg(long)]
    hostfile: Option<PathBuf>,
    /// Start this many local processes of the job and wait for them.
    #[arg(long, value_name = "P", conflicts_with_all = ["processes", "process", "hostfile"])]
    local_cluster: Option<usize>,
    /// Input lines longer than this go to `source.errors`.
    #[arg(long, default_value_t = 16 << 20)]
    max_line_bytes: usize,
    /// Do not print the summary.
    #[arg(long, short = 'q')]
    quiet: bool,
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
            eprintln!("error: {e:#}");
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
    eprint!("{}", e.render(color));
    if let eddy::Error::Pipeline { .. } = e {
        eprintln!("{e}");
    }
    ExitCode::from(e.exit_code() as u8)
}

fn check(args: FileArgs, color: bool) -> anyhow::Result<ExitCode> {
    let compiled = match pipeline(&args).and_then(|p| p.compile()) {
        Ok(c) => c,
        Err(e) => return Ok(fail(e, color)),
    };
    eprint!("{}", compiled.render_warnings(color));
    eprintln!("{}: ok", args.file.display());
    Ok(ExitCode::SUCCESS)
}

fn test(args: TestArgs, color: bool) -> anyhow::Result<ExitCode> {
    let p = match pipeline(&args.file) {
        Ok(p) => p.check_files(false),
        Err(e) => return Ok(fail(e, color)),
    };
    let config = RunConfig { workers: args.workers.max(1), ..RunConfig::default() };
    let outcomes = match p.run_tests(&config) {
        Ok(o) => o,
        Err(e) => return Ok(fail(e, color)),
    };
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    for o in &outcomes {
        println!("test \"{}\" ... {}", o.name, if o.passed() { "ok" } else { "FAILED" });
        for line in &o.failures {
            println!("    {line}");
        }
    }
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn explain(args: FileArgs, color: bool) -> anyhow::Result<ExitCode> {
    let compiled = match pipeline(&args).map(|p| p.check_files(false)).and_then(|p| p.compile()) {
        Ok(c) => c,
        Err(e) => return Ok(fail(e, color)),
    };
    eprint!("{}", compiled.render_warnings(color));
    print!("{}", compiled.plan);
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs, color: bool) -> anyhow::Result<ExitCode> {
    if let Some(p) = args.local_cluster {
        return local_cluster(&args, p);
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
    if args.process >= args.processes.max(1) || (!addresses.is_empty() && addresses.len() < args.processes) {
        anyhow::bail!("--process must be below --processes, and the hostfile must list every process");
    }
    let config = RunConfig {
        workers: args.workers.max(1),
        processes: args.processes.max(1),
        process: args.process,
        addresses,
        max_line_bytes: args.max_line_bytes,
        ..RunConfig::default()
    };
    // SIGINT or SIGTERM stops a stream cleanly: sources stop, what is in flight is written and
    // the summary printed. A second one ends the process at once.
    let stop = std::sync::Arc::clone(&config.stop);
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, std::sync::atomic::Ordering::Relaxed) {
            std::process::exit(130);
        }
    });
    let p = match pipeline(&args.file) {
        Ok(p) => p,
        Err(e) => return Ok(fail(e, color)),
    };
    let compiled = match p.compile_to_run() {
        Ok(c) => c,
        Err(e) => return Ok(fail(e, color)),
    };
    eprint!("{}", compiled.render_warnings(color));
    let started = std::time::Instant::now();
    match p.run_compiled(&compiled, &config) {
        Ok(summary) => {
            if !args.quiet && config.process == 0 {
                eprint!("{summary}");
                eprintln!("done in {:.3}s", started.elapsed().as_secs_f64());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(e, color)),
    }
}

/// Starts `p` processes of this job on this machine, on free local ports, and waits for all.
fn local_cluster(args: &RunArgs, p: usize) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the eddy executable")?;
    let mut ports = Vec::new();
    let listeners: Vec<std::net::TcpListener> = (0..p)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("cannot find free ports")?;
    for l in &listeners {
        ports.push(l.local_addr()?.port());
    }
    drop(listeners);
    let hostfile = std::env::temp_dir().join(format!("eddy-hosts-{}-{}", std::process::id(), ports[0]));
    let hosts: String = ports.iter().map(|port| format!("127.0.0.1:{port}\n")).collect();
    std::fs::write(&hostfile, hosts).context("cannot write the hostfile")?;
    let mut children = Vec::new();
    for i in 0..p {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("run").arg(&args.file.file).args(["--workers", &args.workers.to_string()]);
        cmd.args(["--processes", &p.to_string(), "--process", &i.to_string()]).arg("--hostfile").arg(&hostfile);
        cmd.args(["--max-line-bytes", &args.max_line_bytes.to_string()]);
        for (k, v) in &args.file.params {
            cmd.arg("--param").arg(format!("{k}={v}"));
        }
        if args.quiet {
            cmd.arg("--quiet");
        }
        children.push(cmd.spawn().context("cannot start a process")?);
    }
    let mut worst = 0;
    for mut child in children {
        let status = child.wait().context("cannot wait for a process")?;
        worst = worst.max(status.code().unwrap_or(i32::from(RUNTIME_ERROR)));
    }
    let _ = std::fs::remove_file(&hostfile);
    Ok(ExitCode::from(worst.clamp(0, 255) as u8))
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
