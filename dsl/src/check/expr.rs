//! Typing expressions: AST expressions → plan expressions over row positions, with their types.

use crate::ast::{self, BinOp, ExprKind, UnOp};
use crate::diag::Diagnostic;
use crate::functions::{Builtin, Function, Functions};
use crate::plan::{AggFunc, Arith, Cmp, Expr};
use crate::types::{Base, Schema, Type};
use crate::value::Value;

/// What names an expression can see: the fields of its input row, then the params.
pub struct Scope<'a> {
    pub schema: &'a Schema,
    /// The streams the row comes from (the input, and what it was joined with): `name.field`
    /// is accepted for them.
    pub streams: &'a [String],
    pub params: &'a [(String, Value, Type)],
    pub functions: &'a Functions,
    /// Names whose mistakes were already reported: using one is not reported again.
    pub unknown: &'a Unknown,
    /// Whether the expression configures the pipeline (a connector argument, a param
    /// default), where `env(NAME)` reads an environment variable.
    pub config: bool,
}

/// The names of fields and params whose type is not known because of a mistake reported
/// elsewhere (a select entry that failed, a param with a bad value). An expression that uses
/// one is dropped without a second error: one mistake, one message.
#[derive(Clone, Debug, Default)]
pub struct Unknown {
    names: std::collections::HashSet<String>,
}

impl Unknown {
    pub fn names(names: impl IntoIterator<Item = String>) -> Unknown {
        Unknown { names: names.into_iter().collect() }
    }

