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

#[test]
fn timestamps_beyond_the_range_go_to_errors_and_windows_stay_whole() {
    // i64's ends are not timestamps (chrono's range, years -262143 to 262142): those records
    // are rejected with the reason, the others get their windows, and nothing panics.
    let events = "{\"k\":\"a\",\"t\":-9223372036854775808}\n\
                  {\"k\":\"a\",\"t\":9223372036854775807}\n\
                  {\"k\":\"a\",\"t\":1000}\n\
                  {\"k\":\"a\",\"t\":-1}\n\
                  {\"k\":\"a\",\"t\":\"+10000-01-01T00:00:00Z\"}\n";
    let pipeline = "schema E { k: string, t: timestamp }\n\
                    source e: E = file(\"events.jsonl\")\n\
                    stream w = e | derive { t2: t } | select { k, t }\n\
                    stream rejected = e.errors | select { error, position }\n\
                    sink w -> stdout(format: \"csv\", header: false)\n\
                    sink rejected -> stdout(format: \"csv\", header: false)\n";
    for (out, err) in run_all(pipeline, events) {
        assert_eq!(
            sorted_lines(&out),
            vec![
                "a,+10000-01-01T00:00:00.000Z",
                "a,1969-12-31T23:59:59.999Z",
                "a,1970-01-01T00:00:01.000Z",
                "field 't': timestamp -9223372036854775808 ms out of range (timestamps are years -262143 to 262142),events.jsonl:1",
                "field 't': timestamp 9223372036854775807 ms out of range (timestamps are years -262143 to 262142),events.jsonl:2",
            ],
            "{err}"
        );
        assert!(err.contains("read 5, accepted 3, rejected 2, late 0"), "{err}");
    }
}

#[test]
fn a_window_near_the_ends_of_time_is_computed_exactly() {
    // Event time on records at both ends of the range, in tumbling and sliding windows (whose
    // bounds may reach a window's size beyond the range).
    let events = "{\"k\":\"a\",\"t\":\"-262143-01-01T00:00:00Z\"}\n\
                  {\"k\":\"a\",\"t\":-9223372036854775808}\n\
                  {\"k\":\"b\",\"t\":\"+262142-12-31T23:59:59.999Z\"}\n";
    let pipeline = "schema E { k: string, t: timestamp }\n\
                    source e: E = file(\"events.jsonl\") watermark t - 1s\n\
                    stream w = e | window tumbling(1d) | group by k | aggregate { n: count() }\n\
                    stream s = e | window sliding(2d, every: 1d) | group by k | aggregate { n: count() }\n\
                    sink w -> stdout(format: \"csv\", header: false)\n\
                    sink s -> stdout(format: \"csv\", header: false)\n";
    for (out, err) in run_all(pipeline, events) {
        assert_eq!(
            sorted_lines(&out),
            vec![
                "a,-262143-01-01T00:00:00.000Z,-262143-01-02T00:00:00.000Z,1",
                "a,-262143-01-01T00:00:00.000Z,-262143-01-03T00:00:00.000Z,1",
                "a,-262144-12-31T00:00:00.000Z,-262143-01-02T00:00:00.000Z,1",
                "b,+262142-12-30T00:00:00.000Z,+262143-01-01T00:00:00.000Z,1",
                "b,+262142-12-31T00:00:00.000Z,+262143-01-01T00:00:00.000Z,1",
                "b,+262142-12-31T00:00:00.000Z,+262143-01-02T00:00:00.000Z,1",
            ],
            "{err}"
        );
    }
}

#[test]
fn timestamps_beyond_year_9999_are_read_back_as_written() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("events.jsonl"), "{\"t\":253402300800000}\n{\"t\":-62167219200001}\n").unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { t: timestamp }\nparam input: string = \"events.jsonl\"\n\
         source e: E = file(input)\nstream ms = e | select { t, ms: int(t) }\nsink ms -> stdout()\n",
    )
    .unwrap();
    let first = eddy(dir.path(), &["run", "p.eddy", "--quiet"]);
    assert_ok(&first);
    let written = stdout(&first);
    assert_eq!(
        sorted_lines(&written),
        vec![
            "{\"t\":\"+10000-01-01T00:00:00.000Z\",\"ms\":253402300800000}",
            "{\"t\":\"-0001-12-31T23:59:59.999Z\",\"ms\":-62167219200001}",
        ]
    );
    std::fs::write(dir.path().join("again.jsonl"), &written).unwrap();
    let second = eddy(dir.path(), &["run", "p.eddy", "--quiet", "--param", "input=again.jsonl"]);
    assert_ok(&second);
    assert_eq!(sorted_lines(&stdout(&second)), sorted_lines(&written));
}
