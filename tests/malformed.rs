//! Bad input loses nothing: every kind of record that cannot be read goes to `source.errors`
//! with its raw text, the error and its position; the job goes on, and the summary's counts add up.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;

const PIPELINE: &str = r#"
schema Bid { auction: int, price: int, channel: string?, at: timestamp }
source bids: Bid = file("bids.jsonl")
stream kept = bids | filter price > 0 | select { auction, price, at }
sink kept -> file("out/kept.jsonl")
sink bids.errors -> file("out/errors.jsonl")
"#;

/// One line of each rejection kind, with the error each must give.
fn input() -> (Vec<u8>, Vec<(usize, &'static str)>) {
    let mut data = Vec::new();
    let mut expected = Vec::new();
    let mut line = |bytes: &[u8], error: Option<&'static str>| {
        data.extend_from_slice(bytes);
        data.push(b'\n');
        let n = data.iter().filter(|b| **b == b'\n').count();
        if let Some(e) = error {
            expected.push((n, e));
        }
    };
    line(br#"{"auction": 1, "price": 10, "channel": "a", "at": "2024-05-01T00:00:00Z"}"#, None);
    line(br#"{"auction": 2, "price": 20, "at": 1714521600000"#, Some("invalid JSON"));
    line(br#"{"auction": "three", "price": 30, "at": 1714521600000}"#, Some("field 'auction': expected int"));
    line(br#"{"auction": 4, "at": 1714521600000}"#, Some("missing field 'price'"));
    line(br#"{"auction": 5, "price": null, "at": 1714521600000}"#, Some("field 'price'"));
    line(b"{\"auction\": 6, \"price\": 60, \"channel\": \"\xff\xfe\", \"at\": 1714521600000}", Some("UTF-8"));
    line(br#"{"auction": 7, "price": 70, "at": "yesterday"}"#, Some("field 'at'"));
    line(br#"{"auction": 8, "price": 80, "at": 1714521600000, "x": "#, Some("invalid JSON"));
    let long = format!(r#"{{"auction": 9, "price": 90, "at": 1714521600000, "pad": "{}"}}"#, "x".repeat(3000));
    line(long.as_bytes(), Some("longer than 2048 bytes"));
    line(br#"[1, 2, 3]"#, Some("object"));
    line(br#"{"auction": 11, "price": 110, "channel": null, "at": 1714521600000}"#, None);
    line(br#"{"auction": 12, "price": -5, "at": 1714521600000}"#, None);
    (data, expected)
}

#[test]
fn every_rejection_kind_goes_to_errors_and_the_counts_add_up() {
    let (data, expected) = input();
    for parallelism in PARALLELISM {
        let dir = temp_dir();
        std::fs::write(dir.path().join("p.eddy"), PIPELINE).expect("write pipeline");
        std::fs::write(dir.path().join("bids.jsonl"), &data).expect("write input");
        let mut args = vec!["run", "p.eddy", "--max-line-bytes", "2048"];
        args.extend_from_slice(parallelism);
        let out = eddy(dir.path(), &args);
        assert_ok(&out);

        let kept = std::fs::read_to_string(dir.path().join("out/kept.jsonl")).expect("kept");
        assert_eq!(
            sorted_lines(&kept),
            sorted_lines(
                "{\"auction\":1,\"price\":10,\"at\":\"2024-05-01T00:00:00.000Z\"}\n\
                 {\"auction\":11,\"price\":110,\"at\":\"2024-05-01T00:00:00.000Z\"}\n"
            ),
            "{parallelism:?}"
        );

        let errors = std::fs::read_to_string(dir.path().join("out/errors.jsonl")).expect("errors");
        let mut rows: Vec<serde_json::Value> =
            errors.lines().map(|l| serde_json::from_str(l).expect("errors are JSON lines")).collect();
        rows.sort_by_key(|r| {
            r["position"].as_str().map(|p| p.rsplit(':').next().unwrap_or("").parse::<usize>().unwrap_or(0))
        });
        assert_eq!(rows.len(), expected.len(), "{parallelism:?}: {errors}");
        for (row, (line, error)) in rows.iter().zip(&expected) {
            assert_eq!(row["source"], "bids");
            assert_eq!(row["position"], format!("bids.jsonl:{line}"), "{row}");
            let message = row["error"].as_str().unwrap_or("");
            assert!(message.contains(error), "line {line}: '{message}' should mention '{error}'");
            let raw = row["raw"].as_str().unwrap_or("");
            let original = String::from_utf8_lossy(data.split(|b| *b == b'\n').nth(line - 1).unwrap_or(b""));
            assert!(original.starts_with(raw) && !raw.is_empty(), "line {line}: raw text kept: {raw}");
        }

        // 12 read = 3 accepted (of which 1 filtered out) + 9 rejected; 2 written, 9 errors written.
        let summary = stderr(&out);
        assert!(summary.contains("source bids: read 12, accepted 3, rejected 9"), "{summary}");
        assert!(summary.contains("sink kept -> file(\"out/kept.jsonl\", jsonl): written 2"), "{summary}");
        assert!(summary.contains("sink bids.errors -> file(\"out/errors.jsonl\", jsonl): written 9"), "{summary}");
    }
}

#[test]
fn csv_rows_of_the_wrong_shape_are_rejected() {
    let dir = temp_dir();
    let pipeline = r#"
schema P { id: int, name: string, score: float? }
source people: P = file("people.csv")
sink people -> file("out/people.csv")
sink people.errors -> file("out/errors.csv")
"#;
    std::fs::write(dir.path().join("p.eddy"), pipeline).expect("write");
    std::fs::write(
        dir.path().join("people.csv"),
        "name,id,score\nada,1,2.5\nbob,two,1\ncyd,3\n\"dee, jr\",4,\neve,5,high\n",
    )
    .expect("write");
    let out = eddy(dir.path(), &["run", "p.eddy"]);
    assert_ok(&out);
    let people = std::fs::read_to_string(dir.path().join("out/people.csv")).expect("out");
    assert_eq!(sorted_lines(&people), sorted_lines("id,name,score\n1,ada,2.5\n4,\"dee, jr\",\n"));
    let errors = std::fs::read_to_string(dir.path().join("out/errors.csv")).expect("errors");
    assert_eq!(errors.lines().count(), 4, "header + 3 rejected: {errors}");
    for (line, needle) in [(3, "id"), (4, "columns"), (6, "score")] {
        let row = errors.lines().find(|l| l.contains(&format!("people.csv:{line}"))).unwrap_or("");
        assert!(row.contains(needle), "line {line}: {row}");
    }
    assert!(stderr(&out).contains("source people: read 5, accepted 2, rejected 3"), "{}", stderr(&out));
}

#[test]
fn a_missing_input_file_fails_before_running_with_its_path() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("p.eddy"), "source l = file(\"nowhere/in.txt\")\nsink l -> stdout()\n")
        .expect("write");
    let out = eddy(dir.path(), &["run", "p.eddy"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("input file 'nowhere/in.txt' does not exist"), "{err}");
    assert!(err.contains("p.eddy:1:17"), "{err}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn an_unwritable_output_is_a_runtime_error() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("in.txt"), "a\n").expect("write");
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").expect("write");
    std::fs::write(dir.path().join("p.eddy"), "source l = file(\"in.txt\")\nsink l -> file(\"blocker/out.txt\")\n")
        .expect("write");
    let out = eddy(dir.path(), &["run", "p.eddy"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("blocker/out.txt"), "{}", stderr(&out));
}

#[test]
fn a_field_that_is_never_read_is_not_checked() {
    // A pipeline that reads country and total only: order 6's `"id": "six"` and a
    // missing `id` lose nothing, as the docs say and `explain` shows ("decodes only").
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("orders.jsonl"),
        "{\"id\": 1, \"customer\": \"ada\", \"country\": \"FR\", \"total\": 2.5}\n\
         {\"id\": \"six\", \"customer\": \"eve\", \"country\": \"FR\", \"total\": 1.0}\n\
         {\"customer\": \"bob\", \"country\": \"DE\", \"total\": 3.0}\n\
         {\"id\": 4, \"customer\": \"cy\", \"country\": \"DE\", \"total\": \"lots\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("orders.csv"),
        "customer,total,country\nada,2.5,FR\neve,1.0,FR\nbob,3.0,DE\ncy,lots,DE\n",
    )
    .unwrap();
    for input in ["orders.jsonl", "orders.csv"] {
        std::fs::write(
            dir.path().join("p.eddy"),
            format!(
                "schema Order {{ id: int, customer: string, country: string, total: float }}\n\
                 source orders: Order = file(\"{input}\")\n\
                 stream by_country = orders | group by country | aggregate {{ n: count(), revenue: sum(total) }}\n\
                 sink by_country -> stdout(format: \"csv\", header: false)\n\
                 sink orders.errors -> file(\"errors.jsonl\")\n"
            ),
        )
        .unwrap();
        let explain = eddy(dir.path(), &["explain", "p.eddy"]);
        assert!(stdout(&explain).contains("decodes only: country, total"), "{}", stdout(&explain));
        for parallelism in PARALLELISM {
            let mut args = vec!["run", "p.eddy"];
            args.extend_from_slice(parallelism);
            let out = eddy(dir.path(), &args);
            assert_ok(&out);
            // cy's total is read, and "lots" is no float: that one record is rejected.
            assert_eq!(sorted_lines(&stdout(&out)), vec!["DE,1,3.0", "FR,2,3.5"], "{input} {parallelism:?}");
            assert!(stderr(&out).contains("read 4, accepted 3, rejected 1"), "{}", stderr(&out));
            let errors = std::fs::read_to_string(dir.path().join("errors.jsonl")).unwrap();
            assert!(errors.contains("field 'total'"), "{errors}");
        }
    }
}

#[test]
fn a_csv_header_without_a_column_the_pipeline_reads_names_it_and_its_place() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("orders.csv"), "customer,country\nada,FR\n").unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema Order { customer: string, total: float }\nsource orders: Order = file(\"orders.csv\")\n\
         sink orders -> stdout()\n",
    )
    .unwrap();
    let out = eddy(dir.path(), &["run", "p.eddy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("orders.csv:1: bad CSV header: missing column 'total', which the pipeline reads"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_stdin_that_cannot_be_read_is_an_error_not_an_empty_input() {
    // Reading a directory fails (EISDIR): the job says so and exits 2, rather than ending as
    // if the input were empty.
    let dir = temp_dir();
    std::fs::write(dir.path().join("p.eddy"), "schema E { k: string }\nsource e: E = stdin()\nsink e -> stdout()\n")
        .unwrap();
    let out = std::process::Command::new(eddy_bin())
        .args(["run", "p.eddy"])
        .current_dir(dir.path())
        .stdin(std::fs::File::open(dir.path()).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read stdin"), "{}", stderr(&out));
}
