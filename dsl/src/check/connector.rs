//! Connector arguments: constant expressions over params, checked against each connector's table.
//!
//! Every argument is checked, even after a mistake in another one, so that one run of `check`
//! reports all of them; a connector with a mistake is not built, but the schema it would give
//! is still returned when it can be known (declared, or the connector's own), so that the
//! streams reading it are checked too.

use std::collections::HashMap;
use std::path::Path;

use super::expr::{check_expr, Scope, Unknown};
use super::files::Access;
use super::Checker;
use crate::ast;
use crate::connectors::{arguments, nexmark_schema, text_schema, NEXMARK_KINDS, PLANNED, SINKS, SOURCES};
use crate::diag::{suggest, Diagnostic};
use crate::functions::Functions;
use crate::plan::{Format, SinkConnector, SourceConnector, SourceTime};
use crate::span::Span;
use crate::types::{Schema, Type};
use crate::value::Value;

/// How long a partition may stay without data before its watermark follows the clock.
pub const DEFAULT_IDLE_MS: i64 = 5_000;

/// A connector's arguments by name, evaluated, with their spans.
struct Args {
    /// The connector's name, for messages.
    connector: String,
    values: HashMap<String, (Value, Type, Span)>,
    span: Span,
    /// Whether an argument had a mistake (already reported): the connector is not built.
    failed: bool,
    /// Arguments given under a known name whose value had a mistake.
    failed_keys: Vec<String>,
    /// Names given that the connector does not take.
    misnamed: Vec<String>,
}

/// What a checked source connector gives: the connector (unless an argument was wrong), and
/// the schema of its records when it can be known.
pub(super) struct SourceOutcome {
    pub connector: Option<SourceConnector>,
    /// Whether the declared connector ends (a batch input); `None` when it could not be built.
    pub bounded: Option<bool>,
    pub schema: Option<Schema>,
    pub time: SourceTime,
}

/// A kind of argument value: how to read it from a constant, and what to call it in messages.
trait FromArg: Sized {
    /// What the argument must be: "a string".
    const EXPECTED: &'static str;
    /// The caret's label when it is not.
    const LABEL: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromArg for String {
    const EXPECTED: &'static str = "a string";
    const LABEL: &'static str = "expected a string";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl FromArg for bool {
    const EXPECTED: &'static str = "a bool";
    const LABEL: &'static str = "expected true or false";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// A non-negative duration in milliseconds.
struct Millis(i64);

impl FromArg for Millis {
    const EXPECTED: &'static str = "a non-negative duration";
    const LABEL: &'static str = "expected a duration such as 5s";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Duration(d) if *d >= 0 => Some(Millis(*d)),
            _ => None,
        }
    }
}

/// A non-negative int.
struct Count(u64);

impl FromArg for Count {
    const EXPECTED: &'static str = "a non-negative int";
    const LABEL: &'static str = "expected a count";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(n) => u64::try_from(*n).ok().map(Count),
            _ => None,
        }
    }
}

