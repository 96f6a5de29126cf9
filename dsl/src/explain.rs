//! The plan as an indented tree, from each sink up to its sources: what `eddy explain` prints.

use std::fmt::{self, Write};

use crate::plan::{AggStrategy, Done, Node, NodeId, NodeKind, Plan, Step};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = vec![false; self.nodes.len()];
        for sink in &self.sinks {
            let input = &self.nodes[sink.input];
            writeln!(f, "sink {} -> {}", input.name, sink.connector)?;
            self.show_node(f, sink.input, "", &mut shown)?;
        }
        Ok(())
    }
}

impl Plan {
    fn show_node(&self, f: &mut fmt::Formatter<'_>, id: NodeId, indent: &str, shown: &mut [bool]) -> fmt::Result {
        let node = &self.nodes[id];
        let kind = if node.updating { "updating" } else { "append-only" };
        let inner = format!("{indent}   ");
        write!(f, "{indent}└─ #{id} {} '{}'  {kind}", title(node), node.name)?;
        if shown[id] {
            return writeln!(f, "  (as above)");
        }
        shown[id] = true;
        writeln!(f)?;
        for line in details(node, self) {
            writeln!(f, "{inner}{line}")?;
        }
        writeln!(f, "{inner}schema {}", node.schema)?;
        for input in node.kind.inputs() {
            self.show_node(f, input, &inner, shown)?;
        }
        Ok(())
    }
}

fn title(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::Source { .. } => "source",
        NodeKind::Errors { .. } => "errors",
        NodeKind::Late { .. } => "late",
        NodeKind::Window { .. } => "window",
        NodeKind::Windowed { .. } => "windowed",
        NodeKind::Join { outer: false, .. } => "join",
        NodeKind::Join { outer: true, .. } => "left join",
        NodeKind::Top { .. } => "top",
        NodeKind::Iterate { .. } => "iterate",
        NodeKind::Loop => "loop",
        NodeKind::Outer { .. } => "outer",
        NodeKind::Map { .. } => "map",
        NodeKind::Unnest { .. } => "unnest",
        NodeKind::Aggregate { .. } => "aggregate",
        NodeKind::Distinct { .. } => "distinct",
        NodeKind::Union { .. } => "union",
    }
}

