//! `join OTHER on L == R [and ...] [within D]` and `left join`: the keys on both sides, the
//! predicates over the joined row, the joined schema (a name on both sides becomes
//! `stream.name`), and which kind of join it is.

use super::expr::{check_expr, Scope, Unknown};
use super::stages::Kind;
use super::window::{Flow, Mark, Time};
use super::{Checker, Input};
use crate::ast;
use crate::diag::Diagnostic;
use crate::functions::{Builtin, Function};
use crate::plan::{Expr, JoinKind, Lag};
use crate::span::Span;
use crate::types::{Base, Type};
use crate::types::{Field, Schema};
use crate::value::Value;

/// The other side of a join.
pub struct Other<'a> {
    pub input: Input,
    pub name: &'a str,
    pub schema: &'a Schema,
    pub flow: &'a Flow,
    /// Its names whose type is unknown because of a mistake.
    pub unknown: &'a Unknown,
}

/// A join's conditions and options, as written.
pub struct Spec<'a> {
    pub outer: bool,
    /// The conditions of `on`, keys and predicates, as written.
    pub on: &'a [ast::Expr],
    pub within: Option<&'a ast::Expr>,
    pub span: Span,
}

/// Checks a join; `scope` is this side's, `schema` and `flow` become the joined stream's.
/// `Ok(None)` when a join condition has a mistake (reported) but the joined schema is known
/// (so the stages after it are checked); `Err(())` when it is not.
pub fn join(
    cx: &mut Checker,
    scope: &Scope,
    spec: Spec,
    other: Other,
    schema: &mut Schema,
    flow: &mut Flow,
) -> Result<Option<Kind>, ()> {
    let theirs = [other.name.to_string()];
    let other_scope = Scope {
        schema: other.schema,
        streams: &theirs,
        params: scope.params,
        functions: scope.functions,
        unknown: other.unknown,
        config: false,
    };
    let Conditions { left_keys, right_keys, predicates, mut ok } = conditions(cx, spec.on, scope, &other_scope);
    let within = match spec.within {
        // `within 5s and price > 1`: conditions written after the bound.
        Some(d @ ast::Expr { kind: ast::ExprKind::Binary(ast::BinOp::And, ..), .. }) => {
            cx.error(
                Diagnostic::error(after_bound(d), "join conditions go before `within`")
                    .label("a condition after the time bound")
                    .help("write `on KEY and CONDITION within D`, e.g. `on auction == id and price > 1 within 5s`"),
            );
            return Err(());
        }
        Some(d) => match check_expr(d, scope, &mut cx.diags) {
            Some((Expr::Lit(Value::Duration(ms)), _)) if ms >= 0 => Some(ms),
            Some((_, t)) => {
                cx.error(
                    Diagnostic::error(d.span, format!("within needs a constant duration, found {t}"))
                        .label("expected e.g. 10s"),
                );
                return Err(());
            }
            None => return Err(()),
        },
        None => None,
    };
    let marks = (flow.window.as_ref().map(|(m, _)| m), other.flow.window.as_ref().map(|(m, _)| m));
    // Results per window meet the records of the same windows (windowed, or results too) within
    // their window; otherwise they are plain records.
    let windows = match (marks, (flow.results_of.as_ref(), other.flow.results_of.as_ref())) {
        ((Some(a), None), (_, Some(b))) | ((None, Some(b)), (Some(a), _)) if a == b => (Some(a), Some(b)),
        ((None, None), (Some(a), Some(b))) if a == b => (Some(a), Some(b)),
        _ => marks,
    };
    // A pair carries the later of its records' times: up to `within` after the left record's
    // time in an interval join, less than a window's size after its window_start in a windowed
    // join (and in both, how late the inputs' records come).
    let (kind, pair_lag) = match (within, windows) {
        (Some(ms), (None, None)) => {
            let (Some(Time::Field(l)), Some(Time::Field(r))) = (&flow.time, &other.flow.time) else {
                cx.error(
                    Diagnostic::error(spec.span, "a join `within` a time needs the event time of both sides")
                        .label("no event time on one side")
                        .help("give both sources a `watermark FIELD - DELAY`"),
                );
                return Err(());
            };
            let (Some(left_time), Some(right_time)) = (schema.index_of(l), other.schema.index_of(r)) else {
                // A nested event time (`watermark meta.ts - 2s`) is not a field of its own.
                cx.error(
                    Diagnostic::error(spec.span, "a join `within` a time needs each side's event time in a field of its own, not nested in a record")
                        .label("a nested event time on one side")
                        .help("give the source a top-level timestamp field for its watermark"),
                );
                return Err(());
            };
            let lag = flow.lag.max(other.flow.lag);
            (JoinKind::Interval { within: ms, left_time, right_time, lag }, lag.saturating_add(ms))
        }
        (None, (Some(a @ Mark::Assigned { size, .. }), Some(b))) if a == b => {
            let (Some(left_end), Some(right_end)) =
                (schema.index_of("window_end"), other.schema.index_of("window_end"))
            else {
                cx.error(
                    Diagnostic::error(spec.span, "the windows' fields were dropped before the join")
                        .label("needs window_end"),
                );
                return Err(());
            };
            // A window's records come less than their lag after its end; the results of a window
            // at its last millisecond, or later by the lag of the records they were made of.
            let behind_end = |f: &Flow| match (&f.results_of, f.lag) {
                (Some(_), lag) if lag != Lag::MAX => lag - size,
                (_, lag) => lag,
            };
            let lag = behind_end(flow).max(behind_end(other.flow));
            (JoinKind::Windowed { left_end, right_end, lag }, lag.saturating_add(*size))
        }
        // With one side windowed (or none), the window fields are plain fields.
        (_, (None, None) | (Some(_), None) | (None, Some(_))) => (JoinKind::Incremental, 0),
        _ => {
            cx.error(
                Diagnostic::error(
                    spec.span,
                    "both sides of a windowed join must have the same tumbling or sliding windows",
                )
                .label("windowed differently")
                .help("window both streams alike, or join before windowing"),
            );
            return Err(());
        }
    };
    // The right side's window fields are the left side's in a windowed join.
    let right_fields: Vec<usize> = (0..other.schema.len())
        .filter(|i| {
            let name = other.schema.fields[*i].name.as_str();
            !(matches!(kind, JoinKind::Windowed { .. }) && (name == "window_start" || name == "window_end"))
        })
        .collect();
    let mut fields = schema.fields.clone();
    let own = scope.streams.first().cloned().unwrap_or_default();
    for &i in &right_fields {
        let mut f: Field = other.schema.fields[i].clone();
        if spec.outer {
            f.ty = f.ty.nullable();
        }
        if let Some(j) = fields.iter().position(|x| x.name == f.name) {
            fields[j].name = format!("{own}.{}", fields[j].name);
            f.name = format!("{}.{}", other.name, f.name);
        }
        fields.push(f);
    }
    *schema = Schema::new(fields);
    // Predicates are over the joined row: both sides' names, a name on both qualified.
    let mut streams = scope.streams.to_vec();
    streams.push(other.name.to_string());
    let mut unknown = scope.unknown.clone();
    unknown.extend(other.unknown);
    let joined_scope = Scope { schema, streams: &streams, unknown: &unknown, ..*scope };
    let sides = Sides { mine: scope, theirs: &other_scope, joined: &joined_scope };
    let predicate = predicate(cx, &predicates, &sides).unwrap_or_else(|()| {
        ok = false;
        None
    });
    // Without a key every pair would have to meet: a mistake, unless one condition already
    // had one (it may have been meant as the key).
    if ok && left_keys.is_empty() {
        no_key(cx, spec.on, (&own, other.name));
        ok = false;
    }
    // The event time keeps up with a rename to `stream.field`.
    let mut time = flow.time.clone();
    if let Some(Time::Field(n)) = &time {
        if schema.index_of(n).is_none() {
            time = Some(Time::Field(format!("{own}.{n}")));
        }
    }
    *flow = Flow {
        time: match kind {
            JoinKind::Windowed { .. } => Some(Time::Field("window_start".into())),
            JoinKind::Interval { .. } => time,
            JoinKind::Incremental => flow.time.as_ref().or(other.flow.time.as_ref()).map(|_| Time::Arrival),
        },
        window: None,
        results_of: None,
        unbounded: flow.unbounded || other.flow.unbounded,
        lag: pair_lag,
    };
    Ok(ok.then_some(Kind::Join {
        other: other.input,
        left_keys,
        right_keys,
        right_fields,
        predicate,
        outer: spec.outer,
        kind,
    }))
}

