//! Medians, ratios, targets, and the markdown report.

use std::fmt::Write;

use eddy_engine::nexmark::Kind;

use crate::system::Machine;
use crate::workloads::{Input, Variant};
use crate::{Options, Outcome, Sample, VariantResult, WorkloadResult};

/// The issue's targets, as ratios.
const JSONL_TARGET: f64 = 1.25;
const GENERATOR_TARGET: f64 = 2.0;
const SCALING_TARGET: f64 = 1.8;

pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The pairs of samples of `a` and `b` from the same round.
fn same_round<'v>(a: &'v VariantResult, b: &'v VariantResult) -> impl Iterator<Item = (&'v Sample, &'v Sample)> {
    a.samples.iter().filter_map(|x| Some((x, b.samples.iter().find(|y| y.round == x.round)?)))
}

/// `a`'s time / `b`'s time in each round both ran in.
fn round_ratios(a: &VariantResult, b: &VariantResult) -> Vec<f64> {
    same_round(a, b).map(|(x, y)| x.secs / y.secs).collect()
}

/// The median over runs of `a`'s time / `b`'s time in the same run.
fn time_ratio(a: &VariantResult, b: &VariantResult) -> f64 {
    median(round_ratios(a, b))
}

/// The lower and upper quartiles of `xs` (nearest rank), and how many there are.
fn quartiles(mut xs: Vec<f64>) -> Option<(f64, f64, usize)> {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let rank = |q: usize| xs[((q * n).div_ceil(4)).clamp(1, n) - 1];
    (n > 0).then(|| (rank(1), rank(3), n))
}

/// The median over runs of `a`'s CPU time / `b`'s in the same run.
fn cpu_ratio(a: &VariantResult, b: &VariantResult) -> Option<f64> {
    let ratios: Option<Vec<f64>> = same_round(a, b).map(|(x, y)| Some(x.cpu_secs? / y.cpu_secs?)).collect();
    ratios.filter(|r| !r.is_empty()).map(median)
}

fn median_secs(v: &VariantResult) -> f64 {
    median(v.samples.iter().map(|s| s.secs).collect())
}

fn find(variants: &[VariantResult], v: Variant) -> Option<&VariantResult> {
    variants.iter().find(|r| r.variant == v)
}

/// The ratios of one measured workload.
struct Ratios {
    /// Eddy JSONL (first worker count) / serde loop.
    jsonl: Option<f64>,
    /// Eddy JSONL / timely, both at the first worker count.
    vs_timely: Option<f64>,
    /// Eddy on the generator (1 worker) / generator loop.
    generator: Option<f64>,
    /// (workers, Eddy throughput ratio to the first worker count, timely's).
    scaling: Vec<(usize, Option<f64>, Option<f64>)>,
    /// The quartiles of Eddy's per-round throughput ratios, twice the first worker count to
    /// the first, and the number of rounds.
    spread: Option<(f64, f64, usize)>,
    /// The throughput of two serde loops at once over one alone: what the machine gives a
    /// second thread in these rounds.
    machine: Option<f64>,
    /// Eddy's CPU time at twice the first worker count over the first (1.00: the work divides
    /// without overhead).
    cpu: Option<f64>,
}

