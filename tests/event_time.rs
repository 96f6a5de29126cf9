//! Event time in batch and in streams: late records, the same answer from a file and from a
//! stream, windows that close while a stream runs (by data, by idleness, by the generator's
//! clock), and a clean stop on SIGINT.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

const T: &str = "2024-01-01T00:00";

#[test]
fn records_behind_the_watermark_go_to_late_and_are_counted() {
    let dir = temp_dir();
    let events =
        [(1, "a", 1), (3, "b", 2), (9, "a", 3), (12, "a", 4), (2, "b", 5), (25, "a", 6), (5, "b", 7), (26, "a", 8)];
    let lines: String =
        events.iter().map(|(t, k, v)| format!("{{\"k\":\"{k}\",\"v\":{v},\"t\":\"{T}:{t:02}Z\"}}\n")).collect();
    std::fs::write(dir.path().join("ev.jsonl"), lines).unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { k: string, v: int, t: timestamp }\nsource ev: E = file(\"ev.jsonl\") watermark t - 5s\n\
         stream w = ev | window tumbling(10s) | aggregate { n: count(), s: sum(v) }\n\
         sink w -> file(\"out/w.csv\", header: false)\nsink ev.late -> file(\"out/late.csv\", header: false)\n",
    )
    .unwrap();
    let out = eddy(dir.path(), &["run", "p.eddy"]);
    assert_ok(&out);
    // Watermark 5 s behind the largest time: t=2 comes after t=12 (watermark 7), t=5 after t=25.
    let late = std::fs::read_to_string(dir.path().join("out/late.csv")).unwrap();
    assert_eq!(sorted_lines(&late), sorted_lines(&format!("b,5,{T}:02.000Z\nb,7,{T}:05.000Z\n")));
    let w = std::fs::read_to_string(dir.path().join("out/w.csv")).unwrap();
    let want = format!("{T}:00.000Z,{T}:10.000Z,3,6\n{T}:10.000Z,{T}:20.000Z,1,4\n{T}:20.000Z,{T}:30.000Z,2,14\n");
    assert_eq!(sorted_lines(&w), sorted_lines(&want));
    assert!(stderr(&out).contains("source ev: read 8, accepted 6, rejected 0, late 2"), "{}", stderr(&out));
}

/// The golden windows pipeline, reading from stdin instead of its file.
fn windows_case() -> (String, Vec<u8>) {
    let case = root().join("tests/pipelines/windows");
    let text = std::fs::read_to_string(case.join("pipeline.eddy")).unwrap();
    let events = std::fs::read(case.join("events.jsonl")).unwrap();
    (text, events)
}

#[test]
fn a_file_and_a_stream_of_the_same_events_give_the_same_windows() {
    let (text, events) = windows_case();
    let batch = temp_dir();
    std::fs::write(batch.path().join("p.eddy"), &text).unwrap();
    std::fs::write(batch.path().join("events.jsonl"), &events).unwrap();
    assert_ok(&eddy(batch.path(), &["run", "p.eddy", "--workers", "4"]));

    let stream = temp_dir();
    std::fs::write(stream.path().join("p.eddy"), text.replace("file(\"events.jsonl\")", "stdin()")).unwrap();
    let out = eddy_with_stdin(stream.path(), &["run", "p.eddy", "--workers", "2"], &events);
    assert_ok(&out);
    for file in ["tumbling.csv", "sliding.csv", "sessions.jsonl", "highest.csv", "keys.csv"] {
        let a = std::fs::read_to_string(batch.path().join("out").join(file)).unwrap();
        let b = std::fs::read_to_string(stream.path().join("out").join(file)).unwrap();
        assert!(!a.is_empty());
        assert_eq!(sorted_lines(&a), sorted_lines(&b), "{file}");
    }
}