    pub fn covers(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    pub fn insert(&mut self, name: &str) {
        self.names.insert(name.to_string());
    }

    pub fn remove(&mut self, name: &str) {
        self.names.remove(name);
    }

    pub fn extend(&mut self, other: &Unknown) {
        self.names.extend(other.names.iter().cloned());
    }
}

/// Types an expression, pushing what is wrong to `diags`; `None` when it has an error.
pub fn check_expr(e: &ast::Expr, scope: &Scope, diags: &mut Vec<Diagnostic>) -> Option<(Expr, Type)> {
    match &e.kind {
        ExprKind::Lit(v) => Some((Expr::Lit(v.clone()), type_of_value(v))),
        ExprKind::List(items) => {
            let mut exprs = Vec::new();
            let mut elem = Type::NOTHING;
            let mut ok = true;
            for item in items {
                let Some((x, t)) = check_expr(item, scope, diags) else {
                    ok = false;
                    continue;
                };
                match elem.unify(&t) {
                    Some(u) => elem = u,
                    None => {
                        diags.push(
                            Diagnostic::error(
                                item.span,
                                format!(
                                    "list elements must have one type: this one is {t}, the ones before are {elem}"
                                ),
                            )
                            .label(format!("expected {elem}")),
                        );
                        ok = false;
                    }
                }
                exprs.push(x);
            }
            ok.then(|| (fold(Expr::List(exprs)), Type::list(elem)))
        }
        ExprKind::Record(entries) => {
            // `{ id: uid, name }`: a record value of these fields.
            let mut fields = Vec::new();
            let mut values = Vec::new();
            let mut ok = true;
            for (name, value) in entries {
                if fields.iter().any(|f: &crate::types::Field| f.name == name.node) {
                    diags.push(
                        Diagnostic::error(name.span, format!("field '{}' appears twice in this record", name.node))
                            .label("duplicate field"),
                    );
                    ok = false;
                    continue;
                }
                match check_expr(value, scope, diags) {
                    Some((x, ty)) => {
                        fields.push(crate::types::Field { name: name.node.clone(), ty });
                        values.push(x);
                    }
                    None => ok = false,
                }
            }
            let ty = Type::record(fields);
            let Base::Record(record) = &ty.base else { return None };
            let x = Expr::Record { names: record.names().clone(), values };
            ok.then(|| (fold(x), ty.clone()))
        }
        ExprKind::Member { record, field } => {
            let base = check_expr(record, scope, diags)?;
            member(base, record, field, diags)
        }
        ExprKind::Name { qualifier, name } => check_name(e, qualifier.as_ref(), name, scope, diags),
        ExprKind::Unary(op, inner) => {
            let (x, t) = check_expr(inner, scope, diags)?;
            match op {
                UnOp::Neg if matches!(t.base, Base::Int | Base::Float | Base::Duration | Base::Null) => {
                    Some((fold(Expr::Neg(Box::new(x))), t))
                }
                UnOp::Not if matches!(t.base, Base::Bool | Base::Null) => Some((fold(Expr::Not(Box::new(x))), t)),
                UnOp::Neg => {
                    diags.push(
                        Diagnostic::error(inner.span, format!("cannot negate a {t}"))
                            .label("expected a number or a duration"),
                    );
                    None
                }
                UnOp::Not => {
                    diags.push(
                        Diagnostic::error(inner.span, format!("'not' needs a bool, found {t}")).label("expected bool"),
                    );
                    None
                }
            }
        }
        ExprKind::Binary(op, a, b) => {
            let l = check_expr(a, scope, diags);
            let r = check_expr(b, scope, diags);
            let ((x, tx), (y, ty)) = (l?, r?);
            check_binary(e, *op, (x, tx), (y, ty), diags)
        }
        ExprKind::In { expr, list, negated } => {
            let l = check_expr(expr, scope, diags);
            let r = check_expr(list, scope, diags);
            let ((x, tx), (y, ty)) = (l?, r?);
            let Base::List(elem) = &ty.base else {
                diags.push(
                    Diagnostic::error(list.span, format!("'in' needs a list on its right, found {ty}"))
                        .label("expected a list such as [1, 2, 3]"),
                );
                return None;
            };
            if !comparable(&tx, elem) {
                diags.push(
                    Diagnostic::error(e.span, format!("cannot look for a {tx} in a list<{elem}>"))
                        .label(format!("{tx} vs list<{elem}>")),
                );
                return None;
            }
            let nullable = tx.nullable || ty.nullable || elem.nullable;
            let x = Expr::In { expr: Box::new(x), list: Box::new(y), negated: *negated };
            Some((fold(x), Type::BOOL.with_nullable(nullable)))
        }
        ExprKind::Index { list, index } => {
            let l = check_expr(list, scope, diags);
            let i = check_expr(index, scope, diags);
            let ((x, tx), (y, ty)) = (l?, i?);
            let elem = match &tx.base {
                Base::List(elem) => (**elem).clone(),
                Base::Null => Type::NULL,
                _ => {
                    diags.push(
                        Diagnostic::error(list.span, format!("only a list can be indexed, and this is {tx}"))
                            .label("not a list")
                            .help("e.g. split(path, \"/\")[1], or tags[0] for a list<string> field"),
                    );
                    return None;
                }
            };
            if !matches!(ty.base, Base::Int | Base::Null) {
                diags.push(
                    Diagnostic::error(index.span, format!("a list index must be an int, found {ty}"))
                        .label("expected an int")
                        .help("indexes count from 0; -1 is the last element"),
                );
                return None;
            }
            // Out of range is null: the element may always be missing.
            Some((fold(Expr::Index(Box::new(x), Box::new(y))), elem.nullable()))
        }
        ExprKind::IsNull { expr, negated } => {
            let (x, _) = check_expr(expr, scope, diags)?;
            Some((fold(Expr::IsNull { expr: Box::new(x), negated: *negated }), Type::BOOL))
        }
        ExprKind::If { cond, then, otherwise } => {
            let c = check_expr(cond, scope, diags);
            let t = check_expr(then, scope, diags);
            let o = check_expr(otherwise, scope, diags);
            let ((c, tc), (t, tt), (o, to)) = (c?, t?, o?);
            if !matches!(tc.base, Base::Bool | Base::Null) {
                diags.push(
                    Diagnostic::error(cond.span, format!("the condition of 'if' must be a bool, found {tc}"))
                        .label("expected bool"),
                );
                return None;
            }
            let Some(ty) = tt.unify(&to) else {
                diags.push(
                    Diagnostic::error(
                        otherwise.span,
                        format!("the branches of 'if' have different types: {tt} and {to}"),
                    )
                    .label(format!("expected {tt}"))
                    .related(then.span, format!("this is {tt}")),
                );
                return None;
            };
            let x = Expr::If { cond: Box::new(c), then: Box::new(t), otherwise: Box::new(o) };
            Some((fold(x), ty))
        }
        ExprKind::Call { func, args } => check_call(e, func, args, scope, diags),
    }
}

fn check_name(
    e: &ast::Expr,
    qualifier: Option<&ast::Ident>,
    name: &ast::Ident,
    scope: &Scope,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Expr, Type)> {
    let field = |i: usize| Some((Expr::Field(i), scope.schema.fields[i].ty.clone()));
    if let Some(q) = qualifier {
        // `a.b` is field `b` of the record field `a`, or field `b` of the input stream `a`.
        let own = scope.schema.index_of(&q.node);
        let record = own.filter(|i| matches!(scope.schema.fields[*i].ty.base, Base::Record(_)));
        match (scope.streams.contains(&q.node), record.or(own)) {
            (true, Some(_)) if record.is_some() => {
                diags.push(
                    Diagnostic::error(
                        e.span,
                        format!(
                            "'{}.{}' could mean field '{}' of the stream '{}' or of the record field '{}'",
                            q.node, name.node, name.node, q.node, q.node
                        ),
                    )
                    .label("which one?")
                    .help(format!("rename the record field '{}' (select {{ ...: {} }}) or the stream", q.node, q.node)),
                );
                return None;
            }
            (false, Some(i)) => {
                let base = (Expr::Field(i), scope.schema.fields[i].ty.clone());
                let ast_q = ast::Expr { kind: ExprKind::Name { qualifier: None, name: q.clone() }, span: q.span };
                return member(base, &ast_q, name, diags);
            }
            _ => {}
        }
        if !scope.streams.contains(&q.node) {
            let mut d = Diagnostic::error(q.span, format!("unknown stream '{}' in '{}.{}'", q.node, q.node, name.node))
                .label("not an input of this stage");
            if let Some(s) = scope.streams.first() {
                d = d.help(format!(
                    "fields here come from '{}': write '{}' or '{s}.{}'",
                    scope.streams.join("', '"),
                    name.node,
                    name.node
                ));
            }
            diags.push(d);
            return None;
        }
        // A name on both sides of a join is kept as `stream.field`.
        if let Some(i) = scope.schema.index_of(&format!("{}.{}", q.node, name.node)) {
            return field(i);
        }
    }
    if let Some(i) = scope.schema.index_of(&name.node) {
        return field(i);
    }
    let suffix = format!(".{}", name.node);
    let sides: Vec<&str> = scope.schema.names().filter(|n| n.ends_with(&suffix)).collect();
    if qualifier.is_none() && !sides.is_empty() {
        diags.push(
            Diagnostic::error(name.span, format!("'{}' is ambiguous: both sides of the join have it", name.node))
                .label("which one?")
                .help(format!("write {}", sides.join(" or "))),
        );
        return None;
    }
    if qualifier.is_none() {
        if let Some((_, v, t)) = scope.params.iter().find(|(n, _, _)| *n == name.node) {
            return Some((Expr::Lit(v.clone()), t.clone()));
        }
    }
    if scope.unknown.covers(&name.node) {
        return None;
    }
    let candidates = scope.schema.names().chain(scope.params.iter().map(|(n, _, _)| n.as_str()));
    diags.push(
        Diagnostic::error(name.span, format!("unknown field '{}'", name.node))
            .label("not a field of the input")
            .suggest(&name.node, candidates)
            .or_help(format!("the input has {}", scope.schema)),
    );
    let _ = e;
    None
}

/// Field `field` of `base`, a record (`record` is its expression, for messages).
fn member(
    base: (Expr, Type),
    record: &ast::Expr,
    field: &ast::Ident,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Expr, Type)> {
    let (x, t) = base;
    let path = path_text(record);
    let r = match &t.base {
        Base::Record(r) => r,
        Base::Null => return Some((Expr::Lit(Value::Null), Type::NULL)),
        _ => {
            diags.push(
                Diagnostic::error(
                    record.span,
                    format!("'{path}' is {t}, not a record: it has no field '{}'", field.node),
                )
                .label("not a record")
                .help("only records (`{ ... }` types, nested objects in JSON) have fields"),
            );
            return None;
        }
    };
    let Some(i) = r.index_of(&field.node) else {
        diags.push(
            Diagnostic::error(field.span, format!("unknown field '{}' in '{path}'", field.node))
                .label(format!("not a field of {t}"))
                .suggest(&field.node, r.fields.iter().map(|f| f.name.as_str()))
                .or_help(format!("'{path}' has {t}")),
        );
        return None;
    };
    // A missing or null record makes every access through it null.
    let ty = r.fields[i].ty.clone().with_nullable(t.nullable || r.fields[i].ty.nullable);
    Some((fold(Expr::Get { record: Box::new(x), index: i, name: field.node.clone() }), ty))
}

/// The text of an access path (`user.address`), for messages.
fn path_text(e: &ast::Expr) -> String {
    match &e.kind {
        ExprKind::Name { qualifier: Some(q), name } => format!("{}.{}", q.node, name.node),
        ExprKind::Name { qualifier: None, name } => name.node.clone(),
        ExprKind::Member { record, field } => format!("{}.{}", path_text(record), field.node),
        ExprKind::Index { list, .. } => format!("{}[..]", path_text(list)),
        _ => "the expression".into(),
    }
}

fn check_binary(
    e: &ast::Expr,
    op: BinOp,
    (x, tx): (Expr, Type),
    (y, ty): (Expr, Type),
    diags: &mut Vec<Diagnostic>,
) -> Option<(Expr, Type)> {
    use Base::*;
    let nullable = tx.nullable || ty.nullable;
    let (bx, by) = (&tx.base, &ty.base);
    let bad = |diags: &mut Vec<Diagnostic>, hint: Option<&str>| {
        let mut d = Diagnostic::error(e.span, format!("operator '{}' cannot be applied to {tx} and {ty}", op.symbol()))
            .label(format!("{tx} {} {ty}", op.symbol()));
        if let Some(h) = hint {
            d = d.help(h.to_string());
        }
        diags.push(d);
        None
    };
    let (x, y) = (Box::new(x), Box::new(y));
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            let arith = match op {
                BinOp::Add => Arith::Add,
                BinOp::Sub => Arith::Sub,
                BinOp::Mul => Arith::Mul,
                BinOp::Div => Arith::Div,
                _ => Arith::Rem,
            };
            let out = match (bx, by, arith) {
                (String | Null, String, Arith::Add) | (String, Null, Arith::Add) => {
                    return Some((fold(Expr::Concat(x, y)), Type::STRING.with_nullable(nullable)));
                }
                (Int, Int, _) | (Int, Null, _) | (Null, Int, _) => Int,
                (Int | Float | Null, Int | Float | Null, _) => Float,
                (Timestamp, Duration, Arith::Add | Arith::Sub) | (Duration, Timestamp, Arith::Add) => Timestamp,
                (Timestamp, Timestamp, Arith::Sub) => Duration,
                (Duration, Duration, Arith::Add | Arith::Sub | Arith::Rem) => Duration,
                (Duration, Duration, Arith::Div) => Int,
                (Duration, Int, Arith::Mul | Arith::Div) | (Int, Duration, Arith::Mul) => Duration,
                (String, _, Arith::Add) | (_, String, Arith::Add) => {
                    return bad(diags, Some("'+' joins two strings; convert the other side with string(...)"));
                }
                _ => return bad(diags, None),
            };
            // Division by zero gives null, so the result of / and % may be null unless the
            // divisor is a non-zero constant.
            let divides = matches!(arith, Arith::Div | Arith::Rem);
            let safe = matches!(&*y, Expr::Lit(v) if v.as_float().is_some_and(|d| d != 0.0) || matches!(v, Value::Duration(d) if *d != 0));
            let ty = Type::new(out).with_nullable(nullable || (divides && !safe));
            Some((fold(Expr::Arith(arith, x, y)), ty))
        }
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            if *bx == Null || *by == Null {
                let not = if op == BinOp::Ne { "not " } else { "" };
                diags.push(
                    Diagnostic::error(e.span, "a comparison with null is never true")
                        .label("always null")
                        .help(format!("write 'x is {not}null'")),
                );
                return None;
            }
            if !comparable(&tx, &ty) {
                return bad(diags, None);
            }
            if matches!(bx, List(_)) && !matches!(op, BinOp::Eq | BinOp::Ne) {
                return bad(diags, Some("lists compare only with == and !="));
            }
            let cmp = match op {
                BinOp::Eq => Cmp::Eq,
                BinOp::Ne => Cmp::Ne,
                BinOp::Lt => Cmp::Lt,
                BinOp::Le => Cmp::Le,
                BinOp::Gt => Cmp::Gt,
                _ => Cmp::Ge,
            };
            Some((fold(Expr::Compare(cmp, x, y)), Type::BOOL.with_nullable(nullable)))
        }
        BinOp::And | BinOp::Or => {
            if !matches!(bx, Bool | Null) || !matches!(by, Bool | Null) {
                return bad(diags, Some("'and' and 'or' combine bools"));
            }
            let x = if op == BinOp::And { Expr::And(x, y) } else { Expr::Or(x, y) };
            Some((fold(x), Type::BOOL.with_nullable(nullable)))
        }
    }
}

