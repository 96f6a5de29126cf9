//! Streaming measurements over the paced, unbounded Nexmark generator: the latency of window
//! results and the resident memory of a long-running windowed stream.
//!
//! Both run in this process through the `eddy` crate API, receive the stream's records with
//! `on_records` and stop the job with `RunConfig::stop` after a set time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eddy::Value;

use crate::BoxError;

/// A section's first line starts with this: the rest of the line goes into the report's
/// list of targets, the other lines are the section.
pub const TARGET_TAG: &str = "TARGET: ";

/// The watermark delay of the latency pipeline, in milliseconds.
pub const LATENCY_DELAY_MS: i64 = 200;

/// Q5 as the latency benchmark runs it: 1-second windows, count per auction, watermark 200 ms.
pub fn latency_pipeline(rate: u64) -> String {
    format!(
        r#"source bids = generate(nexmark: "bid", rate: {rate})
  watermark date_time - {LATENCY_DELAY_MS}ms

stream per_window = bids
  | window tumbling(1s)
  | group by auction
  | aggregate {{ bids: count() }}
"#
    )
}

/// Q5 as `examples/streaming/q5_stream.eddy` has it (10-second windows, watermark 2 s), over
/// the generator at `rate` events per second.
pub fn memory_pipeline(rate: u64) -> String {
    format!(
        r#"source bids = generate(nexmark: "bid", rate: {rate})
  watermark date_time - 2s

stream per_window = bids
  | window tumbling(10s)
  | group by auction
  | aggregate {{ bids: count(), top: max(price) }}
"#
    )
}

/// Microseconds since the Unix epoch, now.
fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Sets `stop` after `secs` seconds, from a thread of its own.
fn stop_after(stop: &Arc<AtomicBool>, secs: f64) {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::SeqCst);
    });
}

/// One latency run at one generator rate.
#[derive(Clone, Debug)]
pub struct LatencyRun {
    /// The requested rate, events (all kinds) per second.
    pub rate: u64,
    pub workers: usize,
    /// Wall time of the run, from before compiling to the end of `run`.
    pub secs: f64,
    /// Bids the source read.
    pub bids: u64,
    /// Bids behind the watermark.
    pub late: u64,
    /// Latencies in milliseconds of the results that arrived before the stop, sorted.
    pub latencies_ms: Vec<f64>,
    /// Distinct windows among those results.
    pub windows: usize,
    /// Results that arrived after the stop flag was set (the windows closed by the stop: no
    /// watermark passed them, so they have no latency).
    pub after_stop: u64,
}

