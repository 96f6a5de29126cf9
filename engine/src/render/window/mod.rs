//! Windows on event time: `Window` assigns records to tumbling or sliding windows, and
//! `Windowed` keeps per-window, per-key state for `aggregate`, `distinct` and `top`, emitting
//! each window once when the input frontier — the watermark — passes its end, then freeing it.
//! Over tumbling and sliding windows every worker combines its own records first: aggregates
//! into partial states (`aggregate`); `distinct` and `top` by the same operation, whose local
//! results are all the final one needs (the least record of a key is the least of the
//! least records of each worker; the first `n` of the first `n` of each worker).

mod aggregate;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use differential_dataflow::{AsCollection, Hashable};
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Expr, Lag, TimeRef, WindowKind, WindowOp};
use eddy_dsl::{Row, Value};
use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::progress::frontier::MutableAntichain;

use super::aggregate::{State, States};
use super::distinct::SortKeys;
use super::{Coll, RowMap};

/// The time of a record: its event time field, or the time it carries.
fn event_time(time: &TimeRef, row: &Row, carried: u64) -> Option<i64> {
    match time {
        TimeRef::Path(f, path) => eddy_dsl::plan::timestamp_at(row.get(*f), path),
        TimeRef::Field(f) => match row.get(*f) {
            Some(Value::Timestamp(t)) => Some(*t),
            _ => None,
        },
        TimeRef::Arrival => Some(carried as i64),
    }
}

/// Appends `window_start` and `window_end` to each record (or writes them at `replace`), one
/// copy per window it falls in: the record itself for the last (and, tumbling, only) one.
pub fn assign(input: Coll<'_>, size: i64, slide: i64, time: TimeRef, replace: Option<(usize, usize)>) -> Coll<'_> {
    input
        .inner
        .unary(Pipeline, "Window", move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                    let mut session = output.session(&cap);
                    for (row, t, diff) in data.drain(..) {
                        let Some(et) = event_time(&time, &row, t) else { continue };
                        let (first, last) = starts(et, size, slide);
                        // Copies go to all windows but the latest, which gets the record itself.
                        let mut start = first;
                        while start < last {
                            session.give((with_bounds(row.clone(), start, start + size, replace), t, diff));
                            start += slide;
                        }
                        session.give((with_bounds(row, last, last.saturating_add(size), replace), t, diff));
                    }
                });
            }
        })
        .as_collection()
}

/// The first and last starts of the windows `[start, start + size)` that hold `et`: the
/// multiples of `slide` in `(et - size, et]` (the check keeps `slide <= size`). Timestamps and
/// window sizes are bounded (`eddy_dsl::time::MAX_WINDOW`), so this cannot overflow; it
/// saturates all the same rather than panic.
fn starts(et: i64, size: i64, slide: i64) -> (i64, i64) {
    let last = et - et.rem_euclid(slide);
    let span = last.saturating_sub(et.saturating_sub(size).saturating_add(1));
    (last.saturating_sub(span / slide * slide), last)
}

/// A record with a window's bounds appended, or written at `at`.
fn with_bounds(mut row: Row, start: i64, end: i64, at: Option<(usize, usize)>) -> Row {
    let (s, e) = (Value::Timestamp(start), Value::Timestamp(end));
    match at {
        Some((i, j)) => {
            row[i] = s;
            row[j] = e;
        }
        None => row.extend([s, e]),
    }
    row
}

/// What one window keeps for one key.
enum Acc {
    /// Partial aggregate states.
    Aggregate(State),
    /// Distinct records by their distinct key: the least record of each.
    Distinct(BTreeMap<Row, Row>),
    /// The first records by the sort value, in order (see `keep`).
    Top(Vec<(Value, Row)>),
}

/// The compiled operation.
struct Op {
    keys: Vec<Eval>,
    kind: OpKind,
}

enum OpKind {
    Aggregate(States),
    Distinct,
    Top { n: usize, by: SortKeys, ties: bool },
}

impl Op {
    fn new(keys: &[Expr], op: &WindowOp) -> Op {
        let kind = match op {
            WindowOp::Aggregate(aggs) => OpKind::Aggregate(States::new(aggs)),
            WindowOp::Distinct => OpKind::Distinct,
            WindowOp::Top { n, by, ties } => OpKind::Top { n: *n, by: SortKeys::new(by), ties: *ties },
        };
        Op { keys: keys.iter().map(compile).collect(), kind }
    }

