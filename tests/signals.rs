//! Signals, with real processes: SIGINT and SIGTERM stop a batch job cleanly with an exit code
//! that says its output is incomplete, duplicates are one request, a local cluster's parent
//! forwards them, its children never outlive it, and a cluster process waiting for its peers
//! says so, gives up in time and can be stopped.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A batch job that runs for minutes unless stopped: an aggregate over many generated bids,
/// into `out/c.jsonl`, which holds `before` until then.
fn long_job() -> tempfile::TempDir {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("p.eddy"),
        "source g = generate(nexmark: \"bid\", events: 1000000000, seed: 1)\n\
         stream c = g | group by auction | aggregate { n: count() }\nsink c -> file(\"out/c.jsonl\")\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/c.jsonl"), "before\n").unwrap();
    dir
}

fn start(dir: &std::path::Path, args: &[&str]) -> Child {
    Command::new(eddy_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `kill -SIGNAL pid...` in one command (the shell's own, needing no package): the signals
/// arrive microseconds apart.
fn kill(signal: &str, pids: &[u32]) {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let script = format!("kill -{signal} {}", pids.join(" "));
    assert!(Command::new("sh").arg("-c").arg(script).status().unwrap().success());
}

/// Waits for `child` to end, at most `limit`; kills it and fails if it does not.
fn wait_at_most(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("eddy did not end within {limit:?}: {}", stderr(&child.wait_with_output().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Whether process `pid` still runs (a zombie waiting to be reaped by someone else does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

/// The processes whose parent is `pid`, from /proc (`PID (NAME) STATE PPID ...`).
fn children(pid: u32) -> Vec<u32> {
    let parent_of = |entry: std::fs::DirEntry| -> Option<(u32, u32)> {
        let child: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let ppid = stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()?;
        Some((child, ppid))
    };
    let entries = std::fs::read_dir("/proc").unwrap().filter_map(Result::ok);
    entries.filter_map(parent_of).filter(|&(_, ppid)| ppid == pid).map(|(child, _)| child).collect()
}

/// Waits until `pid` has `n` children (a local cluster has started), at most 10 s.
fn wait_for_children(pid: u32, n: usize) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let kids = children(pid);
        if kids.len() == n {
            return kids;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{pid} has children {kids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_sigints_back_to_back_stop_a_batch_job_once_with_its_summary() {
    let dir = long_job();
    let child = start(dir.path(), &["run", "p.eddy", "--workers", "2"]);
    std::thread::sleep(Duration::from_millis(1500));
    // As `timeout -s INT` does: the same signal twice within microseconds.
    kill("INT", &[child.id(), child.id()]);
    let out = wait_at_most(child, Duration::from_secs(60));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped before the input ended: the output is incomplete"), "{err}");
    assert!(err.contains("sink c -> file(\"out/c.jsonl\", jsonl): written"), "{err}");
    // The incomplete output did not replace the file, and left no temporary file.
    assert_eq!(std::fs::read_to_string(dir.path().join("out/c.jsonl")).unwrap(), "before\n");
    assert_eq!(std::fs::read_dir(dir.path().join("out")).unwrap().count(), 1);
}

#[test]
fn sigterm_stops_a_batch_job_with_exit_code_143() {
    let dir = long_job();
    let child = start(dir.path(), &["run", "p.eddy"]);
    std::thread::sleep(Duration::from_millis(1500));
    kill("TERM", &[child.id()]);
    let out = wait_at_most(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(stderr(&out).contains("the output is incomplete"), "{}", stderr(&out));
}

#[test]
fn sigterm_to_a_local_cluster_parent_stops_its_children_and_removes_the_hostfile() {
    let dir = long_job();
    let parent = start(dir.path(), &["run", "p.eddy", "--local-cluster", "2"]);
    let pid = parent.id();
    let kids = wait_for_children(pid, 2);
    std::thread::sleep(Duration::from_millis(1500));
    kill("TERM", &[pid]);
    let out = wait_at_most(parent, Duration::from_secs(60));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(143), "{err}");
    // Process 0 printed the summary, with the whole cluster's counts.
    assert!(err.contains("the output is incomplete"), "{err}");
    for kid in kids {
        assert!(!running(kid), "process {kid} outlived its parent");
    }
    let hostfiles: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("eddy-hosts-{pid}-")))
        .collect();
    assert!(hostfiles.is_empty(), "{hostfiles:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("out/c.jsonl")).unwrap(), "before\n");
}

#[test]
fn the_processes_of_a_local_cluster_stop_when_their_parent_is_killed() {
    let dir = long_job();
    let mut parent = start(dir.path(), &["run", "p.eddy", "--local-cluster", "2", "--quiet"]);
    let kids = wait_for_children(parent.id(), 2);
    std::thread::sleep(Duration::from_millis(1000));
    // SIGKILL: the parent can neither forward it nor clean up.
    parent.kill().unwrap();
    parent.wait().unwrap();
    let started = Instant::now();
    while kids.iter().any(|&k| running(k)) {
        assert!(started.elapsed() < Duration::from_secs(30), "{kids:?} outlived their parent");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two free local ports as a hostfile in `dir`.
fn hostfile(dir: &std::path::Path) -> Vec<String> {
    let listeners: Vec<_> = (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let hosts: Vec<String> = listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect();
    std::fs::write(dir.join("hosts.txt"), hosts.join("\n")).unwrap();
    hosts
}

#[test]
fn a_cluster_process_whose_peers_never_come_says_whom_it_waits_for_and_gives_up() {
    let dir = long_job();
    let hosts = hostfile(dir.path());
    let args = ["run", "p.eddy", "--processes", "2", "--process", "1", "--hostfile", "hosts.txt"];
    let child = start(dir.path(), &[&args[..], &["--connect-timeout", "2s"]].concat());
    let out = wait_at_most(child, Duration::from_secs(30));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("eddy: process 1 is waiting for process 0 at {}", hosts[0])), "{err}");
    assert!(err.contains(&format!("process 1 gave up waiting for process 0 at {} after 2s", hosts[0])), "{err}");
}

#[test]
fn a_cluster_process_waiting_for_its_peers_stops_on_the_first_sigterm() {
    let dir = long_job();
    let hosts = hostfile(dir.path());
    // Process 0 waits for process 1 to connect to it.
    let child = start(dir.path(), &["run", "p.eddy", "--processes", "2", "--process", "0", "--hostfile", "hosts.txt"]);
    std::thread::sleep(Duration::from_millis(1500));
    kill("TERM", &[child.id()]);
    let out = wait_at_most(child, Duration::from_secs(10));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains(&format!("process 0 is waiting for process 1 to connect to {}", hosts[0])), "{err}");
    assert!(err.contains("the output is incomplete"), "{err}");
}

#[test]
fn only_a_signal_well_after_the_first_ends_the_process_at_once() {
    // A sink into a named pipe that no one reads: opening it blocks, so the first signal's
    // clean stop cannot finish, and what follows shows how further signals are taken.
    let dir = temp_dir();
    assert!(Command::new("mkfifo").arg(dir.path().join("out.fifo")).status().unwrap().success());
    std::fs::write(
        dir.path().join("p.eddy"),
        "source g = generate(nexmark: \"bid\", events: 10, seed: 1)\nsink g -> file(\"out.fifo\", format: \"jsonl\")\n",
    )
    .unwrap();
    let mut child = start(dir.path(), &["run", "p.eddy"]);
    std::thread::sleep(Duration::from_millis(1000));
    kill("INT", &[child.id(), child.id()]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "two signals microseconds apart are one request");
    kill("INT", &[child.id()]);
    let out = wait_at_most(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
}
