//! The error corpus: every `tests/errors/<kind>.eddy` is a broken pipeline with one kind of
//! mistake (a few have several, to show that every error is reported at once). `eddy check`
//! must reject each one, and its stderr must match the pinned `tests/errors/<kind>.stderr`.
//!
//! Extra command-line arguments for a file live in `tests/errors/<kind>.args`, one per line.
//! After a deliberate change of the messages, rewrite the pinned files and review the diff:
//!
//!     EDDY_BLESS=1 cargo test --test errors

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_ok, eddy, root, stderr, temp_dir};

/// The corpus files, as paths relative to the repository root, sorted.
fn corpus() -> Vec<String> {
    let dir = root().join("tests/errors");
    let mut files: Vec<String> = fs::read_dir(&dir)
        .expect("tests/errors exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eddy"))
        .map(|path| format!("tests/errors/{}", path.file_name().expect("file name").to_string_lossy()))
        .collect();
    files.sort();
    files
}

/// The kind of a corpus file: its name without the extension.
fn kind(file: &str) -> &str {
    file.trim_start_matches("tests/errors/").trim_end_matches(".eddy")
}

/// The extra arguments of a corpus file, from `<kind>.args` (one per line), if any.
fn extra_args(kind: &str) -> Vec<String> {
    let path = root().join(format!("tests/errors/{kind}.args"));
    match fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(),
        Err(_) => Vec::new(),
    }
}

/// Checks the structure of one stderr, independently of its exact words; returns the problems.
fn structural_problems(file: &str, err: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // A mistake on the command line (an unknown --param) has no place in the file to show.
    let about_the_command_line = err.starts_with("error: --param") && !err.contains('┌');
    if !has_location(file, err) && !about_the_command_line {
        problems.push(format!("no '{file}:LINE:COL' location"));
    }
    let has_caret = err.lines().any(|line| line.trim_start().starts_with('│') && line.contains('^'));
    if !has_caret && !about_the_command_line {
        problems.push("no line with a '^' caret".into());
    }
    let last = err.trim_end().lines().last().unwrap_or("");
    // Past the first errors, the rest are counted on a line of their own.
    let not_shown: usize = err
        .lines()
        .filter_map(|line| line.strip_prefix("note: "))
        .filter_map(|rest| rest.split_once(" more error").and_then(|(n, _)| n.parse::<usize>().ok()))
        .sum();
    let errors = err.lines().filter(|line| line.starts_with("error")).count() + not_shown;
    let expected = format!("the pipeline has {errors} error{}", if errors == 1 { "" } else { "s" });
    if errors == 0 {
        problems.push("no 'error' line".into());
    } else if last != expected {
        problems.push(format!("last line is {last:?}, expected {expected:?}"));
    }
    problems
}

/// Whether `err` contains `FILE:LINE:COL` with numbers.
fn has_location(file: &str, err: &str) -> bool {
    let prefix = format!("{file}:");
    err.match_indices(&prefix).any(|(at, _)| {
        let rest = &err[at + prefix.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or("");
        let col: String = parts.next().unwrap_or("").chars().take_while(char::is_ascii_digit).collect();
        !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) && !col.is_empty()
    })
}

