//! The partial states of aggregates: one slot per aggregate, updated in place by each record
//! (a count is a counter, `count_distinct` a set that grows), merged across workers, and
//! finished into the aggregates' values.

use std::collections::BTreeSet;

use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Agg, AggFunc};
use eddy_dsl::{Row, Value, F64};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The partial state of a list of aggregates: one slot per aggregate.
pub type State = Vec<Slot>;

/// One aggregate's partial state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Slot {
    /// `count`.
    Count(i64),
    /// `min`, `max`, `first`, `last`: the value so far. Null while there is none (also for
    /// `sum`, until its first value).
    Value(Value),
    /// `sum` of ints, exact: whether it fits an int is decided once, at the end (null if
    /// not), so that an intermediate overflow does not depend on the order of the records.
    Int(i128),
    /// `sum` of durations, exact, as for ints.
    Duration(i128),
    /// `sum` of floats, exact: non-overlapping partials (see `add_exact`).
    Floats(Vec<F64>),
    /// A sum beyond even the exact range (more than 2^64 values near the int limits): null,
    /// whatever is added after.
    Overflow,
    /// `avg`: the exact sums of the float and of the int values, and their number.
    Mean(Vec<F64>, i128, i64),
    /// `count_distinct`: the values.
    Set(BTreeSet<Value>),
    /// `collect`: the values.
    Items(Vec<Value>),
}

/// Groups: the key row to the state, side by side in the order they were made (see
/// `append_only::Table`).
pub type Groups = IndexMap<Row, State, foldhash::fast::RandomState>;

/// The aggregates of one operator, compiled.
#[derive(Clone)]
pub struct States {
    funcs: std::rc::Rc<[AggFunc]>,
    args: std::rc::Rc<[Option<Eval>]>,
}

impl States {
    pub fn new(aggs: &[Agg]) -> States {
        States {
            funcs: aggs.iter().map(|a| a.func).collect(),
            args: aggs.iter().map(|a| a.arg.as_ref().map(compile)).collect(),
        }
    }

    /// The state of no records.
    pub fn empty(&self) -> State {
        self.funcs
            .iter()
            .map(|f| match f {
                AggFunc::Count | AggFunc::CountIf => Slot::Count(0),
                AggFunc::Avg => Slot::Mean(Vec::new(), 0, 0),
                AggFunc::CountDistinct => Slot::Set(BTreeSet::new()),
                AggFunc::Collect => Slot::Items(Vec::new()),
                _ => Slot::Value(Value::Null),
            })
            .collect()
    }

    /// The state of one record.
    pub fn init(&self, row: &Row) -> State {
        let mut state = self.empty();
        self.add(&mut state, row, 1);
        state
    }

    /// Adds `n` copies of one record to `acc`.
    pub fn add(&self, acc: &mut State, row: &Row, n: isize) {
        let n = n as i64;
        for ((f, arg), slot) in self.funcs.iter().zip(self.args.iter()).zip(acc.iter_mut()) {
            match arg {
                None => {
                    if let Slot::Count(c) = slot {
                        *c = c.saturating_add(n);
                    }
                }
                Some(arg) => {
                    let v = arg(row);
                    if !v.is_null() {
                        add_value(*f, slot, v, n);
                    }
                }
            }
        }
    }

    /// Adds `n` copies of `row` to its group in `groups`. The key is evaluated into `key`, a
    /// reused row, and looked up by slice: only a new group takes it (and allocates).
    pub fn add_to_group(&self, groups: &mut Groups, keys: &[Eval], key: &mut Row, row: &Row, n: isize) {
        key.clear();
        key.extend(keys.iter().map(|k| k(row)));
        match groups.get_mut(&key[..]) {
            Some(acc) => self.add(acc, row, n),
            None => {
                let mut acc = self.empty();
                self.add(&mut acc, row, n);
                groups.insert(std::mem::replace(key, Vec::with_capacity(keys.len())), acc);
            }
        }
    }