fn details(node: &Node, plan: &Plan) -> Vec<String> {
    let input_schema = |id: &NodeId| &plan.nodes[*id].schema;
    let mut lines = Vec::new();
    match &node.kind {
        NodeKind::Source { connector, used, time, done } => {
            lines.push(format!("from {connector}"));
            match time.watermark {
                Some((f, delay)) => {
                    let mut d = String::new();
                    crate::time::write_duration(delay, &mut d);
                    let at = if time.path.is_empty() {
                        crate::plan::TimeRef::Field(f)
                    } else {
                        crate::plan::TimeRef::Path(f, time.path.clone())
                    };
                    lines.push(format!(
                        "event time {}, watermark {d} behind the largest seen",
                        time_name(at, &node.schema)
                    ));
                }
                None if !connector.bounded() => lines.push("arrival time".into()),
                None => {}
            }
            let read: Vec<&str> = node.schema.names().zip(used).filter(|(_, u)| **u).map(|(n, _)| n).collect();
            if read.len() < used.len() {
                lines.push(format!(
                    "decodes only: {}",
                    if read.is_empty() { "(no field)".into() } else { read.join(", ") }
                ));
            }
            // In a batch job every record is done when the job ends: nothing to say.
            let which = if time.watermark.is_some() { "event time" } else { "arrival time" };
            match done {
                Done::AtEnd => {}
                Done::After { hold: 0 } => lines.push(format!("done: when the sinks pass a record's {which}")),
                Done::After { hold } => {
                    lines.push(format!("done: when the sinks pass a record's {which} + {}", duration(*hold)))
                }
                Done::Never { because } => {
                    lines.push(format!("done: only at a checkpoint: {because} keeps changing its results"))
                }
            }
        }
        NodeKind::Errors { .. } => lines.push("records that failed to decode".into()),
        NodeKind::Late { .. } => lines.push("records that arrived behind the watermark".into()),
        NodeKind::Window { input, size, slide, time, .. } => {
            let (mut s, mut e) = (String::new(), String::new());
            crate::time::write_duration(*size, &mut s);
            crate::time::write_duration(*slide, &mut e);
            let by = time_name(time.clone(), input_schema(input));
            lines.push(if size == slide {
                format!("tumbling windows of {s} by {by}")
            } else {
                format!("sliding windows of {s} every {e} by {by}")
            });
        }
        NodeKind::Windowed { input, window, keys, op, lag } => {
            let schema = input_schema(input);
            let keys: Vec<String> = keys.iter().map(|k| k.show(schema).to_string()).collect();
            let per =
                if keys.is_empty() { "per window".to_string() } else { format!("per window and {}", keys.join(", ")) };
            if let crate::plan::WindowKind::Session { gap, time, .. } = window {
                let mut g = String::new();
                crate::time::write_duration(*gap, &mut g);
                lines
                    .push(format!("session windows by {}, closed after a gap of {g}", time_name(time.clone(), schema)));
            }
            match op {
                crate::plan::WindowOp::Aggregate(aggs) => {
                    lines.push(format!("{per}: aggregates {}", show_aggs(aggs, schema)))
                }
                crate::plan::WindowOp::Distinct => lines.push(format!("{per}: distinct records")),
                crate::plan::WindowOp::Top { n, by, ties } => {
                    lines.push(format!("{per}: top {n} by {}", sort_keys(by, *ties, schema)))
                }
            }
            let by = match (keys.is_empty(), op) {
                (false, _) => "key",
                (true, crate::plan::WindowOp::Distinct) => "record",
                (true, _) => "window",
            };
            lines.push(if matches!(window, crate::plan::WindowKind::Assigned { .. }) {
                format!("combined on each worker, partials exchanged by {by}; emitted {}", closing(*lag))
            } else {
                format!("exchanged by {by}; emitted {}", closing(*lag))
            });
            lines.push("state: bounded (freed when windows close)".into());
        }
        NodeKind::Map { input, steps } => {
            // Each step sees the row the previous one made.
            let mut schema = input_schema(input).clone();
            for step in steps {
                match step {
                    Step::Filter(e) => lines.push(format!("filter {}", e.show(&schema))),
                    Step::Project { exprs, schema: after } => {
                        let mut s = String::from("project ");
                        for (i, (e, field)) in exprs.iter().zip(&after.fields).enumerate() {
                            let sep = if i > 0 { ", " } else { "" };
                            let _ = write!(s, "{sep}{}: {}", field.name, e.show(&schema));
                        }
                        lines.push(s);
                        schema = after.clone();
                    }
                }
            }
        }
        NodeKind::Unnest { input, list } => {
            lines.push(format!("one record per element of {}", list.show(input_schema(input))))
        }
        NodeKind::Aggregate { input, keys, aggs, strategy } => {
            let schema = input_schema(input);
            let keys: Vec<String> = keys.iter().map(|k| k.show(schema).to_string()).collect();
            let aggs = show_aggs(aggs, schema);
            let (group, to) = if keys.is_empty() {
                ("one group (no key)".to_string(), "to one worker")
            } else {
                (format!("group by {}", keys.join(", ")), "by key")
            };
            lines.push(match strategy {
                AggStrategy::InPlace => {
                    format!("{group}; combined on each worker, partials exchanged {to}, merged per group in place")
                }
                AggStrategy::CombineThenReduce => {
                    format!("{group}; combined on each worker, partials exchanged {to}, merged by differential's reduce")
                }
                AggStrategy::Reduce => format!(
                    "{group}; updating input: each change exchanged {to} (no local combining), groups recomputed by differential's reduce"
                ),
            });
            lines.push(format!("aggregates {aggs}"));
            lines.push("state: unbounded (kept for every key)".into());
        }
        NodeKind::Distinct { input, keys } => {
            lines.push("state: unbounded (kept for every record)".into());
            if keys.is_empty() {
                lines.push("exchanged by the whole record".into());
            } else {
                let keys: Vec<String> = keys.iter().map(|k| k.show(input_schema(input)).to_string()).collect();
                lines.push(format!("by {}; exchanged by key", keys.join(", ")));
            }
        }
        NodeKind::Union { .. } => {}
        NodeKind::Join { left, right, left_keys, right_keys, predicate, kind, symmetric, .. } => {
            let (ls, rs) = (input_schema(left), input_schema(right));
            let on: Vec<String> =
                left_keys.iter().zip(right_keys).map(|(l, r)| format!("{} == {}", l.show(ls), r.show(rs))).collect();
            // The predicate is over the joined row, whose names are the join's own.
            let filter =
                predicate.as_ref().map_or(String::new(), |p| format!("; where {}", conditions(p, &node.schema)));
            lines.push(format!("on {}{filter}; both sides exchanged by key", on.join(" and ")));
            lines.push(match kind {
                crate::plan::JoinKind::Incremental if *symmetric => {
                    "incremental, both sides append-only: a symmetric hash join (each match emitted once, when its second record arrives); every record is kept; state: unbounded".to_string()
                }
                crate::plan::JoinKind::Incremental => {
                    "incremental: differential's join over both sides' arrangements (a change retracts what it replaces); every record is kept; state: unbounded".to_string()
                }
                crate::plan::JoinKind::Windowed { lag, .. } => {
                    let freed = if *lag == 0 { "when it closes".to_string() } else { closing(*lag) };
                    format!("windowed: both sides have the same windows; a window's records meet, then are freed {freed}; state: bounded")
                }
                crate::plan::JoinKind::Interval { within, left_time, right_time, lag } => {
                    let d = duration(*within);
                    let (l, r) = (time_name(crate::plan::TimeRef::Field(*left_time), ls), time_name(crate::plan::TimeRef::Field(*right_time), rs));
                    let lagging = if *lag > 0 { format!(" (and {})", duration(*lag)) } else { String::new() };
                    format!("interval: {l} and {r} at most {d} apart; records are freed once the watermark is {d}{lagging} past them; state: bounded")
                }
            });
        }
        NodeKind::Iterate { max, body, result, .. } => {
            lines.push(format!("until nothing changes, at most {max} rounds; the body, from its result:"));
            body_lines(body, *result, "  ", &mut lines);
        }
        NodeKind::Loop => lines.push("the loop variable: the input, then the body's last result".into()),
        NodeKind::Outer { node } => lines.push(format!("#{node}, entered into the loop")),
        NodeKind::Top { input, keys, n, by, ties } => {
            let schema = input_schema(input);
            let keys: Vec<String> = keys.iter().map(|k| k.show(schema).to_string()).collect();
            let per = if keys.is_empty() { String::new() } else { format!(" per {}", keys.join(", ")) };
            lines.push(format!("top {n} by {}{per}; exchanged by key", sort_keys(by, *ties, schema)));
            lines.push("state: unbounded (kept for every record)".into());
        }
    }
    lines
}

