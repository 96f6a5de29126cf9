//! `aggregate`: records are combined on each worker first (one partial state per key), the
//! partials are exchanged by key, and differential's `reduce` merges them per group, so an
//! updated input updates (retracts and re-emits) its group's result.

use std::collections::HashMap;

use differential_dataflow::AsCollection;
use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Agg, AggFunc, Expr};
use eddy_dsl::{Row, Value};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, ToStream};

use super::{Coll, Time};

pub fn render<'s, T: Time>(input: Coll<'s, T>, keys: &[Expr], aggs: &[Agg], input_updating: bool) -> Coll<'s, T> {
    let grouped = !keys.is_empty();
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    let states = States::new(aggs);
    let split = {
        let states = states.clone();
        move |row: &Row| -> (Row, Row) { (keys.iter().map(|k| k(row)).collect(), states.init(row)) }
    };
    let scope = input.inner.scope();
    let mut partials = if input_updating {
        // Retractions must reach the group as they are: no local combining.
        input.map(move |row| split(&row))
    } else {
        combine_locally(input, split, states.clone())
    };
    if !grouped {
        // Without `group by` there is one group, even of no records (as in SQL: a count of 0):
        // one empty state, added once by worker 0, adds nothing to the others.
        let empty = if scope.index() == 0 { vec![(Row::new(), states.empty())] } else { Vec::new() };
        let empty = empty.to_stream(scope).container::<Vec<_>>().map(|kv| (kv, T::minimum(), 1isize)).as_collection();
        partials = partials.concat(empty);
    }
    partials
        .reduce(move |_key, partials: &[(&Row, isize)], out: &mut Vec<(Row, isize)>| {
            let mut acc = states.empty();
            for (partial, n) in partials {
                if *n > 0 {
                    states.merge(&mut acc, partial, *n);
                }
            }
            out.push((states.finish(acc), 1));
        })
        .map(|(mut key, values)| {
            key.extend(values);
            key
        })
}

/// Merges the records of each key on this worker, per time, and emits one partial state per
/// key when the time is complete.
fn combine_locally<'s, T: Time>(
    input: Coll<'s, T>,
    split: impl Fn(&Row) -> (Row, Row) + 'static,
    states: States,
) -> differential_dataflow::VecCollection<'s, T, (Row, Row), isize> {
    input
        .inner
        .unary_frontier(Pipeline, "Combine", move |_cap, _info| {
            let mut pending: HashMap<T, (Capability<T>, HashMap<Row, Row>)> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data: &mut Vec<(Row, T, isize)>| {
                    for (row, time, diff) in data.drain(..) {
                        let (_, groups) =
                            pending.entry(time.clone()).or_insert_with(|| (cap.delayed(&time, 0), HashMap::new()));
                        let (key, partial) = split(&row);
                        match groups.get_mut(&key) {
                            Some(acc) => states.merge(acc, &partial, diff),
                            None => {
                                let mut acc = states.empty();
                                states.merge(&mut acc, &partial, diff);
                                groups.insert(key, acc);
                            }
                        }
                    }
                });
                let mut done: Vec<T> = pending.keys().filter(|t| !frontier.less_equal(t)).cloned().collect();
                done.sort();
                for time in done {
                    if let Some((cap, groups)) = pending.remove(&time) {
                        let mut session = output.session(&cap);
                        session.give_iterator(groups.into_iter().map(|kv| (kv, time.clone(), 1isize)));
                    }
                }
            }
        })
        .as_collection()
}

/// The partial states of a list of aggregates, laid out in one row: one slot per aggregate,
/// two for `avg` (sum, count).
#[derive(Clone)]
pub(super) struct States {
    funcs: std::rc::Rc<[AggFunc]>,
    args: std::rc::Rc<[Option<Eval>]>,
}

impl States {
    pub(super) fn new(aggs: &[Agg]) -> States {
        States {
            funcs: aggs.iter().map(|a| a.func).collect(),
            args: aggs.iter().map(|a| a.arg.as_ref().map(compile)).collect(),
        }
    }

