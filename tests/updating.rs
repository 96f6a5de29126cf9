//! Updating streams in a stream: when input changes after a first result, the output's
//! changes are exactly the expected retractions and insertions (`diff` -1 and +1).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::*;
use tempfile::TempDir;

/// The next `n` lines, sorted (changes of one moment come in no particular order).
fn next(lines: &Receiver<String>, n: usize) -> Vec<String> {
    let mut got: Vec<String> =
        (0..n).map(|_| lines.recv_timeout(Duration::from_secs(10)).expect("a change arrives")).collect();
    got.sort();
    got
}

fn append(path: &std::path::Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
    f.flush().unwrap();
}

/// Asserts that no further change comes, then stops the job, which must end cleanly.
fn nothing_more(lines: &Receiver<String>, child: Child, workers: &str) {
    assert!(lines.recv_timeout(Duration::from_millis(500)).is_err(), "{workers} workers: nothing else");
    interrupt(&child);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

/// A stream job over followed files, created empty in a new directory, with `workers` workers:
/// the directory (removed when dropped), the files' paths, the child and its output lines.
fn start(files: &[&str], pipeline: &str, workers: &str) -> (TempDir, Vec<PathBuf>, Child, Receiver<String>) {
    let dir = temp_dir();
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.path().join(f)).collect();
    for path in &paths {
        std::fs::write(path, "").unwrap();
    }
    std::fs::write(dir.path().join("p.eddy"), pipeline).unwrap();
    let (child, lines) = spawn_lines(dir.path(), &["run", "p.eddy", "--workers", workers]);
    (dir, paths, child, lines)
}

#[test]
fn left_joins_and_aggregates_retract_what_changed() {
    for workers in ["1", "2"] {
        left_join_and_count(workers);
    }
}

