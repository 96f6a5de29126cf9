//! `distinct`: one copy of each record, or with keys, one record (the least) per key.

use eddy_dsl::eval::{compile, Eval};
use eddy_dsl::plan::Expr;
use eddy_dsl::Row;

use super::Coll;

pub fn render<'s>(input: Coll<'s>, keys: &[Expr]) -> Coll<'s> {
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
