//! The plan: a DAG of typed nodes with fields as positions, ready for the engine to render.
//! It makes explicit what the engine would otherwise have to recover: schemas, which source
//! fields are read, where data is exchanged, and whether a stream is append-only or updating.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::functions::Function;
use crate::types::{Schema, Type};
use crate::value::{Row, Value};

/// Index of a node in `Plan::nodes`; inputs always have smaller indices than their consumers.
pub type NodeId = usize;

#[derive(Clone, Debug)]
pub struct Plan {
    pub nodes: Vec<Node>,
    pub sinks: Vec<Sink>,
    /// Whether a source is unbounded: the job then runs until stopped, and sinks write each
    /// change of an updating stream (with a `diff` field) instead of its final contents.
    pub streaming: bool,
}

#[derive(Clone, Debug)]
pub struct Node {
    /// The stream's name (`bids`, `hot`, `bids.errors`), or the stream a fused part belongs to.
    pub name: String,
    pub kind: NodeKind,
    pub schema: Schema,
    /// Updating streams carry retractions (differential collections); the others are append-only.
    pub updating: bool,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    /// Records read by a connector; `used[i]` says whether field i is read downstream
    /// (the decoder skips the others); `done` says when a record's results are final.
    Source { connector: SourceConnector, used: Vec<bool>, time: SourceTime, done: Done },
    /// The records of a source that failed to decode: `{ raw, error, source, position }`.
    Errors { source: NodeId },
    /// The records of a source that arrived behind its watermark (same schema as the source).
    Late { source: NodeId },
    /// Assigns each record to its tumbling or sliding windows (one copy per window), appending
    /// `window_start` and `window_end` (or overwriting them at `replace`, for windows over
    /// windowed results); `size == slide` for tumbling windows.
    Window { input: NodeId, size: i64, slide: i64, time: TimeRef, replace: Option<(usize, usize)> },
    /// A per-window `aggregate`, `distinct` or `top`: state per window and key, emitted once
    /// when the watermark passes the window's end by `lag` (see `Lag`), and then freed.
    Windowed { input: NodeId, window: WindowKind, keys: Vec<Expr>, op: WindowOp, lag: Lag },
    /// Fused `filter`/`select`/`derive` stages, applied row by row in order.
    Map { input: NodeId, steps: Vec<Step> },
    /// One record per element of `list`, the element appended as the last field.
    Unnest { input: NodeId, list: Expr },
    /// One record per group: the keys, then the aggregates, computed as `strategy` says.
    Aggregate { input: NodeId, keys: Vec<Expr>, aggs: Vec<Agg>, strategy: AggStrategy },
    /// Drops duplicate records; with keys, keeps one record (the least) per key.
    Distinct { input: NodeId, keys: Vec<Expr> },
    /// All records of all inputs.
    Union { inputs: Vec<NodeId> },
    /// Records of `left` and `right` whose keys are equal (null keys match nothing): the left
    /// row followed by the `right_fields` of the right row. `outer` keeps unmatched left rows,
    /// with nulls on the right. `symmetric`: an incremental inner join of two append-only
    /// inputs at the top level, run as a symmetric hash join (each side's records kept in a
    /// table, each match emitted once, when its second record arrives) instead of
    /// differential's join over arrangements.
    Join {
        left: NodeId,
        right: NodeId,
        left_keys: Vec<Expr>,
        right_keys: Vec<Expr>,
        right_fields: Vec<usize>,
        /// The join's conditions that are no keys, over the joined row (the left fields, then
        /// `right_fields`): a matched pair is kept only when it is true. In a `left join`, a
        /// left record none of whose matches passes it is kept once, with nulls.
        predicate: Option<Expr>,
        outer: bool,
        kind: JoinKind,
        symmetric: bool,
    },
    /// The first `n` records by the sort keys `by` (each ascending, or descending when its flag
    /// says so; the first key first) per key (with `ties`, and those equal on every key to the
    /// `n`-th's), kept up to date as records come and go.
    Top { input: NodeId, keys: Vec<Expr>, n: usize, by: Vec<(Expr, bool)>, ties: bool },
    /// `iterate (max N) { body }`: the body's nodes (with ids of their own) run on the loop
    /// variable, which starts as `input` and becomes the body's `result` each round, until
    /// nothing changes or `max` rounds have run.
    Iterate { input: NodeId, max: u64, body: Vec<Node>, result: NodeId },
    /// Inside an iterate body: the loop variable.
    Loop,
    /// Inside an iterate body: node `node` of the enclosing plan.
    Outer { node: NodeId },
}

