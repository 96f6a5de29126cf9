//! `check`: names, types and connector arguments of a parsed file, every mistake at once.
//! Produces the typed pipeline that `lower` turns into a plan.

mod aggregate;
mod connector;
mod expr;
mod files;
mod graph;
mod join;
mod stages;
mod tests;
#[cfg(test)]
mod unit_tests;
mod window;

pub use tests::{Expect, TestCase};

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Decl};
use crate::diag::Diagnostic;
use crate::functions::Functions;
use crate::plan::{SinkConnector, SourceConnector, SourceTime};
use crate::span::Span;
use crate::types::{Base, Field, Schema, Type};
use crate::value::Value;

pub use expr::type_of_value;
pub use stages::{Kind as StageKind, Stage};

/// What the checker needs besides the text.
#[derive(Clone, Default)]
pub struct Options {
    /// `--param name=value` overrides, as text.
    pub params: Vec<(String, String)>,
    /// Functions registered by an embedding program.
    pub functions: Functions,
    /// Sources fed by the embedding program (their connector is not opened).
    pub rust_sources: HashSet<String>,
    /// Streams whose records the embedding program receives.
    pub rust_sinks: HashSet<String>,
    /// Check that input files exist (off for `explain` of a pipeline without its data).
    pub check_files: bool,
    /// Compile for a test: every source is fed by the program, and the declared sinks are
    /// left out (the test's expectations are the sinks).
    pub test_mode: bool,
    /// Leave the `test` blocks out (`eddy run`: a run ignores them; `check` and `test` do not).
    pub ignore_tests: bool,
}

/// A checked pipeline: typed sources, streams in dependency order, and sinks.
#[derive(Clone, Debug)]
pub struct Checked {
    pub sources: Vec<Source>,
    pub streams: Vec<Stream>,
    pub sinks: Vec<Sink>,
    /// The `test` blocks.
    pub tests: Vec<TestCase>,
    /// Findings that do not stop the pipeline.
    pub warnings: Vec<Diagnostic>,
}

#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub schema: Schema,
    pub connector: SourceConnector,
    pub time: SourceTime,
    /// Whether the declared connector ends (a batch input), also when the program feeds the
    /// source; `None` when the connector has a mistake.
    pub bounded: Option<bool>,
}

/// Where a stream or sink reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    Source(usize),
    Errors(usize),
    Late(usize),
    Stream(usize),
    /// The loop variable, inside an iterate body.
    Loop,
}

#[derive(Clone, Debug)]
pub struct Stream {
    pub name: String,
    pub input: Input,
    pub stages: Vec<Stage>,
    pub schema: Schema,
    /// Event time and windows at the end of the stream.
    pub flow: window::Flow,
}

#[derive(Clone, Debug)]
pub struct Sink {
    pub input: Input,
    pub connector: SinkConnector,
}

/// Checks a parsed file; on failure, every error found (and the warnings).
pub fn check(file: &ast::File, options: &Options) -> Result<Checked, Vec<Diagnostic>> {
    let mut cx = Checker {
        options,
        diags: Vec::new(),
        schemas: HashMap::new(),
        params: Vec::new(),
        failed_params: HashSet::new(),
        accesses: Vec::new(),
    };
    let checked = cx.file(file);
    if cx.diags.iter().any(Diagnostic::is_error) {
        Err(cx.diags)
    } else {
        Ok(Checked { warnings: cx.diags, ..checked })
    }
}

struct Checker<'a> {
    options: &'a Options,
    diags: Vec<Diagnostic>,
    schemas: HashMap<String, Schema>,
    /// Params with their (possibly overridden) values.
    params: Vec<(String, Value, Type)>,
    /// Params with a mistake (reported): their uses are not reported again.
    failed_params: HashSet<String>,
    /// The files sources read and the places sinks write, to find two that clash.
    accesses: Vec<files::Access>,
}

