//! Typing every stage of a pipe, with one rule to recover from a mistake (see `stages`).

use crate::functions::Functions;
use crate::value::Value;
use std::collections::HashMap;

use super::aggregate::aggregate;
use super::expr::{check_expr, Scope, Unknown};
use super::graph::{Failed, Shape, StreamGraph};
use super::join::{self, Other, Spec};
use super::window::{self, Flow, Op};
use super::{Checker, Input, Stream};
use crate::ast::{self, ExprKind, StageKind, WindowSpec};
use crate::diag::Diagnostic;
use crate::plan::{Agg, Expr, JoinKind, Lag, TimeRef, WindowKind, WindowOp};
use crate::span::Span;
use crate::types::{Base, Field, Schema, Type};

/// A typed stage and the schema of its output.
#[derive(Clone, Debug)]
pub struct Stage {
    pub kind: Kind,
    pub schema: Schema,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Filter(Expr),
    /// `select` and `derive`: the output row, expression by expression.
    Project(Vec<Expr>),
    Unnest(Expr),
    Aggregate {
        keys: Vec<Expr>,
        aggs: Vec<Agg>,
    },
    Distinct {
        keys: Vec<Expr>,
    },
    Union(Vec<Input>),
    /// Tumbling (`size == slide`) or sliding windows, assigned to each record.
    Window {
        size: i64,
        slide: i64,
        time: TimeRef,
        replace: Option<(usize, usize)>,
    },
    /// A join with another stream.
    Join {
        other: Input,
        left_keys: Vec<Expr>,
        right_keys: Vec<Expr>,
        right_fields: Vec<usize>,
        /// The conditions that are no keys, over the joined row: a pair is kept when true.
        predicate: Option<Expr>,
        outer: bool,
        kind: JoinKind,
    },
    /// The first `n` records per key, updated as records come and go.
    Top {
        keys: Vec<Expr>,
        n: usize,
        by: Vec<(Expr, bool)>,
        ties: bool,
    },
    /// `iterate (max N) { body }`; the body reads `Input::Loop`.
    Iterate {
        max: u64,
        body: Box<Stream>,
    },
    /// A per-window aggregate, distinct or top.
    Windowed {
        window: WindowKind,
        keys: Vec<Expr>,
        op: WindowOp,
        lag: Lag,
    },
}

