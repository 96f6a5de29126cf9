//! `join` and `left join`: incremental (differential's join, every record kept), windowed
//! (records meet within their window, freed when it closes) and interval (event times at most
//! `within` apart, records freed once the watermark has passed them by more than that). In
//! each, the join's predicate filters the matched pairs, and a left join's lone records are
//! those with no passing pair.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::rc::Rc;

use differential_dataflow::AsCollection;
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Expr, JoinKind, Lag};
use eddy_dsl::{Row, Value};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

use super::{Coll, RowMap, Time};

mod symmetric;

/// The compiled parts of a join.
#[derive(Clone)]
struct Sides {
    left_keys: std::rc::Rc<[Eval]>,
    right_keys: std::rc::Rc<[Eval]>,
    right_fields: std::rc::Rc<[usize]>,
    /// Over the joined row: a matched pair is kept only when it is true.
    predicate: Option<Rc<Eval>>,
}

impl Sides {
    fn new(spec: &Spec) -> Sides {
        Sides {
            left_keys: spec.left_keys.iter().map(compile).collect(),
            right_keys: spec.right_keys.iter().map(compile).collect(),
            right_fields: spec.right_fields.into(),
            predicate: spec.predicate.as_ref().map(|p| Rc::new(compile(p))),
        }
    }

    /// Whether a joined row passes the predicate (`true`; not `false`, not `null`).
    fn passes(&self, joined: &Row) -> bool {
        self.predicate.as_ref().is_none_or(|p| p(joined) == Value::Bool(true))
    }

    /// The joined row of a matched pair, when it passes the predicate.
    fn matched(&self, left: &Row, right: &Row) -> Option<Row> {
        Some(self.joined(left, Some(right))).filter(|row| self.passes(row))
    }

    /// Evaluates the key of a row into `key`; false when a key is null (null matches nothing).
    fn key_into(keys: &[Eval], row: &Row, key: &mut Row) -> bool {
        key.clear();
        key.extend(keys.iter().map(|e| e(row)));
        !key.iter().any(Value::is_null)
    }

    /// The key of a row; `None` when a key is null (null matches nothing).
    fn key(keys: &[Eval], row: &Row) -> Option<Row> {
        let k: Row = keys.iter().map(|e| e(row)).collect();
        (!k.iter().any(Value::is_null)).then_some(k)
    }

    /// The fields of a right record that the output takes.
    fn pick(&self, right: &Row) -> Row {
        self.right_fields.iter().map(|i| right[*i].clone()).collect()
    }

    fn joined(&self, left: &Row, right: Option<&Row>) -> Row {
        let mut row = left.clone();
        match right {
            Some(r) => row.extend(self.right_fields.iter().map(|i| r[*i].clone())),
            None => row.extend(self.right_fields.iter().map(|_| Value::Null)),
        }
        row
    }
}

pub struct Spec<'a> {
    pub left_keys: &'a [Expr],
    pub right_keys: &'a [Expr],
    pub right_fields: &'a [usize],
    pub predicate: &'a Option<Expr>,
    pub outer: bool,
    pub kind: JoinKind,
}

/// A join at the dataflow's top level; `symmetric` as the plan says (`NodeKind::Join`).
pub fn render<'s>(left: Coll<'s>, right: Coll<'s>, spec: Spec, symmetric: bool) -> Coll<'s> {
    let sides = Sides::new(&spec);
    match spec.kind {
        JoinKind::Incremental if symmetric => symmetric::render(left, right, sides),
        JoinKind::Incremental => incremental(left, right, spec),
        JoinKind::Windowed { left_end, right_end, lag } => {
            windowed(left, right, sides, spec.outer, (left_end, right_end), lag)
        }
        JoinKind::Interval { within, left_time, right_time, lag } => {
            interval(left, right, sides, spec.outer, (within, lag), (left_time, right_time))
        }
    }
}