fn ratios(opts: &Options, variants: &[VariantResult]) -> Ratios {
    let w0 = opts.workers_list[0];
    let eddy = |workers| find(variants, Variant::Eddy { input: Input::Jsonl, workers });
    let timely = |workers| find(variants, Variant::Timely { workers });
    let both = |a: Option<&VariantResult>, b: Option<&VariantResult>| Some(time_ratio(a?, b?));
    Ratios {
        jsonl: both(eddy(w0), find(variants, Variant::SerdeLoop)),
        vs_timely: both(eddy(w0), timely(w0)),
        generator: both(
            find(variants, Variant::Eddy { input: Input::Generator, workers: 1 }),
            find(variants, Variant::GenLoop),
        ),
        // Throughput ratio = inverse time ratio (the same records).
        scaling: opts.workers_list[1..]
            .iter()
            .map(|&w| (w, both(eddy(w0), eddy(w)), both(timely(w0), timely(w))))
            .collect(),
        spread: eddy(w0).zip(eddy(2 * w0)).and_then(|(one, two)| quartiles(round_ratios(one, two))),
        machine: both(find(variants, Variant::SerdeLoop), find(variants, Variant::SerdeLoopPair)).map(|r| 2.0 * r),
        cpu: eddy(w0).zip(eddy(2 * w0)).and_then(|(one, two)| cpu_ratio(two, one)),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_string(), |r| format!("{r:.2}×"))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// The summary table (markdown).
pub fn summary_table(opts: &Options, results: &[WorkloadResult]) -> String {
    let w0 = opts.workers_list[0];
    let mut s = String::new();
    let mut header = format!(
        "| workload | what | Eddy JSONL {w0}w / serde loop | Eddy JSONL / timely struct ({w0}w) | Eddy gen 1w / gen loop |"
    );
    let mut rule = "|---|---|---|---|---|".to_string();
    for w in &opts.workers_list[1..] {
        let _ = write!(header, " Eddy {w}w / {w0}w throughput | timely {w}w / {w0}w |");
        rule.push_str("---|---|");
    }
    if opts.workers_list.len() > 1 {
        header.push_str(" machine: 2 serde loops at once / 1 |");
        rule.push_str("---|");
    }
    header.push_str(" output check |");
    rule.push_str("---|");
    let _ = writeln!(s, "{header}\n{rule}");
    for r in results {
        let _ = write!(s, "| {} | {} |", r.workload, r.workload.describe());
        let cells = 3 + 2 * (opts.workers_list.len() - 1) + usize::from(opts.workers_list.len() > 1);
        match &r.outcome {
            Outcome::Unsupported(why) => {
                for _ in 0..cells {
                    let _ = write!(s, " {why} |");
                }
                s.push_str(" – |");
            }
            Outcome::Failed(e) => {
                let e = e.replace('|', "/").replace('\n', " ");
                for _ in 0..cells {
                    s.push_str(" failed |");
                }
                let _ = write!(s, " FAILED: {e} |");
            }
            Outcome::Measured { variants, checks } => {
                let q = ratios(opts, variants);
                let _ =
                    write!(s, " {} | {} | {} |", fmt_ratio(q.jsonl), fmt_ratio(q.vs_timely), fmt_ratio(q.generator));
                for (_, eddy, timely) in &q.scaling {
                    let _ = write!(s, " {} | {} |", fmt_ratio(*eddy), fmt_ratio(*timely));
                }
                if opts.workers_list.len() > 1 {
                    let _ = write!(s, " {} |", fmt_ratio(q.machine));
                }
                let bad = checks.iter().filter(|c| !c.ok).count();
                if bad == 0 {
                    let _ = write!(s, " ok ({} comparisons) |", checks.len());
                } else {
                    let _ = write!(s, " **{bad} MISMATCHES** |");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// The issue's targets, PASS or MISS (markdown list).
pub fn targets(opts: &Options, results: &[WorkloadResult]) -> String {
    let mut s = String::new();
    let w0 = opts.workers_list[0];
    let two = opts.workers_list.iter().position(|&w| w == 2 * w0).filter(|_| w0 == 1);
    for r in results {
        let w = r.workload;
        match &r.outcome {
            Outcome::Unsupported(why) => {
                let _ = writeln!(
                    s,
                    "- {w}: {why}; targets pending (JSONL ≤ {JSONL_TARGET}×, generator ≤ {GENERATOR_TARGET}×{})",
                    if w.scaling_target() { ", 2 workers ≥ 1.8×" } else { "" }
                );
            }
            Outcome::Failed(_) => {
                let _ = writeln!(s, "- {w}: **FAILED** (no measurement)");
            }
            Outcome::Measured { variants, .. } => {
                let q = ratios(opts, variants);
                if let (1, Some(x)) = (w0, q.jsonl) {
                    let _ = writeln!(
                        s,
                        "- **{}** {w} from JSONL: Eddy / serde loop = {x:.2}× (target ≤ {JSONL_TARGET}×)",
                        verdict(x <= JSONL_TARGET)
                    );
                }
                if let Some(x) = q.generator {
                    let _ = writeln!(
                        s,
                        "- **{}** {w} from the generator: Eddy / loop = {x:.2}× (target ≤ {GENERATOR_TARGET}×)",
                        verdict(x <= GENERATOR_TARGET)
                    );
                }
                if let (true, Some(i)) = (w.scaling_target(), two) {
                    if let Some((_, Some(x), timely)) = q.scaling.get(i - 1) {
                        let _ = writeln!(
                            s,
                            "- **{}** {w} scaling: Eddy 2 workers / 1 worker throughput = {x:.2}× (target ≥ {SCALING_TARGET}×; \
                             {}; hand-written timely: {}; the machine in the same rounds, two serde loops at once / one: {}; \
                             Eddy's CPU time at 2 workers / 1 worker: {})",
                            verdict(*x >= SCALING_TARGET),
                            q.spread.map_or_else(String::new, |(lo, hi, n)| format!(
                                "median of {n} rounds, the middle half of them {lo:.2}×–{hi:.2}×"
                            )),
                            fmt_ratio(*timely),
                            fmt_ratio(q.machine),
                            fmt_ratio(q.cpu),
                        );
                    }
                }
            }
        }
    }
    let sections = read_sections(opts);
    let target =
        |word: &str| sections.iter().find_map(|(t, _)| t.as_deref().filter(|t| t.contains(word)).map(str::to_string));
    match target("memory (") {
        Some(t) => {
            let _ = writeln!(s, "- {t}");
        }
        None => s.push_str("- memory (Q5 over an unbounded generator, 10 minutes, flat RSS): not measured in this run (`nexmark-bench --memory`)\n"),
    }
    match target("latency (") {
        Some(t) => {
            let _ = writeln!(s, "- {t}");
        }
        None => s.push_str("- latency (p50/p99 of window emission at 100 k and 1 M events/s): not measured in this run (`nexmark-bench --latency`)\n"),
    }
    s
}

/// The `--section` files: (the target line, if any; the section's markdown).
fn read_sections(opts: &Options) -> Vec<(Option<String>, String)> {
    opts.sections
        .iter()
        .map(|path| match std::fs::read_to_string(path) {
            Ok(text) => match text.split_once('\n') {
                Some((first, rest)) if first.starts_with(crate::stream::TARGET_TAG) => {
                    (Some(first[crate::stream::TARGET_TAG.len()..].to_string()), rest.to_string())
                }
                _ => (None, text),
            },
            Err(e) => (None, format!("(cannot read the section {}: {e})\n", path.display())),
        })
        .collect()
}

fn describe_variants(opts: &Options) -> String {
    let w = opts.workers_list.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", ");
    format!(
        "\
- `eddy-jsonl-Nw`: the Eddy pipeline (the text of `examples/nexmark/qN.eddy`, or
  `benches/pipelines/agg.eddy`) run in process through the `eddy` crate API
  (`Pipeline::from_text(..).param(\"data\", ..).param(\"out\", ..).run(..)`), reading
  `bids.jsonl` (q3 and q8: `persons.jsonl` and `auctions.jsonl`) and writing its output file,
  on N worker threads (N in {w}).
- `serde-loop`: the hand-written baseline: one thread, `BufReader::read_until` per line,
  `serde_json::from_slice` into a `#[derive(Deserialize)]` struct with only the fields the
  query needs (strings borrowed from the line as `Cow<str>`; `date_time` is passed through as
  text, not parsed, except by the windowed queries), the query, output written with
  serde_json / `writeln!` into a `BufWriter`. Same output bytes as Eddy (checked). q3 is a
  hash join (local persons into a map, then the category-10 auctions); q5, q7 and q8 keep
  state per window, drop records more than 2 s behind the latest of their file, and write a
  window once the watermark (the least over the files of latest - 2 s) passes its end; q8
  reads its two files merged by event time.
- `timely-Nw`: hand-written timely 0.32 with struct rows (owned `String`s): a source per
  worker reading its stripes of the file (as Eddy does) in batches of 4096, `map`/`filter`,
  a sink writing through a per-worker buffer into one shared file (the aggregate combines per
  worker, exchanges partials by key and merges them). The windowed queries' sources hold
  their capability at their watermark; q5 exchanges bids by auction, q7 finds each window's
  top bids per worker and merges them per window, q8 exchanges persons by id and auctions by
  seller and joins each window when the frontier passes its end; q3 is a symmetric hash join
  of persons by id and auctions by seller.
- `serde-loop-x2` (q0, q2, q5, with 2 workers or more): two `serde-loop` processes started
  together, each writing its own output; its time is the later one's. `2 × serde-loop /
  serde-loop-x2` is the throughput two threads get on this machine against one, with no
  sharing at all: the ceiling for a 2-worker / 1-worker ratio in the same rounds (on a
  virtual machine whose two CPUs share a core or are shared with other guests, below 2).
- `eddy-gen-1w`: the same Eddy pipeline with its sources replaced by
  `generate(nexmark: \"bid\", events: N, seed: 42)` (and `\"person\"`, `\"auction\"`), 1 worker.
- `gen-loop`: one thread over `Generator::fill` (batches of 4096 events), the query on the
  generated rows, output through Eddy's own `format::Encoder`. Generation and encoding are
  common to both sides, so `eddy-gen-1w / gen-loop` is the cost of the engine itself
  (dataflow, rows, expression evaluation, sinks); the JSONL ratios add the decoder.

Every variant runs in its own child process (`nexmark-bench --child WORKLOAD VARIANT`), which
reports its time (from before compiling/opening to after the output is flushed; process start
excluded), its peak RSS (`VmHWM` at its end) and its CPU time (user and system, all threads:
`utime` + `stime` of `/proc/self/stat`, in 10 ms ticks). Runs are interleaved in rounds: a round
runs every workload's variants once, one workload after the other, so that each workload's runs
are spread over the whole measurement (this machine's speed changes from minute to minute). q0,
q2 and q5 run their scaling variants in each of `--scaling-runs` rounds, everything else runs in
`--runs` of them, spread evenly; ratios are medians of the per-round ratios (same round). Records/s
counts the records the sources read: bids (46 of every 50 Nexmark events), or for q3 and q8
persons and auctions (1 and 3 of every 50). Outputs of the first round are compared: line
count and a hash of the sorted lines, every JSONL variant against `serde-loop`, the generator
variants against `gen-loop`, and the two loops against each other.
"
    )
}

fn details(results: &[WorkloadResult]) -> String {
    let mut s = String::new();
    for r in results {
        let Outcome::Measured { variants, checks } = &r.outcome else { continue };
        let baseline = find(variants, Variant::SerdeLoop);
        let gen_loop = find(variants, Variant::GenLoop);
        let _ = writeln!(s, "### {} — {}\n", r.workload, r.workload.describe());
        let _ = writeln!(s, "| variant | median time (s) | M records/s | vs its baseline (same round) | peak RSS (MB) | median CPU time (s) | times of its runs (s) |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for v in variants {
            let secs = median_secs(v);
            let records = v.samples.first().map_or(0, |x| x.records);
            let against = match v.variant.input() {
                Input::Jsonl => baseline,
                Input::Generator => gen_loop,
            }
            .filter(|b| b.variant != v.variant);
            let rss = v.samples.iter().filter_map(|x| x.rss_kb).max();
            let cpu: Vec<f64> = v.samples.iter().filter_map(|x| x.cpu_secs).collect();
            let _ = writeln!(
                s,
                "| {} | {secs:.3} | {:.2} | {} | {} | {} | {} |",
                v.variant.name(),
                records as f64 / secs / 1e6,
                against.map_or_else(
                    || "(baseline)".to_string(),
                    |b| format!("{:.2}× {}", time_ratio(v, b), b.variant.name())
                ),
                rss.map_or_else(|| "–".to_string(), |kb| format!("{:.0}", kb as f64 / 1024.0)),
                if cpu.is_empty() { "–".to_string() } else { format!("{:.2}", median(cpu)) },
                v.samples.iter().map(|x| format!("{:.3}", x.secs)).collect::<Vec<_>>().join(", "),
            );
        }
        s.push_str("\nOutput checks:\n");
        for c in checks {
            let _ = writeln!(s, "- {} {}", if c.ok { "ok" } else { "**MISMATCH**" }, c.what);
        }
        s.push('\n');
    }
    s
}

/// The whole report.
pub fn markdown(opts: &Options, results: &[WorkloadResult], machine: &Machine) -> String {
    let mut s = String::new();
    s.push_str("# Nexmark benchmark: Eddy against hand-written Rust\n\n");
    s.push_str("Regenerated by `benches/run.sh` (see benches/README.md). All numbers are ratios measured in one\n");
    s.push_str("invocation with interleaved runs; absolute times are for orientation only.\n\n");
    s.push_str("## Machine and run\n\n");
    let _ = writeln!(s, "- CPUs (`nproc`): {}; CPU: {}; memory: {}", machine.cpus, machine.cpu_model, machine.memory);
    let _ = writeln!(s, "- date: {}; commit: {}", machine.date, opts.commit.as_deref().unwrap_or(&machine.commit));
    let _ = writeln!(s, "- command: `{}`", opts.command);
    let count = |kind| eddy_engine::nexmark::count(kind, 0..opts.events);
    let _ = writeln!(
        s,
        "- {} Nexmark events ({} bids, {} auctions, {} persons; seed 42), {} runs of every variant, worker counts {:?}",
        opts.events,
        count(Kind::Bid),
        count(Kind::Auction),
        count(Kind::Person),
        opts.runs,
        opts.workers_list
    );
    if opts.rounds() > opts.runs {
        let scaling: Vec<&str> = opts.only.iter().filter(|w| w.scaling_target()).map(|w| w.name()).collect();
        let _ = writeln!(
            s,
            "- {}, the scaling workloads: {} rounds of Eddy JSONL at each worker count, `serde-loop` and \
             `serde-loop-x2` ({} of them, spread evenly, with every variant). Of all the runs, those with 2 workers \
             vary most on a shared machine: more rounds make their median steadier",
            scaling.join(", "),
            opts.rounds(),
            opts.runs
        );
    }
    if let Some(&joins) = opts.only.iter().find(|w| !w.kinds().contains(&Kind::Bid)) {
        let (events, _) = opts.input(joins);
        if events != opts.events {
            let count = |kind| eddy_engine::nexmark::count(kind, 0..events);
            let _ = writeln!(
                s,
                "- q3 and q8 read only the persons and auctions (4 in 50 events): they run on {} × as many events, \
                 {events} ({} auctions, {} persons), so that they read about as many records as the others",
                opts.join_scale,
                count(Kind::Auction),
                count(Kind::Person),
            );
        }
    }
    let _ = writeln!(
        s,
        "- The machine has {} cores and was **not necessarily idle** (other work, such as builds in the same \
         workspace, may have run at the same time): the scaling numbers in particular are a lower bound. \
         What the machine gives a second thread is measured in the same rounds (`serde-loop-x2`: two \
         serde loops at once, as two processes, against one), next to the scaling ratios.\n",
        machine.cpus
    );
    s.push_str("## Summary\n\nRatios of times (Eddy / baseline: lower is better, 1.00× = as fast as hand-written) and of\nthroughputs (scaling: higher is better). Medians of the per-round ratios.\n\n");
    s.push_str(&summary_table(opts, results));
    s.push_str("\n## Targets (issue 3)\n\n");
    s.push_str(&targets(opts, results));
    s.push_str("\n## Details\n\n");
    s.push_str(&details(results));
    for (_, section) in read_sections(opts) {
        s.push_str(section.trim_end());
        s.push_str("\n\n");
    }
    s.push_str("## Variants and method\n\n");
    s.push_str(&describe_variants(opts));
    s.push_str("\n## Where the time goes\n\n");
    if let Some(path) = &opts.analysis {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                s.push_str(text.trim_end());
                s.push_str("\n\n");
            }
            Err(e) => {
                let _ = writeln!(s, "(cannot read the analysis {}: {e})\n", path.display());
            }
        }
    }
    if let Some(path) = &opts.profile {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                s.push_str("The profile this analysis reads (generated by `benches/run.sh`):\n\n```text\n");
                s.push_str(text.trim_end());
                s.push_str("\n```\n");
            }
            Err(e) => {
                let _ = writeln!(s, "(cannot read the profile {}: {e})", path.display());
            }
        }
    }
    if opts.analysis.is_none() && opts.profile.is_none() {
        s.push_str("(no profile given: run `benches/run.sh`)\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::Workload;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn unsupported_workloads_are_rows() {
        let opts = crate::parse_args(&[]).unwrap();
        let why = "not in the harness yet";
        let results: Vec<WorkloadResult> = [Workload::Q7, Workload::Q3]
            .into_iter()
            .map(|w| WorkloadResult { workload: w, outcome: Outcome::Unsupported(why) })
            .collect();
        let table = summary_table(&opts, &results);
        assert!(table.contains("| q7 |") && table.contains("not in the harness yet"), "{table}");
        assert!(table.contains("| q3 |"), "{table}");
        assert!(targets(&opts, &results).contains("q7: not in the harness yet"));
    }

    #[test]
    fn scaling_is_set_beside_the_machine_and_the_cpu_time() {
        let opts = crate::parse_args(&[]).unwrap();
        let result = |variant, runs: &[(f64, f64)]| VariantResult {
            variant,
            samples: runs
                .iter()
                .enumerate()
                .map(|(round, &(secs, cpu))| Sample { secs, records: 1, rss_kb: None, cpu_secs: Some(cpu), round })
                .collect(),
            digest: crate::system::Digest { lines: 1, hash: 0 },
        };
        let eddy = |workers| Variant::Eddy { input: Input::Jsonl, workers };
        let variants = vec![
            result(eddy(1), &[(1.0, 1.0), (1.0, 1.0), (1.2, 1.2)]),
            result(eddy(2), &[(0.5, 1.0), (0.8, 1.5), (0.6, 1.32)]),
            result(Variant::SerdeLoop, &[(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]),
            result(Variant::SerdeLoopPair, &[(1.0, 2.0), (1.25, 2.0), (1.1, 2.0)]),
        ];
        let q = ratios(&opts, &variants);
        // Per round: 2/1 throughput 2.0, 1.25, 2.0; the machine 2 × 1/1, 2 × 1/1.25, 2 × 1/1.1;
        // CPU 1.0, 1.5, 1.1.
        assert_eq!(q.scaling[0].1, Some(2.0));
        assert!((q.machine.unwrap() - 2.0 / 1.1).abs() < 1e-9);
        assert!((q.cpu.unwrap() - 1.1).abs() < 1e-9);
        let results =
            [WorkloadResult { workload: Workload::Q5, outcome: Outcome::Measured { variants, checks: vec![] } }];
        let line = targets(&opts, &results);
        assert!(line.contains("**PASS** q5 scaling: Eddy 2 workers / 1 worker throughput = 2.00×"), "{line}");
        assert!(line.contains("two serde loops at once / one: 1.82×") && line.contains("1 worker: 1.10×"), "{line}");
        assert!(line.contains("median of 3 rounds, the middle half of them 1.25×–2.00×"), "{line}");
    }
}
