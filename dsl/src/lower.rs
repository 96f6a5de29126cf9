//! `lower`: the checked pipeline → a plan. Consecutive row-by-row stages are fused into one
//! `Map`, and every source learns which of its fields are read, so decoders can skip the rest.

use std::collections::HashMap;

use crate::check::{Checked, Input, StageKind as Kind, Stream};
use crate::connectors::errors_schema;
use crate::functions::{Builtin, Function};
use crate::plan::Expr;
use crate::plan::{AggStrategy, Done, JoinKind, Lag, Node, NodeId, NodeKind, Plan, Sink, Step, WindowKind, WindowOp};
use crate::types::{Base, Schema};

/// Lowers a checked pipeline to a plan.
pub fn lower(checked: &Checked) -> Plan {
    let mut lowering = Lowering { checked, nodes: Vec::new(), memo: HashMap::new(), body: None };
    let sinks =
        checked.sinks.iter().map(|s| Sink { input: lowering.input(s.input), connector: s.connector.clone() }).collect();
    let streaming = checked.sources.iter().any(|s| !s.connector.bounded());
    let mut plan = Plan { nodes: lowering.nodes, sinks, streaming };
    mark_used_fields(&mut plan);
    mark_done(&mut plan);
    plan
}

/// Works out when each source's records are done (`Done`): walking back from the sinks, each
/// node learns the longest hold on the way from it to any sink.
fn mark_done(plan: &mut Plan) {
    // For each node: the longest hold after it, or why it never ends; `None`: no sink reads it.
    let mut after: Vec<Option<Result<i64, String>>> = vec![None; plan.nodes.len()];
    let longer = |slot: &mut Option<Result<i64, String>>, hold: Result<i64, String>| {
        *slot = Some(match (slot.take(), hold) {
            (Some(Err(why)), _) | (_, Err(why)) => Err(why),
            (Some(Ok(a)), Ok(b)) => Ok(a.max(b)),
            (None, Ok(b)) => Ok(b),
        });
    };
    for sink in &plan.sinks {
        longer(&mut after[sink.input], Ok(0));
    }
    for id in (0..plan.nodes.len()).rev() {
        let Some(later) = after[id].clone() else { continue };
        let node = &plan.nodes[id];
        let through = later.and_then(|h| held(node).map(|mine| h.saturating_add(mine)));
        for input in node.kind.inputs() {
            longer(&mut after[input], through.clone());
        }
    }
    let streaming = plan.streaming;
    for (node, after) in plan.nodes.iter_mut().zip(after) {
        if let NodeKind::Source { done, .. } = &mut node.kind {
            *done = match after {
                _ if !streaming => Done::AtEnd,
                None => Done::After { hold: 0 },
                Some(Ok(hold)) => Done::After { hold },
                Some(Err(because)) => Done::Never { because },
            };
        }
    }
}

/// How long `node` may hold a record before its last result for it goes on (ms), or why it
/// never lets go.
fn held(node: &Node) -> Result<i64, String> {
    let never = |what: &str| Err(format!("{what} ('{}')", node.name));
    let lag = |lag: Lag| if lag == Lag::MAX { never("windows over session results") } else { Ok(lag) };
    match &node.kind {
        // A window's results carry its last millisecond, before `size` after any of its records.
        NodeKind::Window { size, .. } => Ok(*size),
        NodeKind::Windowed { window: WindowKind::Session { .. }, .. } => never("session windows"),
        NodeKind::Windowed { lag: l, .. } => lag(*l),
        NodeKind::Join { kind: JoinKind::Windowed { lag: l, .. }, .. } => lag(*l),
        NodeKind::Join { kind: JoinKind::Interval { within, lag: l, .. }, .. } => {
            lag(*l).map(|l| l.saturating_add(*within))
        }
        NodeKind::Join { .. } => never("a join without windows or `within`"),
        NodeKind::Aggregate { .. } => never("an aggregate without windows"),
        NodeKind::Distinct { .. } => never("distinct without windows"),
        NodeKind::Top { .. } => never("top without windows"),
        NodeKind::Iterate { .. } => never("iterate"),
        _ => Ok(0),
    }
}

