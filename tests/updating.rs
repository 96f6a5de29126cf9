//! Updating streams in a stream: when input changes after a first result, the output's
//! changes are exactly the expected retractions and insertions (`diff` -1 and +1).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::*;

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

#[test]
fn left_joins_and_aggregates_retract_what_changed() {
    let dir = temp_dir();
    let (persons, auctions) = (dir.path().join("persons.jsonl"), dir.path().join("auctions.jsonl"));
    std::fs::write(&persons, "").unwrap();
    std::fs::write(&auctions, "").unwrap();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema P { id: int, name: string }\nschema A { id: int, seller: int }\n\
         source persons: P = file(\"persons.jsonl\", follow: true)\n\
         source auctions: A = file(\"auctions.jsonl\", follow: true)\n\
         stream selling = persons | left join auctions on id == seller | select { name, auction: auctions.id }\n\
         stream people = persons | aggregate { n: count() }\n\
         sink selling -> stdout(format: \"csv\", header: false)\n\
         sink people -> stdout(format: \"csv\", header: false)\n",
    )
    .unwrap();
    let (child, lines) = spawn_lines(dir.path(), &["run", "p.eddy", "--workers", "2"]);

    // A person without auctions: alone, with a null auction; the count is 1.
    append(&persons, r#"{"id":1,"name":"ada"}"#);
    assert_eq!(next(&lines, 2), vec!["1,1", "ada,,1"]);

    // Her auction arrives: the lone row is retracted, the joined one inserted.
    append(&auctions, r#"{"id":10,"seller":1}"#);
    assert_eq!(next(&lines, 2), vec!["ada,,-1", "ada,10,1"]);

    // The other order: an auction, then its seller: only the joined row, and the count moves.
    append(&auctions, r#"{"id":12,"seller":2}"#);
    std::thread::sleep(Duration::from_millis(200));
    append(&persons, r#"{"id":2,"name":"bob"}"#);
    assert_eq!(next(&lines, 3), vec!["1,-1", "2,1", "bob,12,1"]);

    // Nothing else was written.
    assert!(lines.recv_timeout(Duration::from_millis(500)).is_err());
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
