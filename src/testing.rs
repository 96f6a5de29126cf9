//! `eddy test`: runs a pipeline's `test` blocks and compares what each expected stream holds at
//! the end with what the test says, as multisets of records.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use eddy_dsl::check::TestCase;
use eddy_dsl::plan::Plan;
use eddy_dsl::{Row, Schema};
use eddy_engine::{Bindings, Feed, RunConfig};

use crate::Record;

/// The result of one test.
#[derive(Clone, Debug)]
pub struct TestOutcome {
    pub name: String,
    /// What differs, one line each (`- {record}` expected but missing, `+ {record}` not
    /// expected); empty when the test passed.
    pub failures: Vec<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs one test with its plan.
pub fn run(case: &TestCase, plan: &Plan, config: &RunConfig) -> TestOutcome {
    let mut bindings = Bindings::default();
    for (source, items) in &case.feeds {
        let script = Feed::Script(Mutex::new(VecDeque::from(items.clone())));
        bindings.sources.insert(source.clone(), Arc::new(script));
    }
    let mut received: HashMap<String, Arc<Mutex<Vec<Row>>>> = HashMap::new();
    for expect in &case.expects {
        let rows = Arc::new(Mutex::new(Vec::new()));
        received.insert(expect.stream.clone(), Arc::clone(&rows));
        let sink: eddy_engine::RustSink = Arc::new(Mutex::new(move |row: Row| {
            if let Ok(mut r) = rows.lock() {
                r.push(row);
            }
        }));
        bindings.sinks.insert(expect.stream.clone(), sink);
    }
    let mut failures = Vec::new();
    if let Err(e) = eddy_engine::run(plan, config, bindings) {
        failures.push(format!("the run failed: {e}"));
    }
    for expect in &case.expects {
        let actual = received.get(&expect.stream).and_then(|r| r.lock().ok().map(|r| r.clone())).unwrap_or_default();
        let schema = Arc::new(expect.schema.clone());
        let (missing, unexpected) = difference(&expect.rows, &actual);
        if missing.is_empty() && unexpected.is_empty() {
            continue;
        }
        failures.push(format!(
            "{}: expected {} record{}, got {}",
            expect.stream,
            expect.rows.len(),
            if expect.rows.len() == 1 { "" } else { "s" },
            actual.len()
        ));
        failures.extend(missing.into_iter().map(|r| format!("  - {}", show(&schema, r))));
        failures.extend(unexpected.into_iter().map(|r| format!("  + {}", show(&schema, r))));
    }
    TestOutcome { name: case.name.clone(), failures }
}

fn show(schema: &Arc<Schema>, row: Row) -> String {
    Record { schema: Arc::clone(schema), values: row }.to_json()
}

/// The records of `expected` missing from `actual`, and those of `actual` not expected.
fn difference(expected: &[Row], actual: &[Row]) -> (Vec<Row>, Vec<Row>) {
    let mut counts: BTreeMap<&Row, i64> = BTreeMap::new();
    for r in expected {
        *counts.entry(r).or_default() += 1;
    }
    for r in actual {
        *counts.entry(r).or_default() -= 1;
    }
    let (mut missing, mut unexpected) = (Vec::new(), Vec::new());
    for (row, n) in counts {
        let side = if n > 0 { &mut missing } else { &mut unexpected };
        side.extend(std::iter::repeat_n(row.clone(), n.unsigned_abs() as usize));
    }
    (missing, unexpected)
}
