//! `env(NAME[, default])` in connector arguments and param defaults: read when the pipeline is
//! checked, so that addresses and secrets need not be written in pipeline files.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::process::Command;

use common::*;

const PIPELINE: &str = "schema E { k: string }\n\
    param suffix: string = env(\"EDDY_TEST_SUFFIX\", \"none\")\n\
    source e: E = file(env(\"EDDY_TEST_INPUT\"))\n\
    stream s = e | select { k, suffix }\n\
    sink s -> stdout(format: \"csv\", header: false)\n";

fn eddy_env(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(eddy_bin());
    cmd.args(args).current_dir(dir).env_remove("EDDY_TEST_SUFFIX").env_remove("EDDY_TEST_INPUT");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn env_fills_connector_arguments_and_param_defaults() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("in.jsonl"), "{\"k\":\"a\"}\n").unwrap();
    std::fs::write(dir.path().join("p.eddy"), PIPELINE).unwrap();
    let out = eddy_env(dir.path(), &["run", "p.eddy"], &[("EDDY_TEST_INPUT", "in.jsonl"), ("EDDY_TEST_SUFFIX", "x")]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "a,x\n");
    // The default, when the variable is not set.
    let out = eddy_env(dir.path(), &["run", "p.eddy"], &[("EDDY_TEST_INPUT", "in.jsonl")]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "a,none\n");
}

#[test]
fn an_unset_variable_without_a_default_is_a_pipeline_error() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("p.eddy"), PIPELINE).unwrap();
    let out = eddy_env(dir.path(), &["check", "p.eddy"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the environment variable 'EDDY_TEST_INPUT' is not set"), "{err}");
    assert!(err.contains("p.eddy:3:"), "{err}");
}

#[test]
fn env_in_a_stage_is_an_error() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("p.eddy"),
        "schema E { k: string }\nsource e: E = file(\"in.jsonl\")\n\
         stream s = e | filter k == env(\"HOME\")\nsink s -> stdout()\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "").unwrap();
    let out = eddy_env(dir.path(), &["check", "p.eddy"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("only in connector arguments and param defaults"), "{}", stderr(&out));
}
