//! A batch job writes an updating stream's final contents, whatever the number of timely times
//! its input arrived at (a source with a watermark moves its time as it reads): never a result
//! that a later one replaced. Issue 15, item 1.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;

/// 3 000 records of one key, one millisecond apart: the watermark moves many times.
fn one_key_events() -> String {
    (0..3000).map(|i| format!("{{\"k\":\"a\",\"t\":{}}}\n", 1_700_000_000_000i64 + i)).collect()
}

#[test]
fn batch_sink_writes_only_the_final_count_of_an_event_time_aggregate() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("e.jsonl"), one_key_events()).unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { k: string, t: timestamp }\n\
         source e: E = file(\"e.jsonl\") watermark t - 1s\n\
         stream c = e | group by k | aggregate { n: count() }\n\
         stream d = e | select { k } | distinct\n\
         stream latest = e | group by k | top 1 by t desc\n\
         sink c -> stdout(format: \"csv\", header: false)\n\
         sink d -> file(\"out/d.csv\", header: false)\n\
         sink latest -> file(\"out/latest.csv\", header: false)\n",
    )
    .unwrap();
    for parallelism in PARALLELISM {
        let mut args = vec!["run", "p.eddy", "--quiet"];
        args.extend_from_slice(parallelism);
        let out = eddy(dir.path(), &args);
        assert_ok(&out);
        assert_eq!(stdout(&out), "a,3000\n", "{parallelism:?}");
        assert_eq!(std::fs::read_to_string(dir.path().join("out/d.csv")).unwrap(), "a\n", "{parallelism:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/latest.csv")).unwrap(),
            "a,2023-11-14T22:13:22.999Z\n",
            "{parallelism:?}"
        );
    }
}

#[test]
fn eddy_test_expects_the_final_count_after_the_watermark_moved() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { k: string, t: timestamp }\n\
         source e: E = file(\"unused.jsonl\") watermark t - 1s\n\
         stream c = e | group by k | aggregate { n: count() }\n\
         sink c -> stdout()\n\
         test \"counts replace each other\" {\n\
           given e = [{ k: \"a\", t: @2024-05-01T12:00:00Z }, { k: \"a\", t: @2024-05-01T12:00:01Z }]\n\
           advance e to @2024-05-01T12:00:30Z\n\
           given e = [{ k: \"a\", t: @2024-05-01T12:00:40Z }]\n\
           expect c = [{ k: \"a\", n: 3 }]\n\
         }\n",
    )
    .unwrap();
    for workers in ["1", "3"] {
        let out = eddy(dir.path(), &["test", "p.eddy", "--workers", workers]);
        assert_ok(&out);
        assert!(stdout(&out).contains("1 passed, 0 failed"), "{}", stdout(&out));
    }
}
