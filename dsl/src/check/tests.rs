//! `test` blocks: the records given to sources, the watermark moves, and the records expected
//! of streams, all checked against the schemas like the rest of the pipeline.

use super::expr::{check_expr, type_of_value, Scope};
use super::graph::StreamGraph;
use super::Checker;
use crate::ast::{self, ExprKind, TestStep};
use crate::diag::Diagnostic;
use crate::functions::Functions;
use crate::plan::{Expr, FeedItem, Format, SourceConnector};
use crate::span::Span;
use crate::types::{Base, Schema, Type};
use crate::value::{Row, Value};

/// A checked test.
#[derive(Clone, Debug)]
pub struct TestCase {
    pub name: String,
    pub span: Span,
    /// What each source is fed, in order: records and watermark moves.
    pub feeds: Vec<(String, Vec<FeedItem>)>,
    pub expects: Vec<Expect>,
}

/// The records a stream must hold at the end of a test (as a multiset).
#[derive(Clone, Debug)]
pub struct Expect {
    /// The stream as written: `hot`, `bids.late`, `bids.errors`.
    pub stream: String,
    pub schema: Schema,
    pub rows: Vec<Row>,
    pub span: Span,
}

impl Checker<'_> {
    pub(super) fn test(&mut self, t: &ast::TestDecl, graph: &mut StreamGraph) -> Option<TestCase> {
        let mut case =
            TestCase { name: t.name.node.clone(), span: t.name.span, feeds: Vec::new(), expects: Vec::new() };
        let mut ok = true;
        for step in &t.steps {
            match step {
                TestStep::Given(r, records) => {
                    let Some((name, schema, _)) = self.test_source(r, graph) else {
                        ok = false;
                        continue;
                    };
                    let format = match graph.source(&name).map(|s| &s.connector) {
                        Some(SourceConnector::File { format, .. } | SourceConnector::Stdin { format }) => {
                            format.clone()
                        }
                        _ => Format::Jsonl,
                    };
                    // A string is a line of input as the source reads it; a record is decoded already.
                    let ExprKind::List(items) = &records.kind else {
                        ok &= self.records(records, &schema).is_some();
                        continue;
                    };
                    for item in items {
                        let step = match &item.kind {
                            ExprKind::Lit(Value::Str(line)) => {
                                Some(FeedItem::Raw { line: line.to_string(), format: format.clone() })
                            }
                            _ => self.record(item, &schema).map(FeedItem::Row),
                        };
                        match step {
                            Some(step) => feed(&mut case, &name).push(step),
                            None => ok = false,
                        }
                    }
                }
                TestStep::Advance(r, time) => {
                    let Some((name, _, watermarked)) = self.test_source(r, graph) else {
                        ok = false;
                        continue;
                    };
                    if !watermarked {
                        self.error(
                            Diagnostic::error(r.span, format!("'{name}' has no watermark to advance"))
                                .label("no event time")
                                .help(format!("add `watermark FIELD - DELAY` to source '{name}'")),
                        );
                        ok = false;
                        continue;
                    }
                    match self.constant(time) {
                        Some(Value::Timestamp(ms)) => feed(&mut case, &name).push(FeedItem::Advance(ms)),
                        Some(v) => {
                            self.error(
                                Diagnostic::error(
                                    time.span,
                                    format!("advance needs a timestamp, found {}", type_of_value(&v)),
                                )
                                .label("expected e.g. @2024-05-01T12:00:10Z"),
                            );
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                TestStep::Expect(r, records) => {
                    let Some(input) = graph.resolve(self, r) else {
                        ok = false;
                        continue;
                    };
                    // A stream with mistakes (reported) has no records to compare with.
                    let Some(schema) = graph.schema_of(input).filter(|_| graph.is_sound(input)) else {
                        ok = false;
                        continue;
                    };
                    let Some(rows) = self.records(records, &schema) else {
                        ok = false;
                        continue;
                    };
                    let stream = match &r.side {
                        Some(side) => format!("{}.{}", r.name.node, side.node),
                        None => r.name.node.clone(),
                    };
                    case.expects.push(Expect { stream, schema, rows, span: r.span });
                }
            }
        }
        if case.expects.is_empty() && ok {
            self.error(
                Diagnostic::error(t.name.span, format!("test \"{}\" expects nothing", t.name.node))
                    .label("no `expect`")
                    .help("add e.g. `expect my_stream = [{ ... }]`"),
            );
            return None;
        }
        ok.then_some(case)
    }

    /// A source named in `given` or `advance`: its name, schema and whether it has a watermark.
    fn test_source(&mut self, r: &ast::StreamRef, graph: &StreamGraph) -> Option<(String, Schema, bool)> {
        let name = &r.name.node;
        match graph.source(name) {
            Some(source) if r.side.is_none() => {
                Some((name.clone(), source.schema.clone(), source.time.watermark.is_some()))
            }
            _ => {
                self.error(
                    Diagnostic::error(r.span, format!("'{}' is not a source", name))
                        .label("tests feed sources")
                        .suggest(name, graph.source_names()),
                );
                None
            }
        }
    }

    fn constant(&mut self, e: &ast::Expr) -> Option<Value> {
        let params = self.scope_params();
        let (schema, functions) = (Schema::default(), Functions::default());
        let unknown = self.failed_params();
        let scope = Scope {
            schema: &schema,
            streams: &[],
            params: &params,
            functions: &functions,
            unknown: &unknown,
            config: false,
        };
        match check_expr(e, &scope, &mut self.diags)? {
            (Expr::Lit(v), _) => Some(v),
            // `now()` (or a function of the program) is not a constant: a test fixes its data.
            _ => {
                self.error(
                    Diagnostic::error(e.span, "a value in a test must be a constant")
                        .label("not a constant")
                        .help("write the value itself, e.g. @2024-05-01T12:00:00Z instead of now()"),
                );
                None
            }
        }
    }

    /// A list of record literals as rows of `schema`.
    fn records(&mut self, e: &ast::Expr, schema: &Schema) -> Option<Vec<Row>> {
        let ExprKind::List(items) = &e.kind else {
            self.error(
                Diagnostic::error(e.span, "expected a list of records")
                    .label("not a list")
                    .help("write records as [{ field: value, ... }, ...]"),
            );
            return None;
        };
        let mut rows = Vec::new();
        let mut ok = true;
        for item in items {
            match self.record(item, schema) {
                Some(row) => rows.push(row),
                None => ok = false,
            }
        }
        ok.then_some(rows)
    }

    /// The value of a field of type `want` in a test record: a nested record literal (or a
    /// list of them) is read by field name, as the record itself is; anything else is a
    /// constant of a type that fits.
    fn value_of(&mut self, e: &ast::Expr, want: &Type, name: &str) -> Option<Value> {
        match (&want.base, &e.kind) {
            (Base::Record(record), ExprKind::Record(_)) => {
                let row = self.record(e, &Schema::new(record.fields.clone()))?;
                return Some(Value::record(record.names(), row));
            }
            (Base::List(elem), ExprKind::List(items)) if matches!(elem.base, Base::Record(_)) => {
                let values: Option<Vec<Value>> = items.iter().map(|item| self.value_of(item, elem, name)).collect();
                return Some(Value::List(values?.into()));
            }
            _ => {}
        }
        let mut v = self.constant(e)?;
        if let (Value::Int(n), Base::Float) = (&v, &want.base) {
            v = Value::float(*n as f64);
        }
        let found = type_of_value(&v);
        if !found.fits(want) {
            self.error(
                Diagnostic::error(e.span, format!("field '{name}' is {want}, but this is {found}"))
                    .label(format!("expected {want}")),
            );
            return None;
        }
        Some(v)
    }

    fn record(&mut self, e: &ast::Expr, schema: &Schema) -> Option<Row> {
        let ExprKind::Record(fields) = &e.kind else {
            self.error(Diagnostic::error(e.span, "expected a record").label("write { field: value, ... }"));
            return None;
        };
        let mut row: Vec<Option<Value>> = vec![None; schema.len()];
        let mut ok = true;
        for (name, value) in fields {
            let Some(i) = schema.index_of(&name.node) else {
                self.error(
                    Diagnostic::error(name.span, format!("unknown field '{}'", name.node))
                        .label("not in the schema")
                        .suggest(&name.node, schema.names())
                        .or_help(format!("the records have {schema}")),
                );
                ok = false;
                continue;
            };
            // A field with a mistake is still given: it is not reported missing too.
            row[i] = Some(Value::Null);
            match self.value_of(value, &schema.fields[i].ty, &name.node) {
                Some(v) => row[i] = Some(v),
                None => ok = false,
            }
        }
        let mut out = Vec::with_capacity(schema.len());
        for (field, v) in schema.fields.iter().zip(row) {
            match v {
                Some(v) => out.push(v),
                None if field.ty.nullable => out.push(Value::Null),
                None => {
                    self.error(
                        Diagnostic::error(e.span, format!("the record has no '{}'", field.name))
                            .label(format!("missing '{}: {}'", field.name, field.ty))
                            .help("give every field that is not nullable"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

fn feed<'a>(case: &'a mut TestCase, source: &str) -> &'a mut Vec<FeedItem> {
    let i = match case.feeds.iter().position(|(s, _)| s == source) {
        Some(i) => i,
        None => {
            case.feeds.push((source.to_string(), Vec::new()));
            case.feeds.len() - 1
        }
    };
    &mut case.feeds[i].1
}