#[test]
fn every_broken_pipeline_is_rejected_with_its_pinned_message() {
    let files = corpus();
    assert!(files.len() >= 30, "the corpus has only {} files", files.len());
    let bless = std::env::var_os("EDDY_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for file in &files {
        let kind = kind(file);
        let extra = extra_args(kind);
        let mut args = vec!["check", file.as_str()];
        args.extend(extra.iter().map(String::as_str));
        let out = eddy(&root(), &args);
        let err = stderr(&out);

        if out.status.code() != Some(1) {
            failures.push(format!("{file}: exit code {:?}, expected 1\n{err}", out.status.code()));
            continue;
        }
        for problem in structural_problems(file, &err) {
            failures.push(format!("{file}: {problem}\n{err}"));
        }

        let pinned: PathBuf = root().join(format!("tests/errors/{kind}.stderr"));
        if bless {
            fs::write(&pinned, &err).expect("write the pinned stderr");
            continue;
        }
        match fs::read_to_string(&pinned) {
            Ok(expected) if expected == err => {}
            Ok(expected) => {
                failures.push(format!("{file}: stderr differs from {}\n{}", pinned.display(), diff(&expected, &err)))
            }
            Err(_) => failures.push(format!("{file}: no {} (run with EDDY_BLESS=1)\n{err}", pinned.display())),
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Every pinned `.stderr` belongs to a corpus file (no leftovers after a rename).
#[test]
fn every_pinned_stderr_has_its_pipeline() {
    let dir = root().join("tests/errors");
    let orphans: Vec<String> = fs::read_dir(&dir)
        .expect("tests/errors exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "stderr" || ext == "args"))
        .filter(|path| !path.with_extension("eddy").exists())
        .map(|path| path.display().to_string())
        .collect();
    assert!(orphans.is_empty(), "pinned files without a pipeline: {orphans:?}");
}

/// The shipped examples are sound; the Nexmark ones read data generated here.
#[test]
fn the_examples_pass_check() {
    let data = temp_dir();
    let data_dir = data.path().to_str().expect("utf-8 temp dir").to_string();
    assert_ok(&eddy(&root(), &["gen", "nexmark", "--events", "1000", "--out", &data_dir]));

    let mut checked = 0;
    for (dir, needs_data) in [("examples", false), ("examples/nexmark", true)] {
        let mut files: Vec<PathBuf> = fs::read_dir(root().join(dir))
            .expect("examples exist")
            .map(|entry| entry.expect("dir entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eddy"))
            .collect();
        files.sort();
        for path in files {
            let file = relative(&path);
            let data_param = format!("data={data_dir}");
            let mut args = vec!["check", file.as_str()];
            if needs_data {
                args.extend(["--param", data_param.as_str()]);
            }
            let out = eddy(&root(), &args);
            assert_eq!(out.status.code(), Some(0), "{file} does not pass check:\n{}", stderr(&out));
            assert!(stderr(&out).contains(&format!("{file}: ok")), "{file}:\n{}", stderr(&out));
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} examples found");
}

/// A path relative to the repository root, with `/` separators.
fn relative(path: &Path) -> String {
    path.strip_prefix(root()).expect("under the root").to_string_lossy().replace('\\', "/")
}

/// A line diff that is enough to read a changed message: `-` pinned, `+` now.
fn diff(expected: &str, actual: &str) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    // Longest common subsequence, then walk it.
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            out += &format!("  {}\n", old[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < old.len() && (j == new.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &format!("- {}\n", old[i]);
            i += 1;
        } else {
            out += &format!("+ {}\n", new[j]);
            j += 1;
        }
    }
    out
}

/// `eddy run` ignores `test` blocks, as the reference says: a mistake inside one does not stop
/// the run, while `eddy check` (and `eddy test`) still report it.
#[test]
fn a_mistake_in_a_test_block_stops_check_but_not_run() {
    let dir = temp_dir();
    fs::write(dir.path().join("in.jsonl"), "{\"n\": 1}\n").unwrap();
    let pipeline = "schema R { n: int }\n\
        source r: R = file(\"in.jsonl\")\n\
        sink r -> stdout()\n\
        test \"broken\" { given r = [{ m: 1 }] expect r = [] }\n";
    fs::write(dir.path().join("p.eddy"), pipeline).unwrap();

    let run = eddy(dir.path(), &["run", "p.eddy", "--quiet"]);
    assert_ok(&run);
    assert_eq!(common::stdout(&run), "{\"n\":1}\n");

    for command in ["check", "test"] {
        let out = eddy(dir.path(), &[command, "p.eddy"]);
        assert_eq!(out.status.code(), Some(1), "eddy {command}:\n{}", stderr(&out));
        assert!(stderr(&out).contains("unknown field 'm'"), "eddy {command}:\n{}", stderr(&out));
    }
}

/// A flat chain of 7 000 or 100 000 terms used to overflow the stack (SIGABRT) in check,
/// explain, run and test: each now reports that it is nested too deeply, with its place.
#[test]
fn long_operator_chains_are_a_diagnostic_in_every_command() {
    let dir = temp_dir();
    fs::write(dir.path().join("in.jsonl"), "{\"n\": 1}\n").unwrap();
    for terms in [7_000, 100_000] {
        let chain = vec!["n"; terms].join(" + ");
        let pipeline = format!(
            "schema R {{ n: int }}\nsource r: R = file(\"in.jsonl\")\n\
             stream s = r | derive {{ x: {chain} }}\nsink s -> stdout()\n\
             test \"t\" {{ given r = [{{ n: 1 }}] expect s = [] }}\n"
        );
        fs::write(dir.path().join("p.eddy"), pipeline).unwrap();
        for command in ["check", "explain", "run", "test"] {
            let out = eddy(dir.path(), &[command, "p.eddy"]);
            let err = stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "eddy {command} with {terms} terms:\n{}",
                &err[..err.len().min(2000)]
            );
            assert!(err.contains("nested too deeply") && err.contains("p.eddy:3:"), "eddy {command}: {err:.2000}");
        }
    }
}