impl NodeKind {
    pub fn inputs(&self) -> Vec<NodeId> {
        match self {
            NodeKind::Source { .. } => vec![],
            NodeKind::Errors { source } | NodeKind::Late { source } => vec![*source],
            NodeKind::Map { input, .. }
            | NodeKind::Unnest { input, .. }
            | NodeKind::Aggregate { input, .. }
            | NodeKind::Distinct { input, .. }
            | NodeKind::Window { input, .. }
            | NodeKind::Windowed { input, .. } => vec![*input],
            NodeKind::Union { inputs } => inputs.clone(),
            NodeKind::Join { left, right, .. } => vec![*left, *right],
            NodeKind::Top { input, .. } => vec![*input],
            // An iterate reads its input, and the enclosing nodes its body uses.
            NodeKind::Iterate { input, body, .. } => std::iter::once(*input)
                .chain(body.iter().filter_map(|n| match n.kind {
                    NodeKind::Outer { node } => Some(node),
                    _ => None,
                }))
                .collect(),
            NodeKind::Loop | NodeKind::Outer { .. } => vec![],
        }
    }
}

/// How an `aggregate` is computed: chosen by `lower` from its input and its place, obeyed by
/// the engine, printed by `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggStrategy {
    /// An append-only input at the top level: records are combined on each worker, the
    /// partials exchanged by key and merged into one state per group, updated in place; when a
    /// time completes, each group that changed retracts its last result and adds the new one.
    InPlace,
    /// An append-only input inside `iterate`: combined on each worker, the partials exchanged
    /// by key, then differential's `reduce` over them.
    CombineThenReduce,
    /// An updating input: every change is exchanged by key as it is (no local combining: a
    /// retraction must reach its group), and differential's `reduce` recomputes each group
    /// that changed.
    Reduce,
}

/// When a source's record is done: its results in every sink will not change any more, so
/// the source may acknowledge or commit it once the sinks have made them durable. A window
/// holds its records until it closes, an un-windowed aggregate for ever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// When every sink's frontier passes the record's time (its event time on event time, its
    /// arrival time otherwise) plus `hold` ms: the longest any stage on its way to a sink may
    /// hold it (an upper bound: windows add their size, interval joins their `within`).
    After { hold: i64 },
    /// Never while the job runs: a stage keeps its results changing (`because`: which). Only a
    /// checkpoint makes them durable.
    Never { because: String },
    /// A batch job: when it ends.
    AtEnd,
}

/// How a source's records get their time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceTime {
    /// `watermark FIELD - DELAY`: the event time is field `FIELD` (a position), and the
    /// watermark trails the largest event time seen by `delay` ms. Without it, records carry
    /// their arrival time in a stream and time 0 in a batch job.
    pub watermark: Option<(usize, i64)>,
    /// For a nested event time (`watermark meta.ts - 2s`): the positions inside the record
    /// field `FIELD` down to it; empty for a top-level one.
    pub path: Vec<usize>,
    /// A partition without data for this long (ms of wall time) lets its watermark follow the
    /// clock, so it does not hold windows open.
    pub idle_ms: i64,
    /// Arrival times are rounded down to multiples of this (ms): records of one epoch form one
    /// micro-batch. 1 (the default) gives each millisecond its own time.
    pub epoch_ms: i64,
}

/// Where a windowed stage finds a record's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeRef {
    /// The event time in this field (a timestamp).
    Field(usize),
    /// The event time nested in the record field at the position: the positions inside it.
    Path(usize, Vec<usize>),
    /// The time the record carries through the dataflow (its arrival time).
    Arrival,
}

/// How far (ms) a stream's event times may be behind the times its records carry through the
/// dataflow, which the watermark is made of. A source's records are never behind (those that
/// would be are late); a window's results carry their window's last millisecond but have its
/// start as their event time, so a window or join over them closes a window's size later, or it
/// would close before the results of the windows that overlap its end arrive.
/// `Lag::MAX`: unbounded (the results of sessions, whose start can be any time before their
/// end): such windows close when the input ends.
pub type Lag = i64;