/// The join without time bounds (differential's), at any time: also inside iterate bodies.
pub fn incremental<'s, T: Time>(left: Coll<'s, T>, right: Coll<'s, T>, spec: Spec) -> Coll<'s, T> {
    let sides = Sides::new(&spec);
    if sides.predicate.is_some() {
        return filtered(left, right, sides, spec.outer);
    }
    let (s1, s2, s3) = (sides.clone(), sides.clone(), sides.clone());
    let keyed_left = left.clone().flat_map(move |row| Sides::key(&s1.left_keys, &row).map(|k| (k, row)));
    let keyed_right = right.flat_map(move |row| Sides::key(&s2.right_keys, &row).map(|k| (k, s2.pick(&row))));
    let matched = keyed_left.join_map(keyed_right.clone(), |_k, l: &Row, r: &Row| {
        let mut row = l.clone();
        row.extend(r.iter().cloned());
        row
    });
    if !spec.outer {
        return matched;
    }
    // Left records whose key has no match, with nulls; retracted when a match arrives.
    let present = keyed_right.map(|(k, _)| k).distinct();
    let s4 = sides.clone();
    let unmatched = left
        .map(move |row| (s3.left_keys.iter().map(|e| e(&row)).collect::<Row>(), row))
        .antijoin(present)
        .map(move |(_, row)| s4.joined(&row, None));
    matched.concat(unmatched)
}

/// The incremental join with a predicate: the pairs of equal keys that pass it. For a `left
/// join`, a left record is alone (with nulls) unless one of its pairs passes: the left records
/// minus those with a passing pair (distinct, as a record's pairs depend on its fields only),
/// so that the lone record is retracted when its first passing pair arrives, and comes back
/// when the last one goes.
fn filtered<'s, T: Time>(left: Coll<'s, T>, right: Coll<'s, T>, sides: Sides, outer: bool) -> Coll<'s, T> {
    let (s1, s2, s3) = (sides.clone(), sides.clone(), sides.clone());
    let keyed_left = left.clone().flat_map(move |row| Sides::key(&s1.left_keys, &row).map(|k| (k, row)));
    let keyed_right = right.flat_map(move |row| Sides::key(&s2.right_keys, &row).map(|k| (k, s2.pick(&row))));
    // Each pair of equal keys as (left record, joined row), kept when it passes.
    let pairs = keyed_left
        .join_map(keyed_right, |_k, l: &Row, r: &Row| {
            let mut row = l.clone();
            row.extend(r.iter().cloned());
            (l.clone(), row)
        })
        .filter(move |(_, joined)| s3.passes(joined));
    let matched = pairs.clone().map(|(_, joined)| joined);
    if !outer {
        return matched;
    }
    let with_pair = pairs.map(|(l, _)| l).distinct();
    let unmatched = left.map(|row| (row, ())).antijoin(with_pair).map(move |(row, ())| sides.joined(&row, None));
    matched.concat(unmatched)
}

fn timestamp(row: &Row, i: usize) -> Option<i64> {
    match row.get(i) {
        Some(Value::Timestamp(t)) => Some(*t),
        _ => None,
    }
}

/// A record waiting for partners: its time (window end, or event time), and for a left record
/// of an outer join that has met no partner yet, the capability to send it alone.
struct Held {
    time: i64,
    row: Row,
    alone: Option<Capability<u64>>,
}

/// Routes a record by its join key, hashed without building the key row: equal keys on either
/// side go to the same worker, in every process (a fixed seed).
fn route(keys: &Rc<[Eval]>) -> impl Fn(&(Row, u64, isize)) -> u64 + 'static {
    let keys = Rc::clone(keys);
    move |(row, _, _)| {
        let mut h = foldhash::quality::FixedState::with_seed(0).build_hasher();
        for k in keys.iter() {
            k(row).hash(&mut h);
        }
        h.finish()
    }
}

/// No record: the end of a chain.
const NONE: u32 = u32::MAX;

/// The records of one window on one worker: each side's in one vector, in arrival order, and
/// per key the last record of each side, from which `prev` chains lead through the key's
/// others. One allocation per window and side instead of two vectors per key, and the window
/// freed in one sweep when it closes. For an outer join, the capability to send its unmatched
/// left records when the window closes (at the earliest of their times).
#[derive(Default)]
struct Window {
    keys: RowMap<[u32; 2]>,
    /// Left records, the previous left record of their key, and whether they met a right one.
    lefts: Vec<(Row, u32, bool)>,
    /// Right records and the previous right record of their key.
    rights: Vec<(Row, u32)>,
    alone: Option<Capability<u64>>,
}

