//! The inner join without time bounds of two append-only inputs: a symmetric hash join.

use differential_dataflow::AsCollection;
use eddy_dsl::{Row, Value};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::{chain, entry, route, Sides, NONE};
use crate::render::{Coll, RowMap};

/// One side's kept records, in arrival order: their fields one after another in one vector,
/// and per record where its fields are, its time and count, and the previous record of its
/// key. Two allocations for a side, not one per record, and a side freed in one sweep.
#[derive(Default)]
struct Kept {
    values: Vec<Value>,
    records: Vec<Record>,
}

struct Record {
    start: usize,
    len: u32,
    prev: u32,
    time: u64,
    diff: isize,
}

impl Kept {
    /// Keeps a record with these fields after `prev`; returns its index, its key's new head.
    fn push(&mut self, fields: impl IntoIterator<Item = Value>, prev: u32, time: u64, diff: isize) -> u32 {
        let start = self.values.len();
        self.values.extend(fields);
        let len = (self.values.len() - start) as u32;
        self.records.push(Record { start, len, prev, time, diff });
        (self.records.len() - 1) as u32
    }

    /// The records of the chain from `head` back: (fields, time, count).
    fn chain(&self, head: u32) -> impl Iterator<Item = (&[Value], u64, isize)> {
        chain(&self.records, head, |r| r.prev)
            .map(|r| (&self.values[r.start..r.start + r.len as usize], r.time, r.diff))
    }
}

/// What a symmetric join keeps: per key the last kept record of each side, and the sides.
#[derive(Default)]
struct State {
    heads: RowMap<[u32; 2]>,
    kept: [Kept; 2],
    /// Which sides are complete.
    done: [bool; 2],
}

impl State {
    /// Frees what can meet no record any more once `side` is complete: the other side's.
    fn complete(&mut self, side: usize) {
        let other = 1 - side;
        self.kept[other] = Kept::default();
        self.heads.retain(|_, h| {
            h[other] = NONE;
            h[side] != NONE
        });
        self.done[side] = true;
    }

    /// A record of `side` (its key and the fields it joins with) meets the other side's
    /// records of its key and, unless the other side is complete, is kept.
    fn meet(
        &mut self,
        side: usize,
        key: &Row,
        fields: &mut Row,
        time: u64,
        diff: isize,
        mut give: impl FnMut((Row, u64, isize)),
    ) {
        let other = 1 - side;
        let (head, keep) = match self.done[other] {
            true => (self.heads.get(&key[..]).map_or(NONE, |h| h[other]), None),
            false => {
                let h = entry(&mut self.heads, key, || [NONE, NONE]);
                (h[other], Some(h))
            }
        };
        for (o, o_time, o_diff) in self.kept[other].chain(head) {
            let row = if side == 0 { joined(fields, o) } else { joined(o, fields) };
            give((row, time.max(o_time), diff * o_diff));
        }
        if let Some(h) = keep {
            h[side] = self.kept[side].push(fields.drain(..), h[side], time, diff);
        }
    }
}

/// Left fields followed by right ones.
fn joined(left: &[Value], right: &[Value]) -> Row {
    let mut row = Vec::with_capacity(left.len() + right.len());
    row.extend_from_slice(left);
    row.extend_from_slice(right);
    row
}

/// Each side's records are kept by key and meet the other side's as they arrive, without
/// differential's arrangements (which sort and merge every record, and hold it twice while
/// they do): nothing is ever retracted. The output is `incremental`'s: the same pairs, each at
/// the later of its two records' times (a time no earlier than the message's: it goes out in
/// the same session). Right records are kept as the fields the output takes. Once one side is
/// complete, the other's records meet what is kept and are not kept themselves, and those it
/// had kept are freed: when a small input (Q3's persons) is read before a large one is, the
/// large one is only looked up.
pub(super) fn render<'s>(left: Coll<'s>, right: Coll<'s>, sides: Sides) -> Coll<'s> {
    let (by_left, by_right) = (Exchange::new(route(&sides.left_keys)), Exchange::new(route(&sides.right_keys)));
    left.inner
        .binary_frontier(right.inner, by_left, by_right, "HashJoin", move |_cap, _info| {
            let mut state = State::default();
            let (mut key, mut picked): (Row, Row) = (Vec::new(), Vec::new());
            move |(input1, frontier1), (input2, frontier2), output| {
                for (side, frontier) in [frontier1, frontier2].into_iter().enumerate() {
                    if frontier.frontier().is_empty() && !state.done[side] {
                        state.complete(side);
                    }
                }
                input1.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut session = output.session(&cap);
                    for (mut row, t, diff) in data.drain(..) {
                        if Sides::key_into(&sides.left_keys, &row, &mut key) {
                            state.meet(0, &key, &mut row, t, diff, |x| {
                                if sides.passes(&x.0) {
                                    session.give(x)
                                }
                            });
                        }
                    }
                });
                input2.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut session = output.session(&cap);
                    for (row, t, diff) in data.drain(..) {
                        if Sides::key_into(&sides.right_keys, &row, &mut key) {
                            picked.clear();
                            picked.extend(sides.right_fields.iter().map(|i| row[*i].clone()));
                            state.meet(1, &key, &mut picked, t, diff, |x| {
                                if sides.passes(&x.0) {
                                    session.give(x)
                                }
                            });
                        }
                    }
                });
            }
        })
        .as_collection()
}
