//! Every example pipeline runs (from the repository root, as the README and docs show them),
//! and gives the same output with 1 and with 3 workers.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn pipelines(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("examples exist")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eddy"))
        .collect();
    files.sort();
    files
}

/// Runs one example with `workers`; returns its stdout and the files it wrote, sorted by line.
fn run(file: &Path, data: &Path, workers: &str) -> Vec<(String, Vec<String>)> {
    let out = temp_dir();
    let text = std::fs::read_to_string(file).expect("read example");
    let rel = file.strip_prefix(root()).expect("under the root").display().to_string();
    let mut args = vec!["run".to_string(), rel.clone(), "--workers".into(), workers.into()];
    if rel.starts_with("examples/nexmark") {
        args.extend(["--param".into(), format!("data={}", data.display())]);
    }
    if text.contains("param out:") {
        args.extend(["--param".into(), format!("out={}", out.path().display())]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = eddy(&root(), &args);
    assert_ok(&result);
    let mut outputs = vec![("stdout".to_string(), sorted_lines(&stdout(&result)))];
    let mut written: Vec<PathBuf> =
        std::fs::read_dir(out.path()).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    written.sort();
    for w in written {
        let text = std::fs::read_to_string(&w).expect("read output");
        outputs.push((w.file_name().unwrap_or_default().to_string_lossy().into_owned(), sorted_lines(&text)));
    }
    outputs
}

#[test]
fn every_example_runs_with_the_same_result_on_1_and_3_workers() {
    let data = temp_dir();
    assert_ok(&eddy(data.path(), &["gen", "nexmark", "--events", "5000", "--out", "."]));
    let mut files = pipelines("examples");
    files.extend(pipelines("examples/nexmark"));
    files.extend(pipelines("docs/examples"));
    assert!(files.len() >= 10);
    for file in files {
        let one = run(&file, data.path(), "1");
        let three = run(&file, data.path(), "3");
        assert_eq!(one, three, "{}", file.display());
        assert!(one.iter().any(|(_, lines)| !lines.is_empty()), "{} produced nothing", file.display());
    }
}