    /// Adds `n` copies of the records of `partial` to `acc`.
    pub fn merge(&self, acc: &mut State, partial: &[Slot], n: isize) {
        let n = n as i64;
        for ((f, slot), p) in self.funcs.iter().zip(acc.iter_mut()).zip(partial) {
            match (slot, p) {
                (Slot::Count(a), Slot::Count(b)) => *a = a.saturating_add(b.saturating_mul(n)),
                (Slot::Set(a), Slot::Set(b)) => a.extend(b.iter().cloned()),
                (Slot::Items(a), Slot::Items(b)) => (0..n).for_each(|_| a.extend(b.iter().cloned())),
                (Slot::Mean(sum, ints, count), Slot::Mean(b, i, c)) => {
                    (0..n).for_each(|_| b.iter().for_each(|x| add_exact(sum, x.get())));
                    *ints = ints.saturating_add(i.saturating_mul(n.into()));
                    *count = count.saturating_add(c.saturating_mul(n));
                }
                (slot, Slot::Overflow) => *slot = Slot::Overflow,
                (slot, Slot::Int(b)) => add_exact_int(slot, *b, n, Slot::Int),
                (slot, Slot::Duration(b)) => add_exact_int(slot, *b, n, Slot::Duration),
                (slot, Slot::Floats(b)) => b.iter().for_each(|x| add_value(*f, slot, Value::Float(*x), n)),
                (slot, Slot::Value(v)) if !v.is_null() => add_value(*f, slot, v.clone(), n),
                _ => {}
            }
        }
    }

    /// The aggregates' values.
    pub fn finish(&self, acc: &[Slot]) -> Row {
        acc.iter().map(value).collect()
    }

    /// A group's result row: its keys, then `between` (a window's bounds), then the
    /// aggregates' values; grown once, in place.
    pub fn result(&self, mut keys: Row, between: &[Value], acc: &[Slot]) -> Row {
        keys.reserve_exact(between.len() + acc.len());
        keys.extend_from_slice(between);
        keys.extend(acc.iter().map(value));
        keys
    }
}

/// An aggregate's value.
fn value(slot: &Slot) -> Value {
    match slot {
        Slot::Count(c) => Value::Int(*c),
        Slot::Value(v) => v.clone(),
        Slot::Int(s) => i64::try_from(*s).map_or(Value::Null, Value::Int),
        Slot::Duration(s) => i64::try_from(*s).map_or(Value::Null, Value::Duration),
        Slot::Floats(partials) => Value::float(total(partials)),
        Slot::Overflow => Value::Null,
        Slot::Mean(partials, ints, count) if *count > 0 => {
            Value::float(mean_of_ints(*ints, *count) + total(partials) / *count as f64)
        }
        Slot::Mean(..) => Value::Null,
        Slot::Set(set) => Value::Int(set.len() as i64),
        // Values in ascending order: the same answer whatever the arrival order.
        Slot::Items(items) => {
            let mut items = items.clone();
            items.sort();
            Value::List(items.into())
        }
    }
}

/// Adds `n` copies of a non-null value to one aggregate's slot.
fn add_value(f: AggFunc, slot: &mut Slot, v: Value, n: i64) {
    match (f, slot) {
        (AggFunc::Count, Slot::Count(c)) => *c = c.saturating_add(n),
        (AggFunc::CountIf, Slot::Count(c)) if v == Value::Bool(true) => *c = c.saturating_add(n),
        (AggFunc::Min | AggFunc::First, Slot::Value(a)) if a.is_null() || v < *a => *a = v,
        (AggFunc::Max | AggFunc::Last, Slot::Value(a)) if a.is_null() || v > *a => *a = v,
        (AggFunc::Sum, slot) => add_sum(slot, v, n),
        (AggFunc::Avg, Slot::Mean(sum, ints, count)) => {
            match v {
                Value::Int(i) => *ints = ints.saturating_add(i128::from(i) * i128::from(n)),
                v => {
                    let x = v.as_float().unwrap_or(0.0);
                    (0..n).for_each(|_| add_exact(sum, x));
                }
            }
            *count = count.saturating_add(n);
        }
        (AggFunc::CountDistinct, Slot::Set(set)) => {
            set.insert(v);
        }
        (AggFunc::Collect, Slot::Items(items)) => (0..n).for_each(|_| items.push(v.clone())),
        _ => {}
    }
}

