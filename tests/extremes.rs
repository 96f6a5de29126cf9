//! Extreme values: sums near the int limits, timestamps near the ends of i64, windows far too
//! large or too many, numbers that do not fit. Exact answers or clear rejections, never a
//! panic, a hang or an answer that depends on the order of records (issue 15).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;

/// Runs `pipeline` over `events.jsonl` holding `events` at every parallelism; returns each
/// run's stdout and stderr.
fn run_all(pipeline: &str, events: &str) -> Vec<(String, String)> {
    let dir = temp_dir();
    std::fs::write(dir.path().join("events.jsonl"), events).unwrap();
    std::fs::write(dir.path().join("p.eddy"), pipeline).unwrap();
    PARALLELISM
        .iter()
        .map(|parallelism| {
            let mut args = vec!["run", "p.eddy"];
            args.extend_from_slice(parallelism);
            let out = eddy(dir.path(), &args);
            assert_ok(&out);
            (stdout(&out), stderr(&out))
        })
        .collect()
}

#[test]
fn int_sums_do_not_depend_on_the_order_of_records() {
    // 9e18 + 9e18 overflows an i64 on the way, but the sum is 9e18 in every order, on any
    // number of workers, batch and windowed, and avg is exact.
    let events = "{\"k\":\"a\",\"x\":9000000000000000000,\"t\":1000}\n\
                  {\"k\":\"a\",\"x\":9000000000000000000,\"t\":2000}\n\
                  {\"k\":\"a\",\"x\":-9000000000000000000,\"t\":3000}\n\
                  {\"k\":\"b\",\"x\":9223372036854775807,\"t\":1000}\n\
                  {\"k\":\"b\",\"x\":-9223372036854775808,\"t\":2000}\n\
                  {\"k\":\"c\",\"x\":9223372036854775807,\"t\":1000}\n\
                  {\"k\":\"c\",\"x\":1,\"t\":2000}\n";
    let pipeline = "schema E { k: string, x: int, t: timestamp }\n\
                    source e: E = file(\"events.jsonl\") watermark t - 1h\n\
                    stream all = e | group by k | aggregate { s: sum(x), m: avg(x) }\n\
                    stream windowed = e | window tumbling(1h) | group by k | aggregate { s: sum(x) }\n\
                    | select { k, s }\n\
                    sink all -> stdout(format: \"csv\", header: false)\n\
                    sink windowed -> stdout(format: \"csv\", header: false)\n";
    for (out, _) in run_all(pipeline, events) {
        assert_eq!(
            sorted_lines(&out),
            vec![
                "a,9000000000000000000",
                "a,9000000000000000000,3e18",
                "b,-1",
                "b,-1,-0.5",
                // The true sum does not fit an int: null, and the mean is still exact.
                "c,",
                "c,,4.611686018427388e18",
            ]
        );
    }
}