/// A join's predicate as its conditions were written: its top-level `and`s without parentheses.
fn conditions(p: &crate::plan::Expr, schema: &crate::types::Schema) -> String {
    match p {
        crate::plan::Expr::And(a, b) => format!("{} and {}", conditions(a, schema), conditions(b, schema)),
        p => p.show(schema).to_string(),
    }
}

/// The words after `top N by`: the sort keys with their orders, and `with ties`.
fn sort_keys(by: &[(crate::plan::Expr, bool)], ties: bool, schema: &crate::types::Schema) -> String {
    let keys: Vec<String> =
        by.iter().map(|(e, desc)| format!("{}{}", e.show(schema), if *desc { " desc" } else { "" })).collect();
    format!("{}{}", keys.join(", "), if ties { " with ties" } else { "" })
}

fn show_aggs(aggs: &[crate::plan::Agg], schema: &crate::types::Schema) -> String {
    let shown: Vec<String> = aggs
        .iter()
        .map(|a| format!("{}({})", a.func.name(), a.arg.as_ref().map_or(String::new(), |e| e.show(schema).to_string())))
        .collect();
    shown.join(", ")
}

/// When a window closes: when the watermark passes its end, later when its input's event times
/// lag behind (see `plan::Lag`).
fn closing(lag: crate::plan::Lag) -> String {
    match lag {
        0 => "when the watermark passes a window's end".into(),
        crate::plan::Lag::MAX => {
            "when the input ends (its event times, the starts of sessions, have no bound on how late they come)".into()
        }
        lag => format!(
            "when the watermark passes a window's end by {} (its input's event times, window starts, come that late)",
            duration(lag)
        ),
    }
}

fn duration(ms: i64) -> String {
    let mut d = String::new();
    crate::time::write_duration(ms, &mut d);
    d
}

fn time_name(time: crate::plan::TimeRef, schema: &crate::types::Schema) -> String {
    match time {
        crate::plan::TimeRef::Field(f) => schema.fields.get(f).map_or(format!("#{f}"), |f| f.name.clone()),
        crate::plan::TimeRef::Path(f, path) => {
            let Some(field) = schema.fields.get(f) else { return format!("#{f}") };
            let (mut name, mut ty) = (field.name.clone(), &field.ty);
            for i in path {
                let crate::types::Base::Record(r) = &ty.base else { break };
                let Some(sub) = r.fields.get(i) else { break };
                name = format!("{name}.{}", sub.name);
                ty = &sub.ty;
            }
            name
        }
        crate::plan::TimeRef::Arrival => "arrival time".into(),
    }
}

/// An iterate body as an indented tree of its own nodes (`~id`).
fn body_lines(body: &[Node], id: NodeId, indent: &str, lines: &mut Vec<String>) {
    let node = &body[id];
    let kind = if node.updating { "updating" } else { "append-only" };
    lines.push(format!("{indent}└─ ~{id} {}  {kind}", title(node)));
    let inner = format!("{indent}   ");
    // Details name fields through the body's own schemas.
    let plan = Plan { nodes: body.to_vec(), sinks: Vec::new(), streaming: false };
    for line in details(node, &plan) {
        lines.push(format!("{inner}{line}"));
    }
    lines.push(format!("{inner}schema {}", node.schema));
    if let NodeKind::Outer { .. } = node.kind {
        return;
    }
    for input in node.kind.inputs() {
        body_lines(body, input, &inner, lines);
    }
}