/// `sum`: ints and durations add exactly (see `Slot::Int`), floats into exact partials (an
/// int sum meeting a float becomes one).
fn add_sum(slot: &mut Slot, v: Value, n: i64) {
    match v {
        Value::Int(b) => add_exact_int(slot, b.into(), n, Slot::Int),
        Value::Duration(b) => add_exact_int(slot, b.into(), n, Slot::Duration),
        v => {
            let mut partials = match std::mem::replace(slot, Slot::Overflow) {
                Slot::Overflow => return,
                Slot::Floats(p) => p,
                Slot::Int(a) => vec![F64::new(a as f64)],
                _ => Vec::new(),
            };
            let x = v.as_float().unwrap_or(0.0);
            (0..n).for_each(|_| add_exact(&mut partials, x));
            *slot = Slot::Floats(partials);
        }
    }
}

/// Adds `n` times `b` to an exact int or duration sum (`make` is its kind); a float sum takes
/// the value as a float.
fn add_exact_int(slot: &mut Slot, b: i128, n: i64, make: fn(i128) -> Slot) {
    let add = |a: i128| b.checked_mul(n.into()).and_then(|b| a.checked_add(b)).map_or(Slot::Overflow, make);
    *slot = match std::mem::replace(slot, Slot::Overflow) {
        Slot::Value(Value::Null) => add(0),
        Slot::Int(a) | Slot::Duration(a) => add(a),
        Slot::Floats(mut partials) => {
            (0..n).for_each(|_| add_exact(&mut partials, b as f64));
            Slot::Floats(partials)
        }
        _ => Slot::Overflow,
    };
}

/// `ints / count`: correctly rounded while the sum is exact as a float (below 2^53), else the
/// whole part exactly plus the remainder's fraction.
fn mean_of_ints(ints: i128, count: i64) -> f64 {
    if ints.unsigned_abs() <= 1 << f64::MANTISSA_DIGITS {
        return ints as f64 / count as f64;
    }
    let count = i128::from(count);
    (ints / count) as f64 + (ints % count) as f64 / count as f64
}

/// Adds `x` to a float sum kept exactly, as non-overlapping partials (Shewchuk's algorithm, as
/// in Python's `math.fsum`), so that it rounds once at the end and does not depend on the
/// order in which workers add records up.
fn add_exact(partials: &mut Vec<F64>, mut x: f64) {
    if !x.is_finite() || partials.iter().any(|p| !p.get().is_finite()) {
        // Infinities and NaN absorb everything; keep the plain sum.
        let s = partials.iter().map(|p| p.get()).sum::<f64>() + x;
        partials.clear();
        partials.push(F64::new(s));
        return;
    }
    let mut kept = 0;
    for j in 0..partials.len() {
        let mut y = partials[j].get();
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let hi = x + y;
        let lo = y - (hi - x);
        if lo != 0.0 {
            partials[kept] = F64::new(lo);
            kept += 1;
        }
        x = hi;
    }
    partials.truncate(kept);
    partials.push(F64::new(x));
}