/// A join's conditions told apart: the keys, checked, on each side, and the predicates, to be
/// checked over the joined row; `ok` is false when a key had a mistake (reported).
struct Conditions<'a> {
    left_keys: Vec<Expr>,
    right_keys: Vec<Expr>,
    predicates: Vec<&'a ast::Expr>,
    ok: bool,
}

fn conditions<'a>(cx: &mut Checker, on: &'a [ast::Expr], mine: &Scope, theirs: &Scope) -> Conditions<'a> {
    let mut c = Conditions { left_keys: Vec::new(), right_keys: Vec::new(), predicates: Vec::new(), ok: true };
    for cond in on {
        match role(cond, mine, theirs) {
            Role::Predicate(p) => c.predicates.push(p),
            Role::Key { left, right } => match key(cx, cond.span, left, right) {
                Some((l, r)) => {
                    c.left_keys.push(l);
                    c.right_keys.push(r);
                }
                None => c.ok = false,
            },
        }
    }
    c
}

/// In `within 5s and a and b`, the span of `a and b`: the `and`s fold to the left, so the
/// first condition is the right operand of the innermost one.
fn after_bound(within: &ast::Expr) -> Span {
    let mut first = within;
    let mut e = within;
    while let ast::ExprKind::Binary(ast::BinOp::And, l, r) = &e.kind {
        first = r;
        e = l;
    }
    Span::new(first.span.start, within.span.end)
}

