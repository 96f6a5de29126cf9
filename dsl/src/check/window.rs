//! Event time through a stream: which field holds it, whether the stream is windowed, and the
//! `window` stage and the per-window `aggregate`, `distinct` and `top` it leads to.

use super::expr::{check_expr, Scope};
use super::stages::Kind;
use super::Checker;
use crate::ast::{self, WindowSpec};
use crate::diag::Diagnostic;
use crate::plan::{Agg, Expr, Lag, TimeRef, WindowKind, WindowOp};
use crate::span::Span;
use crate::types::{Base, Field, Schema, Type};
use crate::value::Value;

/// Where a stream's records have their time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Time {
    /// The event time, in this field.
    Field(String),
    /// The arrival time (a stream without a watermark).
    Arrival,
}

/// A stream after `window`, until the `aggregate`, `distinct` or `top` that uses the windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Tumbling or sliding: `window_start` and `window_end` are fields already.
    Assigned { size: i64, slide: i64 },
    /// Sessions are found per key by the keyed stage.
    Session { gap: i64, time: Time },
}

/// What a stream knows of time: where it is, whether it is windowed, whether it never ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub time: Option<Time>,
    pub window: Option<(Mark, Span)>,
    /// The records are the results of an `aggregate`, `distinct` or `top` per tumbling or
    /// sliding window of this size and slide: each window's come once, when it closes, with
    /// its `window_start` and `window_end`. A join with the same windows is a windowed join.
    pub results_of: Option<Mark>,
    pub unbounded: bool,
    /// How far the event times may be behind the times the records carry (see `Lag`).
    pub lag: Lag,
}

impl Flow {
    /// After a `select` or `derive`: the event time stays if its field does, and results per
    /// window stay such while they keep their window's bounds.
    pub fn project(&mut self, schema: &Schema) {
        if schema.index_of("window_start").is_none() || schema.index_of("window_end").is_none() {
            self.results_of = None;
        }
        if let Some(Time::Field(f)) = &self.time {
            if resolve_time(f, schema).is_none() {
                self.time = None;
            }
        }
    }

    /// After a windowed `aggregate`, `distinct` or `top`: results per window, whose time is
    /// their `window_start`. They carry their window's last millisecond (a later time when the
    /// window closed later, its input lagging): less than a window's size after their start.
    pub fn results(&mut self, mark: &Mark) {
        self.time = Some(Time::Field("window_start".into()));
        self.results_of = matches!(mark, Mark::Assigned { .. }).then(|| mark.clone());
        self.lag = match mark {
            Mark::Assigned { size, .. } => self.lag.saturating_add(*size),
            Mark::Session { .. } => Lag::MAX,
        };
    }

    /// After a stage whose output updates (an `aggregate`, `distinct`, `top` or `iterate` over
    /// the whole stream): its records carry the time they are computed at.
    pub fn updated(&mut self) {
        self.time = self.time.take().map(|_| Time::Arrival);
        self.results_of = None;
        self.lag = 0;
    }

    /// The flow of a union of two streams.
    pub fn union(&self, other: &Flow) -> Result<Flow, String> {
        let mark = |f: &Flow| f.window.as_ref().map(|(m, _)| m.clone());
        if mark(self) != mark(other) {
            return Err("one is windowed and the other is not, or not the same way".into());
        }
        Ok(Flow {
            time: if self.time == other.time { self.time.clone() } else { None },
            window: self.window.clone(),
            results_of: if self.results_of == other.results_of { self.results_of.clone() } else { None },
            unbounded: self.unbounded || other.unbounded,
            lag: self.lag.max(other.lag),
        })
    }
}

fn time_ref(time: &Time, schema: &Schema) -> Option<TimeRef> {
    match time {
        Time::Arrival => Some(TimeRef::Arrival),
        Time::Field(f) => resolve_time(f, schema),
    }
}