/// The value of `key` in `map`, made by `new` for a new key (whose row is then copied in):
/// looked up by slice, so that a record's key is evaluated into a reused row.
fn entry<'m, V>(map: &'m mut RowMap<V>, key: &Row, new: impl FnOnce() -> V) -> &'m mut V {
    if !map.contains_key(&key[..]) {
        map.insert(key.clone(), new());
    }
    map.get_mut(&key[..]).expect("inserted above")
}

/// The records of a chain, from its head (`at`) back.
fn chain<T>(records: &[T], mut at: u32, prev: impl Fn(&T) -> u32) -> impl Iterator<Item = &T> {
    std::iter::from_fn(move || {
        let record = records.get(at as usize)?;
        at = prev(record);
        Some(record)
    })
}

/// Records meet within their window (the same `window_end`): each window's records are kept
/// until the watermark passes its end (by `lag`, see `Lag`), then freed all at once.
fn windowed<'s>(
    left: Coll<'s>,
    right: Coll<'s>,
    sides: Sides,
    outer: bool,
    ends: (usize, usize),
    lag: Lag,
) -> Coll<'s> {
    let (by_left, by_right) = (Exchange::new(route(&sides.left_keys)), Exchange::new(route(&sides.right_keys)));
    let (left_end, right_end) = ends;
    left.inner
        .binary_frontier(right.inner, by_left, by_right, "WindowJoin", move |_cap, _info| {
            let mut windows: BTreeMap<i64, Window> = BTreeMap::new();
            // The key of the record at hand, reused: a key's row is allocated once per window.
            let mut key: Row = Vec::new();
            move |(input1, frontier1), (input2, frontier2), output| {
                input1.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut session = output.session(&cap);
                    for (row, t, diff) in data.drain(..) {
                        // Windowed inputs only grow.
                        let (Some(end), true) = (timestamp(&row, left_end), diff > 0) else { continue };
                        if !Sides::key_into(&sides.left_keys, &row, &mut key) {
                            if outer {
                                session.give((sides.joined(&row, None), t, diff));
                            }
                            continue;
                        }
                        let window = windows.entry(end).or_default();
                        let heads = entry(&mut window.keys, &key, || [NONE, NONE]);
                        let mut matched = false;
                        for (r, _) in chain(&window.rights, heads[1], |r| r.1) {
                            if let Some(joined) = sides.matched(&row, r) {
                                session.give((joined, t, diff));
                                matched = true;
                            }
                        }
                        if outer && !matched && window.alone.as_ref().is_none_or(|c| t < *c.time()) {
                            window.alone = Some(cap.delayed(&t, 0));
                        }
                        for _ in 1..diff {
                            window.lefts.push((row.clone(), heads[0], matched));
                            heads[0] = window.lefts.len() as u32 - 1;
                        }
                        window.lefts.push((row, heads[0], matched));
                        heads[0] = window.lefts.len() as u32 - 1;
                    }
                });
                input2.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut session = output.session(&cap);
                    for (row, t, diff) in data.drain(..) {
                        let (Some(end), true) = (timestamp(&row, right_end), diff > 0) else { continue };
                        if !Sides::key_into(&sides.right_keys, &row, &mut key) {
                            continue;
                        }
                        let window = windows.entry(end).or_default();
                        let heads = entry(&mut window.keys, &key, || [NONE, NONE]);
                        let mut at = heads[0];
                        while let Some((l, prev, matched)) = window.lefts.get_mut(at as usize) {
                            if let Some(joined) = sides.matched(l, &row) {
                                *matched = true;
                                session.give((joined, t, diff));
                            }
                            at = *prev;
                        }
                        for _ in 1..diff {
                            window.rights.push((row.clone(), heads[1]));
                            heads[1] = window.rights.len() as u32 - 1;
                        }
                        window.rights.push((row, heads[1]));
                        heads[1] = window.rights.len() as u32 - 1;
                    }
                });
                // A window's records meet no more once the watermark reaches its end (by `lag`).
                let watermark = frontier1.frontier().iter().chain(frontier2.frontier().iter()).min().map(|w| *w as i64);
                while let Some(entry) = windows.first_entry() {
                    if watermark.is_some_and(|w| entry.key().saturating_add(lag) > w) {
                        break;
                    }
                    let window = entry.remove();
                    if let Some(cap) = window.alone {
                        let mut session = output.session(&cap);
                        for (row, _, _) in window.lefts.iter().filter(|(_, _, matched)| !matched) {
                            session.give((sides.joined(row, None), *cap.time(), 1));
                        }
                    }
                }
            }
        })
        .as_collection()
}

