//! Text → `ast::File` with pest (`grammar/eddy.pest`): one builder fn per grammar rule
//! (here), literals (`literal.rs`), and pest's errors turned into friendly diagnostics, every
//! one of them (`syntax_error.rs`).

mod literal;
mod syntax_error;
#[cfg(test)]
mod tests;

use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::span::{Span, Spanned};
use crate::value::Value;
use syntax_error::syntax_errors;

#[derive(Parser)]
#[grammar = "../grammar/eddy.pest"]
struct EddyParser;

/// Parses a pipeline file; on failure, every syntax error, or the bad literals, as diagnostics.
pub fn parse(src: &str) -> Result<File, Vec<Diagnostic>> {
    let mut pairs = EddyParser::parse(Rule::file, src).map_err(|e| syntax_errors(src, e))?;
    let file = pairs.next().expect("grammar: `file` is the only top-level pair");
    let mut b = Builder::default();
    let decls = children(file).map(|d| b.decl(d)).collect();
    if b.diags.is_empty() {
        Ok(File { decls })
    } else {
        Err(b.diags)
    }
}

type P<'i> = Pair<'i, Rule>;

/// The pair's byte range. pest's own end can include the layout skipped before a trailing
/// optional part that then did not match (`bids\n  ` in `bids\n  | filter`), so the end is
/// taken from the last token inside instead: every grammar literal sits in a leaf rule.
fn span(p: &P) -> Span {
    let mut last = p.clone();
    while let Some(child) = last.clone().into_inner().last() {
        last = child;
    }
    Span::new(p.as_span().start(), last.as_span().end())
}

/// Keywords and punctuation: they carry no information the builders need.
fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        kw_schema
            | kw_param
            | kw_source
            | kw_stream
            | kw_sink
            | kw_test
            | kw_filter
            | kw_select
            | kw_derive
            | kw_unnest
            | kw_window
            | kw_group
            | kw_by
            | kw_aggregate
            | kw_join
            | kw_on
            | kw_within
            | kw_union
            | kw_distinct
            | kw_top
            | kw_watermark
            | kw_iterate
            | kw_and
            | kw_or
            | kw_not
            | kw_in
            | kw_is
            | kw_null
            | kw_if
            | kw_then
            | kw_else
            | kw_as
            | kw_left
            | kw_max
            | kw_desc
            | kw_asc
            | kw_with
            | kw_ties
            | kw_given
            | kw_expect
            | kw_advance
            | kw_to
            | kw_tumbling
            | kw_sliding
            | kw_session
            | kw_every
            | kw_gap
            | comma
            | colon
            | dot
            | assign
            | bar
            | arrow
            | minus
            | lbrace
            | rbrace
            | lparen
            | rparen
            | lbracket
            | rbracket
            | langle
            | rangle
            | neg
            | EOI
    )
}

/// The meaningful children of a pair: everything but keyword and punctuation tokens.
fn children<'i>(p: P<'i>) -> impl Iterator<Item = P<'i>> {
    p.into_inner().filter(|c| !is_token(c.as_rule()))
}

/// The next meaningful child, which the grammar guarantees (`what` names the rule).
fn next<'i>(it: &mut impl Iterator<Item = P<'i>>, what: &str) -> P<'i> {
    it.next().unwrap_or_else(|| panic!("grammar guarantees {what}"))
}

/// How deeply expressions (and `iterate` bodies) may nest, counting every level of the tree
/// the checker, `lower`, `explain` and the evaluator walk recursively: each parenthesis,
/// call, list, `if`, `not`, unary minus and comparison, and each operator of a chain
/// (`a + b + c` is two levels: it folds into `(a + b) + c`). The evaluator runs on timely's
/// worker threads, which have the default 2 MiB stack, as do test threads; the limit keeps
/// every pass far inside that (see the test `deepest_expressions_fit_a_worker_stack`). pest
/// copes with about ten times more. No real pipeline comes close.
pub const MAX_DEPTH: usize = 100;

/// Builds the AST, collecting literal errors instead of stopping at the first.
#[derive(Default)]
struct Builder {
    diags: Vec<Diagnostic>,
    depth: usize,
}