/// Where the event time named `name` is in `schema`: a timestamp field, or one nested in a
/// record field (`meta.ts`, from `watermark meta.ts - 2s`).
pub fn resolve_time(name: &str, schema: &Schema) -> Option<TimeRef> {
    let is_timestamp = |ty: &crate::types::Type| ty.base == Base::Timestamp;
    if let Some(i) = schema.index_of(name) {
        return is_timestamp(&schema.fields[i].ty).then_some(TimeRef::Field(i));
    }
    let mut parts = name.split('.');
    let first = schema.index_of(parts.next()?)?;
    let (mut ty, mut path) = (&schema.fields[first].ty, Vec::new());
    for part in parts {
        let Base::Record(r) = &ty.base else { return None };
        let i = r.index_of(part)?;
        path.push(i);
        ty = &r.fields[i].ty;
    }
    (is_timestamp(ty) && !path.is_empty()).then_some(TimeRef::Path(first, path))
}

/// A constant, positive duration (window sizes, gaps).
fn duration(cx: &mut Checker, scope: &Scope, e: &ast::Expr, what: &str) -> Option<i64> {
    let (x, t) = check_expr(e, scope, &mut cx.diags)?;
    match x {
        Expr::Lit(Value::Duration(d)) if d > crate::time::MAX_WINDOW => {
            cx.error(
                Diagnostic::error(e.span, format!("the {what} is too long: at most 10000 years"))
                    .label("longer than 10000 years")
                    .help("windows must fit in the range of timestamps; a window of all time is no window: aggregate without `window`"),
            );
            None
        }
        Expr::Lit(Value::Duration(d)) if d > 0 => Some(d),
        _ => {
            cx.error(
                Diagnostic::error(e.span, format!("the {what} must be a constant positive duration, found {t}"))
                    .label("expected e.g. 10s"),
            );
            None
        }
    }
}

/// The sizes of a `window` stage's windows.
pub enum Sizes {
    /// Tumbling (`size == slide`) or sliding.
    Assigned {
        size: i64,
        slide: i64,
    },
    Session {
        gap: i64,
    },
}

/// The constant sizes of a window spec.
pub fn sizes(cx: &mut Checker, scope: &Scope, spec: &WindowSpec) -> Option<Sizes> {
    Some(match spec {
        WindowSpec::Tumbling(d) => {
            let d = duration(cx, scope, d, "window size")?;
            Sizes::Assigned { size: d, slide: d }
        }
        WindowSpec::Sliding { size, every: every_expr } => {
            let size = duration(cx, scope, size, "window size");
            let every = duration(cx, scope, every_expr, "slide ('every')");
            let (size, slide) = (size?, every?);
            sliding_fits(cx, size, slide, every_expr.span)?;
            Sizes::Assigned { size, slide }
        }
        WindowSpec::Session { gap } => Sizes::Session { gap: duration(cx, scope, gap, "session gap")? },
    })
}

/// How many sliding windows a record may fall in: each is a copy of it, with its own state.
pub const MAX_WINDOWS_PER_RECORD: i64 = 10_000;

/// Whether sliding windows of `size` every `slide` are possible: a slide no longer than the
/// size (so that every record falls in a window), and not so short that one record makes more
/// than `MAX_WINDOWS_PER_RECORD` copies.
fn sliding_fits(cx: &mut Checker, size: i64, slide: i64, span: Span) -> Option<()> {
    let show = |ms: i64| {
        let mut s = String::new();
        crate::time::write_duration(ms, &mut s);
        s
    };
    if slide > size {
        cx.error(
            Diagnostic::error(span, format!("the slide ({}) is longer than the window ({})", show(slide), show(size)))
                .label("longer than the window")
                .help(format!("records between two windows would fall in none: slide by at most the size (`every: {}` is a tumbling window)", show(size))),
        );
        return None;
    }
    let copies = (size + slide - 1) / slide;
    if copies > MAX_WINDOWS_PER_RECORD {
        let shortest = (size + MAX_WINDOWS_PER_RECORD - 1) / MAX_WINDOWS_PER_RECORD;
        cx.error(
            Diagnostic::error(
                span,
                format!("each record would fall in {copies} sliding windows (a copy each); at most {MAX_WINDOWS_PER_RECORD}"),
            )
            .label("too short a slide for the window")
            .help(format!("slide by at least {} for a {} window", show(shortest), show(size))),
        );
        return None;
    }
    Some(())
}

