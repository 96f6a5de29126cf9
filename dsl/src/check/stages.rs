//! Streams and their stages: resolving inputs (with cycle detection) and typing every stage.

use std::collections::{HashMap, HashSet};

use super::expr::{check_expr, Scope};
use super::join::{self, Other, Spec};
use super::window::{self, Flow, Op, Time};
use super::{Checker, Input, Source, Stream};
use crate::ast::{self, ExprKind, StageKind};
use crate::connectors::errors_schema;
use crate::diag::{suggest, Diagnostic};
use crate::plan::{Agg, AggFunc, Expr, JoinKind, Lag, TimeRef, WindowKind, WindowOp};
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
        outer: bool,
        kind: JoinKind,
    },
    /// The first `n` records per key, updated as records come and go.
    Top {
        keys: Vec<Expr>,
        n: usize,
        by: Expr,
        desc: bool,
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

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    Active,
    Done,
}

/// The streams of a file, checked in dependency order.
pub(super) struct StreamGraph<'a> {
    sources: &'a [Source],
    source_index: &'a HashMap<String, usize>,
    failed: &'a HashSet<String>,
    decls: &'a [&'a ast::StreamDecl],
    index: HashMap<&'a str, usize>,
    visit: Vec<Option<Visit>>,
    checked: Vec<Option<Stream>>,
    /// The inputs something reads.
    pub(super) used: HashSet<Input>,
    /// Inside an iterate body: the loop variable's schema and flow.
    looping: Option<(Schema, Flow)>,
}