    /// The state of no records.
    pub(super) fn empty(&self) -> Row {
        let mut row = Vec::new();
        for f in self.funcs.iter() {
            match f {
                AggFunc::Count => row.push(Value::Int(0)),
                AggFunc::Avg => row.extend([Value::Null, Value::Int(0)]),
                AggFunc::CountDistinct | AggFunc::Collect => row.push(Value::List(Vec::new().into())),
                _ => row.push(Value::Null),
            }
        }
        row
    }

    /// The state of one record.
    pub(super) fn init(&self, row: &Row) -> Row {
        let mut state = Vec::new();
        for (f, arg) in self.funcs.iter().zip(self.args.iter()) {
            let v = arg.as_ref().map(|a| a(row));
            match (f, v) {
                (AggFunc::Count, None) => state.push(Value::Int(1)),
                (AggFunc::Count, Some(v)) => state.push(Value::Int(i64::from(!v.is_null()))),
                (AggFunc::Avg, Some(v)) if !v.is_null() => {
                    state.extend([float_sum(v.as_float().unwrap_or(0.0)), Value::Int(1)])
                }
                (AggFunc::Sum, Some(Value::Float(x))) => state.push(float_sum(x.get())),
                (AggFunc::Avg, _) => state.extend([Value::Null, Value::Int(0)]),
                (AggFunc::CountDistinct | AggFunc::Collect, Some(v)) if !v.is_null() => {
                    state.push(Value::List(vec![v].into()))
                }
                (AggFunc::CountDistinct | AggFunc::Collect, _) => state.push(Value::List(Vec::new().into())),
                (_, v) => state.push(v.unwrap_or(Value::Null)),
            }
        }
        state
    }

    /// Adds `n` copies of `partial` to `acc`.
    pub(super) fn merge(&self, acc: &mut Row, partial: &Row, n: isize) {
        let n = n as i64;
        let mut slot = 0;
        for f in self.funcs.iter() {
            let (a, p) = (&mut acc[slot], &partial[slot]);
            match f {
                AggFunc::Count => {
                    *a = Value::Int(a.as_int().unwrap_or(0).saturating_add(p.as_int().unwrap_or(0).saturating_mul(n)))
                }
                AggFunc::Sum => *a = add(a, &times(p, n)),
                AggFunc::Min | AggFunc::First => {
                    if !p.is_null() && (a.is_null() || *p < *a) {
                        *a = p.clone();
                    }
                }
                AggFunc::Max | AggFunc::Last => {
                    if !p.is_null() && (a.is_null() || *p > *a) {
                        *a = p.clone();
                    }
                }
                AggFunc::Avg => {
                    *a = add(a, &times(p, n));
                    let c = &mut acc[slot + 1];
                    *c = Value::Int(c.as_int().unwrap_or(0) + partial[slot + 1].as_int().unwrap_or(0) * n);
                    slot += 1;
                }
                AggFunc::CountDistinct => {
                    if let (Value::List(x), Value::List(y)) = (&*a, p) {
                        if !y.is_empty() {
                            let mut set: Vec<Value> = x.iter().chain(y.iter()).cloned().collect();
                            set.sort();
                            set.dedup();
                            *a = Value::List(set.into());
                        }
                    }
                }
                AggFunc::Collect => {
                    if let (Value::List(x), Value::List(y)) = (&*a, p) {
                        if !y.is_empty() {
                            let mut all: Vec<Value> = x.to_vec();
                            for _ in 0..n {
                                all.extend(y.iter().cloned());
                            }
                            *a = Value::List(all.into());
                        }
                    }
                }
            }
            slot += 1;
        }
    }

    /// The aggregates' values from a state.
    pub(super) fn finish(&self, acc: Row) -> Row {
        let mut out = Vec::with_capacity(self.funcs.len());
        let mut slots = acc.into_iter();
        for f in self.funcs.iter() {
            let v = slots.next().unwrap_or(Value::Null);
            out.push(match f {
                AggFunc::Avg => {
                    let count = slots.next().and_then(|c| c.as_int()).unwrap_or(0);
                    match v {
                        Value::List(partials) if count > 0 => Value::float(total(&partials) / count as f64),
                        _ => Value::Null,
                    }
                }
                AggFunc::CountDistinct => match v {
                    Value::List(set) => Value::Int(set.len() as i64),
                    _ => Value::Int(0),
                },
                AggFunc::Collect => match v {
                    // Values in ascending order: the same answer whatever the arrival order.
                    Value::List(items) => {
                        let mut items = items.to_vec();
                        items.sort();
                        Value::List(items.into())
                    }
                    other => other,
                },
                AggFunc::Sum => match v {
                    Value::List(partials) => Value::float(total(&partials)),
                    other => other,
                },
                _ => v,
            });
        }
        out
    }
}

