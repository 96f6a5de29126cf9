//! The graph of streams: resolving what each stream reads (sources, side streams, other
//! streams, `loop`), checking them in dependency order with cycles reported once, and what is
//! known of each (its schema, also when it has mistakes).

use std::collections::{HashMap, HashSet};

use super::expr::Unknown;
use super::window::{Flow, Time};
use super::{Checker, Input, Source, Stream};
use crate::ast::{self, StageKind};
use crate::connectors::errors_schema;
use crate::diag::{suggest, Diagnostic};
use crate::types::Schema;

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    Active,
    Done,
}

/// What is known of a stream that has a mistake: the schema it would have had, the names in
/// it whose type could not be known, and its flow. Its readers are checked against it.
#[derive(Clone, Debug)]
pub(super) struct Shape {
    pub schema: Schema,
    pub unknown: Unknown,
    pub flow: Flow,
}

/// Why a pipe did not check: its mistakes were reported; its shape, when it can be known.
pub(super) type Failed = Option<Box<Shape>>;

/// The streams of a file, checked in dependency order.
pub(super) struct StreamGraph<'a> {
    sources: &'a [Source],
    source_index: &'a HashMap<String, usize>,
    failed: &'a HashSet<String>,
    decls: &'a [&'a ast::StreamDecl],
    index: HashMap<&'a str, usize>,
    visit: Vec<Option<Visit>>,
    checked: Vec<Option<Stream>>,
    /// The streams with mistakes whose shape is known.
    shapes: Vec<Option<Shape>>,
    /// The streams a reported cycle starts at: a cycle is reported once.
    in_reported_cycle: HashSet<usize>,
    /// The inputs something reads.
    pub(super) used: HashSet<Input>,
    /// Inside an iterate body: the loop variable's schema and flow.
    pub(super) looping: Option<(Schema, Flow)>,
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
            shapes: vec![None; n],
            in_reported_cycle: HashSet::new(),
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
        // `lower` finds a stream by its declaration index in what is returned, so every stream
        // must be there unless a mistake (which stops the pipeline) was reported.
        let missing = self.checked.iter().position(Option::is_none);
        if let Some(i) = missing.filter(|_| !cx.diags.iter().any(Diagnostic::is_error)) {
            cx.error(Diagnostic::global(format!(
                "internal error: stream '{}' failed to check without a message; please report it",
                self.decls[i].name.node
            )));
        }
        self.checked.iter().flatten().cloned().collect()
    }

    fn stream(&mut self, cx: &mut Checker, i: usize, path: &mut Vec<usize>) {
        match self.visit[i] {
            Some(Visit::Done) => return,
            Some(Visit::Active) => {
                self.cycle(cx, i, path);
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
        match self.stages(cx, &decl.pipe, &decl.name.node) {
            Ok(stream) => self.checked[i] = Some(stream),
            Err(shape) => self.shapes[i] = shape.map(|s| *s),
        }
    }

    /// Reports the cycle that leads back to stream `i`, once: a stream that reads a cycle
    /// several times (`a = a | union a`) or a second path into it is not reported again.
    fn cycle(&mut self, cx: &mut Checker, i: usize, path: &[usize]) {
        if !self.in_reported_cycle.insert(i) {
            return;
        }
        let start = path.iter().position(|p| *p == i).unwrap_or(0);
        let mut names: Vec<&str> = path[start..].iter().map(|p| self.decls[*p].name.node.as_str()).collect();
        names.push(&self.decls[i].name.node);
        let d = self.decls[i];
        cx.error(
            Diagnostic::error(d.name.span, format!("streams form a cycle: {}", names.join(" -> ")))
                .label("this stream depends on itself")
                .help("a stream may only read sources and other streams; use `iterate` for loops"),
        );
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
            Some(side) => self.side(cx, r, side)?,
            None => {
                if let Some(&s) = self.source_index.get(name) {
                    Input::Source(s)
                } else if let Some(j) = self.index_of(name) {
                    Input::Stream(j)
                } else {
                    let known = self.source_index.keys().map(String::as_str).chain(self.index.keys().copied());
                    cx.error(
                        Diagnostic::error(r.name.span, format!("unknown stream '{name}'"))
                            .label("not a source or stream")
                            .suggest(name, known),
                    );
                    return None;
                }
            }
        };
        self.used.insert(input);
        Some(input)
    }

    /// `name.errors` or `name.late`.
    fn side(&mut self, cx: &mut Checker, r: &ast::StreamRef, side: &ast::Ident) -> Option<Input> {
        let name = r.name.node.as_str();
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
            "errors" => Some(Input::Errors(s)),
            "late" if self.sources[s].time.watermark.is_some() => Some(Input::Late(s)),
            "late" => {
                cx.error(
                    Diagnostic::error(r.span, format!("'{name}.late' is always empty: '{name}' has no watermark"))
                        .label("no late records without event time")
                        .help(format!("add `watermark FIELD - DELAY` to source '{name}'")),
                );
                None
            }
            other => {
                let mut d = Diagnostic::error(side.span, format!("unknown side stream '.{other}'"))
                    .label("expected .errors or .late");
                if let Some(sug) = suggest(other, ["errors", "late"]) {
                    d = d.help(format!("did you mean '{name}.{sug}'?"));
                }
                cx.error(d);
                None
            }
        }
    }

    /// A source by name.
    pub(super) fn source(&self, name: &str) -> Option<&Source> {
        self.source_index.get(name).map(|i| &self.sources[*i])
    }

    pub(super) fn source_names(&self) -> impl Iterator<Item = &str> {
        self.source_index.keys().map(String::as_str)
    }

    /// The schema of an input, when it is known (also for a stream with mistakes).
    pub(super) fn schema_of(&self, input: Input) -> Option<Schema> {
        match input {
            Input::Source(s) | Input::Late(s) => Some(self.sources[s].schema.clone()),
            Input::Errors(_) => Some(errors_schema()),
            Input::Stream(j) => match (&self.checked[j], &self.shapes[j]) {
                (Some(s), _) => Some(s.schema.clone()),
                (None, Some(shape)) => Some(shape.schema.clone()),
                (None, None) => None,
            },
            Input::Loop => self.looping.as_ref().map(|(schema, _)| schema.clone()),
        }
    }

    /// Whether the input checked without mistakes (a stream), or is a source.
    pub(super) fn is_sound(&self, input: Input) -> bool {
        !matches!(input, Input::Stream(j) if self.checked[j].is_none())
    }

    /// The names of an input whose type is unknown because of a mistake in it.
    pub(super) fn unknown_of(&self, input: Input) -> Unknown {
        match input {
            Input::Stream(j) => self.shapes[j].as_ref().map(|s| s.unknown.clone()).unwrap_or_default(),
            _ => Unknown::default(),
        }
    }

    pub(super) fn flow_of(&self, input: Input) -> Flow {
        match input {
            Input::Source(s) | Input::Late(s) | Input::Errors(s) => {
                let source = &self.sources[s];
                let unbounded = !source.connector.bounded();
                let time = match (source.time.watermark, input) {
                    (Some((f, _)), Input::Source(_) | Input::Late(_)) => {
                        // A nested event time is named by its path: `meta.ts`.
                        let (mut name, mut ty) = (source.schema.fields[f].name.clone(), &source.schema.fields[f].ty);
                        for i in &source.time.path {
                            let crate::types::Base::Record(r) = &ty.base else { break };
                            name = format!("{name}.{}", r.fields[*i].name);
                            ty = &r.fields[*i].ty;
                        }
                        Some(Time::Field(name))
                    }
                    _ if unbounded => Some(Time::Arrival),
                    _ => None,
                };
                Flow { time, window: None, results_of: None, unbounded, lag: 0 }
            }
            Input::Stream(j) => match (&self.checked[j], &self.shapes[j]) {
                (Some(s), _) => s.flow.clone(),
                (None, Some(shape)) => shape.flow.clone(),
                (None, None) => Flow::default(),
            },
            Input::Loop => self.looping.as_ref().map(|(_, flow)| flow.clone()).unwrap_or_default(),
        }
    }
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