impl StreamGraph<'_> {
    /// Checks a pipe — its input and its stages — as a stream named `name`.
    ///
    /// One recovery rule, so that every mistake is reported once and none causes another: a
    /// stage with a mistake is reported, and checking goes on with the schema the stage would
    /// have given — unchanged for `filter`, `distinct`, `top`, `union` and `iterate`; without
    /// the entries that failed (their names marked unknown, so that their uses are not
    /// reported) for `select`, `derive`, `unnest`, `group by` and `aggregate`; a window size
    /// with a mistake stands as 1 ms, a join condition with one still joins the schemas. When
    /// a stage's output cannot be known (a second window, a join whose kind cannot be told),
    /// the rest of the pipe is not checked, and neither are its readers.
    pub(super) fn stages(&mut self, cx: &mut Checker, pipe: &ast::Pipe, name: &str) -> Result<Stream, Failed> {
        let input = self.resolve(cx, &pipe.input).ok_or(None)?;
        // An input whose shape is not known had a mistake, reported already.
        let mut schema = self.schema_of(input).ok_or(None)?;
        let mut unknown = self.unknown_of(input);
        unknown.extend(&cx.failed_params());
        // A stream reading one with mistakes cannot run either, but has no mistake of its own.
        let mut ok = self.is_sound(input);
        let mut flow = self.flow_of(input);
        let mut qualifiers = vec![pipe.input.name.node.clone()];
        let mut stages = Vec::new();
        let mut group: Option<Group> = None;
        let params = cx.scope_params();
        let options = cx.options;
        for stage in &pipe.stages {
            let keyed = matches!(stage.kind, StageKind::Aggregate(_) | StageKind::Distinct(_) | StageKind::Top { .. });
            if let (Some(g), false) = (&group, keyed) {
                cx.error(
                    Diagnostic::error(stage.span, format!("'{}' cannot follow 'group by'", stage.kind.keyword()))
                        .label("expected aggregate, distinct or top")
                        .related(g.span, "grouped here"),
                );
                ok = false;
                group = None;
            }
            let scope = Scope {
                schema: &schema,
                streams: &qualifiers,
                params: &params,
                functions: &options.functions,
                unknown: &unknown,
                config: false,
            };
            let kind = match &stage.kind {
                StageKind::Filter(e) => filter(cx, e, &scope),
                StageKind::Select(items) | StageKind::Derive(items) => {
                    let derive = matches!(stage.kind, StageKind::Derive(_));
                    let (kind, fields, failed) = project(cx, items, derive, &scope);
                    if !derive {
                        unknown = cx.failed_params();
                    }
                    for (name, _) in items {
                        unknown.remove(&name.node);
                    }
                    failed.iter().for_each(|n| unknown.insert(n));
                    schema = Schema::new(fields);
                    flow.project(&schema);
                    kind
                }
                StageKind::Unnest { expr, alias } => match unnest(cx, expr, alias, &scope) {
                    Some((kind, field)) => {
                        schema.fields.push(field);
                        Some(kind)
                    }
                    None => {
                        if schema.index_of(&alias.node).is_none() {
                            unknown.insert(&alias.node);
                        }
                        None
                    }
                },
                StageKind::GroupBy(keys) => {
                    let g = group_by(cx, keys, stage.span, &scope);
                    ok &= g.failed.is_empty() && g.ok;
                    group = Some(g);
                    continue;
                }
                StageKind::Aggregate(items) => {
                    let g = group.take().unwrap_or_else(|| Group::none(stage.span));
                    let (aggs, fields, failed, entries) = aggregates(cx, items, &g, &scope);
                    let computed = aggs.len();
                    let keys = g.keys;
                    unknown = cx.failed_params();
                    failed.iter().for_each(|n| unknown.insert(n));
                    let all_ok = failed.is_empty();
                    let kind = if let Some((mark, _)) = flow.window.take() {
                        let key_fields: Vec<Field> = fields[..keys.len()].to_vec();
                        let agg_fields: Vec<Field> = fields[keys.len()..].to_vec();
                        let op = Op::Aggregate {
                            keys: keys.into_iter().zip(key_fields).collect(),
                            aggs: aggs.into_iter().zip(agg_fields).collect(),
                        };
                        let kind = window::windowed(cx, &mark, op, stage.span, &mut schema, &mut flow).ok_or(None)?;
                        all_ok.then_some(kind)
                    } else {
                        self.warn_unbounded(cx, &flow, stage.span, "aggregate");
                        schema = Schema::new(fields);
                        flow.updated();
                        all_ok.then_some(Kind::Aggregate { keys, aggs })
                    };
                    match entries {
                        // The aggregate, then its entries computed from its output (checked even
                        // when another entry failed, so that every mistake is reported).
                        Some(entries) => {
                            let over = (&schema, &params[..], &options.functions);
                            let (exprs, out, failed) = entries_after(cx, &entries, over, computed);
                            failed.iter().for_each(|n| unknown.insert(n));
                            if let Some(kind) = kind {
                                stages.push(Stage { kind, schema: schema.clone() });
                            } else {
                                ok = false;
                            }
                            schema = out;
                            failed.is_empty().then_some(Kind::Project(exprs))
                        }
                        None => kind,
                    }
                }
                StageKind::Distinct(keys) => {
                    let mut exprs = Vec::new();
                    let mut keys_ok = true;
                    for k in keys {
                        match check_expr(k, &scope, &mut cx.diags) {
                            Some((x, _)) => exprs.push(x),
                            None => keys_ok = false,
                        }
                    }
                    if let Some(g) = group.take() {
                        exprs.extend(g.keys);
                    }
                    let kind = if let Some((mark, _)) = flow.window.take() {
                        let op = Op::Distinct { keys: exprs };
                        window::windowed(cx, &mark, op, stage.span, &mut schema, &mut flow).ok_or(None)?
                    } else {
                        self.warn_unbounded(cx, &flow, stage.span, "distinct");
                        flow.updated();
                        Kind::Distinct { keys: exprs }
                    };
                    keys_ok.then_some(kind)
                }
                StageKind::Top { n, by, ties } => {
                    let n = window::count(cx, &scope, n, "top");
                    let by: Vec<Option<(Expr, bool)>> = by
                        .iter()
                        .map(|(e, desc)| check_expr(e, &scope, &mut cx.diags).map(|(x, _)| (x, *desc)))
                        .collect();
                    let by: Option<Vec<(Expr, bool)>> = by.into_iter().collect();
                    let keys = group.take().map(|g| g.keys).unwrap_or_default();
                    let (Some(n), Some(by)) = (n, by) else {
                        // `top` keeps the schema: go on as if it had checked.
                        match flow.window.take() {
                            Some((mark, _)) => flow.results(&mark),
                            None => flow.updated(),
                        }
                        ok = false;
                        continue;
                    };
                    let op = Op::Top { keys, n, by, ties: *ties };
                    if let Some((mark, _)) = flow.window.take() {
                        Some(window::windowed(cx, &mark, op, stage.span, &mut schema, &mut flow).ok_or(None)?)
                    } else {
                        let Op::Top { keys, n, by, ties } = op else { unreachable!("built above") };
                        self.warn_unbounded(cx, &flow, stage.span, "top");
                        flow.updated();
                        Some(Kind::Top { keys, n, by, ties })
                    }
                }
                StageKind::Window(_) if self.looping.is_some() => {
                    cx.error(
                        Diagnostic::error(stage.span, "windows cannot be used inside `iterate`")
                            .label("not in a loop")
                            .help("window the stream before or after the iterate"),
                    );
                    return Err(None);
                }
                StageKind::Window(spec) => {
                    // A size with a mistake (reported) stands as 1 ms, so that the stages after
                    // the window are checked as windowed.
                    let sizes = window::sizes(cx, &scope, spec);
                    ok &= sizes.is_some();
                    let sizes = sizes.unwrap_or(match spec {
                        WindowSpec::Session { .. } => window::Sizes::Session { gap: 1 },
                        _ => window::Sizes::Assigned { size: 1, slide: 1 },
                    });
                    match window::window(cx, sizes, stage.span, &mut schema, &mut flow) {
                        Ok(Some(kind)) => Some(kind),
                        Ok(None) => continue,
                        Err(()) => return Err(None),
                    }
                }
                StageKind::Union(others) => {
                    let (kind, union_ok) = self.union(cx, others, &mut schema, &mut flow, &mut unknown);
                    ok &= union_ok;
                    Some(kind)
                }
                StageKind::Join { left, other, on, within } => {
                    let other_input = self.resolve(cx, other).ok_or(None)?;
                    let other_schema = self.schema_of(other_input).ok_or(None)?;
                    ok &= self.is_sound(other_input);
                    let mut other_unknown = self.unknown_of(other_input);
                    other_unknown.extend(&cx.failed_params());
                    let other_flow = self.flow_of(other_input);
                    let name = match &other.side {
                        Some(side) => format!("{}.{}", other.name.node, side.node),
                        None => other.name.node.clone(),
                    };
                    let spec = Spec { outer: *left, on, within: within.as_ref(), span: stage.span };
                    let other = Other {
                        input: other_input,
                        name: &name,
                        schema: &other_schema,
                        flow: &other_flow,
                        unknown: &other_unknown,
                    };
                    let mut joined = schema.clone();
                    let kind = join::join(cx, &scope, spec, other, &mut joined, &mut flow).map_err(|()| None)?;
                    schema = joined;
                    unknown.extend(&other_unknown);
                    qualifiers.push(name);
                    let incremental = matches!(kind, None | Some(Kind::Join { kind: JoinKind::Incremental, .. }));
                    if self.looping.is_some() && !incremental {
                        cx.error(
                            Diagnostic::error(
                                stage.span,
                                "only joins without time bounds can be used inside `iterate`",
                            )
                            .label("windowed or interval join in a loop"),
                        );
                        None
                    } else {
                        kind
                    }
                }
                StageKind::Iterate { max, body } => {
                    let max = window::count(cx, &scope, max, "iterate (max N)");
                    let kind = self.iterate(cx, max, body, stage.span, &schema, &flow, name);
                    flow.updated();
                    kind
                }
            };
            match kind {
                Some(kind) => stages.push(Stage { kind, schema: schema.clone() }),
                None => ok = false,
            }
        }
        if let Some(g) = group {
            cx.error(
                Diagnostic::error(g.span, "'group by' must be followed by aggregate, distinct or top")
                    .label("nothing uses this grouping")
                    .help("e.g. `| group by auction | aggregate { bids: count() }`"),
            );
            ok = false;
        }
        if ok {
            Ok(Stream { name: name.to_string(), input, stages, schema, flow })
        } else {
            Err(Some(Box::new(Shape { schema, unknown, flow })))
        }
    }

    /// `union OTHER, ...`: the stage, and whether every input checked.
    fn union(
        &mut self,
        cx: &mut Checker,
        others: &[ast::StreamRef],
        schema: &mut Schema,
        flow: &mut Flow,
        unknown: &mut Unknown,
    ) -> (Kind, bool) {
        let mut inputs = Vec::new();
        let mut ok = true;
        for other in others {
            let Some(input) = self.resolve(cx, other) else {
                ok = false;
                continue;
            };
            let Some(theirs) = self.schema_of(input) else {
                ok = false;
                continue;
            };
            ok &= self.is_sound(input);
            unknown.extend(&self.unknown_of(input));
            match flow.union(&self.flow_of(input)) {
                Ok(f) => *flow = f,
                Err(why) => {
                    cx.error(
                        Diagnostic::error(other.span, format!("cannot union '{}': {why}", other.name.node))
                            .label("windowed differently")
                            .help("window the streams after the union instead"),
                    );
                    ok = false;
                    continue;
                }
            }
            match union_schema(schema, &theirs) {
                Ok(s) => *schema = s,
                Err(why) => {
                    cx.error(
                        Diagnostic::error(other.span, format!("cannot union '{}': {why}", other.name.node))
                            .label(format!("it has {theirs}"))
                            .help(format!(
                                "the stream here has {schema}; select the same fields in the same order on both sides"
                            )),
                    );
                    ok = false;
                    continue;
                }
            }
            inputs.push(input);
        }
        (Kind::Union(inputs), ok)
    }

    /// `iterate (max N) { body }`: the body is checked as a pipe reading `loop`.
    #[allow(clippy::too_many_arguments)]
    fn iterate(
        &mut self,
        cx: &mut Checker,
        max: Option<usize>,
        body: &ast::Pipe,
        span: Span,
        schema: &Schema,
        flow: &Flow,
        name: &str,
    ) -> Option<Kind> {
        if self.looping.is_some() || flow.window.is_some() {
            cx.error(
                Diagnostic::error(span, "an iterate cannot be inside another, nor follow a window").label("not here"),
            );
            return None;
        }
        self.looping = Some((
            schema.clone(),
            Flow { time: None, window: None, results_of: None, unbounded: flow.unbounded, lag: 0 },
        ));
        let checked = self.stages(cx, body, name);
        self.looping = None;
        let body_stream = checked.ok()?;
        if let Err(why) = same_fields(schema, &body_stream.schema) {
            cx.error(
                Diagnostic::error(body.span, format!("the loop's body must give records like its input: {why}"))
                    .label(format!("gives {}", body_stream.schema))
                    .help(format!("the loop's records are {schema}; select the same fields in the same order")),
            );
            return None;
        }
        Some(Kind::Iterate { max: max? as u64, body: Box::new(body_stream) })
    }

    /// Warns about state that grows without end: an un-windowed keyed stage over an unbounded
    /// source.
    fn warn_unbounded(&self, cx: &mut Checker, flow: &Flow, span: Span, what: &str) {
        if flow.unbounded {
            cx.diags.push(
                Diagnostic::warning(
                    span,
                    format!("this {what} keeps state for every key forever: its input never ends"),
                )
                .label("unbounded state")
                .help("window the stream first (e.g. `| window tumbling(1m)`) so state is freed when windows close"),
            );
        }
    }
}

