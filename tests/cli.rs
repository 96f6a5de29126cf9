//! The command line: help, version, exit codes, stdin/stdout, partitioned sinks, data generation.

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
    assert!(stdout(&eddy(dir.path(), &["--help"])).contains("Exit codes: 0 ok, 1"));
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
