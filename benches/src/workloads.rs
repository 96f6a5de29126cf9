//! The workloads (Nexmark queries) and the variants that run each of them.

use std::fmt;

use eddy_engine::nexmark::{self, Kind};

/// The seed of every data set and generated source in the benchmark.
pub const SEED: u64 = 42;

/// A Nexmark workload: a row of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Passthrough: every bid written back out as JSON lines.
    Q0,
    /// Currency conversion: `price * 0.908`.
    Q1,
    /// Selection: bids with `auction % 123 == 0`.
    Q2,
    /// Incremental join persons × auctions.
    Q3,
    /// Bids per auction in 10-second tumbling windows.
    Q5,
    /// Highest bid per window.
    Q7,
    /// Persons and their auctions in the same window.
    Q8,
    /// Bids per auction over the whole input: `group by auction | aggregate { n: count(), top: max(price) }`.
    Agg,
}

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::Q0,
        Workload::Q1,
        Workload::Q2,
        Workload::Agg,
        Workload::Q3,
        Workload::Q5,
        Workload::Q7,
        Workload::Q8,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Q0 => "q0",
            Workload::Q1 => "q1",
            Workload::Q2 => "q2",
            Workload::Q3 => "q3",
            Workload::Q5 => "q5",
            Workload::Q7 => "q7",
            Workload::Q8 => "q8",
            Workload::Agg => "agg",
        }
    }

    pub fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Workload::Q0 => "passthrough, bids → JSON lines",
            Workload::Q1 => "currency conversion, `price * 0.908`",
            Workload::Q2 => "selection, `auction % 123 == 0` → CSV",
            Workload::Q3 => "incremental join persons × auctions",
            Workload::Q5 => "bids per auction, 10-s tumbling windows",
            Workload::Q7 => "highest bid per window",
            Workload::Q8 => "persons and their auctions in the same window",
            Workload::Agg => "bids per auction, whole input: `count()`, `max(price)` → CSV",
        }
    }

    /// Why the harness cannot run this workload yet, if it cannot: every workload has its
    /// baselines now; one added without them returns its reason here (and is a report row).
    pub fn unsupported(self) -> Option<&'static str> {
        None
    }

    /// The Nexmark kinds this workload reads, one source (and one JSONL file) each.
    pub fn kinds(self) -> &'static [Kind] {
        match self {
            Workload::Q3 | Workload::Q8 => &[Kind::Person, Kind::Auction],
            _ => &[Kind::Bid],
        }
    }

    /// The records this workload reads among `events` Nexmark events (all its sources).
    pub fn records(self, events: u64) -> u64 {
        self.kinds().iter().map(|&kind| nexmark::count(kind, 0..events)).sum()
    }

    /// The file every variant writes in its output directory.
    pub fn output_file(self) -> &'static str {
        match self {
            Workload::Q0 => "q0.jsonl",
            Workload::Q1 => "q1.jsonl",
            Workload::Q2 => "q2.csv",
            Workload::Agg => "agg.csv",
            Workload::Q3 => "q3.csv",
            Workload::Q5 => "q5.csv",
            Workload::Q7 => "q7.csv",
            Workload::Q8 => "q8.csv",
        }
    }

    /// Whether the issue's scaling target (2 workers ≥ 1.8 × 1 worker) applies.
    pub fn scaling_target(self) -> bool {
        matches!(self, Workload::Q0 | Workload::Q2 | Workload::Q5)
    }

    /// The Eddy pipeline reading the JSONL files of `data`.
    fn file_pipeline(self) -> &'static str {
        match self {
            Workload::Q0 => include_str!("../../examples/nexmark/q0.eddy"),
            Workload::Q1 => include_str!("../../examples/nexmark/q1.eddy"),
            Workload::Q2 => include_str!("../../examples/nexmark/q2.eddy"),
            Workload::Agg => include_str!("../pipelines/agg.eddy"),
            Workload::Q3 => include_str!("../../examples/nexmark/q3.eddy"),
            Workload::Q5 => include_str!("../../examples/nexmark/q5.eddy"),
            Workload::Q7 => include_str!("../../examples/nexmark/q7.eddy"),
            Workload::Q8 => include_str!("../../examples/nexmark/q8.eddy"),
        }
    }

    /// The Eddy pipeline text for `input`: the example file as it is, or with each of its
    /// sources (`file(data + "/bids.jsonl")`, `.../persons.jsonl`, `.../auctions.jsonl`)
    /// replaced by the in-process generator of that kind among `events` Nexmark events.
    pub fn pipeline(self, input: Input, events: u64) -> Result<String, String> {
        let mut text = self.file_pipeline().to_string();
        for &kind in self.kinds() {
            let source = format!(r#"file(data + "/{}")"#, jsonl_file(kind));
            if !text.contains(&source) {
                return Err(format!("the {} pipeline has no `{source}` source", self.name()));
            }
            if input == Input::Generator {
                let generate = format!(r#"generate(nexmark: "{}", events: {events}, seed: {SEED})"#, kind.name());
                text = text.replace(&source, &generate);
            }
        }
        Ok(text)
    }
}

/// The file `nexmark::write_jsonl` writes the events of `kind` to.
pub fn jsonl_file(kind: Kind) -> &'static str {
    match kind {
        Kind::Person => "persons.jsonl",
        Kind::Auction => "auctions.jsonl",
        Kind::Bid => "bids.jsonl",
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The JSONL files in the data directory (`bids.jsonl`, `persons.jsonl`, `auctions.jsonl`).
    Jsonl,
    /// `eddy_engine::nexmark::Generator`, in process.
    Generator,
}

/// One way of running a workload: a column group of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The Eddy pipeline through the `eddy` crate API.
    Eddy { input: Input, workers: usize },
    /// A single-threaded loop: serde_json into a borrowed struct, the query, serde_json out.
    SerdeLoop,
    /// Hand-written timely with a struct row: file stripes → map/filter → file sink.
    Timely { workers: usize },
    /// A single-threaded loop over `Generator::fill`, the query on the rows, Eddy's encoder out.
    GenLoop,
    /// Two serde loops at once, in two processes: what the machine gives a second thread (its
    /// time is the later of the two).
    SerdeLoopPair,
}