/// A `group by` waiting for its `aggregate`, `distinct` or `top`.
struct Group {
    keys: Vec<Expr>,
    fields: Vec<Field>,
    span: Span,
    /// The names of keys with mistakes: unknown in the aggregate's output.
    failed: Vec<String>,
    /// Whether every key checked (a computed key without a name has no name to fail).
    ok: bool,
}

impl Group {
    /// No grouping: one group.
    fn none(span: Span) -> Group {
        Group { keys: Vec::new(), fields: Vec::new(), span, failed: Vec::new(), ok: true }
    }
}

/// `filter EXPR`.
fn filter(cx: &mut Checker, e: &ast::Expr, scope: &Scope) -> Option<Kind> {
    let (x, t) = check_expr(e, scope, &mut cx.diags)?;
    if !matches!(t.base, Base::Bool | Base::Null) {
        cx.error(
            Diagnostic::error(e.span, format!("filter needs a bool condition, found {t}"))
                .label("expected bool")
                .help("compare it, e.g. `filter price > 100`"),
        );
        return None;
    }
    Some(Kind::Filter(x))
}

/// `select { ... }` or `derive { ... }`: the stage (unless an entry failed), the output
/// fields, and the names of the entries that failed.
fn project(
    cx: &mut Checker,
    items: &[(ast::Ident, ast::Expr)],
    derive: bool,
    scope: &Scope,
) -> (Option<Kind>, Vec<Field>, Vec<String>) {
    let (mut exprs, mut fields): (Vec<Expr>, Vec<Field>) = if derive {
        ((0..scope.schema.len()).map(Expr::Field).collect(), scope.schema.fields.clone())
    } else {
        (Vec::new(), Vec::new())
    };
    let mut failed = Vec::new();
    let mut ok = true;
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for (name, e) in items {
        if let Some(first) = seen.insert(&name.node, name.span) {
            cx.error(
                Diagnostic::error(name.span, format!("field '{}' is given twice", name.node))
                    .label("duplicate field")
                    .related(first, "first given here"),
            );
            ok = false;
            continue;
        }
        let position = fields.iter().position(|f| f.name == name.node);
        let Some((x, t)) = check_expr(e, scope, &mut cx.diags) else {
            ok = false;
            failed.push(name.node.clone());
            // A field replaced by an entry that failed has an unknown type now.
            if let Some(p) = position {
                exprs.remove(p);
                fields.remove(p);
            }
            continue;
        };
        let t = if t.base == Base::Null { Type::STRING.nullable() } else { t };
        let field = Field { name: name.node.clone(), ty: t };
        match position {
            Some(p) => {
                exprs[p] = x;
                fields[p] = field;
            }
            None => {
                exprs.push(x);
                fields.push(field);
            }
        }
    }
    (ok.then_some(Kind::Project(exprs)), fields, failed)
}