impl Builder {
    /// Runs `build` one level deeper, or reports the nesting (once) when it is too deep.
    fn nested<T>(&mut self, sp: Span, fallback: T, build: impl FnOnce(&mut Self) -> T) -> T {
        self.nested_by(1, sp, fallback, build)
    }

    /// Runs `build` `levels` deeper (an operator chain adds a level per operator), or reports
    /// the nesting (once) when that is too deep, without building the tree.
    fn nested_by<T>(&mut self, levels: usize, sp: Span, fallback: T, build: impl FnOnce(&mut Self) -> T) -> T {
        if self.depth + levels > MAX_DEPTH {
            if !self.diags.iter().any(|d| d.message.starts_with("nested too deeply")) {
                self.diags.push(
                    Diagnostic::error(sp, format!("nested too deeply (more than {MAX_DEPTH} levels)"))
                        .label("this is nested too deeply")
                        .help("split the expression into several derive stages; for a long `or` of equalities, write `x in [a, b, ...]`"),
                );
            }
            return fallback;
        }
        self.depth += levels;
        let built = build(self);
        self.depth -= levels;
        built
    }

    // --- declarations -------------------------------------------------------------------

    fn decl(&mut self, p: P) -> Decl {
        // grammar: decl = { schema_decl | param_decl | ... }, exactly one child.
        let d = next(&mut children(p), "decl: one declaration");
        match d.as_rule() {
            Rule::schema_decl => Decl::Schema(self.schema_decl(d)),
            Rule::param_decl => Decl::Param(self.param_decl(d)),
            Rule::source_decl => Decl::Source(self.source_decl(d)),
            Rule::stream_decl => Decl::Stream(self.stream_decl(d)),
            Rule::sink_decl => Decl::Sink(self.sink_decl(d)),
            Rule::test_decl => Decl::Test(self.test_decl(d)),
            r => unreachable!("grammar: decl has no {r:?}"),
        }
    }

    fn schema_decl(&mut self, p: P) -> SchemaDecl {
        let sp = span(&p);
        let mut it = children(p);
        let name = ident(next(&mut it, "schema_decl: name"));
        let fields = it.map(|f| self.field_decl(f)).collect();
        SchemaDecl { name, fields, span: sp }
    }

    fn field_decl(&mut self, p: P) -> FieldDecl {
        let mut it = children(p);
        let name = ident(next(&mut it, "field_decl: label"));
        let ty = self.type_expr(next(&mut it, "field_decl: type"));
        FieldDecl { name, ty }
    }

    fn param_decl(&mut self, p: P) -> ParamDecl {
        let sp = span(&p);
        let mut it = children(p);
        let name = ident(next(&mut it, "param_decl: name"));
        let ty = self.type_expr(next(&mut it, "param_decl: type"));
        let default = self.expr(next(&mut it, "param_decl: default"));
        ParamDecl { name, ty, default, span: sp }
    }

    fn source_decl(&mut self, p: P) -> SourceDecl {
        let sp = span(&p);
        let mut it = children(p);
        let name = ident(next(&mut it, "source_decl: name"));
        let mut schema = None;
        let mut connector = None;
        let mut watermark = None;
        for c in it {
            match c.as_rule() {
                Rule::ident => schema = Some(ident(c)),
                Rule::connector => connector = Some(self.connector(c)),
                Rule::watermark => watermark = Some(self.watermark(c)),
                r => unreachable!("grammar: source_decl has no {r:?}"),
            }
        }
        let connector = connector.expect("grammar: source_decl has a connector");
        SourceDecl { name, schema, connector, watermark, span: sp }
    }

    fn watermark(&mut self, p: P) -> Watermark {
        let sp = span(&p);
        let mut it = children(p);
        let field = ident(next(&mut it, "watermark: field"));
        let mut path = Vec::new();
        let delay = loop {
            let p = next(&mut it, "watermark: path or delay");
            match p.as_rule() {
                Rule::label => path.push(ident(p)),
                _ => break self.term(p),
            }
        };
        Watermark { field, path, delay, span: sp }
    }