fn spawn(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut all = vec!["run", "p.eddy"];
    all.extend_from_slice(args);
    spawn_lines(dir, &all)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn a_generated_stream_emits_windows_while_it_runs_and_stops_cleanly_on_sigint() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("p.eddy"),
        "source bids = generate(nexmark: \"bid\", rate: 5000) watermark date_time - 200ms\n\
         stream per_second = bids | window tumbling(1s) | aggregate { bids: count() }\n\
         sink per_second -> stdout(format: \"csv\", header: false)\n",
    )
    .unwrap();
    let started = Instant::now();
    let (mut child, lines) = spawn(dir.path(), &["--workers", "2"]);
    // Windows of one second close about 0.2 s after they end: results come while it runs.
    let first = lines.recv_timeout(Duration::from_secs(20)).expect("a window result while the stream runs");
    let second = lines.recv_timeout(Duration::from_secs(5)).expect("a second window");
    assert!(child.try_wait().unwrap().is_none(), "the stream is still running");
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    for line in [&first, &second] {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 3, "{line}");
        let n: u64 = cells[2].parse().unwrap();
        // 5000 events/s of which 46/50 bids; the first window may be partial.
        assert!(n > 0 && n <= 4700, "{line}");
    }
    let summary = stderr(&out);
    assert!(summary.contains("source bids: read"), "{summary}");
    assert!(summary.contains("sink per_second -> stdout"), "{summary}");
}

#[test]
fn an_idle_stream_lets_its_watermark_follow_the_clock() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { v: int, t: timestamp }\nsource ev: E = stdin(idle: 500ms) watermark t - 0s\n\
         stream w = ev | window tumbling(1s) | aggregate { n: count(), s: sum(v) }\n\
         sink w -> stdout(format: \"csv\", header: false)\n",
    )
    .unwrap();
    let (mut child, lines) = spawn(dir.path(), &[]);
    let t = now_ms();
    let mut stdin = child.stdin.take().unwrap();
    for v in 1..=3 {
        writeln!(stdin, "{{\"v\":{v},\"t\":{t}}}").unwrap();
    }
    stdin.flush().unwrap();
    // No more data, but stdin stays open: after 0.5 s idle the watermark follows the clock
    // and the window closes.
    let line = lines.recv_timeout(Duration::from_secs(10)).expect("the window closes while stdin is open");
    assert!(line.ends_with(",3,6"), "{line}");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
}

#[test]
fn an_idle_source_does_not_hold_back_a_source_ahead_of_it() {
    // Event-time sources read in step: `ahead` (in the year 2100) waits for `quiet`, which has
    // no data at all. Once `quiet` has been idle for 300 ms it holds nothing back, and what is
    // appended to `ahead` is read (its watermark is far beyond the clock that `quiet` follows).
    let dir = temp_dir();
    let (ahead, quiet) = (dir.path().join("ahead.jsonl"), dir.path().join("quiet.jsonl"));
    std::fs::write(&ahead, "{\"v\":1,\"t\":\"2100-01-01T00:00:00Z\"}\n").unwrap();
    std::fs::write(&quiet, "").unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { v: int, t: timestamp }\n\
         source ahead: E = file(\"ahead.jsonl\", follow: true, idle: 300ms) watermark t - 0s\n\
         source quiet: E = file(\"quiet.jsonl\", follow: true, idle: 300ms) watermark t - 0s\n\
         stream both = ahead | union quiet | select { v }\n\
         sink both -> stdout(format: \"csv\", header: false)\n",
    )
    .unwrap();
    let (child, lines) = spawn(dir.path(), &[]);
    assert_eq!(lines.recv_timeout(Duration::from_secs(10)).expect("the first record"), "1");
    let mut f = std::fs::OpenOptions::new().append(true).open(&ahead).unwrap();
    writeln!(f, "{{\"v\":2,\"t\":\"2100-01-01T00:00:01Z\"}}").unwrap();
    f.flush().unwrap();
    assert_eq!(lines.recv_timeout(Duration::from_secs(10)).expect("the appended record"), "2");
    interrupt(&child);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

#[test]
fn an_idle_partition_moves_on_from_its_own_event_time_not_to_now() {
    // Replayed history (2024) in a followed file: after 300 ms without data, the watermark
    // moves on from the last record's event time by the wall time since, so the one-hour window
    // stays open and a record appended later, still in it, is counted there: not late, and the
    // window is not emitted twice.
    let dir = temp_dir();
    let file = dir.path().join("ev.jsonl");
    std::fs::write(&file, "{\"v\":1,\"t\":\"2024-05-01T12:00:01Z\"}\n{\"v\":2,\"t\":\"2024-05-01T12:00:02Z\"}\n")
        .unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { v: int, t: timestamp }\n\
         source ev: E = file(\"ev.jsonl\", follow: true, idle: 300ms) watermark t - 0s\n\
         stream w = ev | window tumbling(1h) | aggregate { n: count() } | select { n }\n\
         stream late = ev.late | select { late: v }\n\
         sink w -> stdout(format: \"csv\", header: false)\n\
         sink late -> stdout(format: \"csv\", header: false)\n",
    )
    .unwrap();
    let (child, lines) = spawn(dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(1200));
    let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
    writeln!(f, "{{\"v\":3,\"t\":\"2024-05-01T12:00:03Z\"}}").unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(600));
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let got: Vec<String> = lines.iter().collect();
    assert_eq!(got, vec!["3"], "the window, once, with all three records");
}