/// `unnest EXPR as alias`: the stage and the alias's field.
fn unnest(cx: &mut Checker, e: &ast::Expr, alias: &ast::Ident, scope: &Scope) -> Option<(Kind, Field)> {
    let (x, t) = check_expr(e, scope, &mut cx.diags)?;
    let Base::List(elem) = &t.base else {
        cx.error(Diagnostic::error(e.span, format!("unnest needs a list, found {t}")).label("expected list<T>"));
        return None;
    };
    if scope.schema.index_of(&alias.node).is_some() {
        cx.error(
            Diagnostic::error(alias.span, format!("'{}' is already a field of the stream", alias.node))
                .label("name taken")
                .help("choose another name after 'as'"),
        );
        return None;
    }
    let elem = if elem.base == Base::Null { Type::STRING.nullable() } else { (**elem).clone() };
    Some((Kind::Unnest(x), Field { name: alias.node.clone(), ty: elem }))
}

/// `group by KEY, ...`: the keys that checked, with their names.
fn group_by(cx: &mut Checker, keys: &[ast::Expr], span: Span, scope: &Scope) -> Group {
    let mut g = Group::none(span);
    for k in keys {
        let name = match &k.kind {
            ExprKind::Name { name, .. } => Some(name.node.clone()),
            _ => None,
        };
        let Some((x, t)) = check_expr(k, scope, &mut cx.diags) else {
            match name {
                Some(name) => g.failed.push(name),
                None => g.ok = false,
            }
            continue;
        };
        let Some(name) = name else {
            cx.error(
                Diagnostic::error(k.span, "a computed group key needs a name")
                    .label("not a field")
                    .help("derive it first: `| derive { key: EXPR } | group by key`"),
            );
            g.ok = false;
            continue;
        };
        g.keys.push(x);
        g.fields.push(Field { name, ty: t });
    }
    g
}

