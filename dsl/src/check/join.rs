//! `join OTHER on L == R [and ...] [within D]` and `left join`: the keys on both sides, the
//! joined schema (a name on both sides becomes `stream.name`), and which kind of join it is.

use super::expr::{check_expr, Scope, Unknown};
use super::stages::Kind;
use super::window::{Flow, Mark, Time};
use super::{Checker, Input};
use crate::ast;
use crate::diag::Diagnostic;
use crate::functions::{Builtin, Function};
use crate::plan::{Expr, JoinKind, Lag};
use crate::span::Span;
use crate::types::Base;
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
    pub on: &'a [(ast::Expr, ast::Expr)],
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
    let (mut left_keys, mut right_keys, mut ok) = (Vec::new(), Vec::new(), true);
    for (l, r) in spec.on {
        let lx = check_expr(l, scope, &mut cx.diags);
        let rx = check_expr(r, &other_scope, &mut cx.diags);
        let (Some((lx, lt)), Some((rx, rt))) = (lx, rx) else {
            ok = false;
            continue;
        };
        if lt.unify(&rt).is_none() {
            cx.error(
                Diagnostic::error(l.span.to(r.span), format!("the join compares {lt} with {rt}"))
                    .label(format!("{lt} == {rt}"))
                    .help("both sides of a join condition must have one type; convert one with int(), float() or string()"),
            );
            ok = false;
            continue;
        }
        // An int meets a float as a float: 1 == 1.0, as in comparisons.
        let as_float = |x: Expr| Expr::Call { func: Function::Builtin(Builtin::Float), args: vec![x] };
        let (lx, rx) = match (&lt.base, &rt.base) {
            (Base::Int, Base::Float) => (as_float(lx), rx),
            (Base::Float, Base::Int) => (lx, as_float(rx)),
            _ => (lx, rx),
        };
        left_keys.push(lx);
        right_keys.push(rx);
    }
    let within = match spec.within {
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
    Ok(ok.then_some(Kind::Join { other: other.input, left_keys, right_keys, right_fields, outer: spec.outer, kind }))
}