    fn key(&self, row: &Row) -> Row {
        self.keys.iter().map(|k| k(row)).collect()
    }

    fn empty(&self) -> Acc {
        match &self.kind {
            OpKind::Aggregate(states) => Acc::Aggregate(states.empty()),
            OpKind::Distinct => Acc::Distinct(BTreeMap::new()),
            OpKind::Top { .. } => Acc::Top(Vec::new()),
        }
    }

    fn add(&self, acc: &mut Acc, row: Row, key: &Row) {
        match (&self.kind, acc) {
            (OpKind::Aggregate(states), Acc::Aggregate(a)) => states.add(a, &row, 1),
            (OpKind::Distinct, Acc::Distinct(rows)) => {
                // Without keys, the record itself is what must be distinct.
                let k = if self.keys.is_empty() { row.clone() } else { key.clone() };
                match rows.get_mut(&k) {
                    Some(kept) if row < *kept => *kept = row,
                    Some(_) => {}
                    None => {
                        rows.insert(k, row);
                    }
                }
            }
            (OpKind::Top { n, by, ties }, Acc::Top(top)) => keep(top, by.value(&row), row, *n, by, *ties),
            _ => {}
        }
    }

    /// Adds `n` copies of `row`.
    fn add_n(&self, acc: &mut Acc, row: Row, key: &Row, n: isize) {
        for _ in 1..n {
            self.add(acc, row.clone(), key);
        }
        self.add(acc, row, key);
    }

    fn merge(&self, acc: &mut Acc, other: Acc) {
        match (&self.kind, acc, other) {
            (OpKind::Aggregate(states), Acc::Aggregate(a), Acc::Aggregate(b)) => states.merge(a, &b, 1),
            (OpKind::Distinct, Acc::Distinct(a), Acc::Distinct(b)) => {
                for (k, row) in b {
                    match a.get_mut(&k) {
                        Some(kept) if row < *kept => *kept = row,
                        Some(_) => {}
                        None => {
                            a.insert(k, row);
                        }
                    }
                }
            }
            (OpKind::Top { n, by, ties }, Acc::Top(a), Acc::Top(b)) => {
                for (v, row) in b {
                    keep(a, v, row, *n, by, *ties);
                }
            }
            _ => {}
        }
    }

    /// The output records of one window and key; records of sessions get their bounds
    /// (appended, or written at `Some(at)`).
    fn finish(&self, acc: Acc, key: Row, start: i64, end: i64, session: Option<Option<(usize, usize)>>) -> Vec<Row> {
        let bounds = [Value::Timestamp(start), Value::Timestamp(end)];
        let with_bounds = |row: Row| match session {
            Some(at) => with_bounds(row, start, end, at),
            None => row,
        };
        match (&self.kind, acc) {
            (OpKind::Aggregate(states), Acc::Aggregate(a)) => vec![states.result(key, &bounds, &a)],
            (_, Acc::Distinct(rows)) => rows.into_values().map(with_bounds).collect(),
            (_, Acc::Top(top)) => top.into_iter().map(|(_, row)| with_bounds(row)).collect(),
            _ => Vec::new(),
        }
    }
}

/// Adds a record to `top`, the first records in the order of their sort values (`order`), ties
/// in record order: it keeps the first `n` and, with `ties`, every further one whose sort value
/// equals the `n`-th's. A record is kept exactly when fewer than `n` records (without `ties`:
/// records before it in that order) come strictly before it, which more records only make
/// harder: a record dropped once is never needed again.
fn keep(top: &mut Vec<(Value, Row)>, value: Value, row: Row, n: usize, order: &SortKeys, ties: bool) {
    let by_value = |a: &Value, b: &Value| order.cmp(a, b);
    if let Some((last, _)) = top.get(n.saturating_sub(1)) {
        // The common case once `top` is full: a record after the `n`-th's value is dropped
        // without a search.
        if by_value(&value, last) == Ordering::Greater {
            return;
        }
    }
    let at = top.partition_point(|(v, r)| by_value(v, &value).then_with(|| r.cmp(&row)) == Ordering::Less);
    top.insert(at, (value, row));
    if top.len() > n {
        let mut len = n;
        if ties && n > 0 {
            let last = &top[n - 1].0;
            len += top[n..].iter().take_while(|(v, _)| v == last).count();
        }
        top.truncate(len);
    }
}

