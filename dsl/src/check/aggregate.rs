//! One entry of `aggregate { ... }`: a call of an aggregate function, and its type.

use super::expr::{check_expr, Scope};
use super::Checker;
use crate::ast::{self, ExprKind};
use crate::diag::Diagnostic;
use crate::functions::Builtin;
use crate::plan::{Agg, AggFunc};
use crate::span::Span;
use crate::types::{Base, Type};

/// Types one entry of `aggregate { ... }`: a call of an aggregate function.
pub(super) fn aggregate(e: &ast::Expr, scope: &Scope, cx: &mut Checker) -> Option<Agg> {
    let ExprKind::Call { func: name, args } = &e.kind else {
        cx.error(
            Diagnostic::error(e.span, "each entry of 'aggregate' must be an aggregate call")
                .label("not an aggregate")
                .help("aggregates are count, count_if, sum, min, max, avg, count_distinct, first, last, collect, and expressions over them (`sum(price) / count()`)"),
        );
        return None;
    };
    let Some(func) = AggFunc::from_name(&name.node) else {
        let names = AggFunc::ALL.map(AggFunc::name);
        cx.error(
            Diagnostic::error(name.span, format!("unknown aggregate '{}'", name.node))
                .label("not an aggregate")
                .suggest(&name.node, names)
                .or_help(format!("aggregates are: {}", names.join(", "))),
        );
        return None;
    };
    let arity_ok = match func {
        AggFunc::Count => args.len() <= 1,
        _ => args.len() == 1,
    };
    if !arity_ok {
        let expected = if func == AggFunc::Count { "0 or 1" } else { "1" };
        cx.error(
            Diagnostic::error(
                e.span,
                format!(
                    "{}() takes {expected} argument{}, found {}",
                    func.name(),
                    if expected == "1" { "" } else { "s" },
                    args.len()
                ),
            )
            .label("wrong number of arguments"),
        );
        return None;
    }
    let Some(arg) = args.first() else {
        return Some(Agg { func, arg: None, ty: Type::INT });
    };
    let (x, t) = check_expr(arg, scope, &mut cx.diags)?;
    let nullable = t.nullable;
    let ty = match func {
        AggFunc::Count | AggFunc::CountDistinct => Type::INT,
        AggFunc::CountIf => match t.base {
            Base::Bool | Base::Null => Type::INT,
            _ => {
                cx.error(
                    Diagnostic::error(arg.span, format!("count_if() needs a bool condition, found {t}"))
                        .label("expected a condition")
                        .help("e.g. count_if(price > 100)"),
                );
                return None;
            }
        },
        AggFunc::Sum => match t.base {
            Base::Int | Base::Float | Base::Duration => t.clone(),
            _ => return wrong(cx, arg.span, func, &t, "a number or a duration"),
        },
        AggFunc::Avg => match t.base {
            Base::Int | Base::Float => Type::FLOAT.with_nullable(nullable),
            _ => return wrong(cx, arg.span, func, &t, "a number"),
        },
        AggFunc::Min | AggFunc::Max => match t.base {
            Base::List(_) | Base::Null => return wrong(cx, arg.span, func, &t, "a value with an order"),
            _ => t.clone(),
        },
        AggFunc::First | AggFunc::Last => t.clone(),
        AggFunc::Collect => Type::list(t.clone()),
    };
    Some(Agg { func, arg: Some(x), ty })
}

fn wrong(cx: &mut Checker, span: Span, func: AggFunc, t: &Type, want: &str) -> Option<Agg> {
    cx.error(
        Diagnostic::error(span, format!("{}() needs {want}, found {t}", func.name())).label(format!("expected {want}")),
    );
    None
}

/// Whether an entry of `aggregate { ... }` is a lone aggregate call (`n: count()`), rather
/// than an expression over aggregate calls (`mean: sum(price) / count()`).
pub(super) fn is_call(e: &ast::Expr) -> bool {
    matches!(&e.kind, ExprKind::Call { func, .. } if AggFunc::from_name(&func.node).is_some())
}

/// The name of the field that holds the aggregate call at `i` of an aggregate stage whose
/// entries are expressions: not a name a pipeline can write.
pub(super) fn hidden(i: usize) -> String {
    format!("#{i}")
}

/// An entry of `aggregate { ... }` that is an expression over aggregate calls, the group
/// `keys` and constants: each aggregate call is checked and pushed onto `aggs` (the one at
/// `i` becomes the field `hidden(i)` of the stage's output), and the entry comes back as an
/// expression over that output, computed once the aggregates are. `None` after reporting
/// every mistake in it.
pub(super) fn lift(
    e: &ast::Expr,
    keys: &[String],
    scope: &Scope,
    cx: &mut Checker,
    aggs: &mut Vec<Agg>,
) -> Option<ast::Expr> {
    let mut ok = true;
    let lifted = lift_expr(e, keys, scope, cx, aggs, &mut ok);
    ok.then_some(lifted)
}

fn lift_expr(
    e: &ast::Expr,
    keys: &[String],
    scope: &Scope,
    cx: &mut Checker,
    aggs: &mut Vec<Agg>,
    ok: &mut bool,
) -> ast::Expr {
    let mut lift = |x: &ast::Expr| Box::new(lift_expr(x, keys, scope, cx, aggs, ok));
    // A call of no scalar function is taken for an aggregate: an unknown one is reported as such.
    let aggregate_call = |name: &str| {
        AggFunc::from_name(name).is_some()
            || (Builtin::from_name(name).is_none() && !scope.functions.udfs.contains_key(name))
    };
    let kind = match &e.kind {
        ExprKind::Call { func, .. } if aggregate_call(&func.node) => match aggregate(e, scope, cx) {
            Some(agg) => {
                aggs.push(agg);
                let name = crate::span::Spanned { node: hidden(aggs.len() - 1), span: e.span };
                ExprKind::Name { qualifier: None, name }
            }
            None => {
                *ok = false;
                e.kind.clone()
            }
        },
        ExprKind::Name { qualifier: None, name }
            if !keys.contains(&name.node)
                && !scope.params.iter().any(|(p, ..)| *p == name.node)
                && scope.schema.index_of(&name.node).is_some() =>
        {
            cx.error(
                Diagnostic::error(name.span, format!("'{}' is not a group key: each record has its own", name.node))
                    .label("outside an aggregate")
                    .help(format!(
                        "use it inside an aggregate call (`sum({0})`, `max({0})`), or group by it",
                        name.node
                    )),
            );
            *ok = false;
            e.kind.clone()
        }
        ExprKind::Unary(op, x) => ExprKind::Unary(*op, lift(x)),
        ExprKind::Binary(op, x, y) => ExprKind::Binary(*op, lift(x), lift(y)),
        ExprKind::In { expr, list, negated } => ExprKind::In { expr: lift(expr), list: lift(list), negated: *negated },
        ExprKind::IsNull { expr, negated } => ExprKind::IsNull { expr: lift(expr), negated: *negated },
        ExprKind::Index { list, index } => ExprKind::Index { list: lift(list), index: lift(index) },
        ExprKind::Member { record, field } => ExprKind::Member { record: lift(record), field: field.clone() },
        ExprKind::If { cond, then, otherwise } => {
            ExprKind::If { cond: lift(cond), then: lift(then), otherwise: lift(otherwise) }
        }
        ExprKind::Call { func, args } => {
            ExprKind::Call { func: func.clone(), args: args.iter().map(|a| *lift(a)).collect() }
        }
        ExprKind::List(items) => ExprKind::List(items.iter().map(|a| *lift(a)).collect()),
        other => other.clone(),
    };
    ast::Expr { kind, span: e.span }
}
