//! `distinct`: one copy of each record, or with keys, one record (the least) per key; and the
//! updating `top`, with the sort keys both it and the windowed `top` order records by.

use std::cmp::Ordering;
use std::rc::Rc;

use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::Expr;
use eddy_dsl::{Row, Value};

use super::{Coll, Time};

pub fn render<'s, T: Time>(input: Coll<'s, T>, keys: &[Expr]) -> Coll<'s, T> {
    if keys.is_empty() {
        return input.distinct();
    }
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    input
        .map(move |row| (keys.iter().map(|k| k(&row)).collect::<Row>(), row))
        .reduce(|_key, rows: &[(&Row, isize)], out: &mut Vec<(Row, isize)>| {
            // Rows come sorted: the first with a positive count is the least.
            if let Some((row, _)) = rows.iter().find(|(_, n)| *n > 0) {
                out.push(((*row).clone(), 1));
            }
        })
        .map(|(_, row)| row)
}

/// The sort keys of a `top`, compiled: a record's sort value (its one key, or the list of its
/// keys) and the order of two sort values, key by key, each ascending or descending.
#[derive(Clone)]
pub(super) struct SortKeys {
    keys: Rc<[Eval]>,
    desc: Rc<[bool]>,
}

impl SortKeys {
    pub(super) fn new(by: &[(Expr, bool)]) -> SortKeys {
        SortKeys { keys: by.iter().map(|(e, _)| compile(e)).collect(), desc: by.iter().map(|(_, d)| *d).collect() }
    }

    pub(super) fn value(&self, row: &Row) -> Value {
        match &self.keys[..] {
            [one] => one(row),
            keys => Value::List(keys.iter().map(|k| k(row)).collect::<Vec<_>>().into()),
        }
    }

    pub(super) fn cmp(&self, a: &Value, b: &Value) -> Ordering {
        let directed = |desc: bool, o: Ordering| if desc { o.reverse() } else { o };
        match (a, b) {
            (Value::List(x), Value::List(y)) if self.keys.len() > 1 => {
                let keys = x.iter().zip(y.iter()).zip(self.desc.iter());
                keys.map(|((a, b), desc)| directed(*desc, a.cmp(b))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
            }
            _ => directed(self.desc.first().copied().unwrap_or(false), a.cmp(b)),
        }
    }

    /// Whether values in their natural order are already in this one (one ascending key).
    fn natural(&self) -> bool {
        self.desc[..] == [false]
    }
}

/// `top N by E1 [desc], E2 [desc], ... [with ties]` per key, kept up to date: the first `n`
/// records by their sort keys, ties by record; with `ties`, also those equal on every sort key
/// to the `n`-th.
pub fn top<'s, T: Time>(input: Coll<'s, T>, keys: &[Expr], n: usize, by: &[(Expr, bool)], ties: bool) -> Coll<'s, T> {
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    let (sort, order) = (SortKeys::new(by), SortKeys::new(by));
    input
        .map(move |row| (keys.iter().map(|k| k(&row)).collect::<Row>(), (sort.value(&row), row)))
        .reduce(move |_key, rows: &[(&(Value, Row), isize)], out: &mut Vec<((Value, Row), isize)>| {
            let mut ranked: Vec<(&(Value, Row), isize)> = rows.iter().filter(|(_, c)| *c > 0).cloned().collect();
            // Rows come sorted by value, then record: as wanted for one ascending key.
            if !order.natural() {
                ranked.sort_by(|((va, ra), _), ((vb, rb), _)| order.cmp(va, vb).then_with(|| ra.cmp(rb)));
            }
            let mut left = n as isize;
            let mut last: Option<&Value> = None;
            for (record, count) in ranked {
                if left <= 0 && !(ties && last == Some(&record.0)) {
                    break;
                }
                // With ties, the copies of a record past the `n`-th tie with it.
                let take = if ties { count } else { count.min(left) };
                out.push(((*record).clone(), take));
                left -= take;
                last = Some(&record.0);
            }
        })
        .map(|(_, (_, row))| row)
}