/// What a join condition is for.
enum Role<'a> {
    /// A key equality: its expression on this side and on the other, each with its type.
    Key { left: (Expr, Type), right: (Expr, Type) },
    /// A predicate over the joined row, checked once its schema is known.
    Predicate(&'a ast::Expr),
}

/// The rule that tells keys from predicates: `L == R` is a key when L reads fields of this
/// side only and R fields of the other side only, or the reverse (normalised, L on this side).
/// A name on both sides is this side's in L and the other's in R, as written (`on customer ==
/// customer`). Anything else (`price > reserve`, `a == 1`, `a + b == c` over both sides) is a
/// predicate over the joined row.
fn role<'a>(cond: &'a ast::Expr, mine: &Scope, theirs: &Scope) -> Role<'a> {
    let ast::ExprKind::Binary(ast::BinOp::Eq, a, b) = &cond.kind else { return Role::Predicate(cond) };
    // Quietly: a side that does not check here is a predicate, checked again with its messages.
    let on = |e: &ast::Expr, scope: &Scope| check_expr(e, scope, &mut Vec::new()).filter(|(x, _)| reads_fields(x));
    for (l, r) in [(a, b), (b, a)] {
        if let Some((left, right)) = on(l, mine).and_then(|left| on(r, theirs).map(|right| (left, right))) {
            return Role::Key { left, right };
        }
    }
    Role::Predicate(cond)
}

fn reads_fields(x: &Expr) -> bool {
    let mut any = false;
    x.visit_fields(&mut |_| any = true);
    any
}

/// The two sides of a key, of one type: an int meets a float as a float (1 == 1.0, as in
/// comparisons). `None` when they cannot (reported).
fn key(cx: &mut Checker, span: Span, (lx, lt): (Expr, Type), (rx, rt): (Expr, Type)) -> Option<(Expr, Expr)> {
    if lt.unify(&rt).is_none() {
        cx.error(
            Diagnostic::error(span, format!("the join compares {lt} with {rt}"))
                .label(format!("{lt} == {rt}"))
                .help("both sides of a join condition must have one type; convert one with int(), float() or string()"),
        );
        return None;
    }
    let as_float = |x: Expr| Expr::Call { func: Function::Builtin(Builtin::Float), args: vec![x] };
    Some(match (&lt.base, &rt.base) {
        (Base::Int, Base::Float) => (as_float(lx), rx),
        (Base::Float, Base::Int) => (lx, as_float(rx)),
        _ => (lx, rx),
    })
}

