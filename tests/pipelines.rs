//! The golden corpus: each folder of `tests/pipelines/` holds a pipeline, its small inputs and
//! its expected outputs (computed by hand). Every pipeline runs with 1 and 4 workers and as 2
//! processes; the outputs must equal the expected ones as multisets of lines. The plan that
//! `eddy explain` prints is pinned in `expected/plan.txt` (`EDDY_BLESS=1` rewrites it).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/pipelines"))
        .expect("tests/pipelines exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("pipeline.eddy").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Extra CLI arguments of a case, one per line in `args`.
fn case_args(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("args")).map(|s| s.lines().map(String::from).collect()).unwrap_or_default()
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path, prefix: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let rel = prefix.join(entry.file_name());
        if entry.path().is_dir() {
            files_under(&entry.path(), &rel, out);
        } else {
            out.push(rel);
        }
    }
}

fn run_case(case: &Path, parallelism: &[&str]) {
    let scratch = temp_dir();
    copy_dir(case, scratch.path());
    let _ = std::fs::remove_dir_all(scratch.path().join("expected"));
    let mut args = vec!["run", "pipeline.eddy"];
    args.extend_from_slice(parallelism);
    let extra = case_args(case);
    args.extend(extra.iter().map(String::as_str));
    let out = eddy(scratch.path(), &args);
    assert_ok(&out);
    let expected_dir = case.join("expected");
    let mut expected = Vec::new();
    files_under(&expected_dir, Path::new(""), &mut expected);
    for rel in expected {
        if rel == Path::new("plan.txt") {
            continue;
        }
        let want = std::fs::read_to_string(expected_dir.join(&rel)).expect("expected file");
        let got = if rel == Path::new("stdout") {
            stdout(&out)
        } else {
            std::fs::read_to_string(scratch.path().join(&rel))
                .unwrap_or_else(|e| panic!("{}: {} was not written: {e}", case.display(), rel.display()))
        };
        assert_eq!(
            sorted_lines(&got),
            sorted_lines(&want),
            "{}: {} differs with {parallelism:?}",
            case.display(),
            rel.display()
        );
    }
}

#[test]
fn golden_outputs_with_any_parallelism() {
    let cases = cases();
    assert!(cases.len() >= 4, "the corpus is there");
    for case in &cases {
        for parallelism in PARALLELISM {
            run_case(case, parallelism);
        }
    }
}

#[test]
fn golden_plans() {
    for case in cases() {
        let mut args = vec!["explain", "pipeline.eddy"];
        let extra = case_args(&case);
        args.extend(extra.iter().map(String::as_str));
        let out = eddy(&case, &args);
        assert_ok(&out);
        let pinned = case.join("expected/plan.txt");
        if std::env::var_os("EDDY_BLESS").is_some() {
            std::fs::write(&pinned, stdout(&out)).expect("write plan");
            continue;
        }
        let want = std::fs::read_to_string(&pinned).unwrap_or_default();
        assert_eq!(stdout(&out), want, "{}: the plan changed (EDDY_BLESS=1 to accept)", case.display());
    }
}