/// The entries of an aggregate, by name, as expressions over its output.
type Entries = Vec<(String, ast::Expr)>;

/// The entries of `aggregate { ... }`: the aggregates that checked, the output fields (keys
/// first), the names that failed (keys and entries), and, when an entry is an expression over
/// aggregate calls, every entry as an expression over that output, to compute after it (see
/// `aggregate::lift`).
fn aggregates(
    cx: &mut Checker,
    items: &[(ast::Ident, ast::Expr)],
    group: &Group,
    scope: &Scope,
) -> (Vec<Agg>, Vec<Field>, Vec<String>, Option<Entries>) {
    let mut fields = group.fields.clone();
    let mut failed = group.failed.clone();
    let mut aggs = Vec::new();
    if !items.iter().all(|(_, e)| super::aggregate::is_call(e)) {
        let keys: Vec<String> = group.fields.iter().map(|f| f.name.clone()).collect();
        let mut entries = Vec::new();
        for (name, e) in items {
            if fields.iter().chain(&group.fields).any(|f| f.name == name.node)
                || entries.iter().any(|(n, _)| *n == name.node)
            {
                cx.error(
                    Diagnostic::error(
                        name.span,
                        format!("'{}' is already a key or an aggregate of this stage", name.node),
                    )
                    .label("duplicate name"),
                );
                failed.push(name.node.clone());
                continue;
            }
            match super::aggregate::lift(e, &keys, scope, cx, &mut aggs) {
                Some(lifted) => entries.push((name.node.clone(), lifted)),
                None => failed.push(name.node.clone()),
            }
        }
        let hidden =
            aggs.iter().enumerate().map(|(i, a)| Field { name: super::aggregate::hidden(i), ty: a.ty.clone() });
        fields.extend(hidden);
        return (aggs, fields, failed, Some(entries));
    }
    for (name, e) in items {
        if fields.iter().any(|f| f.name == name.node) || failed.contains(&name.node) {
            cx.error(
                Diagnostic::error(name.span, format!("'{}' is already a key or an aggregate of this stage", name.node))
                    .label("duplicate name"),
            );
            failed.push(name.node.clone());
            continue;
        }
        match aggregate(e, scope, cx) {
            Some(agg) => {
                fields.push(Field { name: name.node.clone(), ty: agg.ty.clone() });
                aggs.push(agg);
            }
            None => failed.push(name.node.clone()),
        }
    }
    (aggs, fields, failed, None)
}