/// Whether values of the two types can be compared.
fn comparable(a: &Type, b: &Type) -> bool {
    a.unify(b).is_some()
}

fn check_call(
    e: &ast::Expr,
    func: &ast::Ident,
    args: &[ast::Expr],
    scope: &Scope,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Expr, Type)> {
    let name = func.node.as_str();
    if name == "env" {
        return env(e, args, scope, diags);
    }
    if AggFunc::from_name(name).is_some() && Builtin::from_name(name).is_none() {
        diags.push(
            Diagnostic::error(
                func.span,
                format!("{name}() is an aggregate and can only be used in 'aggregate {{ ... }}'"),
            )
            .label("aggregate outside 'aggregate'")
            .help(format!("group the stream, then: | group by KEY | aggregate {{ x: {name}(...) }}")),
        );
        return None;
    }
    let mut typed = Vec::new();
    for a in args {
        typed.push(check_expr(a, scope, diags));
    }
    let typed: Option<Vec<(Expr, Type)>> = typed.into_iter().collect();
    let (exprs, types): (Vec<Expr>, Vec<Type>) = typed?.into_iter().unzip();
    if let Some(b) = Builtin::from_name(name) {
        if let Some(d) = bad_constant_pattern(b, args, &exprs) {
            diags.push(d);
            return None;
        }
        return match b.check(&types) {
            Ok(ty) => Some((fold(Expr::Call { func: Function::Builtin(b), args: exprs }), ty)),
            Err(msg) => {
                diags.push(
                    Diagnostic::error(e.span, msg).label("wrong arguments").help(format!("usage: {}", b.usage())),
                );
                None
            }
        };
    }
    if let Some(udf) = scope.functions.udfs.get(name) {
        if types.len() != udf.params.len() {
            diags.push(
                Diagnostic::error(
                    e.span,
                    format!("{name}() takes {} arguments, found {}", udf.params.len(), types.len()),
                )
                .label("wrong number of arguments"),
            );
            return None;
        }
        for (i, (t, p)) in types.iter().zip(&udf.params).enumerate() {
            if !t.fits(p) {
                diags.push(
                    Diagnostic::error(args[i].span, format!("argument {} of {name}() must be {p}, found {t}", i + 1))
                        .label(format!("expected {p}")),
                );
                return None;
            }
        }
        return Some((Expr::Call { func: Function::Udf(udf.clone()), args: exprs }, udf.ret.clone()));
    }
    let known = Builtin::ALL.iter().map(|b| b.name()).chain(scope.functions.udfs.keys().map(String::as_str));
    diags.push(
        Diagnostic::error(func.span, format!("unknown function '{name}'")).label("not a function").suggest(name, known),
    );
    None
}