impl LatencyRun {
    /// Events (all kinds) per second the generator achieved: 46 in 50 events are bids.
    pub fn achieved_rate(&self) -> f64 {
        self.bids as f64 * 50.0 / 46.0 / self.secs
    }
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Runs the latency pipeline at `rate` events/s on `workers` workers for `secs` seconds.
/// Latency of a result = the wall time it reaches the closure − (its `window_end` + the
/// watermark delay): the time since the watermark passed the window's end (event times follow
/// the clock).
pub fn latency(rate: u64, secs: f64, workers: usize) -> Result<LatencyRun, BoxError> {
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(i64, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let after_stop = Arc::new(AtomicU64::new(0));
    let (sink_seen, sink_stop, sink_after) = (Arc::clone(&seen), Arc::clone(&stop), Arc::clone(&after_stop));
    let config = eddy::RunConfig { workers, stop: Arc::clone(&stop), ..eddy::RunConfig::default() };
    let start = Instant::now();
    stop_after(&stop, secs);
    let summary = eddy::Pipeline::from_text("latency.eddy", &latency_pipeline(rate))
        .on_records("per_window", move |r| {
            let arrived = now_us();
            if sink_stop.load(Ordering::Relaxed) {
                sink_after.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if let Some(Value::Timestamp(end)) = r.get("window_end") {
                let due = (end + LATENCY_DELAY_MS) * 1000;
                if let Ok(mut seen) = sink_seen.lock() {
                    seen.push((*end, arrived - due));
                }
            }
        })
        .run(&config)
        .map_err(|e| e.render(false))?;
    let secs = start.elapsed().as_secs_f64();
    let bids = summary.source("bids").ok_or("the pipeline has no source 'bids'")?;
    let seen = std::mem::take(&mut *seen.lock().map_err(|_| "a worker panicked")?);
    let mut windows: Vec<i64> = seen.iter().map(|(end, _)| *end).collect();
    windows.sort_unstable();
    windows.dedup();
    let mut latencies_ms: Vec<f64> = seen.iter().map(|(_, us)| *us as f64 / 1000.0).collect();
    latencies_ms.sort_by(f64::total_cmp);
    Ok(LatencyRun {
        rate,
        workers,
        secs,
        bids: bids.read,
        late: bids.late,
        latencies_ms,
        windows: windows.len(),
        after_stop: after_stop.load(Ordering::Relaxed),
    })
}

/// The "Latency" section of the report.
pub fn latency_markdown(runs: &[LatencyRun], secs: f64) -> String {
    let mut s = String::new();
    let summary: Vec<String> = runs
        .iter()
        .map(|r| {
            let q = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{x:.0} ms"));
            format!(
                "{} events/s ({:.0} achieved): p50 {}, p99 {}",
                r.rate,
                r.achieved_rate(),
                q(quantile(&r.latencies_ms, 0.5)),
                q(quantile(&r.latencies_ms, 0.99))
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "{TARGET_TAG}latency (p50/p99 of window emission, 1-s windows, watermark {LATENCY_DELAY_MS} ms): {} (see Latency)",
        summary.join("; ")
    );
    s.push_str("## Latency\n\n");
    let _ = writeln!(
        s,
        "`nexmark-bench --latency`: `generate(nexmark: \"bid\", rate: R)` (unbounded; event times follow the \
         clock), `watermark date_time - {LATENCY_DELAY_MS}ms`, `window tumbling(1s) | group by auction | \
         aggregate {{ bids: count() }}`, results received in process with `on_records`, stopped after \
         {secs} s with `RunConfig::stop`. Latency of a result = wall time it reaches the closure − \
         (`window_end` + {LATENCY_DELAY_MS} ms), i.e. the time since the watermark passed the window's end; \
         every result (one per auction and window) counts. Results of the window closed by the stop are \
         left out. The rate is capped by what the machine can generate and process: the achieved rate is \
         shown, and when it falls short the generator falls behind the clock and latencies grow with \
         the run.\n"
    );
    s.push_str("| rate (events/s) | workers | achieved (events/s) | bids | windows | late bids | results | p50 (ms) | p99 (ms) | max (ms) | min (ms) | after stop |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let ms = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{x:.1}"));
    for r in runs {
        let l = &r.latencies_ms;
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} ({:.0} %) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.rate,
            r.workers,
            r.achieved_rate(),
            100.0 * r.achieved_rate() / r.rate as f64,
            r.bids,
            r.windows,
            r.late,
            l.len(),
            ms(quantile(l, 0.5)),
            ms(quantile(l, 0.99)),
            ms(l.last().copied()),
            ms(l.first().copied()),
            r.after_stop,
        );
    }
    s
}

/// One memory run.
#[derive(Clone, Debug)]
pub struct MemoryRun {
    pub rate: u64,
    pub workers: usize,
    pub secs: f64,
    pub bids: u64,
    pub results: u64,
    /// VmRSS in KiB, one sample a second.
    pub rss_kb: Vec<u64>,
}

/// This process's resident set size now (`VmRSS`), in KiB.
pub fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether RSS is flat, i.e. does not grow: the median of every minute (every eighth of a run
/// shorter than 8 minutes) of the last half within 10 % of the median of those medians. The
/// allocator returns freed memory to the system a second after it is freed, so single samples
/// swing with the phase of that cycle; a leak or growing state moves the minutes' medians.
/// Also returns the median of the medians and the largest relative deviation from it.
pub fn flat(samples: &[u64]) -> Option<(bool, u64, f64)> {
    let half = &samples[samples.len() / 2..];
    let chunk = if samples.len() >= 8 * 60 { 60 } else { (samples.len() / 8).max(1) };
    let mut medians: Vec<u64> = half
        .chunks(chunk)
        .filter(|c| c.len() == chunk)
        .map(|c| {
            let mut c = c.to_vec();
            c.sort_unstable();
            c[c.len() / 2]
        })
        .collect();
    if medians.len() < 2 {
        return None;
    }
    medians.sort_unstable();
    let median = medians[medians.len() / 2];
    let dev = medians.iter().map(|&x| (x as f64 - median as f64).abs() / median.max(1) as f64).fold(0.0, f64::max);
    Some((dev <= 0.10, median, dev))
}

/// Runs Q5 over the generator at `rate` for `secs` seconds, sampling VmRSS every second.
pub fn memory(rate: u64, secs: f64, workers: usize) -> Result<MemoryRun, BoxError> {
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, samples) = (Arc::clone(&stop), Arc::clone(&samples));
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut next = 1u64;
            while !stop.load(Ordering::SeqCst) {
                let due = Duration::from_secs(next);
                let now = start.elapsed();
                if now < due {
                    std::thread::sleep((due - now).min(Duration::from_millis(100)));
                    continue;
                }
                next += 1;
                if let (Some(kb), Ok(mut s)) = (rss_kb(), samples.lock()) {
                    s.push(kb);
                }
            }
        })
    };
    let config = eddy::RunConfig { workers, stop: Arc::clone(&stop), ..eddy::RunConfig::default() };
    let start = Instant::now();
    stop_after(&stop, secs);
    let counter = Arc::clone(&results);
    let run = eddy::Pipeline::from_text("memory.eddy", &memory_pipeline(rate))
        .on_records("per_window", move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .run(&config)
        .map_err(|e| e.render(false));
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let summary = run?;
    let secs = start.elapsed().as_secs_f64();
    let bids = summary.source("bids").map_or(0, |s| s.read);
    let rss_kb = std::mem::take(&mut *samples.lock().map_err(|_| "the sampler panicked")?);
    Ok(MemoryRun { rate, workers, secs, bids, results: results.load(Ordering::Relaxed), rss_kb })
}