/// The scopes of a join's conditions: this side's, the other's, and the joined row's.
struct Sides<'a> {
    mine: &'a Scope<'a>,
    theirs: &'a Scope<'a>,
    joined: &'a Scope<'a>,
}

/// The predicates, each a bool over the joined row, as one `and` (`None` without any); `Err`
/// when one has a mistake (reported).
fn predicate(cx: &mut Checker, predicates: &[&ast::Expr], sides: &Sides) -> Result<Option<Expr>, ()> {
    let mut all: Option<Expr> = None;
    let mut ok = true;
    for p in predicates {
        let Some((x, t)) = check_predicate(cx, p, sides) else {
            ok = false;
            continue;
        };
        if !matches!(t.base, Base::Bool | Base::Null) {
            cx.error(
                Diagnostic::error(p.span, format!("a join condition must be a bool, found {t}"))
                    .label("expected bool")
                    .help("compare it, e.g. `on auction == id and price > reserve`"),
            );
            ok = false;
            continue;
        }
        all = Some(match all {
            Some(before) => Expr::And(Box::new(before), Box::new(x)),
            None => x,
        });
    }
    ok.then_some(all).ok_or(())
}

/// Checks a predicate over the joined row. An `==` with a mistake was most likely meant as a
/// key: when one operand reads one side's fields, the other is reported as the other side's
/// (`on usr == user`: 'usr' is unknown on the other side, not also `user` ambiguous).
fn check_predicate(cx: &mut Checker, p: &ast::Expr, sides: &Sides) -> Option<(Expr, Type)> {
    let mut diags = Vec::new();
    if let Some(checked) = check_expr(p, sides.joined, &mut diags) {
        return Some(checked);
    }
    if let ast::ExprKind::Binary(ast::BinOp::Eq, a, b) = &p.kind {
        let (mine, theirs) = (sides.mine, sides.theirs);
        for (x, y, x_on, y_on) in
            [(a, b, mine, theirs), (b, a, mine, theirs), (a, b, theirs, mine), (b, a, theirs, mine)]
        {
            if check_expr(x, x_on, &mut Vec::new()).is_some_and(|(e, _)| reads_fields(&e)) {
                let mut meant = Vec::new();
                if check_expr(y, y_on, &mut meant).is_none() && !meant.is_empty() {
                    cx.diags.extend(meant);
                    return None;
                }
            }
        }
    }
    cx.diags.extend(diags);
    None
}

/// Reports a join whose conditions have no key (between `mine` and `theirs`); the `==` among
/// them are shown as no keys, and an `or` at the top as one condition.
fn no_key(cx: &mut Checker, on: &[ast::Expr], (mine, theirs): (&str, &str)) {
    let (Some(first), Some(last)) = (on.first(), on.last()) else { return };
    let mut d = Diagnostic::error(
        first.span.to(last.span),
        "a join needs at least one key: an equality between a field of each side",
    )
    .label("no key among these conditions");
    let mut help =
        format!("compare a field of '{mine}' with one of '{theirs}', e.g. `on auction == id and price > reserve`");
    let mut or = false;
    for cond in on {
        match &cond.kind {
            ast::ExprKind::Binary(ast::BinOp::Eq, ..) => {
                d = d.related(
                    cond.span,
                    format!("not a key: one side must read only '{mine}', the other only '{theirs}'"),
                );
            }
            ast::ExprKind::Binary(ast::BinOp::Or, ..) => {
                d = d.related(cond.span, "one condition: `or` binds looser than `and`");
                or = true;
            }
            _ => {}
        }
    }
    if or {
        help.push_str("; put alternatives in parentheses after the key: `on a == b and (x or y)`");
    }
    cx.error(d.help(help));
}

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