impl Checker<'_> {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn file(&mut self, file: &ast::File) -> Checked {
        let mut defined: HashMap<String, Span> = HashMap::new();
        let mut define = |cx: &mut Checker, name: &ast::Ident, what: &str| {
            if let Some(first) = defined.get(&name.node) {
                cx.error(
                    Diagnostic::error(name.span, format!("'{}' is defined twice", name.node))
                        .label(format!("second definition of {what} '{}'", name.node))
                        .related(*first, "first defined here")
                        .help("sources, streams, schemas and params share one namespace: rename one of them"),
                );
                false
            } else {
                defined.insert(name.node.clone(), name.span);
                true
            }
        };
        for decl in &file.decls {
            match decl {
                Decl::Schema(s) => {
                    if define(self, &s.name, "schema") {
                        let schema = self.schema_decl(s);
                        self.schemas.insert(s.name.node.clone(), schema);
                    }
                }
                Decl::Param(p) => {
                    if define(self, &p.name, "param") {
                        self.param(p);
                    }
                }
                Decl::Source(s) => {
                    define(self, &s.name, "source");
                }
                Decl::Stream(s) => {
                    define(self, &s.name, "stream");
                }
                Decl::Sink(_) => {}
                Decl::Test(_) => {}
            }
        }
        self.unknown_param_overrides();

        let mut sources = Vec::new();
        let mut source_index = HashMap::new();
        // Sources with errors (already reported): references to them are not reported again.
        let mut failed = HashSet::new();
        for decl in &file.decls {
            if let Decl::Source(s) = decl {
                if source_index.contains_key(&s.name.node) {
                    continue;
                }
                match self.source(s) {
                    Some(source) => {
                        source_index.insert(s.name.node.clone(), sources.len());
                        sources.push(source);
                    }
                    None => {
                        failed.insert(s.name.node.clone());
                    }
                }
            }
        }
        let stream_decls: Vec<&ast::StreamDecl> = file
            .decls
            .iter()
            .filter_map(|d| match d {
                Decl::Stream(s) => Some(s),
                _ => None,
            })
            .collect();
        self.now_in_batch(&sources, failed.is_empty(), &stream_decls);
        let mut graph = graph::StreamGraph::new(&sources, &source_index, &failed, &stream_decls);
        let streams = graph.check_all(self);
        let mut used: HashSet<Input> = graph.used.clone();

        let mut sinks = Vec::new();
        for decl in &file.decls {
            if let Decl::Sink(s) = decl {
                // The input is read even when the connector has a mistake: it is not unused.
                let input = graph.resolve(self, &s.input);
                let connector = self.sink_connector(&s.connector);
                if let Some(input) = input {
                    used.insert(input);
                }
                if let (Some(input), Some(connector)) = (input, connector) {
                    // A test replaces the pipeline's sinks by its expectations.
                    if !self.options.test_mode {
                        sinks.push(Sink { input, connector });
                    }
                }
            }
        }
        self.clashes();
        for name in &self.options.rust_sinks {
            match graph.lookup(name) {
                Some(input) => {
                    used.insert(input);
                    sinks.push(Sink { input, connector: SinkConnector::Rust { stream: name.clone() } });
                }
                None => self.error(Diagnostic::global(format!(
                    "the program asks for the records of '{name}', but there is no such stream"
                ))),
            }
        }
        // The streams nothing reads: where a sink would go.
        let unused: Vec<&ast::Ident> = stream_decls
            .iter()
            .enumerate()
            .filter(|(i, s)| !used.contains(&Input::Stream(*i)) && graph.index_of(&s.name.node) == Some(*i))
            .map(|(_, s)| &s.name)
            .collect();
        if sinks.is_empty() && !self.diags.iter().any(Diagnostic::is_error) {
            // One error that names a stream to write, rather than a warning for each unread one.
            let end = file.decls.last().map_or(Span::default(), decl_span);
            let stream = unused.last().map_or("my_stream", |name| name.node.as_str());
            self.error(
                Diagnostic::error(Span::new(end.end, end.end), "the pipeline has no sink, so it would compute nothing")
                    .label("expected a sink")
                    .help(format!("add one, e.g. `sink {stream} -> stdout()`")),
            );
        } else {
            for name in unused {
                self.diags.push(
                    Diagnostic::warning(name.span, format!("stream '{}' is never used", name.node))
                        .label("no sink or stream reads it")
                        .help(format!("add `sink {} -> stdout()` or remove the stream", name.node)),
                );
            }
        }
        let tests = if self.options.ignore_tests { Vec::new() } else { self.tests(file, &mut graph) };
        Checked { sources, streams, sinks, tests, warnings: Vec::new() }
    }

    /// The `test` blocks, each checked; two with one name are an error.
    fn tests(&mut self, file: &ast::File, graph: &mut graph::StreamGraph) -> Vec<TestCase> {
        let mut tests = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        for decl in &file.decls {
            let Decl::Test(t) = decl else { continue };
            if let Some(first) = names.get(t.name.node.as_str()) {
                self.error(
                    Diagnostic::error(t.name.span, format!("two tests are named \"{}\"", t.name.node))
                        .label("second test with this name")
                        .related(*first, "first test with this name")
                        .help("rename one: `eddy test` tells tests apart by their names"),
                );
            } else {
                names.insert(&t.name.node, t.name.span);
            }
            if let Some(case) = self.test(t, graph) {
                tests.push(case);
            }
        }
        tests
    }

    /// `now()` reads the wall clock: in a batch job (every source bounded) the result would
    /// depend on when the job runs, not on its input, so it is an error there. The pipeline's
    /// kind is that of its declared connectors, also when a program or a test feeds them.
    fn now_in_batch(&mut self, sources: &[Source], all_known: bool, streams: &[&ast::StreamDecl]) {
        let batch = all_known && !sources.is_empty() && sources.iter().all(|s| s.bounded == Some(true));
        if !batch {
            return;
        }
        for decl in streams {
            for e in decl.pipe.exprs() {
                e.walk(&mut |x| {
                    if let ast::ExprKind::Call { func, .. } = &x.kind {
                        if func.node == "now" {
                            self.diags.push(
                                Diagnostic::error(x.span, "now() is only for streaming jobs, and this is a batch job")
                                    .label("the wall clock, in a job whose sources all end")
                                    .help("a batch job's result must not depend on when it runs: use an event-time field, or read an unbounded source (stdin, a file with follow: true, generate without events)"),
                            );
                        }
                    }
                });
            }
        }
    }

    fn schema_decl(&mut self, s: &ast::SchemaDecl) -> Schema {
        Schema::new(self.fields(&s.fields, &format!("schema '{}'", s.name.node)))
    }

    /// The fields of a schema or record type (`in_what` names it in messages).
    fn fields(&mut self, decls: &[ast::FieldDecl], in_what: &str) -> Vec<Field> {
        let mut fields: Vec<Field> = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for f in decls {
            if let Some(first) = seen.get(f.name.node.as_str()) {
                self.error(
                    Diagnostic::error(f.name.span, format!("field '{}' is declared twice in {in_what}", f.name.node))
                        .label("duplicate field")
                        .related(*first, "first declared here"),
                );
                continue;
            }
            seen.insert(&f.name.node, f.name.span);
            if let Some(ty) = self.type_expr(&f.ty) {
                fields.push(Field { name: f.name.node.clone(), ty });
            }
        }
        fields
    }

    fn type_expr(&mut self, t: &ast::TypeExpr) -> Option<Type> {
        const NAMES: [&str; 8] = ["bool", "int", "float", "string", "timestamp", "duration", "json", "list"];
        if let Some(decls) = &t.record {
            let fields = self.fields(decls, "a record type");
            return Some(Type::record(fields).with_nullable(t.nullable));
        }
        let base = match (t.name.node.as_str(), &t.arg) {
            ("bool", None) => Base::Bool,
            ("int", None) => Base::Int,
            ("float", None) => Base::Float,
            ("string", None) => Base::String,
            ("timestamp", None) => Base::Timestamp,
            ("duration", None) => Base::Duration,
            ("json", None) => Base::Json,
            ("list", Some(arg)) => Base::List(Box::new(self.type_expr(arg)?)),
            ("list", None) => {
                self.error(
                    Diagnostic::error(t.span, "'list' needs an element type")
                        .label("expected list<T>")
                        .help("e.g. list<string>"),
                );
                return None;
            }
            (name, Some(_)) if NAMES.contains(&name) => {
                self.error(
                    Diagnostic::error(t.span, format!("'{name}' takes no type argument")).label("only list<T> has one"),
                );
                return None;
            }
            // A schema declared before: a record of its fields.
            (name, None) if self.schemas.contains_key(name) => {
                Base::Record(crate::types::RecordType::new(self.schemas[name].fields.clone()))
            }
            (name, _) => {
                let schemas: Vec<&str> = self.schemas.keys().map(String::as_str).collect();
                self.error(
                    Diagnostic::error(t.name.span, format!("unknown type '{name}'"))
                        .label("not a type")
                        .suggest(name, NAMES.iter().copied().chain(schemas))
                        .or_help(
                            "types are bool, int, float, string, timestamp, duration, list<T>, records { name: T, ... } or a schema's name, and T? for nullable",
                        ),
                );
                return None;
            }
        };
        Some(Type { base, nullable: t.nullable })
    }

    fn param(&mut self, p: &ast::ParamDecl) {
        // A param with a mistake is left out of the scope but known by name, so that its uses
        // are not reported again (with a null value they would be, as the wrong type).
        let Some(ty) = self.type_expr(&p.ty) else {
            self.failed_params.insert(p.name.node.clone());
            return;
        };
        match self.param_value(p, &ty) {
            Some(value) => self.params.push((p.name.node.clone(), value, ty)),
            None => {
                self.failed_params.insert(p.name.node.clone());
            }
        }
    }

    fn param_value(&mut self, p: &ast::ParamDecl, ty: &Type) -> Option<Value> {
        let scope_schema = Schema::default();
        let functions = Functions::default();
        let params = self.params.clone();
        let unknown = self.failed_params();
        let scope = expr::Scope {
            schema: &scope_schema,
            streams: &[],
            params: &params,
            functions: &functions,
            unknown: &unknown,
            config: true,
        };
        let (e, t) = expr::check_expr(&p.default, &scope, &mut self.diags)?;
        if !t.fits(ty) {
            self.error(
                Diagnostic::error(
                    p.default.span,
                    format!("param '{}' is declared {ty} but its default is {t}", p.name.node),
                )
                .label(format!("expected {ty}")),
            );
            return None;
        }
        let mut value = crate::eval::eval_const(&e);
        if let Some((_, text)) = self.options.params.iter().rev().find(|(n, _)| *n == p.name.node) {
            match parse_param(text, ty) {
                Some(v) => value = v,
                None => {
                    self.error(
                        Diagnostic::error(
                            p.name.span,
                            format!("--param {}={text}: '{text}' is not a valid {ty}", p.name.node),
                        )
                        .label(format!("declared {ty} here"))
                        .help(param_example(ty)),
                    );
                    return None;
                }
            }
        }
        if let (Value::Int(i), Base::Float) = (&value, &ty.base) {
            value = Value::float(*i as f64);
        }
        Some(value)
    }

    fn unknown_param_overrides(&mut self) {
        let known: Vec<String> =
            self.params.iter().map(|(n, _, _)| n.clone()).chain(self.failed_params.iter().cloned()).collect();
        for (name, _) in &self.options.params {
            if !known.contains(name) {
                let others = if known.is_empty() {
                    "the pipeline declares no params".to_string()
                } else {
                    format!("its params are: {}", known.join(", "))
                };
                self.diags.push(
                    Diagnostic::global(format!("--param {name}: the pipeline has no param '{name}'"))
                        .suggest(name, known.iter().map(String::as_str))
                        .or_help(others),
                );
            }
        }
    }

    /// A source; `None` when its schema cannot be known (its readers are then not checked).
    /// A source whose connector has a mistake keeps its schema, so its readers are checked.
    fn source(&mut self, s: &ast::SourceDecl) -> Option<Source> {
        let declared = s.schema.as_ref().map(|name| self.declared_schema(name));
        let rust = self.options.test_mode || self.options.rust_sources.contains(&s.name.node);
        // The connector is checked even when the schema's name is wrong: all mistakes at once.
        // (An unknown schema stands as an empty one there, so that it is not reported missing.)
        let stand_in = declared.clone().map(Option::unwrap_or_default);
        let outcome = self.source_connector(&s.connector, stand_in.as_ref(), rust);
        let schema = match declared {
            Some(None) => return None,
            _ => outcome.schema?,
        };
        let mut time = outcome.time;
        if let Some(w) = &s.watermark {
            time.watermark = Some(self.watermark(w, &schema, &mut time.path)?);
        }
        // A connector with a mistake is never opened: the pipeline does not run.
        let connector = outcome.connector.unwrap_or(SourceConnector::Rust);
        Some(Source { name: s.name.node.clone(), schema, connector, time, bounded: outcome.bounded })
    }

    /// The schema a source names, reported when there is none.
    fn declared_schema(&mut self, name: &ast::Ident) -> Option<Schema> {
        if let Some(schema) = self.schemas.get(&name.node) {
            return Some(schema.clone());
        }
        let d = Diagnostic::error(name.span, format!("unknown schema '{}'", name.node))
            .label("not a schema")
            .suggest(&name.node, self.schemas.keys().map(String::as_str));
        self.error(d);
        None
    }

    /// `watermark FIELD - DELAY`: the field's position and the delay in ms.
    fn watermark(&mut self, w: &ast::Watermark, schema: &Schema, path: &mut Vec<usize>) -> Option<(usize, i64)> {
        let Some(field) = schema.index_of(&w.field.node) else {
            self.error(
                Diagnostic::error(w.field.span, format!("unknown field '{}'", w.field.node))
                    .label("the event time must be a field of the source")
                    .suggest(&w.field.node, schema.names()),
            );
            return None;
        };
        let mut ty = &schema.fields[field].ty;
        // A nested event time: `watermark meta.ts - 2s`.
        for part in &w.path {
            let Base::Record(r) = &ty.base else {
                self.error(
                    Diagnostic::error(
                        part.span,
                        format!("'{}' is {ty}, not a record: it has no field '{}'", w.field.node, part.node),
                    )
                    .label("not in a record")
                    .help("the event time is a timestamp field, or one nested in records: `watermark meta.ts - 2s`"),
                );
                return None;
            };
            let Some(i) = r.index_of(&part.node) else {
                self.error(
                    Diagnostic::error(part.span, format!("unknown field '{}' in the event time's path", part.node))
                        .label(format!("not a field of {ty}"))
                        .suggest(&part.node, r.fields.iter().map(|f| f.name.as_str())),
                );
                return None;
            };
            path.push(i);
            ty = &r.fields[i].ty;
        }
        if ty.base != Base::Timestamp {
            self.error(
                Diagnostic::error(
                    w.field.span,
                    format!("the event time must be a timestamp, but '{}' is {ty}", w.field.node),
                )
                .label("expected a timestamp field")
                .help("declare it `timestamp` (read from epoch milliseconds or RFC 3339 text)"),
            );
            return None;
        }
        let params = self.scope_params();
        let (schema0, functions) = (Schema::default(), Functions::default());
        let unknown = self.failed_params();
        let scope = expr::Scope {
            schema: &schema0,
            streams: &[],
            params: &params,
            functions: &functions,
            unknown: &unknown,
            config: false,
        };
        let Some((e, t)) = expr::check_expr(&w.delay, &scope, &mut self.diags) else {
            return Some((field, 0));
        };
        match e {
            crate::plan::Expr::Lit(Value::Duration(d)) if d >= 0 => Some((field, d)),
            _ => {
                self.error(
                    Diagnostic::error(
                        w.delay.span,
                        format!("the watermark delay must be a constant duration, found {t}"),
                    )
                    .label("expected e.g. 2s")
                    .help("write `watermark date_time - 2s`"),
                );
                // The event time is known: the readers are checked with it.
                Some((field, 0))
            }
        }
    }

    fn scope_params(&self) -> Vec<(String, Value, Type)> {
        self.params.clone()
    }
}