/// The entries of an aggregate whose entries are expressions, computed from its output
/// `schema` (keys and window fields, then the `computed` aggregate calls): the projection,
/// its schema (the keys and window fields, then the entries), and the entries that failed.
fn entries_after(
    cx: &mut Checker,
    entries: &[(String, ast::Expr)],
    (schema, params, functions): (&Schema, &[(String, Value, Type)], &Functions),
    computed: usize,
) -> (Vec<Expr>, Schema, Vec<String>) {
    let kept = schema.len() - computed;
    let mut exprs: Vec<Expr> = (0..kept).map(Expr::Field).collect();
    let mut fields = schema.fields[..kept].to_vec();
    let mut failed = Vec::new();
    let unknown = cx.failed_params();
    let over = Scope { schema, streams: &[], params, functions, unknown: &unknown, config: false };
    for (name, e) in entries {
        match check_expr(e, &over, &mut cx.diags) {
            Some((x, ty)) => {
                exprs.push(x);
                fields.push(Field { name: name.clone(), ty });
            }
            None => failed.push(name.clone()),
        }
    }
    (exprs, Schema::new(fields), failed)
}

/// The schema of a union: the same field names in the same order, types unified.
fn union_schema(ours: &Schema, theirs: &Schema) -> Result<Schema, String> {
    if ours.len() != theirs.len() {
        return Err(format!("it has {} fields, the stream here has {}", theirs.len(), ours.len()));
    }
    let mut fields = Vec::new();
    for (a, b) in ours.fields.iter().zip(&theirs.fields) {
        if a.name != b.name {
            return Err(format!("field '{}' where '{}' is expected", b.name, a.name));
        }
        let ty = a.ty.unify(&b.ty).ok_or_else(|| format!("field '{}' is {} here and {} there", a.name, a.ty, b.ty))?;
        fields.push(Field { name: a.name.clone(), ty });
    }
    Ok(Schema::new(fields))
}

/// Whether two schemas have the same field names in the same order with fitting types.
fn same_fields(want: &Schema, got: &Schema) -> Result<(), String> {
    if want.len() != got.len() {
        return Err(format!("{} fields where {} are expected", got.len(), want.len()));
    }
    for (w, g) in want.fields.iter().zip(&got.fields) {
        if w.name != g.name {
            return Err(format!("field '{}' where '{}' is expected", g.name, w.name));
        }
        if !g.ty.fits(&w.ty) {
            return Err(format!("field '{}' is {} where {} is expected", g.name, g.ty, w.ty));
        }
    }
    Ok(())
}
