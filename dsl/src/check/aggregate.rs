//! One entry of `aggregate { ... }`: a call of an aggregate function, and its type.

use super::expr::{check_expr, Scope};
use super::Checker;
use crate::ast::{self, ExprKind};
use crate::diag::Diagnostic;
use crate::plan::{Agg, AggFunc};
use crate::span::Span;
use crate::types::{Base, Type};

/// Types one entry of `aggregate { ... }`: a call of an aggregate function.
pub(super) fn aggregate(e: &ast::Expr, scope: &Scope, cx: &mut Checker) -> Option<Agg> {
    let ExprKind::Call { func: name, args } = &e.kind else {
        cx.error(
            Diagnostic::error(e.span, "each entry of 'aggregate' must be an aggregate call")
                .label("not an aggregate")
                .help("aggregates are count, sum, min, max, avg, count_distinct, first, last, collect; compute other values in a `derive` after the aggregate"),
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