#[test]
fn a_followed_file_is_read_as_it_grows() {
    let dir = temp_dir();
    let file = dir.path().join("ev.jsonl");
    std::fs::write(&file, "").unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { v: int, t: timestamp }\nsource ev: E = file(\"ev.jsonl\", follow: true) watermark t - 0s\n\
         stream w = ev | window tumbling(1s) | aggregate { n: count() }\n\
         sink w -> stdout(format: \"csv\", header: false)\n",
    )
    .unwrap();
    let (child, lines) = spawn(dir.path(), &["--workers", "2"]);
    let base = 1_700_000_000_000i64;
    let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
    // Two records in the first second, then one later that moves the watermark past it; the
    // last line is written in two pieces.
    writeln!(f, "{{\"v\":1,\"t\":{}}}", base + 100).unwrap();
    writeln!(f, "{{\"v\":2,\"t\":{}}}", base + 900).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    write!(f, "{{\"v\":3,").unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writeln!(f, "\"t\":{}}}", base + 2500).unwrap();
    f.flush().unwrap();
    let line = lines.recv_timeout(Duration::from_secs(10)).expect("the first window closes");
    assert_eq!(line, "2023-11-14T22:13:20.000Z,2023-11-14T22:13:21.000Z,2");
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("source ev: read 3, accepted 3, rejected 0, late 0"), "{}", stderr(&out));
}