impl Checker<'_> {
    /// The arguments of a connector, each checked; `None` for an unknown connector (reported).
    fn connector_args(&mut self, c: &ast::Connector, is_source: bool) -> Option<Args> {
        let name = c.name.node.as_str();
        let allowed = if is_source { SOURCES } else { SINKS };
        if !allowed.contains(&name) {
            self.unknown_connector(c, is_source);
            return None;
        }
        let names = arguments(name, is_source);
        let params = self.scope_params();
        let unknown = self.failed_params();
        let (schema, functions) = (Schema::default(), Functions::default());
        let scope = Scope {
            schema: &schema,
            streams: &[],
            params: &params,
            functions: &functions,
            unknown: &unknown,
            config: true,
        };
        let mut args = Args {
            connector: name.to_string(),
            values: HashMap::new(),
            span: c.span,
            failed: false,
            failed_keys: Vec::new(),
            misnamed: Vec::new(),
        };
        for (i, arg) in c.args.iter().enumerate() {
            // The value is checked even when its name is wrong: its mistakes are reported too.
            let value = check_expr(&arg.value, &scope, &mut self.diags);
            let Some(key) = self.arg_name(arg, i, name, names) else {
                args.failed = true;
                args.misnamed.extend(arg.name.as_ref().map(|n| n.node.clone()));
                continue;
            };
            match value {
                Some((crate::plan::Expr::Lit(v), t)) => match args.values.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        self.error(
                            Diagnostic::error(arg.value.span, format!("argument '{}' is given twice", e.key()))
                                .label("duplicate argument"),
                        );
                        args.failed = true;
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert((v, t, arg.value.span));
                    }
                },
                Some(_) => {
                    self.error(
                        Diagnostic::error(arg.value.span, "connector arguments must be constant")
                            .label("not a constant")
                            .help("use literals, params and operators on them"),
                    );
                    args.failed = true;
                    args.failed_keys.push(key);
                }
                None => {
                    args.failed = true;
                    args.failed_keys.push(key);
                }
            }
        }
        Some(args)
    }

    fn unknown_connector(&mut self, c: &ast::Connector, is_source: bool) {
        let name = c.name.node.as_str();
        let role = if is_source { "source" } else { "sink" };
        let allowed = if is_source { SOURCES } else { SINKS };
        let d = if PLANNED.contains(&name) {
            Diagnostic::error(c.name.span, format!("the '{name}' connector is not supported yet"))
                .label("not in this version")
                .help(format!("{role} connectors available now: {}", allowed.join(", ")))
        } else {
            Diagnostic::error(c.name.span, format!("unknown {role} connector '{name}'"))
                .label(format!("not a {role} connector"))
                .suggest(name, allowed.iter().copied())
                .or_help(format!("{role} connectors are: {}", allowed.join(", ")))
        };
        self.error(d);
    }

    /// The name an argument is given under (the first positional one of `file` is `path`).
    fn arg_name(&mut self, arg: &ast::Arg, i: usize, connector: &str, names: &[&str]) -> Option<String> {
        match &arg.name {
            Some(n) if names.contains(&n.node.as_str()) => Some(n.node.clone()),
            Some(n) => {
                self.error(
                    Diagnostic::error(n.span, format!("{connector}() has no argument '{}'", n.node))
                        .label("unknown argument")
                        .suggest(&n.node, names.iter().copied())
                        .or_help(format!("{connector}() takes: {}", names.join(", "))),
                );
                None
            }
            None if i == 0 && connector == "file" => Some("path".to_string()),
            None => {
                self.error(
                    Diagnostic::error(arg.value.span, format!("{connector}() takes named arguments here"))
                        .label("positional argument")
                        .help(format!("write `name: value`; {connector}() takes: {}", names.join(", "))),
                );
                None
            }
        }
    }

    /// The argument `key` as a `T`, with its span; `None` when absent, or when it is not a `T`
    /// (reported, and the arguments marked failed).
    fn arg<T: FromArg>(&mut self, args: &mut Args, key: &str) -> Option<(T, Span)> {
        let (v, t, span) = args.values.get(key)?;
        if let Some(x) = T::from_value(v) {
            return Some((x, *span));
        }
        // A wrong number shows itself ("found -5"); anything else shows its type.
        let found = match v {
            Value::Int(_) | Value::Duration(_) => format!("{v}"),
            _ => t.to_string(),
        };
        let d = Diagnostic::error(
            *span,
            format!("argument '{key}' of {}() must be {}, found {found}", args.connector, T::EXPECTED),
        )
        .label(T::LABEL);
        self.error(d);
        args.failed = true;
        None
    }

    /// A required argument: reports it missing.
    fn required<T: FromArg>(&mut self, args: &mut Args, key: &str, example: &str) -> Option<(T, Span)> {
        if !args.values.contains_key(key) && !args.failed_on(key) {
            self.error(
                Diagnostic::error(args.span, format!("{}() needs the argument '{key}'", args.connector))
                    .label(format!("missing '{key}'"))
                    .help(format!("e.g. {example}")),
            );
            args.failed = true;
            return None;
        }
        self.arg(args, key)
    }

    /// The format from `format:` (with `header:`/`delimiter:`), else from the path's extension.
    fn format(&mut self, args: &mut Args, path: Option<&(String, Span)>) -> Option<Format> {
        let header = self.arg::<bool>(args, "header").is_none_or(|(h, _)| h);
        let delimiter = self.delimiter(args);
        let (name, span) = match (self.arg::<String>(args, "format"), path) {
            (Some(f), _) => f,
            (None, _) if args.values.contains_key("format") => return None,
            (None, None) => return Some(Format::Jsonl),
            (None, Some((p, span))) => (self.format_of_path(p, *span)?, *span),
        };
        match name.as_str() {
            "jsonl" | "json" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv { header, delimiter: delimiter? }),
            "text" => Some(Format::Text),
            other => {
                self.error(
                    Diagnostic::error(span, format!("unknown format '{other}'"))
                        .label("expected jsonl, csv or text")
                        .suggest(other, ["jsonl", "csv", "text"]),
                );
                None
            }
        }
    }

    fn format_of_path(&mut self, path: &str, span: Span) -> Option<String> {
        let ext = Path::new(path).extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "jsonl" | "json" | "ndjson" => Some("jsonl".into()),
            "csv" => Some("csv".into()),
            "txt" | "log" | "text" => Some("text".into()),
            _ => {
                self.error(
                    Diagnostic::error(span, format!("cannot tell the format of '{path}' from its extension"))
                        .label("unknown extension")
                        .help("add format: \"jsonl\", \"csv\" or \"text\""),
                );
                None
            }
        }
    }

    /// The CSV delimiter: one ASCII character that cannot be confused with a record's framing
    /// (a line break ends a record, a double quote quotes a field, NUL ends C strings).
    fn delimiter(&mut self, args: &mut Args) -> Option<u8> {
        let Some((d, span)) = self.arg::<String>(args, "delimiter") else {
            return (!args.values.contains_key("delimiter")).then_some(b',');
        };
        let usable = match d.as_bytes() {
            [b] => b.is_ascii() && !matches!(b, b'\n' | b'\r' | b'"' | 0),
            _ => false,
        };
        if usable {
            return Some(d.as_bytes()[0]);
        }
        let why = match d.as_bytes() {
            [] => "it is empty",
            [b'\n' | b'\r'] => "a line break ends a record",
            [b'"'] => "a double quote quotes a field",
            [0] => "NUL is not a delimiter",
            [_] => "it is not ASCII",
            _ if d.chars().count() == 1 => "it is not ASCII",
            _ => "it has more than one character",
        };
        self.error(
            Diagnostic::error(span, format!("the delimiter must be one ASCII character, found {d:?}: {why}"))
                .label("not a CSV delimiter")
                .help("e.g. delimiter: \";\" or delimiter: \"\\t\" (not a line break, a double quote or NUL)"),
        );
        args.failed = true;
        None
    }

    pub(super) fn source_connector(
        &mut self,
        c: &ast::Connector,
        declared: Option<&Schema>,
        rust: bool,
    ) -> SourceOutcome {
        let mut time = SourceTime { watermark: None, path: Vec::new(), idle_ms: DEFAULT_IDLE_MS, epoch_ms: 1 };
        let Some(mut args) = self.connector_args(c, true) else {
            return SourceOutcome { connector: None, bounded: None, schema: declared.cloned(), time };
        };
        time.idle_ms = self.arg::<Millis>(&mut args, "idle").map_or(DEFAULT_IDLE_MS, |(d, _)| d.0);
        time.epoch_ms = self.arg::<Millis>(&mut args, "epoch").map_or(1, |(d, _)| d.0.max(1));
        let (connector, own_schema, known) = match c.name.node.as_str() {
            "file" | "stdin" => self.file_source(&mut args, c.name.node == "file", rust),
            "generate" => self.generate_source(&mut args),
            other => {
                // `connector_args` let through only the names in `SOURCES`: each needs its arm.
                self.error(Diagnostic::error(
                    c.name.span,
                    format!("internal: no checker for source connector '{other}'"),
                ));
                (None, None, false)
            }
        };
        let schema = self.source_schema(c, declared, own_schema, known);
        let connector = connector.filter(|_| !args.failed);
        let bounded = connector.as_ref().map(SourceConnector::bounded);
        let connector = if rust { connector.map(|_| SourceConnector::Rust) } else { connector };
        SourceOutcome { connector, bounded, schema, time }
    }

    /// `file(path, ...)` or `stdin(...)`, the schema its format brings (text: `line`), and
    /// whether the format is known (else whether it brings a schema is not known either).
    fn file_source(
        &mut self,
        args: &mut Args,
        file: bool,
        rust: bool,
    ) -> (Option<SourceConnector>, Option<Schema>, bool) {
        let path = if file { self.required::<String>(args, "path", "file(\"data/events.jsonl\")") } else { None };
        // A directory has no extension worth reporting: that it is a directory is reported.
        let is_dir = self.options.check_files && !rust && path.as_ref().is_some_and(|(p, _)| Path::new(p).is_dir());
        let format = self.format(args, path.as_ref().filter(|_| !is_dir));
        let follow = self.arg::<bool>(args, "follow").is_some_and(|(f, _)| f);
        let own = (format == Some(Format::Text)).then(text_schema);
        if let Some((p, span)) = &path {
            // A source the program feeds reads no file.
            if !rust {
                if self.options.check_files {
                    self.input_file(p, *span);
                }
                self.accesses.push(Access::read(p, *span));
            }
        }
        // Without its path, a file's format is known only when it is given.
        let known = format.is_some() && (!file || path.is_some() || args.values.contains_key("format"));
        let connector = match (file, path, format) {
            (true, Some((path, _)), Some(format)) => Some(SourceConnector::File { path, format, follow }),
            (false, _, Some(format)) => Some(SourceConnector::Stdin { format }),
            _ => None,
        };
        (connector, own, known)
    }

    /// Reports an input path that is not a readable file.
    fn input_file(&mut self, path: &str, span: Span) {
        let p = Path::new(path);
        let d = if p.is_dir() {
            Diagnostic::error(span, format!("input '{path}' is a directory, not a file"))
                .label("a directory")
                .help("a file source reads one file: name a file inside it")
        } else if !p.exists() {
            Diagnostic::error(span, format!("input file '{path}' does not exist"))
                .label("no such file")
                .help("paths are relative to the directory eddy runs in")
        } else if !p.is_file() {
            Diagnostic::error(span, format!("input '{path}' is not a regular file")).label("not a file")
        } else {
            return;
        };
        self.error(d);
    }

    /// `generate(nexmark: KIND, ...)`, the schema of its events, and whether the kind is known.
    fn generate_source(&mut self, args: &mut Args) -> (Option<SourceConnector>, Option<Schema>, bool) {
        let kind = self.required::<String>(args, "nexmark", "generate(nexmark: \"bid\", events: 100000)");
        let events = self.arg::<Count>(args, "events").map(|(n, _)| n.0);
        let seed = self.arg::<Count>(args, "seed").map_or(42, |(n, _)| n.0);
        let rate = self.arg::<Count>(args, "rate").map_or(0, |(n, _)| n.0);
        let Some((kind, kind_span)) = kind else { return (None, None, false) };
        let Some(schema) = nexmark_schema(&kind) else {
            self.error(
                Diagnostic::error(kind_span, format!("unknown Nexmark event kind '{kind}'"))
                    .label("expected person, auction or bid")
                    .suggest(&kind, NEXMARK_KINDS.iter().copied()),
            );
            return (None, None, false);
        };
        (Some(SourceConnector::Generate { kind, events, seed, rate }), Some(schema), true)
    }

    /// The schema of a source's records: the declared one (which, for the generator, must fit
    /// what it generates), else the connector's own. `known`: whether the connector's own
    /// schema is known (not when its format or kind has a mistake, reported already).
    fn source_schema(
        &mut self,
        c: &ast::Connector,
        declared: Option<&Schema>,
        own: Option<Schema>,
        known: bool,
    ) -> Option<Schema> {
        match (declared, own) {
            (Some(d), Some(own)) if c.name.node == "generate" => {
                self.declared_fits_generator(c, d, &own);
                Some(d.clone())
            }
            (Some(d), _) => Some(d.clone()),
            (None, Some(own)) => Some(own),
            (None, None) if !known => None,
            (None, None) => {
                self.error(
                    Diagnostic::error(c.span, "this source needs a schema")
                        .label("jsonl and csv records need their fields declared")
                        .help("declare `schema Event { ... }` and write `source name: Event = ...`"),
                );
                None
            }
        }
    }

    /// A declared schema may name a subset of the generated fields, with fitting types.
    fn declared_fits_generator(&mut self, c: &ast::Connector, declared: &Schema, own: &Schema) {
        for f in &declared.fields {
            match own.fields.iter().find(|o| o.name == f.name) {
                Some(o) if o.ty.fits(&f.ty) => {}
                Some(o) => self.error(
                    Diagnostic::error(
                        c.span,
                        format!("field '{}' is declared {} but the generator gives {}", f.name, f.ty, o.ty),
                    )
                    .label("schema does not match the generator"),
                ),
                None => self.error(
                    Diagnostic::error(c.span, format!("the Nexmark generator has no field '{}'", f.name))
                        .label("not generated")
                        .suggest(&f.name, own.names()),
                ),
            }
        }
    }

    pub(super) fn sink_connector(&mut self, c: &ast::Connector) -> Option<SinkConnector> {
        let mut args = self.connector_args(c, false)?;
        let sink = match c.name.node.as_str() {
            "file" => {
                let path = self.required::<String>(&mut args, "path", "file(\"out/results.jsonl\")");
                let format = self.format(&mut args, path.as_ref());
                let partitioned = self.arg::<bool>(&mut args, "partitioned").is_some_and(|(p, _)| p);
                let (path, span) = path?;
                self.accesses.push(Access::write(&path, partitioned, span));
                SinkConnector::File { path, format: format?, partitioned }
            }
            "stdout" => {
                let format = self.format(&mut args, None)?;
                self.accesses.push(Access::stdout(&format, c.span));
                SinkConnector::Stdout { format }
            }
            other => {
                // `connector_args` let through only the names in `SINKS`: each needs its arm.
                self.error(Diagnostic::error(
                    c.name.span,
                    format!("internal: no checker for sink connector '{other}'"),
                ));
                return None;
            }
        };
        (!args.failed).then_some(sink)
    }

    /// The params whose value has a mistake: their uses are not reported again.
    pub(super) fn failed_params(&self) -> Unknown {
        Unknown::names(self.failed_params.iter().cloned())
    }
}

impl Args {
    /// Whether the argument `key` was given but had a mistake, or was probably given under a
    /// misspelt name: either way it is not reported missing as well.
    fn failed_on(&self, key: &str) -> bool {
        self.failed_keys.iter().any(|k| k == key) || self.misnamed.iter().any(|m| suggest(m, [key]).is_some())
    }
}