    fn connector(&mut self, p: P) -> Connector {
        let sp = span(&p);
        let mut it = children(p);
        let name = ident(next(&mut it, "connector: name"));
        let mut args: Vec<Arg> = Vec::new();
        for a in it {
            let arg = self.arg(a);
            if arg.name.is_none() {
                if let Some(named) = args.iter().find_map(|a| a.name.as_ref()) {
                    self.diags.push(
                        Diagnostic::error(arg.value.span, "positional argument after a named one")
                            .label("this argument has no name")
                            .related(named.span, "named argument")
                            .help("put positional arguments first"),
                    );
                }
            }
            args.push(arg);
        }
        Connector { name, args, span: sp }
    }

    fn arg(&mut self, p: P) -> Arg {
        let mut it = children(p);
        let first = next(&mut it, "arg: label or value");
        if first.as_rule() == Rule::label {
            let value = self.expr(next(&mut it, "arg: value after label"));
            Arg { name: Some(ident(first)), value }
        } else {
            Arg { name: None, value: self.expr(first) }
        }
    }

    fn stream_decl(&mut self, p: P) -> StreamDecl {
        let sp = span(&p);
        let mut it = children(p);
        let name = ident(next(&mut it, "stream_decl: name"));
        let pipe = self.pipe(next(&mut it, "stream_decl: pipe"));
        StreamDecl { name, pipe, span: sp }
    }

    fn pipe(&mut self, p: P) -> Pipe {
        let sp = span(&p);
        let mut it = children(p);
        let input = stream_ref(next(&mut it, "pipe: input"));
        let empty = Pipe { input: input.clone(), stages: Vec::new(), span: sp };
        self.nested(sp, empty, |b| {
            let stages = it.map(|s| b.stage(s)).collect();
            Pipe { input, stages, span: sp }
        })
    }

    fn sink_decl(&mut self, p: P) -> SinkDecl {
        let sp = span(&p);
        let mut it = children(p);
        let input = stream_ref(next(&mut it, "sink_decl: input"));
        let connector = self.connector(next(&mut it, "sink_decl: connector"));
        SinkDecl { input, connector, span: sp }
    }

    fn test_decl(&mut self, p: P) -> TestDecl {
        let sp = span(&p);
        let mut it = children(p);
        let name_pair = next(&mut it, "test_decl: name");
        let name = Spanned::new(self.string_text(&name_pair), span(&name_pair));
        let mut steps = Vec::new();
        for clause in it {
            let rule = clause.as_rule();
            let (stream, value) = self.test_clause(clause);
            steps.push(match rule {
                Rule::test_given => TestStep::Given(stream, value),
                Rule::test_advance => TestStep::Advance(stream, value),
                _ => TestStep::Expect(stream, value),
            });
        }
        TestDecl { name, steps, span: sp }
    }

    /// `test_given`, `test_advance` and `test_expect` have the same shape: a stream, a value.
    fn test_clause(&mut self, p: P) -> (StreamRef, Expr) {
        let mut it = children(p);
        let stream = stream_ref(next(&mut it, "test clause: stream"));
        let records = self.expr(next(&mut it, "test clause: records"));
        (stream, records)
    }

    fn type_expr(&mut self, p: P) -> TypeExpr {
        // grammar: type_expr = { (record_type | ident ~ (langle ~ type_expr ~ rangle)?) ~ question? }
        let sp = span(&p);
        let mut it = children(p);
        let first = next(&mut it, "type_expr: name or record");
        let (name, mut record) = match first.as_rule() {
            Rule::record_type => (Spanned::new("{".to_string(), span(&first)), Some(first)),
            _ => (ident(first), None),
        };
        let mut arg = None;
        let mut nullable = false;
        for c in it {
            match c.as_rule() {
                // `list<...>` nests like an expression, and is limited alike.
                Rule::type_expr => {
                    let fallback = TypeExpr { name: name.clone(), arg: None, record: None, nullable: false, span: sp };
                    arg = Some(Box::new(self.nested(sp, fallback, |b| b.type_expr(c))));
                }
                Rule::question => nullable = true,
                r => unreachable!("grammar: type_expr has no {r:?}"),
            }
        }
        // Records nest like `list<...>`.
        let record =
            record.take().map(|r| self.nested(sp, Vec::new(), |b| children(r).map(|f| b.field_decl(f)).collect()));
        TypeExpr { name, arg, record, nullable, span: sp }
    }