#[test]
fn eddy_test_feeds_lines_and_records_moves_the_watermark_and_checks_late_and_errors() {
    let dir = temp_dir();
    let pipeline = r#"
schema E { k: string, v: int, t: timestamp }
source ev: E = file("absent.jsonl") watermark t - 5s
stream per10 = ev | window tumbling(10s) | aggregate { n: count(), s: sum(v) }
sink per10 -> stdout()

test "lines, records, an advance, late and bad records" {
  given ev = [
    "{\"k\": \"a\", \"v\": 2, \"t\": \"2024-01-01T00:00:01Z\"}",
    "{\"k\": \"a\", \"v\": \"two\", \"t\": 1}",
    { k: "b", v: 3, t: @2024-01-01T00:00:02Z },
  ]
  advance ev to @2024-01-01T00:00:30Z
  given ev = [ { k: "c", v: 4, t: @2024-01-01T00:00:09Z }, { k: "d", v: 5, t: @2024-01-01T00:00:31Z } ]
  expect per10 = [
    { window_start: @2024-01-01T00:00:00Z, window_end: @2024-01-01T00:00:10Z, n: 2, s: 5 },
    { window_start: @2024-01-01T00:00:30Z, window_end: @2024-01-01T00:00:40Z, n: 1, s: 5 },
  ]
  expect ev.late = [ { k: "c", v: 4, t: @2024-01-01T00:00:09Z } ]
  expect ev.errors = [
    { raw: "{\"k\": \"a\", \"v\": \"two\", \"t\": 1}", error: "field 'v': expected int, found string \"two\"", source: "ev", position: "test:2" },
  ]
}
"#;
    std::fs::write(dir.path().join("p.eddy"), pipeline).unwrap();
    for workers in ["1", "3"] {
        let out = eddy(dir.path(), &["test", "p.eddy", "--workers", workers]);
        assert_ok(&out);
        assert!(stdout(&out).contains("1 passed, 0 failed"), "{}", stdout(&out));
    }
    // A wrong expectation fails, and says what differs.
    std::fs::write(dir.path().join("p.eddy"), pipeline.replace("n: 2, s: 5", "n: 2, s: 6")).unwrap();
    let out = eddy(dir.path(), &["test", "p.eddy"]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    assert!(report.contains("- {\"window_start\":\"2024-01-01T00:00:00.000Z\",\"window_end\":\"2024-01-01T00:00:10.000Z\",\"n\":2,\"s\":6}"), "{report}");
    assert!(report.contains("+ {\"window_start\":\"2024-01-01T00:00:00.000Z\",\"window_end\":\"2024-01-01T00:00:10.000Z\",\"n\":2,\"s\":5}"), "{report}");
}

#[test]
fn windows_over_window_results_wait_for_the_windows_that_overlap_them() {
    // User a views every second, user b every other second, for 3000 s (50 minutes).
    let dir = temp_dir();
    let mut lines = String::new();
    for s in 0..3000 {
        let at = format!("2024-01-01T00:{:02}:{:02}Z", s / 60, s % 60);
        lines.push_str(&format!("{{\"user\":\"a\",\"at\":\"{at}\"}}\n"));
        if s % 2 == 0 {
            lines.push_str(&format!("{{\"user\":\"b\",\"at\":\"{at}\"}}\n"));
        }
    }
    std::fs::write(dir.path().join("views.jsonl"), lines).unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema V { user: string, at: timestamp }\nsource views: V = file(\"views.jsonl\") watermark at - 5s\n\
         stream per10 = views | window tumbling(10s) | group by user | aggregate { views: count() }\n\
         stream streaks = per10 | select { user, views, window_start } | window session(gap: 15s)\n\
         \x20 | group by user | aggregate { windows: count(), views: sum(views) }\n\
         stream per20 = views | window sliding(20s, every: 10s) | group by user | aggregate { views: count() }\n\
         stream minutes = per20 | window tumbling(1m) | group by user | aggregate { windows: count(), views: sum(views) }\n\
         sink streaks -> file(\"out/streaks.csv\", header: false)\n\
         sink minutes -> file(\"out/minutes.csv\", header: false)\n",
    )
    .unwrap();
    // Windows of 10 s start 10 s apart, less than the gap: one streak per user, from the first
    // window to 15 s after the start of the last (2990 s).
    let streaks = "a,2024-01-01T00:00:00.000Z,2024-01-01T00:50:05.000Z,300,3000\n\
                   b,2024-01-01T00:00:00.000Z,2024-01-01T00:50:05.000Z,300,1500\n";
    // Windows of 20 s every 10 s start at -10 s, 0 s, ..., 2990 s; each full one holds 20 views
    // of a and 10 of b, the first and the last half of that. A minute holds the six that start
    // in it: the minute before 00:00 only the first.
    let mut minutes = String::new();
    for m in -1..50i64 {
        let (windows, a, b) = match m {
            -1 => (1, 10, 5),
            49 => (6, 110, 55),
            _ => (6, 120, 60),
        };
        let bound = |m: i64| {
            if m < 0 {
                "2023-12-31T23:59:00.000Z".to_string()
            } else {
                format!("2024-01-01T00:{m:02}:00.000Z")
            }
        };
        for (user, views) in [("a", a), ("b", b)] {
            minutes.push_str(&format!("{user},{},{},{windows},{views}\n", bound(m), bound(m + 1)));
        }
    }
    for workers in ["1", "3"] {
        let out = eddy(dir.path(), &["run", "p.eddy", "--workers", workers]);
        assert_ok(&out);
        let read = |f: &str| sorted_lines(&std::fs::read_to_string(dir.path().join("out").join(f)).unwrap());
        assert_eq!(read("streaks.csv"), sorted_lines(streaks), "{workers} workers");
        assert_eq!(read("minutes.csv"), sorted_lines(&minutes), "{workers} workers");
    }
}
