//! Acknowledgements tied to progress, through the embedding API (`feed_acked`,
//! `feed_channel_acked`), with 1 and 3 workers: a batch job acks everything at its successful
//! end; a stream acks a record once the window holding it is in the sink; an un-windowed
//! aggregate acks nothing while it runs; a failing sink acks nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::atomic::Ordering;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eddy::{Pipeline, RunConfig, Value};

/// What the test side saw, in the order it saw it.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    /// A window result: its start (ms) and count.
    Window(i64, i64),
    /// Any other sink record.
    Out,
    /// An acknowledgement: how many records are done.
    Ack(u64),
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn acks(log: &Log) -> Vec<u64> {
    log.lock().unwrap().iter().filter_map(|s| if let Seen::Ack(n) = s { Some(*n) } else { None }).collect()
}

fn record(log: &Log) -> impl FnMut(u64) + Send + 'static {
    let log = Arc::clone(log);
    move |upto| log.lock().unwrap().push(Seen::Ack(upto))
}

fn wait_for(log: &Log, what: impl Fn(&[Seen]) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if what(&log.lock().unwrap()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

const BATCH: &str = "schema R { k: string, v: int }\nsource rs: R = stdin()\nstream big = rs | filter v % 2 == 0\n";

#[test]
fn a_batch_job_acks_all_its_records_only_at_its_successful_end() {
    for workers in [1, 3] {
        let log: Log = Arc::default();
        let rows: Vec<Vec<Value>> = (0..5000).map(|i| vec![Value::str("a"), Value::Int(i)]).collect();
        let out = Arc::clone(&log);
        let summary = Pipeline::from_text("batch.eddy", BATCH)
            .feed_acked("rs", rows, record(&log))
            .on_records("big", move |_| out.lock().unwrap().push(Seen::Out))
            .run(&RunConfig { workers, ..RunConfig::default() })
            .unwrap();
        assert_eq!(summary.sink("big").unwrap().written, 2500);
        let log = log.lock().unwrap();
        assert_eq!(log.iter().filter(|s| matches!(s, Seen::Ack(_))).count(), 1, "{workers} workers: one ack");
        assert_eq!(log.last(), Some(&Seen::Ack(5000)), "{workers} workers: after every output, all records");
    }
}

#[test]
fn a_failing_sink_acks_nothing() {
    let text = format!("{BATCH}sink big -> file(\"/dev/full\")\n");
    for workers in [1, 3] {
        let log: Log = Arc::default();
        let rows: Vec<Vec<Value>> = (0..200_000).map(|i| vec![Value::str("a"), Value::Int(i)]).collect();
        let result = Pipeline::from_text("full.eddy", &text)
            .feed_acked("rs", rows, record(&log))
            .run(&RunConfig { workers, ..RunConfig::default() });
        assert!(result.is_err(), "{workers} workers: writing to /dev/full fails");
        assert!(acks(&log).is_empty(), "{workers} workers: nothing acked");
    }
}

/// A stream (the generator keeps it running) whose records come from the test's channel
/// (`watermark`: on event time).
fn streaming(watermark: &str, stages: &str) -> String {
    format!(
        "schema E {{ k: string, t: timestamp }}\nsource ev: E = stdin() {watermark}\n\
         source tick = generate(nexmark: \"bid\", rate: 1)\n\
         stream ticks = tick | filter false\n\
         stream w = ev {stages}\n"
    )
}

fn event(t: i64) -> Vec<Value> {
    vec![Value::str("k"), Value::Timestamp(t)]
}

#[test]
fn a_stream_acks_a_record_once_the_window_holding_it_is_in_the_sink() {
    for workers in [1, 3] {
        let log: Log = Arc::default();
        let (tx, rx) = channel();
        let out = Arc::clone(&log);
        let config = RunConfig { workers, ..RunConfig::default() };
        let stop = Arc::clone(&config.stop);
        let pipeline = Pipeline::from_text(
            "windows.eddy",
            &streaming("watermark t - 0s", "| window tumbling(10s) | aggregate { n: count() }"),
        )
        .feed_channel_acked("ev", rx, record(&log))
        .on_records("w", move |r| {
            let (Some(Value::Timestamp(start)), Some(Value::Int(n))) = (r.get("window_start"), r.get("n")) else {
                panic!("a window result: {}", r.to_json());
            };
            out.lock().unwrap().push(Seen::Window(*start, *n))
        });
        let job = std::thread::spawn(move || pipeline.run(&config));
        // Event times 0.7 s apart, windows 0 to 4 (the last still open at the end), one
        // record a batch: every worker's reader of the channel takes some, so that every
        // worker's watermark moves.
        let times: Vec<i64> = (0..60).map(|i| i * 700).collect();
        let window_of = |i: usize| times[i] / 10_000 * 10_000;
        for t in &times {
            tx.send(event(*t)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        // Window 2 closes at 30 s and is flushed; the watermark is near 41 s: every record of
        // windows 0 and 1 (t < 20 s, whose due is their time + 10 s) is acked.
        let acked_enough = wait_for(&log, |s| s.iter().any(|e| matches!(e, Seen::Ack(n) if *n >= 29)));
        stop.store(true, Ordering::Relaxed);
        drop(tx);
        job.join().unwrap().unwrap();
        assert!(acked_enough, "{workers} workers: the records of windows 0 and 1 are acked: {:?}", log.lock().unwrap());
        // At every ack, the windows of the acked records are in the sink already.
        let log = log.lock().unwrap();
        for (at, seen) in log.iter().enumerate() {
            if let Seen::Ack(upto) = seen {
                for i in 0..*upto as usize {
                    let start = window_of(i);
                    assert!(
                        log[..at].iter().any(|s| matches!(s, Seen::Window(w, _) if *w == start)),
                        "{workers} workers: record {i} acked before its window {start}: {log:?}"
                    );
                }
            }
        }
        let last = times.len() as u64;
        assert!(
            !log.iter().any(|s| matches!(s, Seen::Ack(n) if *n >= last)),
            "{workers} workers: window 4 stays open: {log:?}"
        );
    }
}

#[test]
fn an_unwindowed_aggregate_acks_nothing_while_it_runs() {
    for workers in [1, 3] {
        let log: Log = Arc::default();
        let (tx, rx) = channel();
        let out = Arc::clone(&log);
        let config = RunConfig { workers, ..RunConfig::default() };
        let stop = Arc::clone(&config.stop);
        let pipeline = Pipeline::from_text("totals.eddy", &streaming("", "| group by k | aggregate { n: count() }"))
            .feed_channel_acked("ev", rx, record(&log))
            .on_records("w", move |_| out.lock().unwrap().push(Seen::Out));
        let job = std::thread::spawn(move || pipeline.run(&config));
        for t in [1, 15, 30, 60] {
            tx.send(event(t * 1000)).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(wait_for(&log, |s| s.len() >= 4), "{workers} workers: the changes reach the sink");
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        drop(tx);
        job.join().unwrap().unwrap();
        assert!(acks(&log).is_empty(), "{workers} workers: nothing acked: {:?}", log.lock().unwrap());
    }
}