impl TimeRef {
    /// The top-level field that holds the time, if a field does.
    pub fn field(&self) -> Option<usize> {
        match self {
            TimeRef::Field(f) | TimeRef::Path(f, _) => Some(*f),
            TimeRef::Arrival => None,
        }
    }
}

/// The timestamp at `path` inside `value` (a record value, or the timestamp itself).
pub fn timestamp_at(value: Option<&Value>, path: &[usize]) -> Option<i64> {
    let mut v = value?;
    for i in path {
        match v {
            Value::Record(r) => v = r.values.get(*i)?,
            _ => return None,
        }
    }
    match v {
        Value::Timestamp(t) => Some(*t),
        _ => None,
    }
}

/// The windows of a windowed stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// Tumbling or sliding windows already assigned by a `Window` node: the positions of
    /// `window_start` and `window_end`.
    Assigned { start: usize, end: usize },
    /// Session windows per key, merged while records arrive less than `gap` ms apart. The
    /// records of `distinct` and `top` get the session's bounds appended, or written at
    /// `bounds` when they have window fields already.
    Session { gap: i64, time: TimeRef, bounds: Option<(usize, usize)> },
}

/// How a join keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// Every record is kept (differential's join): an updating result, any input.
    Incremental,
    /// Both inputs windowed alike: records meet within their window, whose state is freed when
    /// it closes (the watermark past its end by `lag`). The positions of `window_end` on each
    /// side.
    Windowed { left_end: usize, right_end: usize, lag: Lag },
    /// Event times at most `within` ms apart; records are freed once the watermark is past
    /// them by more than `within` and `lag`. The positions of the event times on each side.
    Interval { within: i64, left_time: usize, right_time: usize, lag: Lag },
}

/// What a windowed stage computes per window and key.
#[derive(Clone, Debug)]
pub enum WindowOp {
    /// Output: keys, `window_start`, `window_end`, aggregates.
    Aggregate(Vec<Agg>),
    /// One copy of each record (with keys: the least record per key).
    Distinct,
    /// The first `n` records by the sort keys `by` (each with its order), ties in record order;
    /// with `ties`, also the records equal on every sort key to the `n`-th.
    Top { n: usize, by: Vec<(Expr, bool)>, ties: bool },
}

/// One row-by-row step of a `Map`.
#[derive(Clone, Debug)]
pub enum Step {
    /// Keep the row when the expression is `true` (not `false`, not `null`).
    Filter(Expr),
    /// Replace the row by these expressions evaluated on it, giving a row of `schema`.
    Project { exprs: Vec<Expr>, schema: Schema },
}

/// An aggregate call; `arg` is `None` for `count()`.
#[derive(Clone, Debug)]
pub struct Agg {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    pub ty: Type,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AggFunc {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    CountDistinct,
    First,
    Last,
    Collect,
    /// The number of records for which a condition is true.
    CountIf,
}

impl AggFunc {
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Avg => "avg",
            AggFunc::CountDistinct => "count_distinct",
            AggFunc::First => "first",
            AggFunc::Last => "last",
            AggFunc::Collect => "collect",
            AggFunc::CountIf => "count_if",
        }
    }

    pub fn from_name(name: &str) -> Option<AggFunc> {
        AggFunc::ALL.into_iter().find(|f| f.name() == name)
    }

    pub const ALL: [AggFunc; 10] = [
        AggFunc::Count,
        AggFunc::Sum,
        AggFunc::Min,
        AggFunc::Max,
        AggFunc::Avg,
        AggFunc::CountDistinct,
        AggFunc::First,
        AggFunc::Last,
        AggFunc::Collect,
        AggFunc::CountIf,
    ];
}