struct Lowering<'a> {
    checked: &'a Checked,
    nodes: Vec<Node>,
    memo: HashMap<Input, NodeId>,
    /// When lowering an iterate body: the loop's schema, and the enclosing nodes it reads.
    body: Option<(Schema, Enclosing)>,
}

/// The enclosing nodes an iterate body reads, with their schemas.
type Enclosing = HashMap<Input, (NodeId, Schema)>;

impl Lowering<'_> {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn input(&mut self, input: Input) -> NodeId {
        if let Some(id) = self.memo.get(&input) {
            return *id;
        }
        if let Some((looped, outer)) = &self.body {
            let node = match input {
                Input::Loop => {
                    Node { name: "loop".into(), kind: NodeKind::Loop, schema: looped.clone(), updating: true }
                }
                _ => {
                    let (id, schema) = outer[&input].clone();
                    Node { name: "outer".into(), kind: NodeKind::Outer { node: id }, schema, updating: true }
                }
            };
            let id = self.push(node);
            self.memo.insert(input, id);
            return id;
        }
        let id = match input {
            Input::Loop => unreachable!("check: loop only inside iterate bodies"),
            Input::Source(s) => {
                let source = &self.checked.sources[s];
                let used = vec![false; source.schema.len()];
                self.push(Node {
                    name: source.name.clone(),
                    kind: NodeKind::Source {
                        connector: source.connector.clone(),
                        used,
                        time: source.time.clone(),
                        done: Done::AtEnd,
                    },
                    schema: source.schema.clone(),
                    updating: false,
                })
            }
            Input::Errors(s) => {
                let source = self.input(Input::Source(s));
                let name = format!("{}.errors", self.checked.sources[s].name);
                self.push(Node { name, kind: NodeKind::Errors { source }, schema: errors_schema(), updating: false })
            }
            Input::Late(s) => {
                let source = self.input(Input::Source(s));
                let name = format!("{}.late", self.checked.sources[s].name);
                let schema = self.checked.sources[s].schema.clone();
                self.push(Node { name, kind: NodeKind::Late { source }, schema, updating: false })
            }
            Input::Stream(i) => self.stream(i),
        };
        self.memo.insert(input, id);
        id
    }

    /// An input of a union whose ints must become floats (the union's type) gets a map that
    /// converts them, so that equal numbers are equal records.
    fn widen(&mut self, input: NodeId, schema: &Schema, name: &str) -> NodeId {
        let fields = &self.nodes[input].schema.fields;
        let widen = |i: usize| fields[i].ty.base == Base::Int && schema.fields[i].ty.base == Base::Float;
        if !(0..fields.len().min(schema.len())).any(widen) {
            return input;
        }
        let exprs = (0..fields.len())
            .map(|i| {
                let field = Expr::Field(i);
                if widen(i) {
                    Expr::Call { func: Function::Builtin(Builtin::Float), args: vec![field] }
                } else {
                    field
                }
            })
            .collect();
        let steps = vec![Step::Project { exprs, schema: schema.clone() }];
        let updating = self.nodes[input].updating;
        self.push(Node {
            name: name.to_string(),
            kind: NodeKind::Map { input, steps },
            schema: schema.clone(),
            updating,
        })
    }

    fn stream(&mut self, i: usize) -> NodeId {
        let checked = self.checked;
        self.stages(&checked.streams[i])
    }

    fn stages(&mut self, stream: &Stream) -> NodeId {
        let mut current = self.input(stream.input);
        // The id of a `Map` this stream created and may still extend.
        let mut open_map: Option<NodeId> = None;
        for stage in &stream.stages {
            let updating = self.nodes[current].updating;
            let step = match &stage.kind {
                Kind::Filter(e) => Some(Step::Filter(e.clone())),
                Kind::Project(exprs) => Some(Step::Project { exprs: exprs.clone(), schema: stage.schema.clone() }),
                _ => None,
            };
            if let Some(step) = step {
                match open_map {
                    Some(id) => {
                        if let NodeKind::Map { steps, .. } = &mut self.nodes[id].kind {
                            steps.push(step);
                        }
                        self.nodes[id].schema = stage.schema.clone();
                    }
                    None => {
                        let kind = NodeKind::Map { input: current, steps: vec![step] };
                        current =
                            self.push(Node { name: stream.name.clone(), kind, schema: stage.schema.clone(), updating });
                        open_map = Some(current);
                    }
                }
                continue;
            }
            open_map = None;
            let (kind, updating) = match &stage.kind {
                Kind::Unnest(list) => (NodeKind::Unnest { input: current, list: list.clone() }, updating),
                Kind::Aggregate { keys, aggs } => {
                    let strategy = match (updating, self.body.is_some()) {
                        (true, _) => AggStrategy::Reduce,
                        (false, true) => AggStrategy::CombineThenReduce,
                        (false, false) => AggStrategy::InPlace,
                    };
                    (NodeKind::Aggregate { input: current, keys: keys.clone(), aggs: aggs.clone(), strategy }, true)
                }
                Kind::Distinct { keys } => (NodeKind::Distinct { input: current, keys: keys.clone() }, true),
                Kind::Union(others) => {
                    let mut inputs = vec![current];
                    inputs.extend(others.iter().map(|o| self.input(*o)));
                    let inputs: Vec<NodeId> =
                        inputs.into_iter().map(|i| self.widen(i, &stage.schema, &stream.name)).collect();
                    let updating = inputs.iter().any(|n| self.nodes[*n].updating);
                    (NodeKind::Union { inputs }, updating)
                }
                Kind::Join { other, left_keys, right_keys, right_fields, predicate, outer, kind } => {
                    let right = self.input(*other);
                    let append_only = !updating && !self.nodes[right].updating;
                    let symmetric = *kind == JoinKind::Incremental && append_only && !outer && self.body.is_none();
                    let node = NodeKind::Join {
                        left: current,
                        right,
                        left_keys: left_keys.clone(),
                        right_keys: right_keys.clone(),
                        right_fields: right_fields.clone(),
                        predicate: predicate.clone(),
                        outer: *outer,
                        kind: *kind,
                        symmetric,
                    };
                    let updating = *kind == JoinKind::Incremental || updating || self.nodes[right].updating;
                    (node, updating)
                }
                Kind::Iterate { max, body } => {
                    // What the body reads from outside is lowered out here, and entered.
                    let mut outer = HashMap::new();
                    for input in reads(body) {
                        if input != Input::Loop {
                            let id = self.input(input);
                            outer.insert(input, (id, self.nodes[id].schema.clone()));
                        }
                    }
                    let looped = self.nodes[current].schema.clone();
                    let mut inner = Lowering {
                        checked: self.checked,
                        nodes: Vec::new(),
                        memo: HashMap::new(),
                        body: Some((looped, outer)),
                    };
                    let result = inner.stages(body);
                    (NodeKind::Iterate { input: current, max: *max, body: inner.nodes, result }, true)
                }
                Kind::Top { keys, n, by, ties } => {
                    let (n, by, ties) = (*n, by.clone(), *ties);
                    (NodeKind::Top { input: current, keys: keys.clone(), n, by, ties }, true)
                }
                Kind::Window { size, slide, time, replace } => {
                    let kind = NodeKind::Window {
                        input: current,
                        size: *size,
                        slide: *slide,
                        time: time.clone(),
                        replace: *replace,
                    };
                    (kind, updating)
                }
                Kind::Windowed { window, keys, op, lag } => {
                    let (window, keys, op, lag) = (window.clone(), keys.clone(), op.clone(), *lag);
                    let kind = NodeKind::Windowed { input: current, window, keys, op, lag };
                    (kind, false)
                }
                Kind::Filter(_) | Kind::Project(_) => unreachable!("handled above"),
            };
            current = self.push(Node { name: stream.name.clone(), kind, schema: stage.schema.clone(), updating });
        }
        current
    }
}