fn decl_span(d: &Decl) -> Span {
    match d {
        Decl::Schema(s) => s.span,
        Decl::Param(p) => p.span,
        Decl::Source(s) => s.span,
        Decl::Stream(s) => s.span,
        Decl::Sink(s) => s.span,
        Decl::Test(t) => t.span,
    }
}

/// Reads a `--param` value as a value of the param's type.
pub fn parse_param(text: &str, ty: &Type) -> Option<Value> {
    if ty.nullable && text == "null" {
        return Some(Value::Null);
    }
    match &ty.base {
        Base::Bool => text.parse().ok().map(Value::Bool),
        Base::Int => text.parse().ok().map(Value::Int),
        Base::Float => text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::float),
        Base::String => Some(Value::str(text)),
        Base::Timestamp => {
            let t = text.strip_prefix('@').unwrap_or(text);
            crate::time::parse_timestamp(t).or_else(|| t.parse().ok()).map(Value::Timestamp)
        }
        Base::Duration => crate::time::parse_duration(text).map(Value::Duration),
        Base::Json => crate::json::parse(text).map(|j| Value::Json(j.into())),
        Base::List(_) | Base::Record(_) | Base::Null => None,
    }
}

fn param_example(ty: &Type) -> String {
    let example = match ty.base {
        Base::Bool => "true",
        Base::Int => "100",
        Base::Float => "0.5",
        Base::Timestamp => "2024-05-01T12:00:00Z",
        Base::Duration => "10s",
        _ => "text",
    };
    format!("for example --param name={example}")
}