/// `env(NAME[, default])`: the environment variable, read now (when the pipeline is checked),
/// so that secrets and addresses need not be written in pipeline files.
fn env(e: &ast::Expr, args: &[ast::Expr], scope: &Scope, diags: &mut Vec<Diagnostic>) -> Option<(Expr, Type)> {
    if !scope.config {
        diags.push(
            Diagnostic::error(e.span, "env() reads the environment when the pipeline is checked: only in connector arguments and param defaults")
                .label("not here")
                .help("declare a param with it as the default, then use the param: param region: string = env(\"REGION\", \"eu\")"),
        );
        return None;
    }
    if args.is_empty() || args.len() > 2 {
        let msg = format!("env() takes 1 to 2 arguments, found {}", args.len());
        diags.push(
            Diagnostic::error(e.span, msg).label("wrong arguments").help("usage: env(NAME[, default]) -> string"),
        );
        return None;
    }
    let mut texts = Vec::new();
    for a in args {
        match check_expr(a, scope, diags)? {
            (Expr::Lit(Value::Str(s)), _) => texts.push(s.to_string()),
            (_, t) => {
                diags.push(
                    Diagnostic::error(a.span, format!("env() takes constant strings, found {t}"))
                        .label("expected a string")
                        .help("e.g. env(\"KAFKA_BROKERS\", \"127.0.0.1:9092\")"),
                );
                return None;
            }
        }
    }
    let value = match (std::env::var(&texts[0]), texts.get(1)) {
        (Ok(v), _) => v,
        (Err(std::env::VarError::NotPresent), Some(default)) => default.clone(),
        (Err(std::env::VarError::NotPresent), None) => {
            diags.push(
                Diagnostic::error(e.span, format!("the environment variable '{}' is not set", texts[0]))
                    .label("not set")
                    .help(format!(
                        "set it (export {}=...), or give a default: env(\"{}\", \"...\")",
                        texts[0], texts[0]
                    )),
            );
            return None;
        }
        (Err(std::env::VarError::NotUnicode(_)), _) => {
            diags.push(
                Diagnostic::error(e.span, format!("the environment variable '{}' is not valid UTF-8", texts[0]))
                    .label("not text"),
            );
            return None;
        }
    };
    Some((Expr::Lit(Value::str(&value)), Type::STRING))
}