/// Works backwards from the sinks to find which fields of each node are read, and records
/// the answer for sources.
fn mark_used_fields(plan: &mut Plan) {
    let mut needed: Vec<Vec<bool>> = plan.nodes.iter().map(|n| vec![false; n.schema.len()]).collect();
    for sink in &plan.sinks {
        needed[sink.input].iter_mut().for_each(|b| *b = true);
    }
    for id in (0..plan.nodes.len()).rev() {
        let out = needed[id].clone();
        let node = &plan.nodes[id];
        let mut need = |input: NodeId, field: usize| {
            if let Some(b) = needed[input].get_mut(field) {
                *b = true;
            }
        };
        match &node.kind {
            NodeKind::Source { .. } | NodeKind::Errors { .. } => {}
            NodeKind::Join { left, right, left_keys, right_keys, right_fields, predicate, kind, .. } => {
                let n = plan.nodes[*left].schema.len();
                // A field of the joined row comes from the left side, or from the right one.
                let mut joined = |f: usize| {
                    if f < n {
                        need(*left, f);
                    } else if let Some(r) = right_fields.get(f - n) {
                        need(*right, *r);
                    }
                };
                (0..out.len()).filter(|f| out[*f]).for_each(&mut joined);
                if let Some(p) = predicate {
                    p.visit_fields(&mut joined);
                }
                left_keys.iter().for_each(|k| k.visit_fields(&mut |f| need(*left, f)));
                right_keys.iter().for_each(|k| k.visit_fields(&mut |f| need(*right, f)));
                match kind {
                    JoinKind::Incremental => {}
                    JoinKind::Windowed { left_end, right_end, .. } => {
                        need(*left, *left_end);
                        need(*right, *right_end);
                    }
                    JoinKind::Interval { left_time, right_time, .. } => {
                        need(*left, *left_time);
                        need(*right, *right_time);
                    }
                }
            }
            NodeKind::Top { input, .. } => (0..plan.nodes[*input].schema.len()).for_each(|f| need(*input, f)),
            // The loop's records and whatever its body reads from outside are kept whole.
            NodeKind::Iterate { .. } => {
                for i in node.kind.inputs() {
                    (0..plan.nodes[i].schema.len()).for_each(|f| need(i, f));
                }
            }
            NodeKind::Loop | NodeKind::Outer { .. } => {}
            NodeKind::Late { source } => {
                // Late records are the source's own records.
                for (f, w) in out.iter().enumerate() {
                    if *w {
                        need(*source, f);
                    }
                }
            }
            NodeKind::Window { input, time, .. } => {
                // (Overwritten window fields are not read, but the time is.)
                let n = plan.nodes[*input].schema.len();
                for (f, w) in out.iter().enumerate().take(n) {
                    if *w {
                        need(*input, f);
                    }
                }
                if let Some(f) = time.field() {
                    need(*input, f);
                }
            }
            NodeKind::Windowed { input, window, keys, op, .. } => {
                keys.iter().for_each(|k| k.visit_fields(&mut |f| need(*input, f)));
                match window {
                    WindowKind::Assigned { start, end } => {
                        need(*input, *start);
                        need(*input, *end);
                    }
                    WindowKind::Session { time, .. } => {
                        if let Some(f) = time.field() {
                            need(*input, f);
                        }
                    }
                }
                match op {
                    WindowOp::Aggregate(aggs) => {
                        aggs.iter().flat_map(|a| &a.arg).for_each(|a| a.visit_fields(&mut |f| need(*input, f)))
                    }
                    WindowOp::Distinct | WindowOp::Top { .. } => {
                        (0..plan.nodes[*input].schema.len()).for_each(|f| need(*input, f))
                    }
                }
            }
            NodeKind::Map { input, steps } => {
                let mut want = out;
                for step in steps.iter().rev() {
                    match step {
                        Step::Filter(e) => e.visit_fields(&mut |f| {
                            if let Some(b) = want.get_mut(f) {
                                *b = true;
                            } else {
                                want.resize(f + 1, false);
                                want[f] = true;
                            }
                        }),
                        Step::Project { exprs, .. } => {
                            let mut before = Vec::new();
                            for (e, wanted) in exprs.iter().zip(want.iter()) {
                                if *wanted {
                                    e.visit_fields(&mut |f| {
                                        if before.len() <= f {
                                            before.resize(f + 1, false);
                                        }
                                        before[f] = true;
                                    });
                                }
                            }
                            want = before;
                        }
                    }
                }
                for (f, w) in want.iter().enumerate() {
                    if *w {
                        need(*input, f);
                    }
                }
            }
            NodeKind::Unnest { input, list } => {
                for (f, w) in out.iter().enumerate().take(out.len().saturating_sub(1)) {
                    if *w {
                        need(*input, f);
                    }
                }
                list.visit_fields(&mut |f| need(*input, f));
            }
            NodeKind::Aggregate { input, keys, aggs, .. } => {
                keys.iter().for_each(|k| k.visit_fields(&mut |f| need(*input, f)));
                aggs.iter().flat_map(|a| &a.arg).for_each(|a| a.visit_fields(&mut |f| need(*input, f)));
            }
            NodeKind::Distinct { input, .. } => {
                // The whole record is compared (and kept).
                let n = plan.nodes[*input].schema.len();
                (0..n).for_each(|f| need(*input, f));
            }
            NodeKind::Union { inputs } => {
                for input in inputs {
                    for (f, w) in out.iter().enumerate() {
                        if *w {
                            need(*input, f);
                        }
                    }
                }
            }
        }
    }
    for (id, node) in plan.nodes.iter_mut().enumerate() {
        if let NodeKind::Source { used, time, .. } = &mut node.kind {
            *used = needed[id].clone();
            if let Some((f, _)) = time.watermark {
                used[f] = true;
            }
        }
    }
}

