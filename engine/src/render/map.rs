//! Row-by-row stages: fused `filter`/`select`/`derive` steps, and `unnest`.

use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::{Expr, Step};
use eddy_dsl::{Row, Value};

use super::{Coll, Time};

enum Compiled {
    Filter(Eval),
    Project(Vec<Eval>),
}

/// Applies the steps to each row in one pass: no intermediate streams, and a projection
/// writes its values back into the row's own allocation (through a reused buffer) when
/// they fit.
pub fn map<'s, T: Time>(input: Coll<'s, T>, steps: &[Step]) -> Coll<'s, T> {
    let steps: Vec<Compiled> = steps
        .iter()
        .map(|s| match s {
            Step::Filter(e) => Compiled::Filter(compile(e)),
            Step::Project { exprs, .. } => Compiled::Project(exprs.iter().map(compile).collect()),
        })
        .collect();
    let mut values: Row = Vec::new();
    input.flat_map(move |mut row: Row| {
        for step in &steps {
            match step {
                Compiled::Filter(e) => {
                    if !matches!(e(&row), Value::Bool(true)) {
                        return None;
                    }
                }
                Compiled::Project(exprs) => {
                    if exprs.len() <= row.capacity() {
                        values.extend(exprs.iter().map(|e| e(&row)));
                        row.clear();
                        row.append(&mut values);
                    } else {
                        row = exprs.iter().map(|e| e(&row)).collect();
                    }
                }
            }
        }
        Some(row)
    })
}

/// One row per element of the list (none for an empty or null list), the element appended.
pub fn unnest<'s, T: Time>(input: Coll<'s, T>, list: &Expr) -> Coll<'s, T> {
    let list = compile(list);
    input.flat_map(move |row: Row| {
        let items = match list(&row) {
            Value::List(items) => items,
            _ => Vec::new().into(),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            let mut r = row.clone();
            r.push(item.clone());
            out.push(r);
        }
        out
    })
}
