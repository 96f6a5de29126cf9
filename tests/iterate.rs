//! `iterate (max N) { ... }` checked against plain solvers written here: reachability and
//! connected components of a generated graph against a breadth-first search, MDP value
//! iteration (`examples/mdp/value_iteration.eddy`) against a plain Rust value iteration, and a
//! loop that never converges stopping at its maximum, with the summary saying which.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use common::*;

/// A small deterministic random generator (an LCG), so that every run tests the same graph.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A random directed graph of `edges` edges between `nodes` nodes (self-loops and duplicate
/// edges included) and three roots, written to `dir/edges.csv` and `dir/roots.csv`.
fn random_graph(dir: &Path, nodes: u64, edges: usize) -> (Vec<(u64, u64)>, Vec<u64>) {
    let mut rng = Lcg(42);
    let edges: Vec<(u64, u64)> = (0..edges).map(|_| (rng.below(nodes), rng.below(nodes))).collect();
    let roots = vec![rng.below(nodes), rng.below(nodes), rng.below(nodes)];
    let mut text = String::from("src,dst\n");
    for (s, d) in &edges {
        text.push_str(&format!("{s},{d}\n"));
    }
    std::fs::write(dir.join("edges.csv"), text).unwrap();
    let text: String =
        std::iter::once("node".to_string()).chain(roots.iter().map(|r| r.to_string())).collect::<Vec<_>>().join("\n");
    std::fs::write(dir.join("roots.csv"), text + "\n").unwrap();
    (edges, roots)
}

/// The nodes reachable from `roots` (the roots included), by breadth-first search.
fn bfs(edges: &[(u64, u64)], roots: &[u64]) -> BTreeSet<u64> {
    let mut out: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &(s, d) in edges {
        out.entry(s).or_default().push(d);
    }
    let mut seen: BTreeSet<u64> = roots.iter().copied().collect();
    let mut queue: VecDeque<u64> = roots.iter().copied().collect();
    while let Some(n) = queue.pop_front() {
        for &d in out.get(&n).into_iter().flatten() {
            if seen.insert(d) {
                queue.push_back(d);
            }
        }
    }
    seen
}

/// Runs an example from the repository root with `args` added; returns its CSV output's rows
/// (header dropped), split into cells.
fn run_csv(example: &str, args: &[&str]) -> Vec<Vec<String>> {
    let mut all = vec!["run", example, "--quiet"];
    all.extend_from_slice(args);
    let out = eddy(&root(), &all);
    assert_ok(&out);
    let text = stdout(&out);
    let mut lines = text.lines();
    lines.next().expect("a CSV header");
    lines.map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn reachability_matches_a_breadth_first_search() {
    let dir = temp_dir();
    let (edges, roots) = random_graph(dir.path(), 200, 600);
    let expected = bfs(&edges, &roots);
    assert!(expected.len() > roots.len() && expected.len() < 200, "a graph worth testing: {}", expected.len());
    let data = format!("data={}", dir.path().display());
    for parallelism in PARALLELISM {
        let mut args = vec!["--param", &data];
        args.extend_from_slice(parallelism);
        let rows = run_csv("examples/graph/reach.eddy", &args);
        let got: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        let set: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len(), "each node once, {parallelism:?}");
        assert_eq!(set, expected, "{parallelism:?}");
    }
}

#[test]
fn connected_components_match_a_breadth_first_search() {
    let dir = temp_dir();
    // Sparser than the reachability graph, so that it falls apart into many components.
    let (edges, _) = random_graph(dir.path(), 200, 120);
    // Undirected BFS from each node not yet labelled, in increasing order: the first node of a
    // component is its least, which is the label.
    let mut undirected = edges.clone();
    undirected.extend(edges.iter().map(|&(s, d)| (d, s)));
    let nodes: BTreeSet<u64> = edges.iter().flat_map(|&(s, d)| [s, d]).collect();
    let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
    for &n in &nodes {
        if !expected.contains_key(&n) {
            for m in bfs(&undirected, &[n]) {
                expected.insert(m, n);
            }
        }
    }
    let labels: BTreeSet<u64> = expected.values().copied().collect();
    assert!(labels.len() > 1 && labels.len() < nodes.len(), "several components, some large");
    let data = format!("data={}", dir.path().display());
    for parallelism in PARALLELISM {
        let mut args = vec!["--param", &data];
        args.extend_from_slice(parallelism);
        let rows = run_csv("examples/graph/components.eddy", &args);
        let got: BTreeMap<u64, u64> = rows.iter().map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap())).collect();
        assert_eq!(got.len(), rows.len(), "each node once, {parallelism:?}");
        assert_eq!(got, expected, "{parallelism:?}");
    }
}

