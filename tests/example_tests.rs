//! Every example pipeline's `test` blocks pass (`eddy test FILE --workers 2`), and a failing
//! test exits 1 and shows the records that differ.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::PathBuf;

use common::*;

/// The example pipelines of `dir` (relative to the repository root), sorted.
fn pipelines(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eddy"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_has_passing_tests() {
    let mut files = pipelines("examples");
    files.extend(pipelines("examples/nexmark"));
    files.extend(pipelines("examples/streaming"));
    assert!(files.len() >= 9, "{files:?}");
    for file in files {
        let path = file.display().to_string();
        let out = eddy(&root(), &["test", &path, "--workers", "2"]);
        assert_ok(&out);
        let text = stdout(&out);
        let last = text.lines().last().unwrap_or_default();
        let passed: usize = last.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(passed >= 1 && last.ends_with(" passed, 0 failed"), "{path}: {text}");
    }
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { k: string, v: int, t: timestamp }\n\
         source ev: E = file(\"ev.jsonl\") watermark t - 1s\n\
         stream w = ev | window tumbling(10s) | group by k | aggregate { n: count() }\n\
         sink w -> stdout()\n\
         test \"counts\" {\n\
           given ev = [{ k: \"a\", v: 1, t: @2024-01-01T00:00:01Z }, { k: \"a\", v: 2, t: @2024-01-01T00:00:02Z }]\n\
           expect w = [{ k: \"a\", window_start: @2024-01-01T00:00:00Z, window_end: @2024-01-01T00:00:10Z, n: 3 }]\n\
         }\n",
    )
    .unwrap();
    let out = eddy(dir.path(), &["test", "p.eddy", "--workers", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("test \"counts\" ... FAILED"), "{text}");
    let diff = |sign: &str, n: u32| {
        text.lines().any(|l| l.trim_start().starts_with(sign) && l.contains(&format!("\"n\":{n}")))
    };
    assert!(diff("- ", 3), "the expected record is shown: {text}");
    assert!(diff("+ ", 2), "the actual record is shown: {text}");
    assert!(text.contains("0 passed, 1 failed"), "{text}");
}
