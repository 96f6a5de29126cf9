//! `distinct`: one copy of each record, or with keys, one record (the least) per key.

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

/// `top N by EXPR [desc] [with ties]` per key, kept up to date: the first `n` records by value
/// (descending with `desc`), ties by record; with `ties`, also those whose value equals the
/// `n`-th's.
pub fn top<'s, T: Time>(input: Coll<'s, T>, keys: &[Expr], n: usize, by: &Expr, desc: bool, ties: bool) -> Coll<'s, T> {
    let keys: Vec<Eval> = keys.iter().map(compile).collect();
    let by = compile(by);
    input
        .map(move |row| (keys.iter().map(|k| k(&row)).collect::<Row>(), (by(&row), row)))
        .reduce(move |_key, rows: &[(&(Value, Row), isize)], out: &mut Vec<((Value, Row), isize)>| {
            let mut ranked: Vec<(&(Value, Row), isize)> = rows.iter().filter(|(_, c)| *c > 0).cloned().collect();
            if desc {
                ranked.sort_by(|((va, ra), _), ((vb, rb), _)| vb.cmp(va).then_with(|| ra.cmp(rb)));
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