    // --- stages -------------------------------------------------------------------------

    fn stage(&mut self, p: P) -> Stage {
        // grammar: stage = { filter_stage | ... }, exactly one child.
        let s = next(&mut children(p), "stage: one stage");
        let sp = span(&s);
        let rule = s.as_rule();
        let mut it = children(s);
        let kind = match rule {
            Rule::filter_stage => StageKind::Filter(self.expr(next(&mut it, "filter: expr"))),
            Rule::select_stage => StageKind::Select(it.map(|i| self.select_item(i)).collect()),
            Rule::derive_stage => StageKind::Derive(it.map(|f| self.named_expr(f)).collect()),
            Rule::aggregate_stage => StageKind::Aggregate(it.map(|f| self.named_expr(f)).collect()),
            Rule::unnest_stage => {
                let expr = self.expr(next(&mut it, "unnest: expr"));
                let alias = ident(next(&mut it, "unnest: alias"));
                StageKind::Unnest { expr, alias }
            }
            Rule::window_stage => StageKind::Window(self.window_spec(next(&mut it, "window: spec"))),
            Rule::group_stage => StageKind::GroupBy(it.map(|e| self.expr(e)).collect()),
            Rule::distinct_stage => StageKind::Distinct(it.map(|e| self.expr(e)).collect()),
            Rule::top_stage => {
                let n = self.expr(next(&mut it, "top: count"));
                let (mut by, mut ties) = (Vec::new(), false);
                for p in it {
                    match p.as_rule() {
                        Rule::sort_key => {
                            let mut key = p.into_inner();
                            let e = self.expr(next(&mut key, "sort_key: expr"));
                            by.push((e, key.next().is_some_and(|o| o.as_str() == "desc")));
                        }
                        _ => ties = true, // with_ties
                    }
                }
                StageKind::Top { n, by, ties }
            }
            Rule::join_stage => self.join_stage(it),
            Rule::union_stage => StageKind::Union(it.map(stream_ref).collect()),
            Rule::iterate_stage => {
                let max = self.expr(next(&mut it, "iterate: max"));
                let body = self.pipe(next(&mut it, "iterate: body"));
                StageKind::Iterate { max, body }
            }
            r => unreachable!("grammar: stage has no {r:?}"),
        };
        Stage { kind, span: sp }
    }

    fn select_item(&mut self, p: P) -> (Ident, Expr) {
        // grammar: select_item = { label ~ colon ~ expr | name }
        if p.clone().into_inner().any(|c| c.as_rule() == Rule::colon) {
            return self.named_expr(p);
        }
        let n = next(&mut children(p), "select_item: name");
        let expr = name(n);
        let field = match &expr.kind {
            ExprKind::Name { name, .. } => Spanned::new(name.node.clone(), expr.span),
            _ => unreachable!("grammar: name builds a Name"),
        };
        (field, expr)
    }

    fn named_expr(&mut self, p: P) -> (Ident, Expr) {
        let mut it = children(p);
        let label = ident(next(&mut it, "named_expr: label"));
        let value = self.expr(next(&mut it, "named_expr: value"));
        (label, value)
    }

    fn window_spec(&mut self, p: P) -> WindowSpec {
        let rule = p.as_rule();
        let mut it = children(p);
        let first = self.expr(next(&mut it, "window spec: first argument"));
        match rule {
            Rule::tumbling => WindowSpec::Tumbling(first),
            Rule::sliding => {
                let every = self.expr(next(&mut it, "sliding: every"));
                WindowSpec::Sliding { size: first, every }
            }
            Rule::session => WindowSpec::Session { gap: first },
            r => unreachable!("grammar: window_stage has no {r:?}"),
        }
    }