/// The inputs a (body) stream reads: its input and what its stages union and join with.
fn reads(stream: &Stream) -> Vec<Input> {
    let mut inputs = vec![stream.input];
    for stage in &stream.stages {
        match &stage.kind {
            Kind::Union(others) => inputs.extend(others.iter().copied()),
            Kind::Join { other, .. } => inputs.push(*other),
            _ => {}
        }
    }
    inputs
}

#[cfg(test)]
mod tests {
    use crate::check::Options;
    use crate::plan::{Done, NodeKind};

    /// When each source of `src` is done, by source name.
    fn done(src: &str) -> Vec<(String, Done)> {
        let options = Options { check_files: false, ..Options::default() };
        let (plan, _) = crate::compile(src, &options).unwrap_or_else(|d| panic!("{d:?}"));
        plan.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Source { done, .. } => Some((n.name.clone(), done.clone())),
                _ => None,
            })
            .collect()
    }

    const E: &str = "schema E { k: string, t: timestamp }\n";

    #[test]
    fn a_record_is_done_after_the_longest_hold_on_its_way_to_a_sink() {
        let src = format!(
            "{E}source a: E = stdin() watermark t - 1s\nsource b: E = stdin() watermark t - 1s\n\
             stream w = a | window tumbling(10s) | group by k | aggregate {{ n: count() }}\n\
             stream j = a | join b on k == k within 3s | select {{ k: a.k }}\n\
             stream s = b | filter k != \"x\"\n\
             sink w -> stdout()\nsink j -> stdout()\nsink s -> stdout()\n"
        );
        // a: through its window (10s) or the interval join (3s); b: the join, or nothing.
        assert_eq!(done(&src), [("a".into(), Done::After { hold: 10_000 }), ("b".into(), Done::After { hold: 3_000 })]);
    }

    #[test]
    fn state_kept_for_ever_or_a_batch_job_decides() {
        let src = format!(
            "{E}source a: E = stdin() watermark t - 1s\nsource b: E = stdin()\n\
             stream c = a | group by k | aggregate {{ n: count() }}\n\
             stream s = b | window session(gap: 5s) | group by k | aggregate {{ n: count() }}\n\
             sink c -> stdout()\nsink s -> stdout()\n"
        );
        let never = |why: &str| Done::Never { because: why.into() };
        assert_eq!(
            done(&src),
            [("a".into(), never("an aggregate without windows ('c')")), ("b".into(), never("session windows ('s')"))]
        );
        let batch = format!("{E}source a: E = file(\"a.jsonl\")\nstream c = a | distinct\nsink c -> stdout()\n");
        assert_eq!(done(&batch), [("a".into(), Done::AtEnd)]);
    }
}