/// A constant argument that cannot work, reported here with its place rather than found (as
/// nulls, or slowly) on every record: a regex pattern that does not compile or compiles too
/// large, a `date_trunc` unit, a time zone, a strftime pattern.
fn bad_constant_pattern(b: Builtin, args: &[ast::Expr], exprs: &[Expr]) -> Option<Diagnostic> {
    let constant = |i: usize| match (exprs.get(i), args.get(i)) {
        (Some(Expr::Lit(Value::Str(s))), Some(arg)) => Some((s.as_str(), arg.span)),
        _ => None,
    };
    let name = b.name();
    if b.takes_pattern() {
        let (pattern, span) = constant(1)?;
        let problem = crate::functions::regex_problem(pattern)?;
        return Some(
            Diagnostic::error(span, format!("{name}: {problem}"))
                .label("this pattern")
                .help("patterns use the syntax of Rust's regex crate, e.g. \"^[a-z]+@example\\\\.com$\""),
        );
    }
    match b {
        Builtin::DateTrunc => {
            let (unit, span) = constant(0)?;
            (!crate::time::TRUNC_UNITS.contains(&unit)).then(|| {
                Diagnostic::error(span, format!("date_trunc: unknown unit '{unit}'"))
                    .label("not a unit")
                    .suggest(unit, crate::time::TRUNC_UNITS.iter().copied())
                    .or_help("the units are second, minute, hour, day, week, month and year")
            })
        }
        Builtin::FormatTimestamp | Builtin::ParseTimestamp => {
            if let Some((zone, span)) = constant(2).filter(|(z, _)| !crate::time::known_zone(z)) {
                return Some(
                    Diagnostic::error(span, format!("format_timestamp: unknown time zone '{zone}'"))
                        .label("not an IANA time zone")
                        .suggest(zone, crate::time::zone_names())
                        .or_help("zones are IANA names, e.g. \"Europe/Paris\", \"America/New_York\" or \"UTC\""),
                );
            }
            let (pattern, span) = constant(1)?;
            crate::time::bad_pattern(pattern).then(|| {
                Diagnostic::error(span, format!("{name}: invalid pattern \"{pattern}\""))
                    .label("not a strftime pattern")
                    .help("e.g. \"%Y-%m-%d %H:%M:%S\" or \"%d/%b/%Y:%H:%M:%S %z\" (chrono's strftime specifiers)")
            })
        }
        _ => None,
    }
}

