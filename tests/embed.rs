//! The embedding API: functions, feeds, receivers, params, summaries — with 1 and 4 workers.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};

use eddy::{Error, Pipeline, RunConfig, Type, Value};

const PIPELINE: &str = r#"
schema Reading { sensor: string, celsius: float }
param limit: float = 30.0
source readings: Reading = stdin()
stream hot = readings
  | filter celsius > limit
  | select { sensor: tag(sensor, 7), fahrenheit: celsius * 9.0 / 5.0 + 32.0 }
stream per_sensor = readings | group by sensor | aggregate { n: count(), top: max(celsius) }
"#;

fn readings() -> Vec<Vec<Value>> {
    (0..1000).map(|i| vec![Value::str(&format!("s{}", i % 4)), Value::float((i % 50) as f64)]).collect()
}

fn collect(pipeline: Pipeline, stream: &str) -> (Pipeline, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&seen);
    (pipeline.on_records(stream, move |r| out.lock().unwrap().push(r.to_json())), seen)
}

fn pipeline() -> Pipeline {
    Pipeline::from_text("embedded.eddy", PIPELINE).function("tag", &[Type::STRING, Type::INT], Type::STRING, |args| {
        match (&args[0], &args[1]) {
            (Value::Str(s), Value::Int(n)) => Value::str(&format!("{s}#{n}")),
            _ => Value::Null,
        }
    })
}

#[test]
fn iterator_feed_udf_and_receivers_with_any_worker_count() {
    for workers in [1, 4] {
        let (p, hot) = collect(pipeline().param("limit", "47").feed("readings", readings()), "hot");
        let (p, per_sensor) = collect(p, "per_sensor");
        let summary = p.run(&RunConfig { workers, ..RunConfig::default() }).unwrap();
        // Readings of 48 and 49 °C: i % 50 in {48, 49}, 20 of each; sensor i % 4.
        let mut hot = hot.lock().unwrap().clone();
        hot.sort();
        let mut want = Vec::new();
        for i in 0..1000 {
            if i % 50 >= 48 {
                let f = (i % 50) as f64 * 9.0 / 5.0 + 32.0;
                want.push(format!("{{\"sensor\":\"s{}#7\",\"fahrenheit\":{f:?}}}", i % 4));
            }
        }
        want.sort();
        assert_eq!(hot, want, "{workers} workers");
        let mut per_sensor = per_sensor.lock().unwrap().clone();
        per_sensor.sort();
        assert_eq!(
            per_sensor,
            (0..4)
                .map(|s| format!(
                    "{{\"sensor\":\"s{s}\",\"n\":250,\"top\":{}}}",
                    if s % 2 == 0 { "48.0" } else { "49.0" }
                ))
                .collect::<Vec<_>>()
        );
        assert_eq!(summary.source("readings").unwrap().read, 1000);
        assert_eq!(summary.sink("hot").unwrap().written, 40);
    }
}

#[test]
fn channel_feed_and_rows_that_do_not_match_the_schema() {
    let (tx, rx) = channel();
    let (p, hot) = collect(pipeline().feed_channel("readings", rx), "hot");
    let (p, errors) = collect(p, "readings.errors");
    let producer = std::thread::spawn(move || {
        tx.send(vec![Value::str("a"), Value::float(31.0)]).unwrap();
        tx.send(vec![Value::str("b"), Value::Int(40)]).unwrap(); // an int widens to float
        tx.send(vec![Value::Int(3), Value::float(50.0)]).unwrap(); // wrong type
        tx.send(vec![Value::str("c")]).unwrap(); // too short
    });
    let summary = p.run(&RunConfig { workers: 2, ..RunConfig::default() }).unwrap();
    producer.join().unwrap();
    let mut hot = hot.lock().unwrap().clone();
    hot.sort();
    assert_eq!(hot, vec![r#"{"sensor":"a#7","fahrenheit":87.8}"#, r#"{"sensor":"b#7","fahrenheit":104.0}"#]);
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("field 'sensor': expected string, found int")), "{errors:?}");
    let s = summary.source("readings").unwrap();
    assert_eq!((s.read, s.rejected, s.accepted()), (4, 2, 2));
}