/// The `window` stage: `Ok(Some(kind))` for tumbling and sliding windows (assigned here),
/// `Ok(None)` for sessions (found by the keyed stage), `Err(())` after reporting a mistake.
pub fn window(
    cx: &mut Checker,
    sizes: Sizes,
    span: Span,
    schema: &mut Schema,
    flow: &mut Flow,
) -> Result<Option<Kind>, ()> {
    if let Some((_, first)) = &flow.window {
        cx.error(
            Diagnostic::error(span, "the stream is already windowed")
                .label("second window")
                .related(*first, "windowed here")
                .help("aggregate the first windows before windowing again"),
        );
        return Err(());
    }
    let Some(time) = flow.time.clone() else {
        cx.error(
            Diagnostic::error(span, "a window needs the records' event time, and this stream has none")
                .label("no event time here")
                .help("add `watermark FIELD - DELAY` to the source (e.g. `watermark date_time - 2s`), and keep that field up to here"),
        );
        return Err(());
    };
    if flow.lag == Lag::MAX && flow.unbounded {
        cx.error(
            Diagnostic::error(span, "windows over the results of session windows could never close in a stream")
                .label("over session results")
                .help("a session's window_start, the results' event time, can be any time before it closes: window the sessions' input instead, or run this over a bounded input"),
        );
        return Err(());
    }
    let (size, slide) = match sizes {
        Sizes::Assigned { size, slide } => (size, slide),
        Sizes::Session { gap } => {
            flow.window = Some((Mark::Session { gap, time }, span));
            return Ok(None);
        }
    };
    let time = time_ref(&time, schema).ok_or(())?;
    // Windows over windowed results (with window fields already) take their place.
    let replace = window_fields(schema);
    if replace.is_none() && lone_window_field(cx, schema, span) {
        return Err(());
    }
    if replace.is_none() {
        schema.fields.push(Field { name: "window_start".into(), ty: Type::TIMESTAMP });
        schema.fields.push(Field { name: "window_end".into(), ty: Type::TIMESTAMP });
    }
    flow.window = Some((Mark::Assigned { size, slide }, span));
    flow.results_of = None;
    Ok(Some(Kind::Window { size, slide, time, replace }))
}

/// What the keyed stage computes, before windows are known.
pub enum Op {
    Aggregate { keys: Vec<(Expr, Field)>, aggs: Vec<(Agg, Field)> },
    Distinct { keys: Vec<Expr> },
    Top { keys: Vec<Expr>, n: usize, by: Vec<(Expr, bool)>, ties: bool },
}

