//! Eddy against an independent SQL engine: each `tests/sql/<name>.eddy` runs on generated
//! Nexmark data with 1 and 4 workers and as 2 processes of 2 workers, and `tests/sql/check.py` compares its
//! output, row for row, with SQLite's result for `tests/sql/<name>.sql` over the same data.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;

#[test]
fn nexmark_queries_agree_with_sqlite() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let gen = eddy(dir.path(), &["gen", "nexmark", "--events", "20000", "--out", "data"]);
    assert_ok(&gen);
    let queries = root().join("tests/sql");
    let mut names: Vec<String> = std::fs::read_dir(&queries)
        .expect("tests/sql")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".eddy")).map(String::from))
        .collect();
    names.sort();
    assert!(names.len() >= 15);
    for (i, parallelism) in
        [&["--workers", "1"][..], &["--workers", "4"], &["--local-cluster", "2", "--workers", "2"]].iter().enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        for name in &names {
            let pipeline = queries.join(format!("{name}.eddy"));
            let mut args = vec!["run".to_string(), pipeline.display().to_string(), "--quiet".into()];
            args.extend(parallelism.iter().map(|s| s.to_string()));
            args.extend(["--param".into(), format!("data={}", data.display())]);
            args.extend(["--param".into(), format!("out={}", out.display())]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_ok(&eddy(dir.path(), &args));
        }
        let check = std::process::Command::new("python3")
            .arg(queries.join("check.py"))
            .args([&data, &out, &queries])
            .output()
            .expect("python3 runs (the test script installs it)");
        assert!(
            check.status.success(),
            "{parallelism:?}:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