/// Whether every record of event times before `end` has arrived: every record of times before
/// `end + lag` (see `Lag`).
fn complete(frontier: &MutableAntichain<u64>, end: i64, lag: Lag) -> bool {
    !frontier.less_than(&(end.saturating_add(lag).max(0) as u64))
}

/// The time a window's results carry: just before its end, the earliest the frontier allows
/// (a later window over them, by `window_start`, waits for them: see `Lag`).
fn result_time(end: i64) -> u64 {
    (end - 1).max(0) as u64
}

/// An open tumbling or sliding window: its start and its state per key.
struct Open {
    cap: Capability<u64>,
    start: i64,
    groups: RowMap<Acc>,
}

/// An open session of one key.
struct Session {
    cap: Capability<u64>,
    start: i64,
    /// The last record's time plus the gap.
    end: i64,
    acc: Acc,
}

pub fn render<'s>(input: Coll<'s>, window: WindowKind, keys: &[Expr], op: &WindowOp, lag: Lag) -> Coll<'s> {
    let (start, end) = match (window, op) {
        (WindowKind::Assigned { start, end }, WindowOp::Aggregate(aggs)) => {
            return aggregate::render(input, (start, end), keys, aggs, lag);
        }
        (WindowKind::Assigned { start, end }, _) => (start, end),
        (WindowKind::Session { gap, time, bounds }, _) => return sessions(input, gap, time, bounds, keys, op, lag),
    };
    // Each worker combines its own records first; with one worker, its results are the windows'.
    let local = per_window(input.inner, Pipeline, "WindowCombine", Op::new(keys, op), (start, end), lag);
    if local.scope().peers() == 1 {
        return local.as_collection();
    }
    // Then the records of one key (or, without keys, of one window) meet on one worker.
    let route = Op::new(keys, op);
    let by_whole_record = keys.is_empty() && matches!(op, WindowOp::Distinct);
    let exchange = Exchange::new(move |(row, _, _): &(Row, u64, isize)| {
        if by_whole_record {
            row.hashed()
        } else if route.keys.is_empty() {
            row.get(end).hashed()
        } else {
            route.key(row).hashed()
        }
    });
    per_window(local, exchange, "Windowed", Op::new(keys, op), (start, end), lag).as_collection()
}

/// `op` per tumbling or sliding window and key: the records of each window, combined as they
/// arrive and emitted when the frontier passes the window's end (by `lag`). `start` and `end`:
/// the positions of the window's bounds.
fn per_window<'s, P>(
    input: StreamVec<'s, u64, (Row, u64, isize)>,
    pact: P,
    name: &str,
    op: Op,
    (start, end): (usize, usize),
    lag: Lag,
) -> StreamVec<'s, u64, (Row, u64, isize)>
where
    P: ParallelizationContract<u64, Vec<(Row, u64, isize)>>,
{
    input.unary_frontier(pact, name, move |_cap, _info| {
        let mut open: BTreeMap<i64, Open> = BTreeMap::new();
        let mut key: Row = Vec::with_capacity(op.keys.len());
        move |(input, frontier), output| {
            input.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                for (row, _time, diff) in data.drain(..) {
                    let (Some(Value::Timestamp(s)), Some(Value::Timestamp(e))) = (row.get(start), row.get(end)) else {
                        continue;
                    };
                    let (s, e) = (*s, *e);
                    let window = open.entry(e).or_insert_with(|| {
                        let at = result_time(e).max(*cap.least().unwrap_or(&0));
                        Open { cap: cap.delayed(&at, 0), start: s, groups: RowMap::default() }
                    });
                    if diff <= 0 {
                        continue; // windowed inputs only grow
                    }
                    key.clear();
                    key.extend(op.keys.iter().map(|k| k(&row)));
                    match window.groups.get_mut(&key) {
                        Some(acc) => op.add_n(acc, row, &key, diff),
                        None => {
                            let mut acc = op.empty();
                            op.add_n(&mut acc, row, &key, diff);
                            window.groups.insert(key.clone(), acc);
                        }
                    }
                }
            });
            while let Some(entry) = open.first_entry() {
                if !complete(frontier, *entry.key(), lag) {
                    break;
                }
                let e = *entry.key();
                let window = entry.remove();
                let mut session = output.session(&window.cap);
                for (key, acc) in window.groups {
                    for row in op.finish(acc, key, window.start, e, None) {
                        session.give((row, *window.cap.time(), 1isize));
                    }
                }
            }
        }
    })
}

