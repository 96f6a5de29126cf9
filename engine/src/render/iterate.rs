//! `iterate (max N) { body }` on differential's `iterate`: the body runs on the loop variable
//! until nothing changes, or until N rounds have run (later rounds' changes are dropped, and
//! counted, so the summary can say which happened).

use std::collections::HashMap;
use std::rc::Rc;

use differential_dataflow::operators::Iterate;
use differential_dataflow::AsCollection;
use eddy_dsl::plan::{Node, NodeKind};
use timely::dataflow::operators::vec::Filter;
use timely::order::Product;

use super::{common, Coll};
use crate::summary::Counters;

pub fn render<'s>(
    start: Coll<'s>,
    body: &[Node],
    result: usize,
    max: u64,
    outer: HashMap<usize, Coll<'s>>,
    counters: &Rc<Counters>,
    index: usize,
) -> Coll<'s> {
    let counters = Rc::clone(counters);
    start.iterate(|subgraph, variable| {
        let mut colls: Vec<Coll<'_, Product<u64, u64>>> = Vec::with_capacity(body.len());
        for node in body {
            let coll = match &node.kind {
                NodeKind::Loop => variable.clone(),
                NodeKind::Outer { node } => outer[node].clone().enter(subgraph),
                kind => {
                    let input = |i: &usize| -> Coll<'_, _> { colls[*i].clone() };
                    common(kind, &input)
                        .expect("check: only joins without time bounds, and stateless and keyed stages in loops")
                }
            };
            colls.push(coll);
        }
        colls[result]
            .clone()
            .inner
            .filter(move |(_, t, _)| {
                let within = t.inner < max;
                if !within {
                    Counters::add(&counters.capped[index], 1);
                }
                within
            })
            .as_collection()
    })
}