/// An MDP read from `dir`'s CSV files: the states, P(next | state, action) and R(state, action).
struct Mdp {
    states: Vec<String>,
    transitions: Vec<(String, String, String, f64)>,
    rewards: Vec<(String, String, f64)>,
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect()
}

fn read_mdp(dir: &Path) -> Mdp {
    Mdp {
        states: csv_rows(&dir.join("states.csv")).into_iter().map(|r| r[0].clone()).collect(),
        transitions: csv_rows(&dir.join("transitions.csv"))
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].parse().unwrap()))
            .collect(),
        rewards: csv_rows(&dir.join("rewards.csv"))
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].parse().unwrap()))
            .collect(),
    }
}

/// Plain value iteration: V(s) = max_a [R(s,a) + gamma * sum P(s'|s,a) V(s')] until the values
/// stop changing (by more than 1e-13); returns each state's value and best action.
fn value_iteration(mdp: &Mdp, gamma: f64) -> BTreeMap<String, (f64, String)> {
    let mut values: BTreeMap<String, f64> = mdp.states.iter().map(|s| (s.clone(), 0.0)).collect();
    for _ in 0..100_000 {
        let mut q: BTreeMap<(String, String), f64> =
            mdp.rewards.iter().map(|(s, a, r)| ((s.clone(), a.clone()), *r)).collect();
        let mut expected: BTreeMap<(String, String), f64> = BTreeMap::new();
        for (s, a, next, p) in &mdp.transitions {
            *expected.entry((s.clone(), a.clone())).or_default() += p * values[next];
        }
        for (key, v) in q.iter_mut() {
            *v += gamma * expected.get(key).copied().unwrap_or(0.0);
        }
        let mut best: BTreeMap<String, (f64, String)> = BTreeMap::new();
        for ((s, a), v) in q {
            if best.get(&s).is_none_or(|(b, _)| v > *b) {
                best.insert(s, (v, a));
            }
        }
        let change = best.iter().map(|(s, (v, _))| (v - values[s]).abs()).fold(0.0, f64::max);
        values = best.iter().map(|(s, (v, _))| (s.clone(), *v)).collect();
        if change <= 1e-13 {
            return best;
        }
    }
    panic!("value iteration did not converge");
}

/// Runs the value-iteration example on `data` and checks it against the plain solver.
fn check_mdp(data: &str, gamma: f64, workers: &str) -> BTreeMap<String, (f64, String)> {
    let expected = value_iteration(&read_mdp(&root().join(data)), gamma);
    let (data_arg, gamma_arg) = (format!("data={data}"), format!("gamma={gamma}"));
    let rows = run_csv(
        "examples/mdp/value_iteration.eddy",
        &["--param", &data_arg, "--param", &gamma_arg, "--workers", workers],
    );
    let got: BTreeMap<String, (f64, String)> =
        rows.iter().map(|r| (r[0].clone(), (r[1].parse().unwrap(), r[2].clone()))).collect();
    assert_eq!(got.len(), rows.len(), "one row per state: {rows:?}");
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{data}, {workers} workers");
    for (state, (value, action)) in &expected {
        let (v, a) = &got[state];
        assert!((v - value).abs() <= 1e-9, "{data}, {workers} workers: V({state}) = {v}, expected {value}");
        assert_eq!(a, action, "{data}, {workers} workers: the best action in {state}");
    }
    got
}