/// `op` per session of each key.
fn sessions<'s>(
    input: Coll<'s>,
    gap: i64,
    time: TimeRef,
    bounds: Option<(usize, usize)>,
    keys: &[Expr],
    op: &WindowOp,
    lag: Lag,
) -> Coll<'s> {
    let op = Op::new(keys, op);
    // The records of one key meet on one worker; without keys, all of them.
    let route = Op::new(keys, &WindowOp::Distinct);
    let exchange = Exchange::new(
        move |(row, _, _): &(Row, u64, isize)| if route.keys.is_empty() { 0 } else { route.key(row).hashed() },
    );
    let output = input.inner.unary_frontier(exchange, "Windowed", move |_cap, _info| {
        let mut sessions: RowMap<Vec<Session>> = RowMap::default();
        move |(input, frontier), output| {
            input.for_each(|cap, data: &mut Vec<(Row, u64, isize)>| {
                for (row, carried, diff) in data.drain(..) {
                    let Some(t) = event_time(&time, &row, carried) else { continue };
                    if diff <= 0 {
                        continue;
                    }
                    let key = op.key(&row);
                    let mut acc = op.empty();
                    op.add(&mut acc, row, &key);
                    let at = result_time(t + gap).max(*cap.least().unwrap_or(&0));
                    let mut merged = Session { cap: cap.delayed(&at, 0), start: t, end: t + gap, acc };
                    // Every session this record's [t, t + gap) overlaps merges with it.
                    let list = sessions.entry(key).or_default();
                    let mut i = 0;
                    while i < list.len() {
                        if list[i].start < merged.end && merged.start < list[i].end {
                            let other = list.swap_remove(i);
                            merged.start = merged.start.min(other.start);
                            merged.end = merged.end.max(other.end);
                            if other.cap.time() < merged.cap.time() {
                                merged.cap = other.cap;
                            }
                            op.merge(&mut merged.acc, other.acc);
                        } else {
                            i += 1;
                        }
                    }
                    list.push(merged);
                }
            });
            let mut done = Vec::new();
            sessions.retain(|key, list| {
                let (closed, still): (Vec<Session>, Vec<Session>) =
                    std::mem::take(list).into_iter().partition(|s| complete(frontier, s.end, lag));
                done.extend(closed.into_iter().map(|s| (key.clone(), s)));
                *list = still;
                !list.is_empty()
            });
            for (key, s) in done {
                let cap = s.cap.delayed(&result_time(s.end).max(*s.cap.time()));
                let mut session = output.session(&cap);
                for row in op.finish(s.acc, key, s.start, s.end, Some(bounds)) {
                    session.give((row, *cap.time(), 1isize));
                }
            }
        }
    });
    output.as_collection()
}

#[cfg(test)]
mod tests {
    use super::starts;

    #[test]
    fn a_record_falls_in_every_window_that_holds_it() {
        // Sliding windows of 10 every 5: 25 is in [20, 30) and [25, 35).
        assert_eq!(starts(25, 10, 5), (20, 25));
        assert_eq!(starts(24, 10, 5), (15, 20));
        // Tumbling: one window.
        assert_eq!(starts(7, 10, 10), (0, 0));
        assert_eq!(starts(-1, 10, 10), (-10, -10));
        // Brute force over small values.
        for (size, slide) in [(10, 3), (12, 4), (7, 7), (9, 1)] {
            for et in -30..30 {
                let holding: Vec<i64> = (-60..60).filter(|s| s % slide == 0 && *s <= et && et < s + size).collect();
                assert_eq!(starts(et, size, slide), (holding[0], *holding.last().unwrap()), "{et} {size} {slide}");
            }
        }
    }
}
