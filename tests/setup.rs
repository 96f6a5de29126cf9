//! The set-up a new user follows: the Rust version Cargo.toml and the README state must be one
//! that builds every locked dependency.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

/// `1.89` or `1.88.0` as comparable numbers.
fn version(text: &str) -> Vec<u64> {
    text.split('.').map(|n| n.parse().unwrap()).collect()
}

#[test]
fn the_stated_rust_version_builds_every_locked_dependency() {
    // The packages of this platform: the others' may not be downloaded.
    let rustc = std::process::Command::new("rustc").arg("-vV").output().unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    let host = rustc.lines().find_map(|l| l.strip_prefix("host: ")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", host])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let ours = packages.iter().find(|p| p["name"] == "eddy").unwrap()["rust_version"].as_str().unwrap();
    let (needed, by) = packages
        .iter()
        .filter_map(|p| Some((version(p["rust_version"].as_str()?), p["name"].as_str()?)))
        .max()
        .unwrap();
    assert!(version(ours) >= needed, "rust-version {ours} is below what {by} needs ({needed:?})");
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    assert!(readme.contains(&format!("Rust {ours} or later")), "the README must say Rust {ours}");
    for step in ["cargo install --path .", "rustup component add clippy rustfmt", "eddy gen nexmark"] {
        assert!(readme.contains(step), "the README must say `{step}`");
    }
}