/// Records meet when their event times are at most `within` apart; each is freed once the
/// watermark has passed it by more than that (and `lag`, see `Lag`).
fn interval<'s>(
    left: Coll<'s>,
    right: Coll<'s>,
    sides: Sides,
    outer: bool,
    (within, lag): (i64, Lag),
    at: (usize, usize),
) -> Coll<'s> {
    let (by_left, by_right) = (Exchange::new(route(&sides.left_keys)), Exchange::new(route(&sides.right_keys)));
    let (left_at, right_at) = at;
    let meets = move |a: i64, b: i64| (a - b).abs() <= within;
    left.inner
        .binary_frontier(right.inner, by_left, by_right, "IntervalJoin", move |_cap, _info| {
            // Per key: the left and right records that may still meet.
            let mut held: RowMap<(Vec<Held>, Vec<Held>)> = RowMap::default();
            move |(input1, frontier1), (input2, frontier2), output| {
                input1.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut session = output.session(&cap);
                    for (row, t, diff) in data.drain(..) {
                        let Some(time) = timestamp(&row, left_at) else { continue };
                        let Some(key) = Sides::key(&sides.left_keys, &row) else {
                            if outer {
                                session.give((sides.joined(&row, None), t, diff));
                            }
                            continue;
                        };
                        let (lefts, rights) = held.entry(key).or_default();
                        for _ in 0..diff.max(0) {
                            let mut matched = false;
                            for r in rights.iter().filter(|r| meets(time, r.time)) {
                                if let Some(joined) = sides.matched(&row, &r.row) {
                                    matched = true;
                                    session.give((joined, t, 1));
                                }
                            }
                            let alone = (outer && !matched).then(|| cap.delayed(&t, 0));
                            lefts.push(Held { time, row: row.clone(), alone });
                        }
                    }
                });
                input2.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut session = output.session(&cap);
                    for (row, t, diff) in data.drain(..) {
                        let Some(time) = timestamp(&row, right_at) else { continue };
                        let Some(key) = Sides::key(&sides.right_keys, &row) else { continue };
                        let (lefts, rights) = held.entry(key).or_default();
                        for _ in 0..diff.max(0) {
                            for l in lefts.iter_mut().filter(|l| meets(l.time, time)) {
                                if let Some(joined) = sides.matched(&l.row, &row) {
                                    l.alone = None;
                                    session.give((joined, t, 1));
                                }
                            }
                            rights.push(Held { time, row: row.clone(), alone: None });
                        }
                    }
                });
                // Records nothing can meet any more are freed: once they are `within` (and
                // `lag`) behind the watermark.
                let watermark = frontier1.frontier().iter().chain(frontier2.frontier().iter()).min().map(|w| *w as i64);
                let done = |time: i64| watermark.is_none_or(|w| time.saturating_add(within).saturating_add(lag) < w);
                let mut alone: Vec<(Capability<u64>, Row)> = Vec::new();
                held.retain(|_, (lefts, rights)| {
                    lefts.retain_mut(|l| {
                        if !done(l.time) {
                            return true;
                        }
                        if let Some(cap) = l.alone.take() {
                            alone.push((cap, std::mem::take(&mut l.row)));
                        }
                        false
                    });
                    rights.retain(|r| !done(r.time));
                    !lefts.is_empty() || !rights.is_empty()
                });
                for (cap, row) in alone {
                    output.session(&cap).give((sides.joined(&row, None), *cap.time(), 1));
                }
            }
        })
        .as_collection()
}