/// A typed expression over the positions of its input row.
#[derive(Clone, Debug)]
pub enum Expr {
    Lit(Value),
    Field(usize),
    List(Vec<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    /// Arithmetic; the checker has made sure the operand types fit the operator.
    Arith(Arith, Box<Expr>, Box<Expr>),
    Compare(Cmp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Concat(Box<Expr>, Box<Expr>),
    /// `list[index]`: from 0, negative from the end, null out of range.
    Index(Box<Expr>, Box<Expr>),
    /// Field `index` (named `name`) of a record; null when the record is.
    Get {
        record: Box<Expr>,
        index: usize,
        name: String,
    },
    /// A record of these fields' values.
    Record {
        names: std::sync::Arc<[smol_str::SmolStr]>,
        values: Vec<Expr>,
    },
    In {
        expr: Box<Expr>,
        list: Box<Expr>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Call {
        func: Function,
        args: Vec<Expr>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Expr {
    /// Calls `f` with every field position the expression reads.
    pub fn visit_fields(&self, f: &mut impl FnMut(usize)) {
        match self {
            Expr::Lit(_) => {}
            Expr::Field(i) => f(*i),
            Expr::List(items) | Expr::Call { args: items, .. } | Expr::Record { values: items, .. } => {
                items.iter().for_each(|e| e.visit_fields(f))
            }
            Expr::Neg(e) | Expr::Not(e) | Expr::IsNull { expr: e, .. } | Expr::Get { record: e, .. } => {
                e.visit_fields(f)
            }
            Expr::Arith(_, a, b)
            | Expr::Compare(_, a, b)
            | Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Concat(a, b)
            | Expr::Index(a, b)
            | Expr::In { expr: a, list: b, .. } => {
                a.visit_fields(f);
                b.visit_fields(f);
            }
            Expr::If { cond, then, otherwise } => {
                cond.visit_fields(f);
                then.visit_fields(f);
                otherwise.visit_fields(f);
            }
        }
    }

    /// The expression as text, with field positions named by `schema`.
    pub fn show<'a>(&'a self, schema: &'a Schema) -> impl fmt::Display + 'a {
        ShowExpr { expr: self, schema }
    }
}

struct ShowExpr<'a> {
    expr: &'a Expr,
    schema: &'a Schema,
}

impl<'a> fmt::Display for ShowExpr<'a> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |e: &'a Expr| ShowExpr { expr: e, schema: self.schema };
        match self.expr {
            Expr::Lit(v) => write!(f, "{v}"),
            Expr::Field(i) => match self.schema.fields.get(*i) {
                Some(field) => f.write_str(&field.name),
                None => write!(f, "#{i}"),
            },
            Expr::List(items) => {
                f.write_str("[")?;
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", show(e))?;
                }
                f.write_str("]")
            }
            Expr::Neg(e) => write!(f, "-{}", show(e)),
            Expr::Not(e) => write!(f, "not {}", show(e)),
            Expr::Arith(op, a, b) => {
                let s = match op {
                    Arith::Add => "+",
                    Arith::Sub => "-",
                    Arith::Mul => "*",
                    Arith::Div => "/",
                    Arith::Rem => "%",
                };
                write!(f, "({} {s} {})", show(a), show(b))
            }
            Expr::Compare(op, a, b) => {
                let s = match op {
                    Cmp::Eq => "==",
                    Cmp::Ne => "!=",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                };
                write!(f, "({} {s} {})", show(a), show(b))
            }
            Expr::And(a, b) => write!(f, "({} and {})", show(a), show(b)),
            Expr::Or(a, b) => write!(f, "({} or {})", show(a), show(b)),
            Expr::Concat(a, b) => write!(f, "({} + {})", show(a), show(b)),
            Expr::Index(list, i) => write!(f, "{}[{}]", show(list), show(i)),
            Expr::Get { record, name, .. } => write!(f, "{}.{name}", show(record)),
            Expr::Record { names, values } => {
                let fields: Vec<String> = names.iter().zip(values).map(|(n, v)| format!("{n}: {}", show(v))).collect();
                write!(f, "{{ {} }}", fields.join(", "))
            }
            Expr::In { expr, list, negated } => {
                let not = if *negated { "not " } else { "" };
                write!(f, "({} {not}in {})", show(expr), show(list))
            }
            Expr::IsNull { expr, negated } => {
                let not = if *negated { "not " } else { "" };
                write!(f, "({} is {not}null)", show(expr))
            }
            Expr::If { cond, then, otherwise } => {
                write!(f, "(if {} then {} else {})", show(cond), show(then), show(otherwise))
            }
            Expr::Call { func, args } => {
                write!(f, "{}(", func.name())?;
                for (i, e) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", show(e))?;
                }
                f.write_str(")")
            }
        }
    }
}