pub fn type_of_value(v: &Value) -> Type {
    match v {
        Value::Null => Type::NULL,
        Value::Bool(_) => Type::BOOL,
        Value::Int(_) => Type::INT,
        Value::Float(_) => Type::FLOAT,
        Value::Str(_) => Type::STRING,
        Value::Timestamp(_) => Type::TIMESTAMP,
        Value::Duration(_) => Type::DURATION,
        Value::List(items) => {
            let elem = items.iter().fold(Type::NOTHING, |acc, v| acc.unify(&type_of_value(v)).unwrap_or(acc));
            Type::list(elem)
        }
        Value::Json(_) => Type::JSON,
        Value::Record(r) => {
            let fields = r.names.iter().zip(&r.values);
            Type::record(
                fields.map(|(n, v)| crate::types::Field { name: n.to_string(), ty: type_of_value(v) }).collect(),
            )
        }
    }
}

/// Folds an expression whose operands are all constants into a literal.
fn fold(x: Expr) -> Expr {
    let mut reads = false;
    x.visit_fields(&mut |_| reads = true);
    if !reads && !volatile(&x) {
        Expr::Lit(crate::eval::eval_const(&x))
    } else {
        x
    }
}

/// Whether evaluating the expression twice may give different answers (`now()`, functions
/// of the embedding program).
fn volatile(x: &Expr) -> bool {
    match x {
        Expr::Call { func: Function::Builtin(Builtin::Now) | Function::Udf(_), .. } => true,
        Expr::Lit(_) | Expr::Field(_) => false,
        Expr::List(items) | Expr::Call { args: items, .. } | Expr::Record { values: items, .. } => {
            items.iter().any(volatile)
        }
        Expr::Neg(e) | Expr::Not(e) | Expr::IsNull { expr: e, .. } | Expr::Get { record: e, .. } => volatile(e),
        Expr::Arith(_, a, b)
        | Expr::Compare(_, a, b)
        | Expr::And(a, b)
        | Expr::Or(a, b)
        | Expr::Concat(a, b)
        | Expr::Index(a, b)
        | Expr::In { expr: a, list: b, .. } => volatile(a) || volatile(b),
        Expr::If { cond, then, otherwise } => volatile(cond) || volatile(then) || volatile(otherwise),
    }
}
