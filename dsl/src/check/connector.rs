//! Connector arguments: constant expressions over params, checked against each connector's table.

use std::collections::HashMap;

use super::expr::{check_expr, Scope};
use super::Checker;
use crate::ast;
use crate::connectors::{arguments, nexmark_schema, text_schema, NEXMARK_KINDS, PLANNED, SINKS, SOURCES};
use crate::diag::{suggest, Diagnostic};
use crate::functions::Functions;
use crate::plan::{Format, SinkConnector, SourceConnector, SourceTime};

/// How long a partition may stay without data before its watermark follows the clock.
pub const DEFAULT_IDLE_MS: i64 = 5_000;
use crate::span::Span;
use crate::types::{Schema, Type};
use crate::value::Value;

/// A connector's arguments by name, evaluated, with their spans.
struct Args {
    values: HashMap<String, (Value, Type, Span)>,
    span: Span,
}

impl Checker<'_> {
    fn connector_args(&mut self, c: &ast::Connector, is_source: bool) -> Option<Args> {
        let name = c.name.node.as_str();
        let allowed = if is_source { SOURCES } else { SINKS };
        if !allowed.contains(&name) {
            let role = if is_source { "source" } else { "sink" };
            let mut d = Diagnostic::error(c.name.span, format!("unknown {role} connector '{name}'"))
                .label(format!("not a {role} connector"));
            d = if PLANNED.contains(&name) {
                Diagnostic::error(c.name.span, format!("the '{name}' connector is not supported yet"))
                    .label("not in this version")
                    .help(format!("{role} connectors available now: {}", allowed.join(", ")))
            } else if let Some(s) = suggest(name, allowed.iter().copied()) {
                d.help(format!("did you mean '{s}'?"))
            } else {
                d.help(format!("{role} connectors are: {}", allowed.join(", ")))
            };
            self.error(d);
            return None;
        }
        let names = arguments(name, is_source);
        let params = self.scope_params();
        let (schema, functions) = (Schema::default(), Functions::default());
        let scope = Scope { schema: &schema, streams: &[], params: &params, functions: &functions };
        let mut values = HashMap::new();
        let mut ok = true;
        for (i, arg) in c.args.iter().enumerate() {
            let key = match &arg.name {
                Some(n) => {
                    if !names.contains(&n.node.as_str()) {
                        let mut d = Diagnostic::error(n.span, format!("{name}() has no argument '{}'", n.node))
                            .label("unknown argument");
                        d = match suggest(&n.node, names.iter().copied()) {
                            Some(s) => d.help(format!("did you mean '{s}'?")),
                            None => d.help(format!("{name}() takes: {}", names.join(", "))),
                        };
                        self.error(d);
                        ok = false;
                        continue;
                    }
                    n.node.clone()
                }
                None if i == 0 && name == "file" => "path".to_string(),
                None => {
                    self.error(
                        Diagnostic::error(arg.value.span, format!("{name}() takes named arguments here"))
                            .label("positional argument")
                            .help(format!("write `name: value`; {name}() takes: {}", names.join(", "))),
                    );
                    ok = false;
                    continue;
                }
            };
            let Some((e, t)) = check_expr(&arg.value, &scope, &mut self.diags) else {
                ok = false;
                continue;
            };
            if let crate::plan::Expr::Lit(v) = e {
                if values.insert(key.clone(), (v, t, arg.value.span)).is_some() {
                    self.error(
                        Diagnostic::error(arg.value.span, format!("argument '{key}' is given twice"))
                            .label("duplicate argument"),
                    );
                    ok = false;
                }
            } else {
                self.error(
                    Diagnostic::error(arg.value.span, "connector arguments must be constant").label("reads a field"),
                );
                ok = false;
            }
        }
        ok.then_some(Args { values, span: c.span })
    }

    fn arg_string(&mut self, args: &Args, key: &str) -> Option<Option<(String, Span)>> {
        match args.values.get(key) {
            None => Some(None),
            Some((Value::Str(s), _, span)) => Some(Some((s.to_string(), *span))),
            Some((_, t, span)) => {
                self.error(
                    Diagnostic::error(*span, format!("argument '{key}' must be a string, found {t}"))
                        .label("expected string"),
                );
                None
            }
        }
    }

    fn arg_duration(&mut self, args: &Args, key: &str) -> Option<Option<i64>> {
        match args.values.get(key) {
            None => Some(None),
            Some((Value::Duration(d), _, _)) if *d >= 0 => Some(Some(*d)),
            Some((_, t, span)) => {
                self.error(
                    Diagnostic::error(*span, format!("argument '{key}' must be a duration, found {t}"))
                        .label("expected a duration such as 5s"),
                );
                None
            }
        }
    }

    fn arg_bool(&mut self, args: &Args, key: &str, default: bool) -> Option<bool> {
        match args.values.get(key) {
            None => Some(default),
            Some((Value::Bool(b), _, _)) => Some(*b),
            Some((_, t, span)) => {
                self.error(
                    Diagnostic::error(*span, format!("argument '{key}' must be a bool, found {t}"))
                        .label("expected true or false"),
                );
                None
            }
        }
    }

    fn arg_count(&mut self, args: &Args, key: &str) -> Option<Option<u64>> {
        match args.values.get(key) {
            None => Some(None),
            Some((Value::Int(n), _, _)) if *n >= 0 => Some(Some(*n as u64)),
            Some((v, t, span)) => {
                let found = if matches!(v, Value::Int(_)) { format!("{v}") } else { t.to_string() };
                self.error(
                    Diagnostic::error(*span, format!("argument '{key}' must be a non-negative int, found {found}"))
                        .label("expected a count"),
                );
                None
            }
        }
    }

    fn require<T>(&mut self, value: Option<T>, args: &Args, key: &str, connector: &str) -> Option<T> {
        if value.is_none() {
            self.error(
                Diagnostic::error(args.span, format!("{connector}() needs the argument '{key}'"))
                    .label(format!("missing '{key}'"))
                    .help(match connector {
                        "generate" => "e.g. generate(nexmark: \"bid\", events: 100000)",
                        _ => "e.g. file(\"data/events.jsonl\")",
                    }),
            );
        }
        value
    }

    /// The format from `format:` (with `header:`/`delimiter:`), else from the path's extension.
    fn format(&mut self, args: &Args, path: Option<&(String, Span)>) -> Option<Format> {
        let header = self.arg_bool(args, "header", true)?;
        let delimiter = match self.arg_string(args, "delimiter")? {
            None => b',',
            Some((d, _)) if d.len() == 1 => d.as_bytes()[0],
            Some((d, span)) => {
                self.error(
                    Diagnostic::error(span, format!("the delimiter must be one ASCII character, found {d:?}"))
                        .label("expected e.g. \";\""),
                );
                return None;
            }
        };
        let (name, span) = match (self.arg_string(args, "format")?, path) {
            (Some((f, span)), _) => (f, span),
            (None, None) => return Some(Format::Jsonl),
            (None, Some((p, span))) => {
                let ext = std::path::Path::new(p).extension().and_then(|e| e.to_str()).unwrap_or("");
                match ext {
                    "jsonl" | "json" | "ndjson" => ("jsonl".into(), *span),
                    "csv" => ("csv".into(), *span),
                    "txt" | "log" | "text" => ("text".into(), *span),
                    _ => {
                        self.error(
                            Diagnostic::error(*span, format!("cannot tell the format of '{p}' from its extension"))
                                .label("unknown extension")
                                .help("add format: \"jsonl\", \"csv\" or \"text\""),
                        );
                        return None;
                    }
                }
            }
        };
        match name.as_str() {
            "jsonl" | "json" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv { header, delimiter }),
            "text" => Some(Format::Text),
            other => {
                let mut d =
                    Diagnostic::error(span, format!("unknown format '{other}'")).label("expected jsonl, csv or text");
                if let Some(s) = suggest(other, ["jsonl", "csv", "text"]) {
                    d = d.help(format!("did you mean '{s}'?"));
                }
                self.error(d);
                None
            }
        }
    }

    pub(super) fn source_connector(
        &mut self,
        c: &ast::Connector,
        declared: Option<&Schema>,
        rust: bool,
    ) -> Option<(SourceConnector, Schema, SourceTime)> {
        let args = self.connector_args(c, true)?;
        let time = SourceTime {
            watermark: None,
            idle_ms: self.arg_duration(&args, "idle")?.unwrap_or(DEFAULT_IDLE_MS),
            epoch_ms: self.arg_duration(&args, "epoch")?.unwrap_or(1).max(1),
        };
        let name = c.name.node.as_str();
        let (connector, own_schema) = match name {
            "file" | "stdin" => {
                let path = if name == "file" {
                    let p = self.arg_string(&args, "path")?;
                    Some(self.require(p, &args, "path", "file")?)
                } else {
                    None
                };
                let format = self.format(&args, path.as_ref())?;
                let own = (format == Format::Text).then(text_schema);
                match path {
                    Some((path, span)) => {
                        if self.options.check_files && !rust && !std::path::Path::new(&path).is_file() {
                            self.error(
                                Diagnostic::error(span, format!("input file '{path}' does not exist"))
                                    .label("no such file")
                                    .help("paths are relative to the directory eddy runs in"),
                            );
                            return None;
                        }
                        let follow = self.arg_bool(&args, "follow", false)?;
                        (SourceConnector::File { path, format, follow }, own)
                    }
                    None => (SourceConnector::Stdin { format }, own),
                }
            }
            _ => {
                let kind = self.arg_string(&args, "nexmark")?;
                let (kind, kind_span) = self.require(kind, &args, "nexmark", "generate")?;
                let events = self.arg_count(&args, "events")?;
                let seed = self.arg_count(&args, "seed")?.unwrap_or(42);
                let rate = self.arg_count(&args, "rate")?.unwrap_or(0);
                let Some(schema) = nexmark_schema(&kind) else {
                    let mut d = Diagnostic::error(kind_span, format!("unknown Nexmark event kind '{kind}'"))
                        .label("expected person, auction or bid");
                    if let Some(s) = suggest(&kind, NEXMARK_KINDS.iter().copied()) {
                        d = d.help(format!("did you mean '{s}'?"));
                    }
                    self.error(d);
                    return None;
                };
                (SourceConnector::Generate { kind, events, seed, rate }, Some(schema))
            }
        };
        let connector = if rust { SourceConnector::Rust } else { connector };
        let schema = match (declared, own_schema) {
            (Some(d), Some(own)) if name == "generate" => {
                // A declared schema may name a subset of the generated fields.
                for f in &d.fields {
                    match own.fields.iter().find(|o| o.name == f.name) {
                        Some(o) if o.ty.fits(&f.ty) => {}
                        Some(o) => self.error(
                            Diagnostic::error(
                                c.span,
                                format!("field '{}' is declared {} but the generator gives {}", f.name, f.ty, o.ty),
                            )
                            .label("schema does not match the generator"),
                        ),
                        None => {
                            let mut d =
                                Diagnostic::error(c.span, format!("the Nexmark generator has no field '{}'", f.name))
                                    .label("not generated");
                            if let Some(s) = suggest(&f.name, own.names()) {
                                d = d.help(format!("did you mean '{s}'?"));
                            }
                            self.error(d);
                        }
                    }
                }
                d.clone()
            }
            (Some(d), _) => d.clone(),
            (None, Some(own)) => own,
            (None, None) => {
                self.error(
                    Diagnostic::error(c.span, "this source needs a schema")
                        .label("jsonl and csv records need their fields declared")
                        .help("declare `schema Event { ... }` and write `source name: Event = ...`"),
                );
                return None;
            }
        };
        Some((connector, schema, time))
    }

    pub(super) fn sink_connector(&mut self, c: &ast::Connector) -> Option<SinkConnector> {
        let args = self.connector_args(c, false)?;
        match c.name.node.as_str() {
            "file" => {
                let p = self.arg_string(&args, "path")?;
                let path = self.require(p, &args, "path", "file")?;
                let format = self.format(&args, Some(&path))?;
                let partitioned = self.arg_bool(&args, "partitioned", false)?;
                Some(SinkConnector::File { path: path.0, format, partitioned })
            }
            _ => Some(SinkConnector::Stdout { format: self.format(&args, None)? }),
        }
    }
}