    fn join_stage<'i>(&mut self, mut it: impl Iterator<Item = P<'i>>) -> StageKind {
        let kind = next(&mut it, "join_stage: join_kind");
        let left = kind.as_str().starts_with("left");
        let other = stream_ref(next(&mut it, "join_stage: other"));
        let mut on = Vec::new();
        let mut within = None;
        for c in it {
            match c.as_rule() {
                Rule::join_cond => on = self.join_cond(c),
                Rule::expr => within = Some(self.expr(c)),
                r => unreachable!("grammar: join_stage has no {r:?}"),
            }
        }
        StageKind::Join { left, other, on, within }
    }

    /// The conditions of `on`: the operands of its top-level `and`s, in order (the checker
    /// tells the keys from the predicates).
    fn join_cond(&mut self, p: P) -> Vec<Expr> {
        // grammar: join_cond = { or_expr }, counted as one level, as `expr` is.
        let sp = span(&p);
        let c = next(&mut children(p), "join_cond: one child");
        let all = self.nested(sp, null_at(sp), |b| b.or_expr(c));
        let mut conds = Vec::new();
        conjuncts(all, &mut conds);
        conds
    }

    // --- expressions --------------------------------------------------------------------

    fn expr(&mut self, p: P) -> Expr {
        // grammar: expr = { if_expr | or_expr }
        let sp = span(&p);
        let c = next(&mut children(p), "expr: one child");
        self.nested(sp, null_at(sp), |b| match c.as_rule() {
            Rule::if_expr => b.if_expr(c),
            _ => b.or_expr(c),
        })
    }

    fn if_expr(&mut self, p: P) -> Expr {
        let sp = span(&p);
        let mut it = children(p);
        let cond = self.expr(next(&mut it, "if: condition"));
        let then = self.expr(next(&mut it, "if: then"));
        let otherwise = self.expr(next(&mut it, "if: else"));
        let kind = ExprKind::If { cond: cond.into(), then: then.into(), otherwise: otherwise.into() };
        Expr { kind, span: sp }
    }

    fn or_expr(&mut self, p: P) -> Expr {
        let levels = chain_levels(&p);
        let build = |b: &mut Self, p: P| fold_same(BinOp::Or, children(p).map(|c| b.and_expr(c)).collect());
        if levels == 0 {
            return build(self, p);
        }
        let sp = span(&p);
        self.nested_by(levels, sp, null_at(sp), |b| build(b, p))
    }

    fn and_expr(&mut self, p: P) -> Expr {
        let levels = chain_levels(&p);
        let build = |b: &mut Self, p: P| fold_same(BinOp::And, children(p).map(|c| b.not_expr(c)).collect());
        if levels == 0 {
            return build(self, p);
        }
        let sp = span(&p);
        self.nested_by(levels, sp, null_at(sp), |b| build(b, p))
    }

    fn not_expr(&mut self, p: P) -> Expr {
        // grammar: not_expr = { kw_not ~ not_expr | cmp_expr }
        let sp = span(&p);
        let c = next(&mut children(p), "not_expr: one child");
        if c.as_rule() == Rule::not_expr {
            let operand = self.nested(sp, null_at(sp), |b| b.not_expr(c));
            Expr { kind: ExprKind::Unary(UnOp::Not, operand.into()), span: sp }
        } else {
            self.cmp_expr(c)
        }
    }

    fn cmp_expr(&mut self, p: P) -> Expr {
        // grammar: cmp_expr = { arith ~ (cmp_op ~ arith | in_op ~ arith | is_op)? }
        let sp = span(&p);
        if chain_levels(&p) == 0 {
            return self.arith(next(&mut children(p), "cmp_expr: left"));
        }
        self.nested(sp, null_at(sp), |b| b.comparison(p))
    }

    /// `cmp_expr` with its operator: one level above its operands.
    fn comparison(&mut self, p: P) -> Expr {
        let sp = span(&p);
        let mut it = children(p);
        let left = self.arith(next(&mut it, "cmp_expr: left"));
        let Some(op) = it.next() else { return left };
        let kind = match op.as_rule() {
            Rule::cmp_op => {
                let right = self.arith(next(&mut it, "cmp_expr: right"));
                let op = match op.as_str() {
                    "==" => BinOp::Eq,
                    "!=" => BinOp::Ne,
                    "<" => BinOp::Lt,
                    "<=" => BinOp::Le,
                    ">" => BinOp::Gt,
                    ">=" => BinOp::Ge,
                    o => unreachable!("grammar: cmp_op has no {o}"),
                };
                ExprKind::Binary(op, left.into(), right.into())
            }
            Rule::in_op => {
                let negated = op.as_str().starts_with("not");
                let list = self.arith(next(&mut it, "cmp_expr: list after in"));
                ExprKind::In { expr: left.into(), list: list.into(), negated }
            }
            Rule::is_op => {
                let negated = op.into_inner().any(|t| t.as_rule() == Rule::kw_not);
                ExprKind::IsNull { expr: left.into(), negated }
            }
            r => unreachable!("grammar: cmp_expr has no {r:?}"),
        };
        Expr { kind, span: sp }
    }

    fn arith(&mut self, p: P) -> Expr {
        // grammar: arith = { term ~ (add_op ~ term)* }
        let levels = chain_levels(&p) / 2;
        if levels == 0 {
            return self.arith_chain(p);
        }
        // The span is only needed now: it walks down the pair (cheap for a chain, not for
        // every level of deep parentheses).
        let sp = span(&p);
        self.nested_by(levels, sp, null_at(sp), |b| b.arith_chain(p))
    }

    fn arith_chain(&mut self, p: P) -> Expr {
        let mut it = children(p);
        let mut acc = self.term(next(&mut it, "arith: first term"));
        while let Some(op) = it.next() {
            let op = if op.as_str() == "+" { BinOp::Add } else { BinOp::Sub };
            let right = self.term(next(&mut it, "arith: term after operator"));
            acc = binary(op, acc, right);
        }
        acc
    }

    fn term(&mut self, p: P) -> Expr {
        // grammar: term = { unary ~ (mul_op ~ unary)* }
        let levels = chain_levels(&p) / 2;
        if levels == 0 {
            return self.term_chain(p);
        }
        // The span is only needed now: it walks down the pair (cheap for a chain, not for
        // every level of deep parentheses).
        let sp = span(&p);
        self.nested_by(levels, sp, null_at(sp), |b| b.term_chain(p))
    }

    fn term_chain(&mut self, p: P) -> Expr {
        let mut it = children(p);
        let mut acc = self.unary(next(&mut it, "term: first factor"));
        while let Some(op) = it.next() {
            let op = match op.as_str() {
                "*" => BinOp::Mul,
                "/" => BinOp::Div,
                _ => BinOp::Rem,
            };
            let right = self.unary(next(&mut it, "term: factor after operator"));
            acc = binary(op, acc, right);
        }
        acc
    }

    fn unary(&mut self, p: P) -> Expr {
        // grammar: unary = { neg ~ unary | postfix }
        let sp = span(&p);
        let c = next(&mut children(p), "unary: one child");
        if c.as_rule() != Rule::unary {
            return self.postfix(c);
        }
        // `-` right before a number or duration is part of the literal, so that
        // `-9223372036854775808` fits and `param x: int = -7` has a literal default.
        let operand = next(&mut children(c.clone()), "unary: one child");
        let mut parts = children(operand);
        if let (Some(int), None) = (parts.next().filter(|p| p.as_rule() == Rule::int), parts.next()) {
            return self.int_literal(&format!("-{}", int.as_str()), sp);
        }
        let inner = self.nested(sp, null_at(sp), |b| b.unary(c));
        let folded = match &inner.kind {
            ExprKind::Lit(Value::Float(f)) => Some(Value::float(-f.get())),
            ExprKind::Lit(Value::Duration(d)) => d.checked_neg().map(Value::Duration),
            _ => None,
        };
        match folded {
            Some(v) => Expr { kind: ExprKind::Lit(v), span: sp },
            None => Expr { kind: ExprKind::Unary(UnOp::Neg, inner.into()), span: sp },
        }
    }

    fn postfix(&mut self, p: P) -> Expr {
        // grammar: postfix = { primary ~ index* }; each index is a level of nesting.
        let levels = chain_levels(&p);
        if levels == 0 {
            return self.primary(next(&mut children(p), "postfix: primary"));
        }
        let sp = span(&p);
        self.nested_by(levels, sp, null_at(sp), |b| {
            let mut it = children(p);
            let mut acc = b.primary(next(&mut it, "postfix: primary"));
            for access in it {
                let span = Span { start: acc.span.start, end: span(&access).end };
                let kind = match access.as_rule() {
                    Rule::member => {
                        let field = ident(next(&mut children(access), "member: label"));
                        ExprKind::Member { record: Box::new(acc), field }
                    }
                    _ => {
                        let i = b.expr(next(&mut children(access), "index: expr"));
                        ExprKind::Index { list: Box::new(acc), index: Box::new(i) }
                    }
                };
                acc = Expr { kind, span };
            }
            acc
        })
    }

    fn primary(&mut self, p: P) -> Expr {
        let sp = span(&p);
        let kind = match p.as_rule() {
            Rule::list => ExprKind::List(children(p).map(|e| self.expr(e)).collect()),
            Rule::record => ExprKind::Record(children(p).map(|f| self.select_item(f)).collect()),
            Rule::paren => {
                // The parentheses belong to the expression's span.
                let inner = self.expr(next(&mut children(p), "paren: expr"));
                return Expr { span: sp, ..inner };
            }
            Rule::call => {
                let mut it = children(p);
                let func = ident(next(&mut it, "call: function name"));
                ExprKind::Call { func, args: it.map(|e| self.expr(e)).collect() }
            }
            Rule::name => return name(p),
            _ => return self.literal(p),
        };
        Expr { kind, span: sp }
    }
}