/// The correctly rounded value of a sum of partials.
fn total(partials: &[F64]) -> f64 {
    let Some((&last, rest)) = partials.split_last() else { return 0.0 };
    let last = last.get();
    if !last.is_finite() {
        return last;
    }
    let (mut hi, mut lo) = (last, 0.0);
    let mut n = rest.len();
    while n > 0 {
        let x = hi;
        let y = rest[n - 1].get();
        n -= 1;
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Round half-way cases correctly, as math.fsum does.
    if n > 0 && ((lo < 0.0 && rest[n - 1].get() < 0.0) || (lo > 0.0 && rest[n - 1].get() > 0.0)) {
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

    fn sum(xs: &[f64]) -> f64 {
        let mut slot = Slot::Value(Value::Null);
        xs.iter().for_each(|x| add_sum(&mut slot, Value::float(*x), 1));
        match slot {
            Slot::Floats(p) => total(&p),
            _ => f64::NAN,
        }
    }

    #[test]
    fn float_sums_do_not_depend_on_order() {
        let xs = [0.1, 1e16, 0.2, -1e16, 0.3, 0.908, 1e-3];
        let a = sum(&xs);
        let order = |o: [usize; 7]| sum(&o.map(|i| xs[i]));
        assert_eq!(a, order([6, 5, 4, 3, 2, 1, 0]));
        assert_eq!(a, order([3, 0, 5, 1, 6, 2, 4]));
        // Python: math.fsum([0.1, 1e16, 0.2, -1e16, 0.3, 0.908, 1e-3])
        assert_eq!(a, 1.5090000000000001);
    }

    fn int_sum(xs: &[i64]) -> Value {
        let mut slot = Slot::Value(Value::Null);
        xs.iter().for_each(|x| add_sum(&mut slot, Value::Int(*x), 1));
        value(&slot)
    }

    #[test]
    fn int_sums_decide_once_at_the_end_whether_they_fit() {
        let big = 9_000_000_000_000_000_000;
        // An intermediate sum beyond i64 does not make the result null, in any order.
        assert_eq!(int_sum(&[big, big, -big]), Value::Int(big));
        assert_eq!(int_sum(&[big, -big, big]), Value::Int(big));
        assert_eq!(int_sum(&[-big, big, big]), Value::Int(big));
        // A result that does not fit is null.
        assert_eq!(int_sum(&[i64::MAX, 1, 5]), Value::Null);
        let mut other = Slot::Value(Value::Null);
        add_sum(&mut other, Value::Int(2), 1);
        add_sum(&mut other, Value::Int(3), 2);
        assert_eq!(value(&other), Value::Int(8));
    }

    #[test]
    fn int_sums_merged_from_workers_are_exact() {
        let states = States { funcs: [AggFunc::Sum, AggFunc::Avg].into(), args: [None, None].into() };
        let big = 9_000_000_000_000_000_000i64;
        let partial = |xs: &[i64]| {
            let mut sum = Slot::Value(Value::Null);
            let mut avg = Slot::Mean(Vec::new(), 0, 0);
            for x in xs {
                add_value(AggFunc::Sum, &mut sum, Value::Int(*x), 1);
                add_value(AggFunc::Avg, &mut avg, Value::Int(*x), 1);
            }
            vec![sum, avg]
        };
        // Two workers' partials, each beyond i64 on its own.
        let mut acc = vec![Slot::Value(Value::Null), Slot::Mean(Vec::new(), 0, 0)];
        states.merge(&mut acc, &partial(&[big, big]), 1);
        states.merge(&mut acc, &partial(&[-big]), 1);
        assert_eq!(states.finish(&acc), vec![Value::Int(big), Value::float(3_000_000_000_000_000_000.0)]);
    }

    #[test]
    fn avg_of_ints_is_exact() {
        let mut avg = Slot::Mean(Vec::new(), 0, 0);
        add_value(AggFunc::Avg, &mut avg, Value::Int(i64::MAX), 1);
        add_value(AggFunc::Avg, &mut avg, Value::Int(i64::MIN), 1);
        assert_eq!(value(&avg), Value::float(-0.5));
        let mut avg = Slot::Mean(Vec::new(), 0, 0);
        [1, 2, 2].iter().for_each(|x| add_value(AggFunc::Avg, &mut avg, Value::Int(*x), 1));
        assert_eq!(value(&avg), Value::float(5.0 / 3.0));
    }
}
