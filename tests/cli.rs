//! The command line: help, version, exit codes, stdin/stdout, partitioned sinks, data generation,
//! outputs that cannot be written, and files a failed job must not replace.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;

#[test]
fn version_and_help_with_examples() {
    let dir = temp_dir();
    let version = eddy(dir.path(), &["--version"]);
    assert_ok(&version);
    assert!(stdout(&version).starts_with("eddy "));
    for cmd in [
        &["--help"][..],
        &["run", "--help"],
        &["check", "--help"],
        &["explain", "--help"],
        &["gen", "nexmark", "--help"],
    ] {
        let help = eddy(dir.path(), cmd);
        assert_ok(&help);
        assert!(stdout(&help).contains("Example"), "{cmd:?}: {}", stdout(&help));
    }
    let help = stdout(&eddy(dir.path(), &["--help"]));
    for code in ["0    ok", "1    the pipeline has mistakes", "2    a run-time or I/O error", "130  a batch job"] {
        assert!(help.contains(code), "{code}: {help}");
    }
}

#[test]
fn check_exit_codes() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("ok.eddy"), "source l = file(\"in.txt\")\nsink l -> stdout()\n").unwrap();
    std::fs::write(dir.path().join("in.txt"), "x\n").unwrap();
    std::fs::write(dir.path().join("bad.eddy"), "source l = file(\"in.txt\")\nsink m -> stdout()\n").unwrap();
    assert_eq!(eddy(dir.path(), &["check", "ok.eddy"]).status.code(), Some(0));
    let bad = eddy(dir.path(), &["check", "bad.eddy"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("unknown stream 'm'"), "{}", stderr(&bad));
    assert_eq!(eddy(dir.path(), &["check", "missing.eddy"]).status.code(), Some(2));
}

#[test]
fn stdin_to_stdout_in_csv() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema S { a: int, b: string }\nsource s: S = stdin(format: \"jsonl\")\n\
         stream t = s | filter a > 1 | derive { c: a * 10 }\nsink t -> stdout(format: \"csv\")\n",
    )
    .unwrap();
    let input = b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\nnot json\n{\"a\":3,\"b\":\"z, w\"}\n";
    let out = eddy_with_stdin(dir.path(), &["run", "p.eddy", "--workers", "3"], input);
    assert_ok(&out);
    assert_eq!(stdout(&out), "a,b,c\n2,y,20\n3,\"z, w\",30\n");
    assert!(stderr(&out).contains("source s: read 4, accepted 3, rejected 1"), "{}", stderr(&out));
}

#[test]
fn partitioned_sinks_write_one_part_per_worker() {
    for (args, parts) in
        [(&["--workers", "4"][..], 4), (&["--local-cluster", "2", "--workers", "2"], 4), (&["--workers", "1"], 1)]
    {
        let dir = temp_dir();
        let lines: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("in.txt"), &lines).unwrap();
        std::fs::write(
            dir.path().join("p.eddy"),
            "source l = file(\"in.txt\")\nsink l -> file(\"out/parts.txt\", partitioned: true)\n",
        )
        .unwrap();
        let mut all = vec!["run", "p.eddy"];
        all.extend_from_slice(args);
        assert_ok(&eddy(dir.path(), &all));
        let mut union = String::new();
        for i in 0..parts {
            union += &std::fs::read_to_string(dir.path().join(format!("out/parts-{i}.txt"))).unwrap();
        }
        assert!(!dir.path().join(format!("out/parts-{parts}.txt")).exists());
        assert_eq!(sorted_lines(&union), sorted_lines(&lines), "{args:?}");
    }
}

#[test]
fn gen_nexmark_writes_the_three_kinds_in_proportion() {
    let dir = temp_dir();
    let out = eddy(dir.path(), &["gen", "nexmark", "--events", "5000", "--out", "data"]);
    assert_ok(&out);
    let count = |f: &str| std::fs::read_to_string(dir.path().join("data").join(f)).unwrap().lines().count();
    // Of every 50 events, 1 is a person, 3 are auctions and 46 are bids.
    assert_eq!((count("persons.jsonl"), count("auctions.jsonl"), count("bids.jsonl")), (100, 300, 4600));
    assert!(stderr(&out).contains("wrote 100 persons, 300 auctions and 4600 bids"));
}