#[test]
fn functions_are_type_checked() {
    let text = PIPELINE.replace("tag(sensor, 7)", "tag(7, sensor)");
    let err = Pipeline::from_text("udf.eddy", &text)
        .function("tag", &[Type::STRING, Type::INT], Type::STRING, |_| Value::Null)
        .feed("readings", Vec::new())
        .run(&RunConfig::default())
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let shown = err.render(false);
    assert!(shown.contains("argument 1 of tag() must be string, found int"), "{shown}");
    assert!(shown.contains("udf.eddy:7:"), "{shown}");
    assert!(matches!(err, Error::Pipeline { .. }));
}

/// The pipeline fed with readings, its stream `hot` received.
fn fed() -> Pipeline {
    collect(pipeline().feed("readings", readings()), "hot").0
}

/// Two free local ports, for a cluster whose processes are not all there.
fn free_addresses() -> Vec<String> {
    let listeners: Vec<_> = (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect()
}

#[test]
fn a_run_config_that_cannot_run_is_an_error_not_a_panic() {
    let base = RunConfig::default();
    let cases = [
        (RunConfig { workers: 0, ..base.clone() }, "at least 1 worker"),
        (RunConfig { processes: 0, process: 0, ..base.clone() }, "at least 1 process"),
        (RunConfig { processes: 2, process: 3, ..base.clone() }, "process 3 is not one of the 2 processes"),
        (RunConfig { processes: 2, process: 2, ..base.clone() }, "process 2 is not one of the 2 processes"),
        (RunConfig { processes: 2, addresses: vec!["localhost:2101".into()], ..base.clone() }, "1 addresses for 2"),
        (RunConfig { processes: 1, addresses: free_addresses(), ..base.clone() }, "2 addresses for 1"),
    ];
    for (config, want) in cases {
        let err = fed().run(&config).unwrap_err();
        assert!(matches!(err, Error::Runtime(_)), "{err:?}");
        assert!(err.to_string().contains(want), "{config:?}: {err}");
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn a_panicking_worker_fails_the_job_with_the_panic_message() {
    for workers in [1, 3] {
        let p = Pipeline::from_text("embedded.eddy", PIPELINE)
            .function("tag", &[Type::STRING, Type::INT], Type::STRING, |args| match &args[0] {
                Value::Str(s) if s.as_str() == "s3" => panic!("tag cannot take {s}"),
                other => other.clone(),
            })
            .feed("readings", readings());
        let err = collect(p, "hot").0.run(&RunConfig { workers, ..RunConfig::default() }).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("a worker failed: tag cannot take s3"), "{workers} workers: {shown}");
        assert!(!shown.contains("Any"), "{shown}");
    }
}

#[test]
fn a_cluster_process_whose_peers_never_come_gives_up_after_its_timeout() {
    let config = RunConfig {
        processes: 2,
        process: 1,
        addresses: free_addresses(),
        connect_timeout: std::time::Duration::from_millis(300),
        ..RunConfig::default()
    };
    let started = std::time::Instant::now();
    let err = fed().run(&config).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let want = format!("process 1 gave up waiting for process 0 at {} after 300ms", config.addresses[0]);
    assert!(err.to_string().contains(&want), "{err}");
}

#[test]
fn a_cluster_process_waiting_for_its_peers_stops_when_asked() {
    // Process 0 waits for process 1 to connect (the accepting side), with time to spare.
    let config = RunConfig { processes: 2, process: 0, addresses: free_addresses(), ..RunConfig::default() };
    let stop = Arc::clone(&config.stop);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let started = std::time::Instant::now();
    let summary = fed().run(&config).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(summary.incomplete);
    assert_eq!(summary.source("readings").unwrap().read, 0);
}

#[test]
fn a_batch_job_stopped_before_its_input_ended_says_its_output_is_incomplete() {
    let (tx, rx) = channel();
    tx.send(vec![Value::str("a"), Value::float(31.0)]).unwrap();
    let config = RunConfig { workers: 2, ..RunConfig::default() };
    let stop = Arc::clone(&config.stop);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // The sender stays: the input never ends by itself.
    let summary = collect(pipeline().feed_channel("readings", rx), "hot").0.run(&config).unwrap();
    drop(tx);
    assert!(summary.incomplete);
    assert!(summary.to_string().contains("the output is incomplete"), "{summary}");
    let whole = fed().run(&RunConfig::default()).unwrap();
    assert!(!whole.incomplete);
    assert!(!whole.to_string().contains("incomplete"), "{whole}");
}