/// What a program (or a test) feeds a source: records, and moves of its watermark.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedItem {
    Row(Row),
    /// A line of text, decoded like the source's input (so it can fail, to `.errors`).
    Raw {
        line: String,
        format: Format,
    },
    /// The source's watermark moves to this time (ms): later records behind it are late.
    Advance(i64),
}

/// Text formats of files, stdin and stdout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    Jsonl,
    Csv { header: bool, delimiter: u8 },
    Text,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Jsonl => f.write_str("jsonl"),
            Format::Csv { header, .. } => write!(f, "csv{}", if *header { "" } else { " (no header)" }),
            Format::Text => f.write_str("text"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourceConnector {
    /// A file, split into stripes read by all workers in turn; with `follow`, lines appended later
    /// are read too (like `tail -f`) and the source never ends.
    File { path: String, format: Format, follow: bool },
    /// Standard input, read by one worker until it ends.
    Stdin { format: Format },
    /// The Nexmark generator: `kind` is `person`, `auction` or `bid`; `events` counts all
    /// events of the model (of which 1/50 are persons, 3/50 auctions, 46/50 bids), unbounded
    /// without it; `rate` events per second of wall time (0: as fast as possible).
    Generate { kind: String, events: Option<u64>, seed: u64, rate: u64 },
    /// Fed by the embedding Rust program.
    Rust,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SinkConnector {
    /// One file (`partitioned: false`) or one part per worker (`path` + `-N` before the extension).
    File {
        path: String,
        format: Format,
        partitioned: bool,
    },
    Stdout {
        format: Format,
    },
    /// Handed to a closure of the embedding Rust program, under the stream's name.
    Rust {
        stream: String,
    },
}

#[derive(Clone, Debug)]
pub struct Sink {
    pub input: NodeId,
    pub connector: SinkConnector,
}

/// A user-defined function registered by an embedding program.
pub type UdfImpl = Arc<dyn Fn(&[Value]) -> Value + Send + Sync>;

impl Plan {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Whether sink `i` writes changes (with a `diff` field) rather than records: an updating
    /// stream in a streaming job.
    pub fn writes_changes(&self, i: usize) -> bool {
        self.streaming && self.nodes[self.sinks[i].input].updating
    }

    /// The schema of what sink `i` writes: its stream's, and `diff` when it writes changes.
    pub fn sink_schema(&self, i: usize) -> Schema {
        let mut schema = self.nodes[self.sinks[i].input].schema.clone();
        if self.writes_changes(i) {
            schema.fields.push(crate::types::Field { name: "diff".into(), ty: Type::INT });
        }
        schema
    }

    /// The node ids whose inputs include `id`.
    pub fn consumers(&self, id: NodeId) -> Vec<NodeId> {
        (0..self.nodes.len()).filter(|n| self.nodes[*n].kind.inputs().contains(&id)).collect()
    }
}

impl SourceConnector {
    /// Whether the source ends by itself.
    pub fn bounded(&self) -> bool {
        match self {
            SourceConnector::File { follow, .. } => !follow,
            SourceConnector::Stdin { .. } => false,
            SourceConnector::Generate { events, .. } => events.is_some(),
            SourceConnector::Rust => true,
        }
    }
}

impl fmt::Display for SourceConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceConnector::File { path, format, follow } => {
                write!(f, "file({path:?}, {format}{})", if *follow { ", follow" } else { "" })
            }
            SourceConnector::Stdin { format } => write!(f, "stdin({format})"),
            SourceConnector::Generate { kind, events, seed, rate } => {
                write!(f, "generate(nexmark {kind}, ")?;
                match events {
                    Some(n) => write!(f, "{n} events, ")?,
                    None => write!(f, "unbounded, ")?,
                }
                if *rate > 0 {
                    write!(f, "{rate} events/s, ")?;
                }
                write!(f, "seed {seed})")
            }
            SourceConnector::Rust => f.write_str("rust"),
        }
    }
}

impl fmt::Display for SinkConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkConnector::File { path, format, partitioned } => {
                let parts = if *partitioned { ", one part per worker" } else { "" };
                write!(f, "file({path:?}, {format}{parts})")
            }
            SinkConnector::Stdout { format } => write!(f, "stdout({format})"),
            SinkConnector::Rust { stream } => write!(f, "rust({stream})"),
        }
    }
}