fn left_join_and_count(workers: &str) {
    let (_dir, files, child, lines) = start(
        &["persons.jsonl", "auctions.jsonl"],
        "schema P { id: int, name: string }\nschema A { id: int, seller: int }\n\
         source persons: P = file(\"persons.jsonl\", follow: true)\n\
         source auctions: A = file(\"auctions.jsonl\", follow: true)\n\
         stream selling = persons | left join auctions on id == seller | select { name, auction: auctions.id }\n\
         stream people = persons | aggregate { n: count() }\n\
         sink selling -> stdout(format: \"csv\", header: false)\n\
         sink people -> stdout(format: \"csv\", header: false)\n",
        workers,
    );
    let (persons, auctions) = (&files[0], &files[1]);

    // Before anything arrives the count is 0, like SQL's count of nothing.
    assert_eq!(next(&lines, 1), vec!["0,1"]);

    // A person without auctions: alone, with a null auction; the count moves to 1.
    append(persons, r#"{"id":1,"name":"ada"}"#);
    assert_eq!(next(&lines, 3), vec!["0,-1", "1,1", "ada,,1"]);

    // Her auction arrives: the lone row is retracted, the joined one inserted.
    append(auctions, r#"{"id":10,"seller":1}"#);
    assert_eq!(next(&lines, 2), vec!["ada,,-1", "ada,10,1"]);

    // The other order: an auction, then its seller: only the joined row, and the count moves.
    append(auctions, r#"{"id":12,"seller":2}"#);
    std::thread::sleep(Duration::from_millis(200));
    append(persons, r#"{"id":2,"name":"bob"}"#);
    assert_eq!(next(&lines, 3), vec!["1,-1", "2,1", "bob,12,1"]);

    // Nothing else was written.
    assert!(lines.recv_timeout(Duration::from_millis(500)).is_err());
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn grouped_aggregates_replace_the_results_of_the_groups_that_change() {
    // One worker adds records to their groups directly; several combine and exchange partials.
    for workers in ["1", "2"] {
        let (_dir, files, child, lines) = start(
            &["bids.jsonl"],
            "schema B { seller: int, price: int }\nsource bids: B = file(\"bids.jsonl\", follow: true)\n\
             stream per_seller = bids | group by seller | aggregate { n: count(), hi: max(price) }\n\
             sink per_seller -> stdout(format: \"csv\", header: false)\n",
            workers,
        );
        let bids = &files[0];
        append(bids, r#"{"seller":1,"price":10}"#);
        assert_eq!(next(&lines, 1), vec!["1,1,10,1"], "{workers} workers");
        append(bids, r#"{"seller":2,"price":5}"#);
        assert_eq!(next(&lines, 1), vec!["2,1,5,1"], "{workers} workers: seller 1 did not change");
        append(bids, r#"{"seller":1,"price":20}"#);
        assert_eq!(next(&lines, 2), vec!["1,1,10,-1", "1,2,20,1"], "{workers} workers");
        // Two bids of one moment: one change of the group.
        append(bids, "{\"seller\":1,\"price\":15}\n{\"seller\":1,\"price\":30}");
        assert_eq!(next(&lines, 2), vec!["1,2,20,-1", "1,4,30,1"], "{workers} workers");
        nothing_more(&lines, child, workers);
    }
}

#[test]
fn an_inner_join_of_growing_streams_pairs_records_whichever_arrives_first() {
    for workers in ["1", "2"] {
        let (_dir, files, child, lines) = start(
            &["persons.jsonl", "auctions.jsonl"],
            "schema P { id: int, name: string }\nschema A { id: int, seller: int }\n\
             source persons: P = file(\"persons.jsonl\", follow: true)\n\
             source auctions: A = file(\"auctions.jsonl\", follow: true)\n\
             stream sold = auctions | join persons on seller == persons.id | select { auction: auctions.id, name }\n\
             sink sold -> stdout(format: \"csv\", header: false)\n",
            workers,
        );
        let (persons, auctions) = (&files[0], &files[1]);
        // The seller first, then two auctions: one pair each.
        append(persons, r#"{"id":1,"name":"ada"}"#);
        std::thread::sleep(Duration::from_millis(200));
        append(auctions, r#"{"id":10,"seller":1}"#);
        assert_eq!(next(&lines, 1), vec!["10,ada,1"], "{workers} workers");
        append(auctions, r#"{"id":11,"seller":1}"#);
        assert_eq!(next(&lines, 1), vec!["11,ada,1"], "{workers} workers");
        // An auction first, then its seller.
        append(auctions, r#"{"id":12,"seller":2}"#);
        std::thread::sleep(Duration::from_millis(200));
        append(persons, r#"{"id":2,"name":"bob"}"#);
        assert_eq!(next(&lines, 1), vec!["12,bob,1"], "{workers} workers");
        nothing_more(&lines, child, workers);
    }
}

#[test]
fn a_join_whose_other_side_is_complete_pairs_new_records_with_what_it_kept() {
    // The persons file is read to its end at once; the auctions keep coming. Either way round,
    // the join keeps the persons and pairs every later auction with them.
    for workers in ["1", "2"] {
        let dir = temp_dir();
        std::fs::write(dir.path().join("persons.jsonl"), "{\"id\":1,\"name\":\"ada\"}\n{\"id\":2,\"name\":\"bob\"}\n")
            .unwrap();
        let auctions = dir.path().join("auctions.jsonl");
        std::fs::write(&auctions, "{\"id\":10,\"seller\":1}\n").unwrap();
        std::fs::write(
            dir.path().join("p.eddy"),
            "schema P { id: int, name: string }\nschema A { id: int, seller: int }\n\
             source persons: P = file(\"persons.jsonl\")\n\
             source auctions: A = file(\"auctions.jsonl\", follow: true)\n\
             stream sold = auctions | join persons on seller == persons.id | select { auction: auctions.id, name }\n\
             stream sellers = persons | join auctions on id == seller | select { name, auction: auctions.id }\n\
             sink sold -> stdout(format: \"csv\", header: false)\n\
             sink sellers -> stdout(format: \"csv\", header: false)\n",
        )
        .unwrap();
        let (child, lines) = spawn_lines(dir.path(), &["run", "p.eddy", "--workers", workers]);
        assert_eq!(next(&lines, 2), vec!["10,ada,1", "ada,10,1"], "{workers} workers");
        // By now the persons are complete: what comes next only meets them.
        std::thread::sleep(Duration::from_millis(300));
        append(&auctions, r#"{"id":11,"seller":2}"#);
        append(&auctions, r#"{"id":12,"seller":3}"#);
        append(&auctions, r#"{"id":13,"seller":1}"#);
        assert_eq!(next(&lines, 4), vec!["11,bob,1", "13,ada,1", "ada,13,1", "bob,11,1"], "{workers} workers");
        nothing_more(&lines, child, workers);
    }
}

#[test]
fn aggregates_over_a_changing_top_follow_its_retractions() {
    let (_dir, files, child, lines) = start(
        &["bids.jsonl"],
        "schema B { seller: int, price: int }\nsource bids: B = file(\"bids.jsonl\", follow: true)\n\
         stream best = bids | group by seller | top 1 by price desc\n\
         stream stats = best | aggregate { lo: min(price), hi: max(price), mean: avg(price), sellers: count_distinct(seller) }\n\
         sink stats -> stdout(format: \"csv\", header: false)\n",
        "2",
    );
    let bids = &files[0];
    // The aggregate of nothing first: no minimum, no maximum, no mean, no seller.
    assert_eq!(next(&lines, 1), vec![",,,0,1"]);
    append(bids, r#"{"seller":1,"price":10}"#);
    assert_eq!(next(&lines, 2), vec![",,,0,-1", "10,10,10.0,1,1"]);
    append(bids, r#"{"seller":2,"price":5}"#);
    assert_eq!(next(&lines, 2), vec!["10,10,10.0,1,-1", "5,10,7.5,2,1"]);
    // A higher bid replaces seller 1's best: min stays, max and mean move.
    append(bids, r#"{"seller":1,"price":20}"#);
    assert_eq!(next(&lines, 2), vec!["5,10,7.5,2,-1", "5,20,12.5,2,1"]);
    interrupt(&child);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

#[test]
fn an_iteration_follows_new_input_in_a_stream() {
    let dir = temp_dir();
    let edges = dir.path().join("edges.jsonl");
    std::fs::write(&edges, "").unwrap();
    std::fs::write(dir.path().join("roots.jsonl"), "{\"node\":1}\n").unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { src: int, dst: int }\nschema R { node: int }\n\
         source edges: E = file(\"edges.jsonl\", follow: true)\nsource roots: R = file(\"roots.jsonl\")\n\
         stream reach = roots | iterate (max 50) {\n  loop | join edges on node == src | select { node: dst } | union roots | distinct\n}\n\
         sink reach -> stdout(format: \"csv\", header: false)\n",
    )
    .unwrap();
    let (child, lines) = spawn_lines(dir.path(), &["run", "p.eddy", "--workers", "2"]);
    assert_eq!(next(&lines, 1), vec!["1,1"]);
    append(&edges, r#"{"src":1,"dst":2}"#);
    assert_eq!(next(&lines, 1), vec!["2,1"]);
    // An edge that reaches two new nodes at once, through one already known.
    append(&edges, r#"{"src":3,"dst":4}"#);
    std::thread::sleep(Duration::from_millis(200));
    append(&edges, r#"{"src":2,"dst":3}"#);
    assert_eq!(next(&lines, 2), vec!["3,1", "4,1"]);
    interrupt(&child);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}