// --- builders that need no state ------------------------------------------------------

/// An `ident` or `label` pair: the name without backquotes, spanned as written.
fn ident(p: P) -> Ident {
    let text = p.as_str();
    let node = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')).unwrap_or(text);
    Spanned::new(node.to_string(), span(&p))
}

fn stream_ref(p: P) -> StreamRef {
    // grammar: stream_ref = { ident ~ (dot ~ ident)? }
    let sp = span(&p);
    let mut it = children(p);
    let name = ident(next(&mut it, "stream_ref: name"));
    let side = it.next().map(ident);
    StreamRef { name, side, span: sp }
}

fn name(p: P) -> Expr {
    // grammar: name = { ident ~ (dot ~ ident)? }
    let sp = span(&p);
    let mut it = children(p);
    let first = ident(next(&mut it, "name: ident"));
    let kind = match it.next() {
        Some(second) => ExprKind::Name { qualifier: Some(first), name: ident(second) },
        None => ExprKind::Name { qualifier: None, name: first },
    };
    Expr { kind, span: sp }
}

/// How many levels an operator chain adds to the tree: one per operator. Counted on the
/// pairs (operands and, for `arith` and `term`, operator pairs too), before anything is built.
fn chain_levels(p: &P) -> usize {
    children(p.clone()).count().saturating_sub(1)
}

/// A placeholder where an expression could not be built (a diagnostic says why).
fn null_at(span: Span) -> Expr {
    Expr { kind: ExprKind::Lit(Value::Null), span }
}

fn binary(op: BinOp, l: Expr, r: Expr) -> Expr {
    let span = l.span.to(r.span);
    Expr { kind: ExprKind::Binary(op, l.into(), r.into()), span }
}

/// Pushes the operands of `e`'s top-level `and`s (`e` itself when it is no `and`), in order.
fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e.kind {
        ExprKind::Binary(BinOp::And, a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        kind => out.push(Expr { kind, span: e.span }),
    }
}

/// Folds `a op b op c` to the left.
fn fold_same(op: BinOp, operands: Vec<Expr>) -> Expr {
    let mut it = operands.into_iter();
    let first = it.next().expect("grammar: an operator chain has a first operand");
    it.fold(first, |acc, e| binary(op, acc, e))
}