/// The "Memory" section of the report.
pub fn memory_markdown(r: &MemoryRun) -> String {
    let mut s = String::new();
    let mb = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
    let verdict = match flat(&r.rss_kb) {
        Some((true, ..)) if r.secs >= 600.0 => "**PASS**",
        Some((true, ..)) => "flat so far (shorter than the 10 minutes of the target)",
        Some((false, ..)) => "**MISS**",
        None => "not judged (too few samples)",
    };
    let _ = writeln!(
        s,
        "{TARGET_TAG}{verdict} memory (Q5 over an unbounded generator, flat RSS): {:.0} s at {} events/s, RSS first {} MB, last {} MB, max {} MB (see Memory)",
        r.secs,
        r.rate,
        mb(r.rss_kb.first().copied().unwrap_or(0)),
        mb(r.rss_kb.last().copied().unwrap_or(0)),
        mb(r.rss_kb.iter().copied().max().unwrap_or(0)),
    );
    s.push_str("## Memory\n\n");
    let _ = writeln!(
        s,
        "`nexmark-bench --memory`: Q5 as in `examples/streaming/q5_stream.eddy` (10-second tumbling \
         windows, `watermark date_time - 2s`, `count()` and `max(price)` per auction) over \
         `generate(nexmark: \"bid\", rate: {})`, {} worker(s), results received with `on_records`, \
         for {:.0} s; the process's VmRSS sampled every second. Flat = no growth: the median of every \
         minute of the last half (every eighth of a shorter run) within 10 % of the median of those \
         medians (single samples swing with the allocator returning freed memory a second later).\n",
        r.rate, r.workers, r.secs
    );
    let first = r.rss_kb.first().copied().unwrap_or(0);
    let last = r.rss_kb.last().copied().unwrap_or(0);
    let max = r.rss_kb.iter().copied().max().unwrap_or(0);
    let _ = writeln!(
        s,
        "- ran {:.0} s, {} bids ({:.0} events/s achieved), {} results, {} samples",
        r.secs,
        r.bids,
        r.bids as f64 * 50.0 / 46.0 / r.secs,
        r.results,
        r.rss_kb.len()
    );
    let _ = writeln!(s, "- RSS first {} MB, last {} MB, max {} MB", mb(first), mb(last), mb(max));
    match flat(&r.rss_kb) {
        Some((ok, median, dev)) => {
            let _ = writeln!(
                s,
                "- **{}**: last half, median of the minutes' medians {} MB, largest deviation {:.1} %",
                if ok { "flat" } else { "NOT flat" },
                mb(median),
                dev * 100.0
            );
        }
        None => s.push_str("- too few samples to judge flatness\n"),
    }
    // A compact trace: about 20 samples spread over the run.
    let step = r.rss_kb.len().div_ceil(20).max(1);
    let trace: Vec<String> =
        r.rss_kb.iter().enumerate().step_by(step).map(|(i, kb)| format!("{}s:{}", i + 1, mb(*kb))).collect();
    let _ = writeln!(s, "- RSS (MB) over time: {}", trace.join(", "));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_flatness() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&xs, 0.5), Some(50.0));
        assert_eq!(quantile(&xs, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
        // 16 samples: chunks of 2, the last half's four chunks have medians 100, 105, 98, 100
        // (the upper of two); a spike inside a chunk does not count, growth does.
        let steady = [1, 1, 1, 1, 1, 1, 1, 1, 90, 100, 100, 105, 98, 60, 100, 100];
        assert_eq!(flat(&steady).map(|f| f.0), Some(true));
        let growing = [1, 1, 1, 1, 1, 1, 1, 1, 100, 100, 110, 110, 130, 130, 150, 150];
        assert_eq!(flat(&growing).map(|f| f.0), Some(false));
        assert_eq!(flat(&[100, 100]), None);
    }

    /// Both streaming runs, briefly, at a low rate: they start, stop on the flag and report.
    /// No timing is asserted.
    #[test]
    fn streaming_runs_stop_on_the_flag() {
        let run = latency(2000, 0.5, 1).unwrap();
        assert!(run.bids > 0);
        assert!(latency_markdown(&[run], 0.5).contains("## Latency"));
        let run = memory(2000, 0.5, 1).unwrap();
        assert!(run.bids > 0);
        assert!(memory_markdown(&run).contains("## Memory"));
    }
}