#[test]
fn value_iteration_matches_a_plain_solver_on_a_small_mdp() {
    // The machine-maintenance MDP of examples/mdp/small. With gamma = 0.9 the values need
    // about 330 rounds to stop changing; with 4 workers on a small machine a round of this loop
    // costs far more than with one (the workers spin while they wait for each other), so the
    // 4-worker run uses gamma = 0.5 (36 rounds). The discount factor is a param.
    let got = check_mdp("examples/mdp/small", 0.9, "1");
    let policy: Vec<&str> = got.values().map(|(_, a)| a.as_str()).collect();
    assert_eq!(policy, ["replace", "run", "repair"], "broken, good, worn");
    for workers in ["1", "4"] {
        // A short-sighted owner never repairs or replaces the machine.
        let got = check_mdp("examples/mdp/small", 0.5, workers);
        let policy: Vec<&str> = got.values().map(|(_, a)| a.as_str()).collect();
        assert_eq!(policy, ["wait", "run", "run"], "broken, good, worn; {workers} workers");
    }
}

#[test]
fn value_iteration_finds_the_known_policy_of_a_gridworld() {
    // 4x4, slippery moves (80% as intended, 10% to each side), goal at r0c3, pit at r1c3.
    // Row by row, the optimal policy: along the top row to the goal; everywhere else north,
    // except that the two cells under the pit head west, away from it.
    let known = [
        ["E", "E", "E", "stay"], //
        ["N", "N", "N", "stay"],
        ["N", "N", "N", "W"],
        ["N", "N", "N", "W"],
    ];
    for workers in ["1", "4"] {
        let got = check_mdp("examples/mdp/gridworld", 0.9, workers);
        for (r, row) in known.iter().enumerate() {
            for (c, action) in row.iter().enumerate() {
                assert_eq!(got[&format!("r{r}c{c}")].1, *action, "r{r}c{c}, {workers} workers");
            }
        }
    }
}

#[test]
fn examples_tests_pass() {
    for file in ["examples/graph/reach.eddy", "examples/graph/components.eddy", "examples/mdp/value_iteration.eddy"] {
        let out = eddy(&root(), &["test", file]);
        assert_ok(&out);
        assert!(stdout(&out).ends_with(" passed, 0 failed\n"), "{file}: {}", stdout(&out));
    }
}

/// A counter that grows each round: `filter n < limit` makes it stop by itself.
fn counter(dir: &Path, limit: Option<u32>) -> String {
    let filter = limit.map(|l| format!("| filter n <= {l}")).unwrap_or_default();
    std::fs::write(dir.join("seed.csv"), "n\n0\n").unwrap();
    std::fs::write(
        dir.join("p.eddy"),
        format!(
            "schema N {{ n: int }}\nsource seed: N = file(\"seed.csv\")\n\
             stream counts = seed | iterate (max 5) {{ loop | select {{ n: n + 1 }} {filter} | union seed | distinct }}\n\
             sink counts -> stdout(format: \"csv\", header: false)\n"
        ),
    )
    .unwrap();
    "p.eddy".to_string()
}

#[test]
fn a_loop_that_never_converges_stops_at_its_maximum() {
    let dir = temp_dir();
    let file = counter(dir.path(), None);
    for parallelism in PARALLELISM {
        let mut args = vec!["run", file.as_str()];
        args.extend_from_slice(parallelism);
        let out = eddy(dir.path(), &args);
        assert_ok(&out);
        // Round k holds 0..=k: after 5 rounds, 0..=5.
        assert_eq!(sorted_lines(&stdout(&out)), ["0", "1", "2", "3", "4", "5"], "{parallelism:?}");
        let err = stderr(&out);
        assert!(err.contains("iterate in counts: stopped after its maximum of 5 rounds"), "{parallelism:?}: {err}");
        assert!(!err.contains("fixed point"), "{err}");
    }
}

#[test]
fn a_loop_that_converges_says_so() {
    let dir = temp_dir();
    let file = counter(dir.path(), Some(3));
    for parallelism in PARALLELISM {
        let mut args = vec!["run", file.as_str()];
        args.extend_from_slice(parallelism);
        let out = eddy(dir.path(), &args);
        assert_ok(&out);
        assert_eq!(sorted_lines(&stdout(&out)), ["0", "1", "2", "3"], "{parallelism:?}");
        let err = stderr(&out);
        assert!(err.contains("iterate in counts: reached a fixed point"), "{parallelism:?}: {err}");
        assert!(!err.contains("maximum"), "{err}");
    }
}