/// `v` added `n` times (for sums of repeated records).
fn times(v: &Value, n: i64) -> Value {
    match v {
        Value::Int(i) => i.checked_mul(n).map_or(Value::Null, Value::Int),
        Value::Duration(d) => d.checked_mul(n).map_or(Value::Null, Value::Duration),
        Value::List(partials) if n > 1 => {
            let mut sum: Vec<f64> = Vec::new();
            for _ in 0..n {
                partials.iter().for_each(|p| add_exact(&mut sum, p.as_float().unwrap_or(0.0)));
            }
            Value::List(sum.into_iter().map(Value::float).collect())
        }
        other => other.clone(),
    }
}

/// Null-skipping addition: the sum of nothing is null.
fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Null, x) | (x, Value::Null) => x.clone(),
        (Value::Int(x), Value::Int(y)) => x.checked_add(*y).map_or(Value::Null, Value::Int),
        (Value::Duration(x), Value::Duration(y)) => x.checked_add(*y).map_or(Value::Null, Value::Duration),
        (Value::List(x), Value::List(y)) => {
            let mut sum: Vec<f64> = x.iter().map(|v| v.as_float().unwrap_or(0.0)).collect();
            y.iter().for_each(|p| add_exact(&mut sum, p.as_float().unwrap_or(0.0)));
            Value::List(sum.into_iter().map(Value::float).collect())
        }
        _ => Value::Null,
    }
}

/// A float sum is kept exactly, as non-overlapping partials (Shewchuk's algorithm, as in
/// Python's `math.fsum`), so it rounds once at the end and does not depend on the order in
/// which workers add records up.
fn float_sum(x: f64) -> Value {
    Value::List(vec![Value::float(x)].into())
}

fn add_exact(partials: &mut Vec<f64>, mut x: f64) {
    if !x.is_finite() || partials.iter().any(|p| !p.is_finite()) {
        // Infinities and NaN absorb everything; keep the plain sum.
        let s = partials.iter().sum::<f64>() + x;
        partials.clear();
        partials.push(s);
        return;
    }
    let mut kept = 0;
    for j in 0..partials.len() {
        let mut y = partials[j];
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let hi = x + y;
        let lo = y - (hi - x);
        if lo != 0.0 {
            partials[kept] = lo;
            kept += 1;
        }
        x = hi;
    }
    partials.truncate(kept);
    partials.push(x);
}

/// The correctly rounded value of a sum of partials.
fn total(partials: &[Value]) -> f64 {
    let p: Vec<f64> = partials.iter().map(|v| v.as_float().unwrap_or(0.0)).collect();
    let Some((&last, rest)) = p.split_last() else { return 0.0 };
    if !last.is_finite() {
        return last;
    }
    let (mut hi, mut lo) = (last, 0.0);
    let mut n = rest.len();
    while n > 0 {
        let x = hi;
        let y = rest[n - 1];
        n -= 1;
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Round half-way cases correctly, as math.fsum does.
    if n > 0 && ((lo < 0.0 && rest[n - 1] < 0.0) || (lo > 0.0 && rest[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_sums_do_not_depend_on_order() {
        let xs = [0.1, 1e16, 0.2, -1e16, 0.3, 0.908, 1e-3];
        let sum = |order: &[usize]| {
            let mut acc = Value::Null;
            for i in order {
                acc = add(&acc, &float_sum(xs[*i]));
            }
            match acc {
                Value::List(p) => total(&p),
                _ => f64::NAN,
            }
        };
        let a = sum(&[0, 1, 2, 3, 4, 5, 6]);
        let b = sum(&[6, 5, 4, 3, 2, 1, 0]);
        let c = sum(&[3, 0, 5, 1, 6, 2, 4]);
        assert_eq!(a, b);
        assert_eq!(a, c);
        // Python: math.fsum([0.1, 1e16, 0.2, -1e16, 0.3, 0.908, 1e-3])
        assert_eq!(a, 1.5090000000000001);
    }
}