impl Variant {
    pub fn name(self) -> String {
        match self {
            Variant::Eddy { input: Input::Jsonl, workers } => format!("eddy-jsonl-{workers}w"),
            Variant::Eddy { input: Input::Generator, workers } => format!("eddy-gen-{workers}w"),
            Variant::SerdeLoop => "serde-loop".to_string(),
            Variant::Timely { workers } => format!("timely-{workers}w"),
            Variant::GenLoop => "gen-loop".to_string(),
            Variant::SerdeLoopPair => "serde-loop-x2".to_string(),
        }
    }

    pub fn parse(name: &str) -> Option<Variant> {
        let workers = |rest: &str| rest.strip_suffix('w').and_then(|n| n.parse::<usize>().ok()).filter(|n| *n > 0);
        match name {
            "serde-loop" => Some(Variant::SerdeLoop),
            "gen-loop" => Some(Variant::GenLoop),
            "serde-loop-x2" => Some(Variant::SerdeLoopPair),
            _ => {
                if let Some(rest) = name.strip_prefix("eddy-jsonl-") {
                    Some(Variant::Eddy { input: Input::Jsonl, workers: workers(rest)? })
                } else if let Some(rest) = name.strip_prefix("eddy-gen-") {
                    Some(Variant::Eddy { input: Input::Generator, workers: workers(rest)? })
                } else {
                    Some(Variant::Timely { workers: workers(name.strip_prefix("timely-")?)? })
                }
            }
        }
    }

    /// Whether the variant runs in every round of a scaling workload (see
    /// `Options::scaling_runs`): those the 2-worker / 1-worker ratios and the machine's need.
    pub fn scales(self) -> bool {
        matches!(self, Variant::Eddy { input: Input::Jsonl, .. } | Variant::SerdeLoop | Variant::SerdeLoopPair)
    }

    pub fn input(self) -> Input {
        match self {
            Variant::Eddy { input, .. } => input,
            Variant::SerdeLoop | Variant::SerdeLoopPair | Variant::Timely { .. } => Input::Jsonl,
            Variant::GenLoop => Input::Generator,
        }
    }

    /// The variants of one round, in the order they run: each Eddy variant next to its baseline.
    /// With `scaling`, two serde loops at once measure what the machine itself gives the
    /// second worker in the same rounds.
    pub fn round(workers_list: &[usize], scaling: bool) -> Vec<Variant> {
        let mut round = Vec::new();
        for (i, &workers) in workers_list.iter().enumerate() {
            round.push(Variant::Eddy { input: Input::Jsonl, workers });
            if i == 0 {
                round.push(Variant::SerdeLoop);
            }
        }
        if scaling && workers_list.len() > 1 {
            round.push(Variant::SerdeLoopPair);
        }
        round.extend(workers_list.iter().map(|&workers| Variant::Timely { workers }));
        round.push(Variant::Eddy { input: Input::Generator, workers: 1 });
        round.push(Variant::GenLoop);
        round
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Variant::round(&[1, 2, 4], true) {
            assert_eq!(Variant::parse(&v.name()), Some(v));
        }
        assert_eq!(Variant::parse("timely-0w"), None);
        assert_eq!(Variant::parse("eddy-x-1w"), None);
        for w in Workload::ALL {
            assert_eq!(Workload::parse(w.name()), Some(w));
        }
    }

    #[test]
    fn generator_pipelines_replace_the_sources() {
        for w in Workload::ALL.into_iter().filter(|w| w.unsupported().is_none()) {
            let text = w.pipeline(Input::Generator, 1000).unwrap();
            for &kind in w.kinds() {
                let generate = format!(r#"generate(nexmark: "{}", events: 1000, seed: 42)"#, kind.name());
                assert!(text.contains(&generate), "{w}: {kind:?}");
            }
            assert!(!text.contains(r#"file(data + "/"#), "{w}");
            assert_eq!(w.pipeline(Input::Jsonl, 1000).unwrap(), w.file_pipeline(), "{w}");
        }
        assert_eq!(Workload::Q3.records(100), 2 + 6);
        assert_eq!(Workload::Q7.records(100), 92);
    }
}