#[test]
fn the_generator_source_matches_the_generated_files() {
    let dir = temp_dir();
    assert_ok(&eddy(dir.path(), &["gen", "nexmark", "--events", "3000", "--out", "data"]));
    std::fs::write(
        dir.path().join("p.eddy"),
        "source g = generate(nexmark: \"bid\", events: 3000, seed: 42)\nsink g -> file(\"out/bids.jsonl\")\n",
    )
    .unwrap();
    assert_ok(&eddy(dir.path(), &["run", "p.eddy", "--workers", "3"]));
    let generated = std::fs::read_to_string(dir.path().join("out/bids.jsonl")).unwrap();
    let written = std::fs::read_to_string(dir.path().join("data/bids.jsonl")).unwrap();
    assert_eq!(sorted_lines(&generated), sorted_lines(&written));
}

/// A pipeline copying 200 000 lines of `in.txt` to `sink`, in a fresh directory.
fn copy_job(sink: &str) -> tempfile::TempDir {
    let dir = temp_dir();
    let lines: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("in.txt"), lines).unwrap();
    std::fs::write(dir.path().join("p.eddy"), format!("source l = file(\"in.txt\")\n{sink}\n")).unwrap();
    dir
}

/// The `written N` count of the summary's line for the sink of stream `l`, and whether that
/// line says a write failed.
fn written(stderr: &str) -> (u64, bool) {
    let line = stderr.lines().find(|l| l.starts_with("sink l ->")).unwrap_or_else(|| panic!("no sink line: {stderr}"));
    let count = line.split("written ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    (count, line.ends_with(", then a write failed"))
}

#[test]
fn zero_workers_or_processes_is_a_usage_error_not_a_panic() {
    let dir = copy_job("sink l -> stdout()");
    for args in [
        &["run", "p.eddy", "--workers", "0"][..],
        &["run", "p.eddy", "--local-cluster", "0"],
        &["run", "p.eddy", "--processes", "0"],
        &["test", "p.eddy", "--workers", "0"],
    ] {
        let out = eddy(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("must be at least 1"), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn a_process_outside_its_cluster_is_an_error_not_a_panic() {
    let dir = copy_job("sink l -> stdout()");
    std::fs::write(dir.path().join("hosts.txt"), "127.0.0.1:1\n").unwrap();
    for (args, want) in [
        (&["--processes", "2", "--process", "3"][..], "process 3 is not one of the 2 processes"),
        (&["--processes", "2", "--process", "0", "--hostfile", "hosts.txt"], "1 addresses for 2 processes"),
    ] {
        let out = eddy(dir.path(), &[&["run", "p.eddy"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn explain_fails_wherever_check_fails() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("p.eddy"), "source l = file(\"missing.txt\")\nsink l -> stdout()\n").unwrap();
    let (check, explain) = (eddy(dir.path(), &["check", "p.eddy"]), eddy(dir.path(), &["explain", "p.eddy"]));
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(explain.status.code(), Some(1), "{}", stdout(&explain));
    assert_eq!(stderr(&explain), stderr(&check));
    assert!(stderr(&explain).contains("input file 'missing.txt' does not exist"), "{}", stderr(&explain));
    assert!(stdout(&explain).is_empty());
}

#[test]
fn eddy_test_on_a_file_without_tests_fails_and_says_so() {
    let dir = copy_job("sink l -> stdout()");
    let out = eddy(dir.path(), &["test", "p.eddy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("p.eddy: no tests to run"), "{}", stderr(&out));
}

#[test]
fn a_closed_stdout_stops_the_job_with_an_accurate_count() {
    let dir = copy_job("sink l -> stdout()");
    let (child, lines) = spawn_lines(dir.path(), &["run", "p.eddy"]);
    // One line read, then the reader goes away, as `| head -1` does.
    lines.recv().unwrap();
    drop(lines);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error: sink l -> stdout(jsonl): cannot write: Broken pipe"), "{err}");
    let (count, failed) = written(&err);
    assert!(count < 200_000 && failed, "{err}");
}

#[test]
fn closed_pipes_and_full_disks_are_errors_not_panics() {
    let dir = copy_job("sink l -> stdout()");
    let eddy_bin = eddy_bin();
    // stdout and stderr into one pipe that `head` closes: nothing can be said, nothing panics.
    for cmd in ["run p.eddy", "explain p.eddy", "check p.eddy"] {
        let script = format!("\"{}\" {cmd} 2>&1 | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}", eddy_bin.display());
        let out = std::process::Command::new("bash").arg("-c").arg(&script).current_dir(dir.path()).output().unwrap();
        let code = stdout(&out).trim().to_string();
        assert!(code == "0" || code == "2", "{cmd}: exit {code}");
    }
    // A pipe closed before anything is written: `explain` cannot show its plan.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(&eddy_bin)
        .args(["explain", "p.eddy"])
        .current_dir(dir.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("error: cannot write to stdout"), "{}", stderr(&out));
    // /dev/full as stdout, and as a file sink (written in place: a device is not replaced).
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    for args in [&["explain", "p.eddy"][..], &["run", "p.eddy"]] {
        let out =
            std::process::Command::new(&eddy_bin).args(args).current_dir(dir.path()).stdout(full()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("No space left on device"), "{args:?}: {}", stderr(&out));
    }
    let out = eddy(dir.path(), &["run", "p.eddy"]);
    let out2 = std::process::Command::new(&eddy_bin)
        .args(["run", "p.eddy"])
        .current_dir(dir.path())
        .stdout(full())
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(written(&stderr(&out2)), (0, true), "{}", stderr(&out2));
    assert_eq!(written(&stderr(&out)), (200_000, false), "{}", stderr(&out));
    std::fs::write(
        dir.path().join("f.eddy"),
        "source l = file(\"in.txt\")\nsink l -> file(\"/dev/full\", format: \"jsonl\")\n",
    )
    .unwrap();
    let out = eddy(dir.path(), &["run", "f.eddy"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(written(&stderr(&out)), (0, true), "{}", stderr(&out));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/full").unwrap().file_type().is_char_device());
}

/// The names in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_failed_batch_job_leaves_the_previous_files_as_they_were() {
    // The second sink cannot write, so the job fails: the first one's file and parts must not
    // look complete, and what was there before stays.
    let dir = copy_job(
        "sink l -> file(\"out/all.txt\")\nsink l -> file(\"out/parts.txt\", partitioned: true)\n\
         sink l -> file(\"/dev/full\", format: \"jsonl\")",
    );
    std::fs::create_dir(dir.path().join("out")).unwrap();
    for name in ["all.txt", "parts-0.txt", "parts-1.txt"] {
        std::fs::write(dir.path().join("out").join(name), "before\n").unwrap();
    }
    for parallelism in PARALLELISM {
        let out = eddy(dir.path(), &[&["run", "p.eddy"][..], parallelism].concat());
        assert_eq!(out.status.code(), Some(2), "{parallelism:?}: {}", stderr(&out));
        for name in ["all.txt", "parts-0.txt", "parts-1.txt"] {
            let text = std::fs::read_to_string(dir.path().join("out").join(name)).unwrap();
            assert_eq!(text, "before\n", "{parallelism:?}: {name}");
        }
        assert_eq!(names(&dir.path().join("out")), ["all.txt", "parts-0.txt", "parts-1.txt"], "{parallelism:?}");
    }
}

#[test]
fn a_successful_batch_job_replaces_its_files_and_leaves_no_temporary_file() {
    let dir = copy_job("sink l -> file(\"out/all.txt\")\nsink l -> file(\"out/parts.txt\", partitioned: true)");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/all.txt"), "before\n").unwrap();
    let out = eddy(dir.path(), &["run", "p.eddy", "--workers", "2"]);
    assert_ok(&out);
    assert_eq!(std::fs::read_to_string(dir.path().join("out/all.txt")).unwrap().lines().count(), 200_000);
    assert_eq!(names(&dir.path().join("out")), ["all.txt", "parts-0.txt", "parts-1.txt"]);
}

#[test]
fn a_batch_sink_through_a_link_replaces_the_file_it_points_to() {
    let dir = copy_job("sink l -> file(\"out/link.txt\")");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("real.txt"), "before\n").unwrap();
    std::os::unix::fs::symlink("../real.txt", dir.path().join("out/link.txt")).unwrap();
    assert_ok(&eddy(dir.path(), &["run", "p.eddy"]));
    assert!(std::fs::symlink_metadata(dir.path().join("out/link.txt")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(dir.path().join("real.txt")).unwrap().lines().count(), 200_000);
    assert_eq!(names(&dir.path().join("out")), ["link.txt"]);
    assert_eq!(names(dir.path()), ["in.txt", "out", "p.eddy", "real.txt"]);
}