/// The per-window `aggregate`, `distinct` or `top` of a windowed stream; `schema` becomes its
/// output schema, and `flow` that of its results.
pub fn windowed(
    cx: &mut Checker,
    mark: &Mark,
    op: Op,
    span: Span,
    schema: &mut Schema,
    flow: &mut Flow,
) -> Option<Kind> {
    let lag = flow.lag;
    flow.results(mark);
    let bound_fields = [
        Field { name: "window_start".into(), ty: Type::TIMESTAMP },
        Field { name: "window_end".into(), ty: Type::TIMESTAMP },
    ];
    let window = match mark {
        Mark::Assigned { .. } => {
            let (Some(start), Some(end)) = (schema.index_of("window_start"), schema.index_of("window_end")) else {
                cx.error(
                    Diagnostic::error(span, "the windows' fields were dropped before this stage")
                        .label("needs window_start and window_end")
                        .help("keep window_start and window_end in the `select` between window and this stage"),
                );
                return None;
            };
            WindowKind::Assigned { start, end }
        }
        Mark::Session { gap, time } => {
            let Some(time) = time_ref(time, schema) else {
                let name = match time {
                    Time::Field(f) => f.as_str(),
                    Time::Arrival => "",
                };
                cx.error(
                    Diagnostic::error(span, format!("the event time field '{name}' was dropped before this stage"))
                        .label("sessions need the event time")
                        .help(format!("keep '{name}' in the `select` between window and this stage")),
                );
                return None;
            };
            WindowKind::Session { gap: *gap, time, bounds: window_fields(schema) }
        }
    };
    // Window fields are keys already: a `group by window_start` adds nothing.
    let is_window_field = |e: &Expr| match (e, &window) {
        (Expr::Field(i), WindowKind::Assigned { start, end }) => i == start || i == end,
        _ => false,
    };
    let op = match op {
        Op::Aggregate { keys, aggs } => {
            let keys: Vec<(Expr, Field)> = keys.into_iter().filter(|(e, _)| !is_window_field(e)).collect();
            let mut fields: Vec<Field> = keys.iter().map(|(_, f)| f.clone()).collect();
            fields.extend(bound_fields.iter().cloned());
            fields.extend(aggs.iter().map(|(_, f)| f.clone()));
            *schema = Schema::new(fields);
            let keys = keys.into_iter().map(|(e, _)| e).collect();
            return Some(Kind::Windowed {
                window,
                keys,
                op: WindowOp::Aggregate(aggs.into_iter().map(|(a, _)| a).collect()),
                lag,
            });
        }
        Op::Distinct { keys } => (keys, WindowOp::Distinct),
        Op::Top { keys, n, by, ties } => (keys, WindowOp::Top { n, by, ties }),
    };
    if let WindowKind::Session { bounds: None, .. } = window {
        if lone_window_field(cx, schema, span) {
            return None;
        }
        schema.fields.extend(bound_fields);
    }
    let (keys, op) = op;
    let keys = keys.into_iter().filter(|e| !is_window_field(e)).collect();
    Some(Kind::Windowed { window, keys, op, lag })
}

/// `top N by EXPR`, `iterate (max N)`: the count, a constant positive int.
pub fn count(cx: &mut Checker, scope: &Scope, n: &ast::Expr, what: &str) -> Option<usize> {
    let (x, t) = check_expr(n, scope, &mut cx.diags)?;
    match x {
        Expr::Lit(Value::Int(n)) if n > 0 => Some(n as usize),
        _ => {
            let found = if let Expr::Lit(v @ Value::Int(_)) = &x { v.to_string() } else { t.to_string() };
            cx.error(
                Diagnostic::error(n.span, format!("{what} needs a constant positive count, found {found}"))
                    .label("expected e.g. 3"),
            );
            None
        }
    }
}

/// Reports a stream that has one of `window_start` and `window_end` but not the other, where a
/// window would append both (and so a second field of that name); true if it did.
fn lone_window_field(cx: &mut Checker, schema: &Schema, span: Span) -> bool {
    let (has, lacks) = match (schema.index_of("window_start"), schema.index_of("window_end")) {
        (Some(_), None) => ("window_start", "window_end"),
        (None, Some(_)) => ("window_end", "window_start"),
        _ => return false,
    };
    cx.error(
        Diagnostic::error(
            span,
            format!("the stream has a field '{has}' but no '{lacks}': the windows' '{has}' would be a second one"),
        )
        .label("adds window_start and window_end")
        .help(format!("keep both window_start and window_end (the new windows take their place), or rename '{has}'")),
    );
    true
}

/// The positions of `window_start` and `window_end` when the stream has both, as timestamps.
fn window_fields(schema: &Schema) -> Option<(usize, usize)> {
    let at = |name: &str| schema.index_of(name).filter(|i| schema.fields[*i].ty.base == Base::Timestamp);
    Some((at("window_start")?, at("window_end")?))
}