impl<'a> StreamGraph<'a> {
    pub(super) fn new(
        sources: &'a [Source],
        source_index: &'a HashMap<String, usize>,
        failed: &'a HashSet<String>,
        decls: &'a [&'a ast::StreamDecl],
    ) -> Self {
        let mut index = HashMap::new();
        for (i, d) in decls.iter().enumerate() {
            index.entry(d.name.node.as_str()).or_insert(i);
        }
        let n = decls.len();
        StreamGraph {
            sources,
            source_index,
            failed,
            decls,
            index,
            visit: vec![None; n],
            checked: vec![None; n],
            used: HashSet::new(),
            looping: None,
        }
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// A stream or source by name (for sinks requested by an embedding program).
    pub(super) fn lookup(&self, name: &str) -> Option<Input> {
        if let Some(i) = self.source_index.get(name) {
            return Some(Input::Source(*i));
        }
        match name.split_once('.') {
            Some((source, "errors")) => return self.source_index.get(source).map(|i| Input::Errors(*i)),
            Some((source, "late")) => return self.source_index.get(source).map(|i| Input::Late(*i)),
            _ => {}
        }
        self.index_of(name).map(Input::Stream)
    }

    /// Checks every stream; on success, all of them in declaration order.
    pub(super) fn check_all(&mut self, cx: &mut Checker) -> Vec<Stream> {
        for i in 0..self.decls.len() {
            if self.index_of(&self.decls[i].name.node) == Some(i) {
                self.stream(cx, i, &mut Vec::new());
            }
        }
        self.checked.iter().flatten().cloned().collect()
    }

    fn stream(&mut self, cx: &mut Checker, i: usize, path: &mut Vec<usize>) {
        match self.visit[i] {
            Some(Visit::Done) => return,
            Some(Visit::Active) => {
                let start = path.iter().position(|p| *p == i).unwrap_or(0);
                let mut names: Vec<&str> = path[start..].iter().map(|p| self.decls[*p].name.node.as_str()).collect();
                names.push(&self.decls[i].name.node);
                let d = self.decls[i];
                cx.error(
                    Diagnostic::error(d.name.span, format!("streams form a cycle: {}", names.join(" -> ")))
                        .label("this stream depends on itself")
                        .help("a stream may only read sources and other streams; use `iterate` for loops"),
                );
                return;
            }
            None => {}
        }
        self.visit[i] = Some(Visit::Active);
        path.push(i);
        let decl = self.decls[i];
        // Check what the stream reads first, so its schema is known.
        let mut deps = Vec::new();
        reads(&decl.pipe, &mut deps);
        for r in deps {
            if r.side.is_none() && !self.source_index.contains_key(&r.name.node) {
                if let Some(j) = self.index_of(&r.name.node) {
                    self.stream(cx, j, path);
                }
            }
        }
        path.pop();
        self.visit[i] = Some(Visit::Done);
        if let Some(stream) = self.pipe(cx, decl) {
            self.checked[i] = Some(stream);
        }
    }

    /// Resolves `name`, `name.errors`, `name.late` (or `loop`, in an iterate body) to an input.
    pub(super) fn resolve(&mut self, cx: &mut Checker, r: &ast::StreamRef) -> Option<Input> {
        let name = r.name.node.as_str();
        if self.failed.contains(name) {
            return None;
        }
        if name == "loop" && r.side.is_none() {
            if self.looping.is_some() {
                return Some(Input::Loop);
            }
            cx.error(
                Diagnostic::error(r.span, "'loop' is only defined inside `iterate { ... }`")
                    .label("no loop here")
                    .help("`loop` names the stream being iterated, inside the iterate's braces"),
            );
            return None;
        }
        let input = match &r.side {
            Some(side) => {
                let Some(&s) = self.source_index.get(name) else {
                    let what = if self.index.contains_key(name) { "a stream" } else { "unknown" };
                    cx.error(
                        Diagnostic::error(
                            r.name.span,
                            format!("'{name}.{}' needs a source, but '{name}' is {what}", side.node),
                        )
                        .label("not a source")
                        .help("only sources have the side streams .errors and .late"),
                    );
                    return None;
                };
                match side.node.as_str() {
                    "errors" => Input::Errors(s),
                    "late" if self.sources[s].time.watermark.is_some() => Input::Late(s),
                    "late" => {
                        cx.error(
                            Diagnostic::error(
                                r.span,
                                format!("'{name}.late' is always empty: '{name}' has no watermark"),
                            )
                            .label("no late records without event time")
                            .help(format!("add `watermark FIELD - DELAY` to source '{name}'")),
                        );
                        return None;
                    }
                    other => {
                        let mut d = Diagnostic::error(side.span, format!("unknown side stream '.{other}'"))
                            .label("expected .errors or .late");
                        if let Some(sug) = suggest(other, ["errors", "late"]) {
                            d = d.help(format!("did you mean '{name}.{sug}'?"));
                        }
                        cx.error(d);
                        return None;
                    }
                }
            }
            None => {
                if let Some(&s) = self.source_index.get(name) {
                    Input::Source(s)
                } else if let Some(j) = self.index_of(name) {
                    Input::Stream(j)
                } else {
                    let mut d = Diagnostic::error(r.name.span, format!("unknown stream '{name}'"))
                        .label("not a source or stream");
                    let known = self.source_index.keys().map(String::as_str).chain(self.index.keys().copied());
                    if let Some(s) = suggest(name, known) {
                        d = d.help(format!("did you mean '{s}'?"));
                    }
                    cx.error(d);
                    return None;
                }
            }
        };
        self.used.insert(input);
        Some(input)
    }

    /// A source by name.
    pub(super) fn source(&self, name: &str) -> Option<&Source> {
        self.source_index.get(name).map(|i| &self.sources[*i])
    }

    pub(super) fn source_names(&self) -> impl Iterator<Item = &str> {
        self.source_index.keys().map(String::as_str)
    }

    pub(super) fn schema_of(&self, input: Input) -> Option<Schema> {
        match input {
            Input::Source(s) | Input::Late(s) => Some(self.sources[s].schema.clone()),
            Input::Errors(_) => Some(errors_schema()),
            Input::Stream(j) => self.checked[j].as_ref().map(|s| s.schema.clone()),
            Input::Loop => self.looping.as_ref().map(|(schema, _)| schema.clone()),
        }
    }

    fn flow_of(&self, input: Input) -> Flow {
        match input {
            Input::Source(s) | Input::Late(s) | Input::Errors(s) => {
                let source = &self.sources[s];
                let unbounded = !source.connector.bounded();
                let time = match (source.time.watermark, input) {
                    (Some((f, _)), Input::Source(_) | Input::Late(_)) => {
                        Some(Time::Field(source.schema.fields[f].name.clone()))
                    }
                    _ if unbounded => Some(Time::Arrival),
                    _ => None,
                };
                Flow { time, window: None, results_of: None, unbounded, lag: 0 }
            }
            Input::Stream(j) => self.checked[j].as_ref().map(|s| s.flow.clone()).unwrap_or_default(),
            Input::Loop => self.looping.as_ref().map(|(_, flow)| flow.clone()).unwrap_or_default(),
        }
    }

    fn pipe(&mut self, cx: &mut Checker, decl: &ast::StreamDecl) -> Option<Stream> {
        self.stages(cx, &decl.pipe, &decl.name.node)
    }

    /// Checks a pipe — its input and its stages — as a stream named `name`.
    fn stages(&mut self, cx: &mut Checker, pipe: &ast::Pipe, name: &str) -> Option<Stream> {
        let decl = pipe;
        let input = self.resolve(cx, &decl.input)?;
        // A stream that failed to check has already been reported.
        let mut schema = self.schema_of(input)?;
        let mut flow = self.flow_of(input);
        let stream_name = decl.input.name.node.clone();
        let mut qualifiers = vec![stream_name.clone()];
        let mut stages = Vec::new();
        let mut group: Option<(Vec<Expr>, Vec<Field>, Span)> = None;
        let mut ok = true;
        let params = cx.scope_params();
        for stage in &decl.stages {
            let functions = cx.options.functions.clone();
            let scope = Scope { schema: &schema, streams: &qualifiers, params: &params, functions: &functions };
            let keyed = matches!(stage.kind, StageKind::Aggregate(_) | StageKind::Distinct(_) | StageKind::Top { .. });
            if let (Some((_, _, span)), false) = (&group, keyed) {
                cx.error(
                    Diagnostic::error(stage.span, format!("'{}' cannot follow 'group by'", stage.kind.keyword()))
                        .label("expected aggregate, distinct or top")
                        .related(*span, "grouped here"),
                );
                return None;
            }
            let kind = match &stage.kind {
                StageKind::Filter(e) => {
                    let Some((x, t)) = check_expr(e, &scope, &mut cx.diags) else {
                        ok = false;
                        continue;
                    };
                    if !matches!(t.base, Base::Bool | Base::Null) {
                        cx.error(
                            Diagnostic::error(e.span, format!("filter needs a bool condition, found {t}"))
                                .label("expected bool")
                                .help("compare it, e.g. `filter price > 100`"),
                        );
                        ok = false;
                        continue;
                    }
                    Kind::Filter(x)
                }
                StageKind::Select(items) | StageKind::Derive(items) => {
                    let derive = matches!(stage.kind, StageKind::Derive(_));
                    let mut exprs: Vec<Expr> = Vec::new();
                    let mut fields: Vec<Field> = Vec::new();
                    if derive {
                        exprs = (0..schema.len()).map(Expr::Field).collect();
                        fields = schema.fields.clone();
                    }
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
                        let Some((x, t)) = check_expr(e, &scope, &mut cx.diags) else {
                            ok = false;
                            continue;
                        };
                        let t = if t.base == Base::Null { Type::STRING.nullable() } else { t };
                        let field = Field { name: name.node.clone(), ty: t };
                        match fields.iter().position(|f| f.name == name.node) {
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
                    schema = Schema::new(fields);
                    flow.project(&schema);
                    stages.push(Stage { kind: Kind::Project(exprs), schema: schema.clone() });
                    continue;
                }
                StageKind::Unnest { expr, alias } => {
                    let Some((x, t)) = check_expr(expr, &scope, &mut cx.diags) else {
                        ok = false;
                        continue;
                    };
                    let Base::List(elem) = &t.base else {
                        cx.error(
                            Diagnostic::error(expr.span, format!("unnest needs a list, found {t}"))
                                .label("expected list<T>"),
                        );
                        ok = false;
                        continue;
                    };
                    if schema.index_of(&alias.node).is_some() {
                        cx.error(
                            Diagnostic::error(alias.span, format!("'{}' is already a field of the stream", alias.node))
                                .label("name taken")
                                .help("choose another name after 'as'"),
                        );
                        ok = false;
                        continue;
                    }
                    let elem = if elem.base == Base::Null { Type::STRING.nullable() } else { (**elem).clone() };
                    schema.fields.push(Field { name: alias.node.clone(), ty: elem });
                    Kind::Unnest(x)
                }
                StageKind::GroupBy(keys) => {
                    let mut exprs = Vec::new();
                    let mut fields = Vec::new();
                    for k in keys {
                        let Some((x, t)) = check_expr(k, &scope, &mut cx.diags) else {
                            ok = false;
                            continue;
                        };
                        let name = match &k.kind {
                            ExprKind::Name { name, .. } => name.node.clone(),
                            _ => {
                                cx.error(
                                    Diagnostic::error(k.span, "a computed group key needs a name")
                                        .label("not a field")
                                        .help("derive it first: `| derive { key: EXPR } | group by key`"),
                                );
                                ok = false;
                                continue;
                            }
                        };
                        exprs.push(x);
                        fields.push(Field { name, ty: t });
                    }
                    group = Some((exprs, fields, stage.span));
                    continue;
                }
                StageKind::Aggregate(items) => {
                    let (keys, mut fields) = group.take().map(|(k, f, _)| (k, f)).unwrap_or_default();
                    let mut aggs = Vec::new();
                    for (name, e) in items {
                        if fields.iter().any(|f| f.name == name.node) {
                            cx.error(
                                Diagnostic::error(
                                    name.span,
                                    format!("'{}' is already a key or an aggregate of this stage", name.node),
                                )
                                .label("duplicate name"),
                            );
                            ok = false;
                            continue;
                        }
                        match aggregate(e, &scope, cx) {
                            Some(agg) => {
                                fields.push(Field { name: name.node.clone(), ty: agg.ty.clone() });
                                aggs.push(agg);
                            }
                            None => ok = false,
                        }
                    }
                    if let Some((mark, _)) = flow.window.take() {
                        let key_fields: Vec<Field> = fields[..keys.len()].to_vec();
                        let agg_fields: Vec<Field> = fields[keys.len()..].to_vec();
                        let op = Op::Aggregate {
                            keys: keys.into_iter().zip(key_fields).collect(),
                            aggs: aggs.into_iter().zip(agg_fields).collect(),
                        };
                        let kind = window::windowed(cx, &mark, op, stage.span, &mut schema, &mut flow)?;
                        stages.push(Stage { kind, schema: schema.clone() });
                        continue;
                    }
                    self.warn_unbounded(cx, &flow, stage.span, "aggregate");
                    schema = Schema::new(fields);
                    flow.updated();
                    Kind::Aggregate { keys, aggs }
                }
                StageKind::Distinct(keys) => {
                    let mut exprs = Vec::new();
                    for k in keys {
                        match check_expr(k, &scope, &mut cx.diags) {
                            Some((x, _)) => exprs.push(x),
                            None => ok = false,
                        }
                    }
                    if let Some((group_keys, _, _)) = group.take() {
                        exprs.extend(group_keys);
                    }
                    if let Some((mark, _)) = flow.window.take() {
                        let op = Op::Distinct { keys: exprs };
                        let kind = window::windowed(cx, &mark, op, stage.span, &mut schema, &mut flow)?;
                        stages.push(Stage { kind, schema: schema.clone() });
                        continue;
                    }
                    self.warn_unbounded(cx, &flow, stage.span, "distinct");
                    flow.updated();
                    Kind::Distinct { keys: exprs }
                }
                StageKind::Top { n, by, desc, ties } if flow.window.is_some() => {
                    let n = window::count(cx, &scope, n, "top");
                    let by = check_expr(by, &scope, &mut cx.diags);
                    let (Some(n), Some((by, _))) = (n, by) else { return None };
                    let keys = group.take().map(|(k, _, _)| k).unwrap_or_default();
                    let mark = flow.window.take().map(|(m, _)| m)?;
                    let op = Op::Top { keys, n, by, desc: *desc, ties: *ties };
                    window::windowed(cx, &mark, op, stage.span, &mut schema, &mut flow)?
                }
                StageKind::Window(_) if self.looping.is_some() => {
                    cx.error(
                        Diagnostic::error(stage.span, "windows cannot be used inside `iterate`")
                            .label("not in a loop")
                            .help("window the stream before or after the iterate"),
                    );
                    return None;
                }
                StageKind::Window(spec) => {
                    let sizes = window::sizes(cx, &scope, spec)?;
                    match window::window(cx, sizes, stage.span, &mut schema, &mut flow) {
                        Ok(Some(kind)) => kind,
                        Ok(None) => continue,
                        Err(()) => return None,
                    }
                }
                StageKind::Union(others) => {
                    let mut inputs = Vec::new();
                    for other in others {
                        let Some(input) = self.resolve(cx, other) else {
                            ok = false;
                            continue;
                        };
                        let Some(theirs) = self.schema_of(input) else {
                            ok = false;
                            continue;
                        };
                        match flow.union(&self.flow_of(input)) {
                            Ok(f) => flow = f,
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
                        match union_schema(&schema, &theirs) {
                            Ok(s) => schema = s,
                            Err(why) => {
                                cx.error(
                                    Diagnostic::error(other.span, format!("cannot union '{}': {why}", other.name.node))
                                        .label(format!("it has {theirs}"))
                                        .help(format!("the stream here has {schema}; select the same fields in the same order on both sides")),
                                );
                                ok = false;
                                continue;
                            }
                        }
                        inputs.push(input);
                    }
                    Kind::Union(inputs)
                }
                StageKind::Top { n, by, desc, ties } => {
                    let n = window::count(cx, &scope, n, "top");
                    let by = check_expr(by, &scope, &mut cx.diags);
                    let (Some(n), Some((by, _))) = (n, by) else { return None };
                    let keys = group.take().map(|(k, _, _)| k).unwrap_or_default();
                    self.warn_unbounded(cx, &flow, stage.span, "top");
                    flow.updated();
                    Kind::Top { keys, n, by, desc: *desc, ties: *ties }
                }
                StageKind::Join { left, other, on, within } => {
                    let other_input = self.resolve(cx, other)?;
                    let other_schema = self.schema_of(other_input)?;
                    let other_flow = self.flow_of(other_input);
                    let name = match &other.side {
                        Some(side) => format!("{}.{}", other.name.node, side.node),
                        None => other.name.node.clone(),
                    };
                    let spec = Spec { outer: *left, on, within: within.as_ref(), span: stage.span };
                    let other = Other { input: other_input, name: &name, schema: &other_schema, flow: &other_flow };
                    let mut joined = schema.clone();
                    let kind = join::join(cx, &scope, spec, other, &mut joined, &mut flow)?;
                    if self.looping.is_some() && !matches!(kind, Kind::Join { kind: JoinKind::Incremental, .. }) {
                        cx.error(
                            Diagnostic::error(
                                stage.span,
                                "only joins without time bounds can be used inside `iterate`",
                            )
                            .label("windowed or interval join in a loop"),
                        );
                        return None;
                    }
                    schema = joined;
                    qualifiers.push(name);
                    kind
                }
                StageKind::Iterate { max, body } => {
                    let max = window::count(cx, &scope, max, "iterate (max N)")? as u64;
                    if self.looping.is_some() || flow.window.is_some() {
                        cx.error(
                            Diagnostic::error(stage.span, "an iterate cannot be inside another, nor follow a window")
                                .label("not here"),
                        );
                        return None;
                    }
                    self.looping = Some((
                        schema.clone(),
                        Flow { time: None, window: None, results_of: None, unbounded: flow.unbounded, lag: 0 },
                    ));
                    let checked = self.stages(cx, body, name);
                    self.looping = None;
                    let body_stream = checked?;
                    if let Err(why) = same_fields(&schema, &body_stream.schema) {
                        cx.error(
                            Diagnostic::error(
                                body.span,
                                format!("the loop's body must give records like its input: {why}"),
                            )
                            .label(format!("gives {}", body_stream.schema))
                            .help(format!("the loop's records are {schema}; select the same fields in the same order")),
                        );
                        return None;
                    }
                    flow.updated();
                    Kind::Iterate { max, body: Box::new(body_stream) }
                }
            };
            stages.push(Stage { kind, schema: schema.clone() });
        }
        if let Some((_, _, span)) = group {
            cx.error(
                Diagnostic::error(span, "'group by' must be followed by aggregate, distinct or top")
                    .label("nothing uses this grouping")
                    .help("e.g. `| group by auction | aggregate { bids: count() }`"),
            );
            ok = false;
        }
        ok.then(|| Stream { name: name.to_string(), input, stages, schema, flow })
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

/// Types one entry of `aggregate { ... }`: a call of an aggregate function.
fn aggregate(e: &ast::Expr, scope: &Scope, cx: &mut Checker) -> Option<Agg> {
    let ExprKind::Call { func: name, args } = &e.kind else {
        cx.error(
            Diagnostic::error(e.span, "each entry of 'aggregate' must be an aggregate call")
                .label("not an aggregate")
                .help("aggregates are count, sum, min, max, avg, count_distinct, first, last, collect; compute other values in a `derive` after the aggregate"),
        );
        return None;
    };
    let Some(func) = AggFunc::from_name(&name.node) else {
        let mut d =
            Diagnostic::error(name.span, format!("unknown aggregate '{}'", name.node)).label("not an aggregate");
        let names = AggFunc::ALL.map(AggFunc::name);
        d = match suggest(&name.node, names) {
            Some(s) => d.help(format!("did you mean '{s}'?")),
            None => d.help(format!("aggregates are: {}", names.join(", "))),
        };
        cx.error(d);
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

/// The streams a pipe reads besides its stages' own: its input, what it unions and joins with,
/// also inside iterate bodies.
fn reads<'a>(pipe: &'a ast::Pipe, out: &mut Vec<&'a ast::StreamRef>) {
    out.push(&pipe.input);
    for stage in &pipe.stages {
        match &stage.kind {
            StageKind::Union(others) => out.extend(others.iter()),
            StageKind::Join { other, .. } => out.push(other),
            StageKind::Iterate { body, .. } => reads(body, out),
            _ => {}
        }
    }
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
