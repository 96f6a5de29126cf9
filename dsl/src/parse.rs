//! Text → `ast::File` with pest (`grammar/eddy.pest`): one builder fn per grammar rule, and
//! pest's errors turned into friendly diagnostics.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

use crate::ast::*;
use crate::diag::{suggest, Diagnostic};
use crate::span::{Span, Spanned};
use crate::time::{parse_duration, parse_timestamp};
use crate::value::Value;

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
            | eq
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
        let delay = self.term(next(&mut it, "watermark: delay"));
        Watermark { field, delay, span: sp }
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
        // grammar: type_expr = { ident ~ (langle ~ type_expr ~ rangle)? ~ question? }
        let sp = span(&p);
        let mut it = children(p);
        let name = ident(next(&mut it, "type_expr: name"));
        let mut arg = None;
        let mut nullable = false;
        for c in it {
            match c.as_rule() {
                // `list<...>` nests like an expression, and is limited alike.
                Rule::type_expr => {
                    let fallback = TypeExpr { name: name.clone(), arg: None, nullable: false, span: sp };
                    arg = Some(Box::new(self.nested(sp, fallback, |b| b.type_expr(c))));
                }
                Rule::question => nullable = true,
                r => unreachable!("grammar: type_expr has no {r:?}"),
            }
        }
        TypeExpr { name, arg, nullable, span: sp }
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
                let by = self.expr(next(&mut it, "top: key"));
                let (mut desc, mut ties) = (false, false);
                for p in it {
                    match p.as_rule() {
                        Rule::order => desc = p.as_str() == "desc",
                        _ => ties = true, // with_ties
                    }
                }
                StageKind::Top { n, by, desc, ties }
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
                Rule::join_cond => on.push(self.join_cond(c)),
                Rule::expr => within = Some(self.expr(c)),
                r => unreachable!("grammar: join_stage has no {r:?}"),
            }
        }
        StageKind::Join { left, other, on, within }
    }

    fn join_cond(&mut self, p: P) -> (Expr, Expr) {
        let mut it = children(p);
        let l = self.arith(next(&mut it, "join_cond: left"));
        let r = self.arith(next(&mut it, "join_cond: right"));
        (l, r)
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
        // grammar: unary = { neg ~ unary | primary }
        let sp = span(&p);
        let c = next(&mut children(p), "unary: one child");
        if c.as_rule() != Rule::unary {
            return self.primary(c);
        }
        // `-` right before a number or duration is part of the literal, so that
        // `-9223372036854775808` fits and `param x: int = -7` has a literal default.
        let operand = next(&mut children(c.clone()), "unary: one child");
        if operand.as_rule() == Rule::int {
            return self.int_literal(&format!("-{}", operand.as_str()), sp);
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

    fn primary(&mut self, p: P) -> Expr {
        let sp = span(&p);
        let kind = match p.as_rule() {
            Rule::list => ExprKind::List(children(p).map(|e| self.expr(e)).collect()),
            Rule::record => ExprKind::Record(children(p).map(|f| self.named_expr(f)).collect()),
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

    // --- literals -----------------------------------------------------------------------

    fn literal(&mut self, p: P) -> Expr {
        let sp = span(&p);
        let text = p.as_str();
        let value = match p.as_rule() {
            Rule::int => return self.int_literal(text, sp),
            Rule::float => self.float_literal(text, sp),
            Rule::duration => self.duration_literal(text, sp),
            Rule::timestamp => self.timestamp_literal(text, sp),
            Rule::string => Value::str(&self.string_text(&p)),
            Rule::boolean => Value::Bool(text == "true"),
            Rule::null_lit => Value::Null,
            r => unreachable!("grammar: primary has no {r:?}"),
        };
        Expr { kind: ExprKind::Lit(value), span: sp }
    }

    /// `text` is the digits, with a leading `-` when unary minus was folded in.
    fn int_literal(&mut self, text: &str, sp: Span) -> Expr {
        let value = match text.parse::<i64>() {
            Ok(n) => Value::Int(n),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(sp, format!("integer literal {text} is out of range"))
                        .label("does not fit in 64 bits")
                        .help(format!("integers range from {} to {}; use a float", i64::MIN, i64::MAX)),
                );
                Value::Null
            }
        };
        Expr { kind: ExprKind::Lit(value), span: sp }
    }

    fn float_literal(&mut self, text: &str, sp: Span) -> Value {
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Value::float(x),
            _ => {
                self.diags.push(
                    Diagnostic::error(sp, format!("float literal {text} is out of range"))
                        .label("too large for a 64-bit float"),
                );
                Value::Null
            }
        }
    }

    fn duration_literal(&mut self, text: &str, sp: Span) -> Value {
        if let Some(ms) = parse_duration(text) {
            return Value::Duration(ms);
        }
        let unit_at = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let unit = &text[unit_at..];
        let diag = if ["ms", "s", "m", "h", "d"].contains(&unit) {
            Diagnostic::error(sp, format!("duration {text} is out of range")).label("too long to count in milliseconds")
        } else {
            let unit_span = Span::new(sp.start + unit_at, sp.end);
            let d = Diagnostic::error(unit_span, format!("unknown duration unit '{unit}'"))
                .label("expected ms, s, m, h or d");
            match unit_alias(unit) {
                Some(u) => d.help(format!("did you mean '{}{u}'?", &text[..unit_at])),
                None => d.help("durations are written like 250ms, 10s, 5m, 2h, 1d"),
            }
        };
        self.diags.push(diag);
        Value::Null
    }

    fn timestamp_literal(&mut self, text: &str, sp: Span) -> Value {
        match parse_timestamp(&text[1..]) {
            Some(ms) => Value::Timestamp(ms),
            None => {
                self.diags.push(
                    Diagnostic::error(sp, format!("invalid timestamp {text}"))
                        .label("not an RFC 3339 date-time")
                        .help("write timestamps like @2024-05-01T12:00:00Z or @2024-05-01T12:00:00.250+02:00"),
                );
                Value::Null
            }
        }
    }

    /// The text of a `string` pair with its JSON escapes resolved.
    fn string_text(&mut self, p: &P) -> String {
        let start = p.as_span().start();
        let raw = p.as_str();
        let body = &raw[1..raw.len() - 1];
        match unescape(body) {
            Ok(s) => s,
            Err((at, len, message)) => {
                let at = start + 1 + at;
                self.diags.push(
                    Diagnostic::error(Span::new(at, at + len), message)
                        .label("invalid escape")
                        .help(r#"strings use JSON escapes: \" \\ \/ \b \f \n \r \t \uXXXX"#),
                );
                String::new()
            }
        }
    }
}

/// The duration unit meant by a longer spelling: `min` → `m`, `secs` → `s`, `millis` → `ms`.
fn unit_alias(unit: &str) -> Option<&'static str> {
    let u = unit.to_ascii_lowercase();
    let aliases: [(&[&str], &str); 5] = [
        (&["msec", "msecs", "milli", "millis", "millisecond", "milliseconds"], "ms"),
        (&["sec", "secs", "second", "seconds"], "s"),
        (&["min", "mins", "minute", "minutes"], "m"),
        (&["hr", "hrs", "hour", "hours"], "h"),
        (&["day", "days"], "d"),
    ];
    let lower_is_unit = ["ms", "s", "m", "h", "d"].iter().find(|x| **x == u).copied();
    aliases.iter().find(|(names, _)| names.contains(&u.as_str())).map(|(_, to)| *to).or(lower_is_unit)
}

/// Resolves JSON escapes; on failure, the escape's byte offset and length, and a message.
fn unescape(body: &str) -> Result<String, (usize, usize, String)> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err((i, 1, "unfinished escape at the end of a string".into()));
        };
        let simple = match e {
            '"' => Some('"'),
            '\\' => Some('\\'),
            '/' => Some('/'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'u' => None,
            other => {
                let len = 1 + other.len_utf8();
                return Err((i, len, format!("unknown escape '\\{other}' in a string")));
            }
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let hex = |at: usize| -> Option<u32> {
            let digits = body.get(at..at + 4)?;
            if digits.chars().all(|c| c.is_ascii_hexdigit()) {
                u32::from_str_radix(digits, 16).ok()
            } else {
                None
            }
        };
        let bad = |len: usize| (i, len, "invalid unicode escape in a string".to_string());
        let first = hex(i + 2).ok_or_else(|| bad(2))?;
        let (code, len) = if (0xD800..0xDC00).contains(&first) {
            // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
            let low = (body.get(i + 6..i + 8) == Some("\\u")).then(|| hex(i + 8)).flatten();
            match low {
                Some(low) if (0xDC00..0xE000).contains(&low) => {
                    (0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00), 12)
                }
                _ => return Err(bad(6)),
            }
        } else {
            (first, 6)
        };
        out.push(char::from_u32(code).ok_or_else(|| bad(len))?);
        // Skip the hex digits (and the second escape of a surrogate pair).
        while chars.peek().is_some_and(|(j, _)| *j < i + len) {
            chars.next();
        }
    }
    Ok(out)
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

/// Folds `a op b op c` to the left.
fn fold_same(op: BinOp, operands: Vec<Expr>) -> Expr {
    let mut it = operands.into_iter();
    let first = it.next().expect("grammar: an operator chain has a first operand");
    it.fold(first, |acc, e| binary(op, acc, e))
}

// --- syntax errors ----------------------------------------------------------------------

/// How prominent an expected item is: `Low` ones (operators, `.`, `(`, end of file...) are
/// possible almost everywhere, so they are named only when nothing else is expected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prio {
    Normal,
    Low,
}

/// The friendly name of each rule in "expected ..." messages. Exhaustive on purpose: a new
/// grammar rule does not compile until it has a name here.
fn friendly(rule: Rule) -> (&'static str, Prio) {
    use Prio::*;
    use Rule::*;
    match rule {
        EOI => ("end of file", Low),
        // Silent rules never show in errors; named for completeness.
        WHITESPACE | COMMENT => ("a space", Low),
        field_list => ("'{'", Normal),
        primary | literal | exponent => ("an expression", Normal),
        ident_char | quoted_name => ("a name", Normal),
        file | decl | schema_decl | param_decl | source_decl | stream_decl | sink_decl | test_decl => {
            ("a declaration", Normal)
        }
        field_decl => ("a field", Normal),
        type_expr => ("a type", Normal),
        watermark => ("'watermark'", Normal),
        connector => ("a connector such as file(...)", Normal),
        arg => ("an argument", Normal),
        pipe | stream_ref => ("a stream name", Normal),
        test_given | test_expect | test_advance => ("'given', 'advance' or 'expect'", Normal),
        stage | filter_stage | select_stage | derive_stage | unnest_stage | window_stage | group_stage
        | aggregate_stage | distinct_stage | top_stage | join_stage | join_kind | union_stage | iterate_stage => {
            ("a stage", Normal)
        }
        select_item | named_expr => ("a field", Normal),
        tumbling | sliding | session => ("a window: tumbling(...), sliding(...) or session(...)", Normal),
        order => ("'desc' or 'asc'", Low),
        with_ties => ("'with ties'", Low),
        join_cond => ("a join condition", Normal),
        expr | if_expr | or_expr | and_expr | not_expr | cmp_expr | arith | term | unary | neg | list | record
        | paren | call | name => ("an expression", Normal),
        cmp_op | in_op | is_op | add_op | mul_op | kw_and | kw_or | kw_not | kw_in | kw_is => ("an operator", Low),
        duration => ("a duration", Normal),
        timestamp => ("a timestamp", Normal),
        float | int => ("a number", Normal),
        string => ("a string", Normal),
        boolean => ("'true' or 'false'", Normal),
        null_lit | kw_null => ("'null'", Normal),
        ident | label | keyword => ("a name", Normal),
        kw_schema => ("'schema'", Normal),
        kw_param => ("'param'", Normal),
        kw_source => ("'source'", Normal),
        kw_stream => ("'stream'", Normal),
        kw_sink => ("'sink'", Normal),
        kw_test => ("'test'", Normal),
        kw_filter => ("'filter'", Normal),
        kw_select => ("'select'", Normal),
        kw_derive => ("'derive'", Normal),
        kw_unnest => ("'unnest'", Normal),
        kw_window => ("'window'", Normal),
        kw_group => ("'group'", Normal),
        kw_by => ("'by'", Normal),
        kw_aggregate => ("'aggregate'", Normal),
        kw_join => ("'join'", Normal),
        kw_on => ("'on'", Normal),
        kw_within => ("'within'", Normal),
        kw_union => ("'union'", Normal),
        kw_distinct => ("'distinct'", Normal),
        kw_top => ("'top'", Normal),
        kw_watermark => ("'watermark'", Normal),
        kw_iterate => ("'iterate'", Normal),
        kw_if => ("'if'", Normal),
        kw_then => ("'then'", Normal),
        kw_else => ("'else'", Normal),
        kw_as => ("'as'", Normal),
        kw_left => ("'left'", Normal),
        kw_max => ("'max'", Normal),
        kw_desc => ("'desc'", Low),
        kw_asc => ("'asc'", Low),
        kw_with => ("'with'", Low),
        kw_ties => ("'ties'", Normal),
        kw_given => ("'given'", Normal),
        kw_expect => ("'expect'", Normal),
        kw_advance => ("'advance'", Normal),
        kw_to => ("'to'", Normal),
        kw_tumbling => ("'tumbling'", Normal),
        kw_sliding => ("'sliding'", Normal),
        kw_session => ("'session'", Normal),
        kw_every => ("'every'", Normal),
        kw_gap => ("'gap'", Normal),
        comma => ("','", Normal),
        colon => ("':'", Normal),
        dot => ("'.'", Low),
        assign => ("'='", Normal),
        eq => ("'=='", Normal),
        bar => ("'|'", Normal),
        arrow => ("'->'", Normal),
        minus => ("'-'", Normal),
        lbrace => ("'{'", Normal),
        rbrace => ("'}'", Normal),
        lparen => ("'('", Low),
        rparen => ("')'", Normal),
        lbracket => ("'['", Normal),
        rbracket => ("']'", Normal),
        langle => ("'<'", Low),
        rangle => ("'>'", Normal),
        question => ("'?'", Low),
    }
}

const DECL_KEYWORDS: [&str; 6] = ["schema", "param", "source", "stream", "sink", "test"];
const STAGE_KEYWORDS: [&str; 13] = [
    "filter",
    "select",
    "derive",
    "unnest",
    "window",
    "group",
    "aggregate",
    "distinct",
    "top",
    "join",
    "left",
    "union",
    "iterate",
];
const RESERVED: [&str; 33] = [
    "schema",
    "param",
    "source",
    "stream",
    "sink",
    "test",
    "filter",
    "select",
    "derive",
    "unnest",
    "window",
    "group",
    "by",
    "aggregate",
    "join",
    "on",
    "within",
    "union",
    "distinct",
    "top",
    "watermark",
    "iterate",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "if",
    "then",
    "else",
    "true",
    "false",
];

/// How many syntax errors one run reports at most: past that, the rest is probably not Eddy.
const MAX_SYNTAX_ERRORS: usize = 100;

/// Every syntax error of the file. Declarations begin with keywords, so after an error the
/// parser starts again at the next declaration keyword (`resume_at`) and goes on; the
/// declaration with the error is skipped to there. Each parse reads only from one
/// resumption point to the next error, so the whole costs about one parse of the file.
fn syntax_errors(src: &str, first: pest::error::Error<Rule>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let (mut err, mut offset) = (first, 0);
    loop {
        let pos = offset
            + match err.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((s, _)) => s,
            };
        diags.push(syntax_error(src, pos, &err));
        if diags.len() >= MAX_SYNTAX_ERRORS {
            break;
        }
        let Some(next) = resume_at(src, offset, pos) else { break };
        match EddyParser::parse(Rule::file, &src[next..]) {
            Ok(_) => break,
            Err(e) => (err, offset) = (e, next),
        }
    }
    diags
}

/// Where parsing starts again after an error at `pos` (the current parse began at `start`):
/// the next declaration keyword. One right at the error counts only at the start of a line
/// (`| select { stream }` is a misused keyword, not a new declaration); a keyword before a
/// `:` is a label; keywords in strings, comments and backquotes do not count.
fn resume_at(src: &str, start: usize, pos: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = start;
    // Whether only layout stands between the last line break and `i`.
    let mut first_on_line = start == 0 || src[..start].ends_with('\n');
    while i < bytes.len() {
        let at_line_start = first_on_line;
        first_on_line = match bytes[i] {
            b'\n' => true,
            b' ' | b'\t' | b'\r' => first_on_line,
            _ => false,
        };
        match bytes[i] {
            b'"' | b'`' => {
                let close = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != close && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            c if word(c) => {
                let end = (i..bytes.len()).find(|&j| !word(bytes[j])).unwrap_or(bytes.len());
                let keyword = DECL_KEYWORDS.contains(&&src[i..end]);
                let label = keyword && src[end..].trim_start().starts_with(':');
                if keyword && !label && i > start && (i > pos || (i == pos && at_line_start)) {
                    return Some(i);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    None
}

/// Turns pest's error at `pos` into one diagnostic: where, what was expected, what was found.
fn syntax_error(src: &str, pos: usize, err: &pest::error::Error<Rule>) -> Diagnostic {
    let (found_span, found) = found_at(src, pos);
    let positives: Vec<Rule> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { message } => {
            // Only the call/stack limits produce custom errors.
            return Diagnostic::error(found_span, "syntax error: nested too deeply")
                .label(format!("the parser stopped here: {message}"));
        }
    };
    let names = expected_names(&positives);
    let found_text = match &found {
        Found::End => "end of file".to_string(),
        Found::Token(t) => format!("'{t}'"),
        Found::String => "a string".to_string(),
    };
    let message = if names.is_empty() {
        format!("syntax error: unexpected {found_text}")
    } else {
        format!("syntax error: expected {}", join_or(&names))
    };
    let diag = Diagnostic::error(found_span, message).label(format!("found {found_text}"));
    match help_for(src, pos, &found, &positives) {
        Some(h) => diag.help(h),
        None => diag,
    }
}

/// The friendly names of the expected rules, deduplicated, low-priority ones only if alone.
fn expected_names(positives: &[Rule]) -> Vec<&'static str> {
    let all: Vec<(&str, Prio)> = positives.iter().map(|r| friendly(*r)).collect();
    let normal = all.iter().any(|(_, p)| *p == Prio::Normal);
    let mut names: Vec<&str> = Vec::new();
    for (name, prio) in all {
        let wanted = prio == Prio::Normal || !normal;
        // End of file is only worth naming when nothing else is possible.
        let useless_eof = name == "end of file" && positives.len() > 1;
        if wanted && !useless_eof && !names.contains(&name) {
            names.push(name);
        }
    }
    // The generic "a declaration" reads best last: "expected '|' or a declaration".
    names.sort_by_key(|n| *n == "a declaration");
    names
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

enum Found<'a> {
    End,
    String,
    Token(&'a str),
}

/// What the text holds at `pos`, and a one-character (or, at the end, empty) span there.
fn found_at(src: &str, pos: usize) -> (Span, Found<'_>) {
    let rest = &src[pos.min(src.len())..];
    let Some(c) = rest.chars().next() else {
        return (Span::new(src.len(), src.len()), Found::End);
    };
    let span = Span::new(pos, pos + c.len_utf8());
    let word_len = |pred: fn(char) -> bool| rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
    let token = if c.is_ascii_alphabetic() || c == '_' {
        &rest[..word_len(|c| c.is_ascii_alphanumeric() || c == '_')]
    } else if c.is_ascii_digit() {
        &rest[..word_len(|c| c.is_ascii_alphanumeric() || c == '.')]
    } else if c == '"' {
        return (span, Found::String);
    } else if ["==", "!=", "<=", ">=", "->"].iter().any(|op| rest.starts_with(op)) {
        &rest[..2]
    } else {
        &rest[..c.len_utf8()]
    };
    // The caret underlines the whole word or operator that was found.
    (Span::new(pos, pos + token.len()), Found::Token(token))
}

/// A hint for the common mistakes.
fn help_for(src: &str, pos: usize, found: &Found, positives: &[Rule]) -> Option<String> {
    let token = match found {
        Found::End => return None,
        Found::String => {
            let line = src[pos + 1..].split('\n').next().unwrap_or("");
            let closed = unescape_scan_closes(line);
            return (!closed).then(|| "this string is not closed: add '\"' before the end of the line".into());
        }
        Found::Token(t) => *t,
    };
    let expects = |r: Rule| positives.contains(&r);
    if token == "=" && (expects(Rule::cmp_op) || expects(Rule::eq)) {
        return Some("use '==' to compare values".into());
    }
    let is_cmp = ["==", "!=", "<", "<=", ">", ">="].contains(&token);
    if is_cmp && !expects(Rule::cmp_op) && !expects(Rule::eq) && expects(Rule::add_op) {
        return Some("comparisons do not chain: combine them with 'and'".into());
    }
    let is_word = token.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if !is_word {
        return None;
    }
    if STAGE_KEYWORDS.contains(&token) && expects(Rule::bar) {
        return Some(format!("each stage starts with '|': write '| {token} ...'"));
    }
    let line_start = src[..pos].rfind('\n').map_or(0, |n| n + 1);
    if DECL_KEYWORDS.contains(&token) && src[line_start..pos].trim().is_empty() {
        return Some(format!("the declaration before ends unfinished: '{token}' starts the next one"));
    }
    let wants_name = [Rule::ident, Rule::label, Rule::expr, Rule::unary, Rule::stream_ref].iter().any(|r| expects(*r));
    if RESERVED.contains(&token) && wants_name {
        return Some(format!("'{token}' is a keyword; write `{token}` in backquotes to use it as a name"));
    }
    let expects_kind = |kind: &str| positives.iter().any(|r| friendly(*r).0 == kind);
    let mut candidates: Vec<&str> = Vec::new();
    if expects_kind("a declaration") {
        candidates.extend(DECL_KEYWORDS);
    }
    if expects_kind("a stage") {
        candidates.extend(STAGE_KEYWORDS);
    }
    for r in positives {
        let (name, _) = friendly(*r);
        if format!("{r:?}").starts_with("kw_") {
            candidates.push(name.trim_matches('\''));
        }
    }
    suggest(token, candidates).map(|s| format!("did you mean '{s}'?"))
}

/// Whether a string body starting right after its opening quote is closed on this line.
fn unescape_scan_closes(line: &str) -> bool {
    let mut escaped = false;
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST_PIPELINE: &str = r#"
# Bids per auction in 10-second event-time windows (Nexmark Q5, simplified).
schema Bid {
  auction: int,
  bidder: int,
  price: int,
  channel: string,
  url: string,
  date_time: timestamp,
  extra: string?,          # nullable: may be missing or null in the input
}

param min_price: int = 0   # eddy run q5.eddy --param min_price=100

source bids: Bid = file("data/bids.jsonl")
  watermark date_time - 2s # event time = date_time; tolerate 2 s of disorder

stream hot = bids
  | filter price >= min_price
  | window tumbling(10s)
  | group by auction
  | aggregate { bids: count(), top: max(price) }

sink hot -> file("out/hot.csv")
sink bids.errors -> file("out/rejected.jsonl")
"#;

    const REACHABILITY: &str = r#"
source edges = file("graph.csv")   # src: int, dst: int
source roots = file("roots.csv")   # node: int
stream reach = roots
  | iterate (max 100) {
      loop
        | join edges on node == src
        | select { node: dst }
        | union roots
        | distinct
    }
sink reach -> stdout()
"#;

    /// Every other construct of LANGUAGE.md, in one file.
    const EVERYTHING: &str = r#"
param data: string = "data"
param lag: duration = 5s
schema Ev { `user-id`: string, tags: list<string>, xs: list<int?>?, at: timestamp }
source ev: Ev = file(data + "/ev.jsonl", format: "jsonl", header: false,) watermark at - lag
source lines = stdin(format: "text")
source gen = generate(nexmark: "bid", events: 1000000, rate: 0)
source k = kafka(brokers: "127.0.0.1:9092", topic: "bids", group: "eddy")
stream a = ev
  | derive { n: len(tags), big: if n > 3 then "big" else "small", }
  | unnest tags as tag
  | select { `user-id`, tag, n: n * 2, ev.at, }
  | window sliding(1m, every: 10s)
  | distinct by tag, n
stream b = ev.late | window session(gap: 30s) | top 3 by n desc
stream c = ev | top 1 by `user-id` asc | distinct
stream d = a
  | left join b on a.tag == b.tag and n + 1 == b.n within 1h
  | join c on tag == tag
  | union b, c
  | group by tag
  | aggregate { n: count(), s: sum(n), u: count_distinct(`user-id`), l: collect(tag) }
sink d -> file("out/d.csv", partitioned: true)
sink ev.errors -> stdout(format: "jsonl")
test "windows" {
  given ev = [
    { `user-id`: "u1", tags: ["a", "b"], xs: null, at: @2024-05-01T12:00:00Z },
    { `user-id`: "u2", tags: [], xs: [1, null], at: @2024-05-01T12:00:00.250+02:00 },
  ]
  expect d = [ { tag: "a", n: 1, s: 1, u: 1, l: ["a"] } ]
  given lines = []
  expect a.late = []
}
"#;

    fn ok(src: &str) -> File {
        parse(src).unwrap_or_else(|d| panic!("{src}\n{d:#?}"))
    }

    fn err(src: &str) -> Diagnostic {
        match parse(src) {
            Ok(f) => panic!("parsed but should not: {src}\n{f:#?}"),
            Err(mut d) => {
                assert_eq!(d.len(), 1, "{d:#?}");
                d.remove(0)
            }
        }
    }

    /// The span of the `n`-th occurrence (0-based) of `needle` in `src`.
    fn at(src: &str, needle: &str, n: usize) -> Span {
        let start = src.match_indices(needle).nth(n).expect("needle in text").0;
        Span::new(start, start + needle.len())
    }

    /// An expression as an s-expression, to check shape and precedence.
    fn sexp(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Lit(v) => v.to_string(),
            ExprKind::List(items) => {
                format!("[{}]", items.iter().map(sexp).collect::<Vec<_>>().join(" "))
            }
            ExprKind::Record(fields) => {
                let f: Vec<String> = fields.iter().map(|(n, e)| format!("{}: {}", n.node, sexp(e))).collect();
                format!("{{{}}}", f.join(", "))
            }
            ExprKind::Name { qualifier: Some(q), name } => format!("{}.{}", q.node, name.node),
            ExprKind::Name { qualifier: None, name } => name.node.clone(),
            ExprKind::Unary(UnOp::Neg, e) => format!("(neg {})", sexp(e)),
            ExprKind::Unary(UnOp::Not, e) => format!("(not {})", sexp(e)),
            ExprKind::Binary(op, l, r) => format!("({} {} {})", op.symbol(), sexp(l), sexp(r)),
            ExprKind::In { expr, list, negated } => {
                format!("({} {} {})", if *negated { "not-in" } else { "in" }, sexp(expr), sexp(list))
            }
            ExprKind::IsNull { expr, negated } => {
                format!("({} {})", if *negated { "is-not-null" } else { "is-null" }, sexp(expr))
            }
            ExprKind::If { cond, then, otherwise } => {
                format!("(if {} {} {})", sexp(cond), sexp(then), sexp(otherwise))
            }
            ExprKind::Call { func, args } => {
                let a: Vec<String> = args.iter().map(sexp).collect();
                format!("{}({})", func.node, a.join(" "))
            }
        }
    }

    /// Parses `text` as the default of a param.
    fn expr(text: &str) -> Expr {
        let file = ok(&format!("param p: int = {text}"));
        match file.decls.into_iter().next() {
            Some(Decl::Param(p)) => p.default,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_top_with_ties() {
        // `with` and `ties` are contextual: still usable as names elsewhere.
        let f = ok("stream t = ev | top 2 by with desc with ties\nstream u = ev | top 1 by ties with ties");
        let t = stream(&f, "t");
        let StageKind::Top { by, desc: true, ties: true, .. } = &t.pipe.stages[0].kind else { panic!() };
        assert_eq!(sexp(by), "with");
        let u = stream(&f, "u");
        let StageKind::Top { by, desc: false, ties: true, .. } = &u.pipe.stages[0].kind else { panic!() };
        assert_eq!(sexp(by), "ties");
        let e = err("stream t = ev | top 2 by price with");
        assert!(e.message.contains("'ties'"), "{e:?}");
    }

    fn stream(file: &File, name: &str) -> StreamDecl {
        file.decls
            .iter()
            .find_map(|d| match d {
                Decl::Stream(s) if s.name.node == name => Some(s.clone()),
                _ => None,
            })
            .expect("stream declared")
    }

    #[test]
    fn parses_the_first_pipeline() {
        let src = FIRST_PIPELINE;
        let f = ok(src);
        assert_eq!(f.decls.len(), 6);
        let Decl::Schema(bid) = &f.decls[0] else { panic!("schema first") };
        assert_eq!(bid.name.node, "Bid");
        assert_eq!(bid.fields.len(), 7);
        assert_eq!(bid.fields[6].name.node, "extra");
        assert!(bid.fields[6].ty.nullable && !bid.fields[5].ty.nullable);
        let Decl::Param(p) = &f.decls[1] else { panic!("param second") };
        assert_eq!((p.name.node.as_str(), p.ty.name.node.as_str()), ("min_price", "int"));
        assert_eq!(p.default.kind, ExprKind::Lit(Value::Int(0)));
        let Decl::Source(s) = &f.decls[2] else { panic!("source third") };
        assert_eq!(s.schema.as_ref().map(|s| s.node.as_str()), Some("Bid"));
        assert_eq!(s.connector.name.node, "file");
        let w = s.watermark.as_ref().expect("watermark");
        assert_eq!(w.field.node, "date_time");
        assert_eq!(w.delay.kind, ExprKind::Lit(Value::Duration(2000)));
        assert_eq!(w.span, at(src, "watermark date_time - 2s", 0));

        let hot = stream(&f, "hot");
        let kinds: Vec<&str> = hot.pipe.stages.iter().map(|s| s.kind.keyword()).collect();
        assert_eq!(kinds, ["filter", "window", "group by", "aggregate"]);
        let StageKind::Aggregate(aggs) = &hot.pipe.stages[3].kind else { panic!() };
        let aggs: Vec<String> = aggs.iter().map(|(n, e)| format!("{}={}", n.node, sexp(e))).collect();
        assert_eq!(aggs, ["bids=count()", "top=max(price)"]);
        let Decl::Sink(errors) = &f.decls[5] else { panic!("sink last") };
        assert_eq!(errors.input.name.node, "bids");
        assert_eq!(errors.input.side.as_ref().map(|s| s.node.as_str()), Some("errors"));
        assert_eq!(errors.input.span, at(src, "bids.errors", 0));
    }

    #[test]
    fn parses_reachability() {
        let f = ok(REACHABILITY);
        let reach = stream(&f, "reach");
        let [Stage { kind: StageKind::Iterate { max, body }, .. }] = &reach.pipe.stages[..] else {
            panic!("{reach:#?}")
        };
        assert_eq!(sexp(max), "100");
        assert_eq!(body.input.name.node, "loop");
        let kinds: Vec<&str> = body.stages.iter().map(|s| s.kind.keyword()).collect();
        assert_eq!(kinds, ["join", "select", "union", "distinct"]);
        let StageKind::Join { left, other, on, within } = &body.stages[0].kind else { panic!() };
        assert!(!left && within.is_none());
        assert_eq!(other.name.node, "edges");
        assert_eq!((sexp(&on[0].0), sexp(&on[0].1)), ("node".into(), "src".into()));
    }

    #[test]
    fn parses_every_construct() {
        let f = ok(EVERYTHING);
        let a = stream(&f, "a");
        let StageKind::Select(fields) = &a.pipe.stages[2].kind else { panic!() };
        let fields: Vec<String> = fields.iter().map(|(n, e)| format!("{}={}", n.node, sexp(e))).collect();
        assert_eq!(fields, ["user-id=user-id", "tag=tag", "n=(* n 2)", "at=ev.at"]);
        let StageKind::Window(WindowSpec::Sliding { size, every }) = &a.pipe.stages[3].kind else { panic!() };
        assert_eq!((sexp(size), sexp(every)), ("1m".into(), "10s".into()));
        let StageKind::Distinct(keys) = &a.pipe.stages[4].kind else { panic!() };
        assert_eq!(keys.len(), 2);

        let b = stream(&f, "b");
        assert_eq!(b.pipe.input.side.as_ref().map(|s| s.node.as_str()), Some("late"));
        assert!(matches!(b.pipe.stages[0].kind, StageKind::Window(WindowSpec::Session { .. })));
        assert!(matches!(b.pipe.stages[1].kind, StageKind::Top { desc: true, ties: false, .. }));
        let c = stream(&f, "c");
        assert!(matches!(c.pipe.stages[0].kind, StageKind::Top { desc: false, ties: false, .. }));
        assert!(matches!(&c.pipe.stages[1].kind, StageKind::Distinct(k) if k.is_empty()));

        let d = stream(&f, "d");
        let StageKind::Join { left: true, on, within: Some(w), .. } = &d.pipe.stages[0].kind else { panic!() };
        let on: Vec<String> = on.iter().map(|(l, r)| format!("{}={}", sexp(l), sexp(r))).collect();
        assert_eq!(on, ["a.tag=b.tag", "(+ n 1)=b.n"]);
        assert_eq!(sexp(w), "1h");
        let StageKind::Union(others) = &d.pipe.stages[2].kind else { panic!() };
        assert_eq!(others.len(), 2);

        let source = |name: &str| {
            f.decls
                .iter()
                .find_map(|d| match d {
                    Decl::Source(s) if s.name.node == name => Some(s.clone()),
                    _ => None,
                })
                .expect("source declared")
        };
        let ev = source("ev");
        let args: Vec<String> = ev
            .connector
            .args
            .iter()
            .map(|a| format!("{:?}={}", a.name.as_ref().map(|n| &n.node), sexp(&a.value)))
            .collect();
        assert_eq!(args, [r#"None=(+ data "/ev.jsonl")"#, r#"Some("format")="jsonl""#, r#"Some("header")=false"#]);
        assert_eq!(sexp(&ev.watermark.expect("watermark").delay), "lag");
        assert!(source("lines").schema.is_none());

        let Some(Decl::Schema(schema)) = f.decls.get(2) else { panic!() };
        assert_eq!(schema.fields[0].name.node, "user-id");
        let xs = &schema.fields[2].ty;
        assert_eq!(xs.name.node, "list");
        assert!(xs.nullable);
        let elem = xs.arg.as_ref().expect("list<int?>");
        assert_eq!((elem.name.node.as_str(), elem.nullable), ("int", true));

        let Some(Decl::Test(t)) = f.decls.last() else { panic!() };
        assert_eq!(t.name.node, "windows");
        let given: Vec<&Expr> = t
            .steps
            .iter()
            .filter_map(|s| match s {
                TestStep::Given(_, e) => Some(e),
                _ => None,
            })
            .collect();
        let names = |want_given: bool| -> Vec<&str> {
            t.steps
                .iter()
                .filter_map(|s| match s {
                    TestStep::Given(r, _) if want_given => Some(r.name.node.as_str()),
                    TestStep::Expect(r, _) if !want_given => Some(r.name.node.as_str()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!((names(true), names(false)), (vec!["ev", "lines"], vec!["d", "a"]));
        assert_eq!(
            sexp(given[0]),
            r#"[{user-id: "u1", tags: ["a" "b"], xs: null, at: @2024-05-01T12:00:00.000Z} {user-id: "u2", tags: [], xs: [1 null], at: @2024-05-01T10:00:00.250Z}]"#
        );
    }

    #[test]
    fn spans_are_byte_ranges_of_the_text() {
        let src = "stream hot = bids\n  | filter price >= min_price # c\n  | window tumbling(10s)\n";
        let f = ok(src);
        let hot = stream(&f, "hot");
        assert_eq!(hot.name.span, at(src, "hot", 0));
        assert_eq!(hot.span, Span::new(0, at(src, "(10s)", 0).end));
        assert_eq!(hot.pipe.input.span, at(src, "bids", 0));
        let filter = &hot.pipe.stages[0];
        assert_eq!(filter.span, at(src, "filter price >= min_price", 0));
        let StageKind::Filter(e) = &filter.kind else { panic!() };
        assert_eq!(e.span, at(src, "price >= min_price", 0));
        let ExprKind::Binary(BinOp::Ge, l, r) = &e.kind else { panic!() };
        assert_eq!((l.span, r.span), (at(src, "price", 0), at(src, "min_price", 0)));
        let StageKind::Window(WindowSpec::Tumbling(d)) = &hot.pipe.stages[1].kind else { panic!() };
        assert_eq!(d.span, at(src, "10s", 0));

        let src = "param p: int = (a + b) * -3 - `x y`";
        let Decl::Param(p) = &ok(src).decls[0] else { panic!() };
        assert_eq!(p.default.span, at(src, "(a + b) * -3 - `x y`", 0));
        let ExprKind::Binary(BinOp::Sub, mul, quoted) = &p.default.kind else { panic!() };
        assert_eq!(mul.span, at(src, "(a + b) * -3", 0));
        assert_eq!(quoted.span, at(src, "`x y`", 0));
        let ExprKind::Binary(BinOp::Mul, paren, neg) = &mul.kind else { panic!() };
        assert_eq!((paren.span, neg.span), (at(src, "(a + b)", 0), at(src, "-3", 0)));
        assert_eq!(neg.kind, ExprKind::Lit(Value::Int(-3)));
    }

    #[test]
    fn precedence_and_associativity() {
        for (text, want) in [
            ("a + b * c", "(+ a (* b c))"),
            ("a - b - c", "(- (- a b) c)"),
            ("a / b % c * d", "(* (% (/ a b) c) d)"),
            ("not a and b", "(and (not a) b)"),
            ("not a == b", "(not (== a b))"),
            ("a or b and c", "(or a (and b c))"),
            ("x in [1,2] or y is not null", "(or (in x [1 2]) (is-not-null y))"),
            ("x not in [1] and y is null", "(and (not-in x [1]) (is-null y))"),
            ("a + 1 < b * 2", "(< (+ a 1) (* b 2))"),
            ("-a * b", "(* (neg a) b)"),
            ("- -x", "(neg (neg x))"),
            ("(a + b) * c", "(* (+ a b) c)"),
            ("if a > 1 then x else if b then y else z", "(if (> a 1) x (if b y z))"),
            ("if c then a or b else d", "(if c (or a b) d)"),
            ("s.f + lower(t, 1) != \"x\"", "(!= (+ s.f lower(t 1)) \"x\")"),
            ("count()", "count()"),
            ("first(x) <= last(x)", "(<= first(x) last(x))"),
            ("{ a: 1, `b c`: [x] }", "{a: 1, b c: [x]}"),
        ] {
            assert_eq!(sexp(&expr(text)), want, "{text}");
        }
    }

    #[test]
    fn literals() {
        let lit = |text: &str| match expr(text).kind {
            ExprKind::Lit(v) => v,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(lit("42"), Value::Int(42));
        assert_eq!(lit("-7"), Value::Int(-7));
        assert_eq!(lit("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(lit("3.5"), Value::float(3.5));
        assert_eq!(lit("1e6"), Value::float(1e6));
        assert_eq!(lit("2.5e-3"), Value::float(2.5e-3));
        assert_eq!(lit("-1.5E+2"), Value::float(-150.0));
        assert_eq!(lit(r#""a\"b\\c\/\n\t\u00e9\ud83d\ude00""#), Value::str("a\"b\\c/\n\té😀"));
        assert_eq!(lit("true"), Value::Bool(true));
        assert_eq!(lit("false"), Value::Bool(false));
        assert_eq!(lit("null"), Value::Null);
        for (text, ms) in [("250ms", 250), ("10s", 10_000), ("5m", 300_000), ("2h", 7_200_000)] {
            assert_eq!(lit(text), Value::Duration(ms), "{text}");
        }
        assert_eq!(lit("1d"), Value::Duration(86_400_000));
        assert_eq!(lit("-2s"), Value::Duration(-2000));
        assert_eq!(lit("@2024-05-01T12:00:00Z"), Value::Timestamp(1_714_564_800_000));
        assert_eq!(lit("@2024-05-01T12:00:00.250Z"), Value::Timestamp(1_714_564_800_250));
        assert_eq!(lit("@2024-05-01T14:00:00+02:00"), Value::Timestamp(1_714_564_800_000));
        assert_eq!(sexp(&expr("[1, 2, 3,]")), "[1 2 3]");
        assert_eq!(sexp(&expr("[]")), "[]");
        assert_eq!(sexp(&expr("{}")), "{}");
        // Words that merely start with a keyword are names.
        assert_eq!(sexp(&expr("nullable + trueish + int_x")), "(+ (+ nullable trueish) int_x)");
    }

    #[test]
    fn names_and_keywords() {
        // Backquoted names anywhere a field name goes; contextual words are plain names.
        assert_eq!(sexp(&expr("`user-id` + loop + max(as, desc, left)")), "(+ (+ user-id loop) max(as desc left))");
        let src = "stream s = x | derive { `a b`: `c-d`.`e f` }";
        let s = stream(&ok(src), "s");
        let StageKind::Derive(fields) = &s.pipe.stages[0].kind else { panic!() };
        assert_eq!(fields[0].0.node, "a b");
        assert_eq!(fields[0].0.span, at(src, "`a b`", 0));
        assert_eq!(sexp(&fields[0].1), "c-d.e f");
        // A keyword is a fine label before ':'.
        ok("stream s = x | select { top: 1, source: 2, by: 3 }");
    }

    #[test]
    fn literal_errors_are_diagnostics() {
        let d = err("param p: int = 9223372036854775808");
        assert_eq!(d.message, "integer literal 9223372036854775808 is out of range");
        assert_eq!(d.span, Span::new(15, 34));
        let d = err("param p: duration = 5min");
        assert_eq!(d.message, "unknown duration unit 'min'");
        assert_eq!(d.span, Span::new(21, 24));
        assert_eq!(d.help.as_deref(), Some("did you mean '5m'?"));
        let d = err("param p: duration = 99999999999999999d");
        assert_eq!(d.message, "duration 99999999999999999d is out of range");
        let d = err("param p: timestamp = @2024-13-01T00:00:00Z");
        assert_eq!(d.message, "invalid timestamp @2024-13-01T00:00:00Z");
        assert_eq!(d.span, Span::new(21, 42));
        let d = err(r#"param p: string = "a\qb""#);
        assert_eq!(d.message, r"unknown escape '\q' in a string");
        assert_eq!(d.span, Span::new(20, 22));
        let d = err(r#"param p: string = "\ud800x""#);
        assert_eq!(d.message, "invalid unicode escape in a string");
        let d = err("param p: float = 1e999");
        assert_eq!(d.message, "float literal 1e999 is out of range");
        let d = err(r#"source s = file(format: "csv", "a.csv")"#);
        assert_eq!(d.message, "positional argument after a named one");
        // Several bad literals are all reported.
        assert_eq!(parse("param a: int = 5x\nparam b: int = 6y").map_err(|d| d.len()), Err(2));
    }

    #[test]
    fn syntax_errors() {
        // (text, message, error at the first occurrence of this, label, help)
        let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
            ("steam hot = bids", "expected a declaration", "steam", "found 'steam'", Some("did you mean 'stream'?")),
            ("stream s = x | filter", "expected an expression", "", "found end of file", None),
            (
                "stream s = x | filter price = 3",
                "expected '|' or a declaration",
                "= 3",
                "found '='",
                Some("use '==' to compare values"),
            ),
            ("stream s = x | filtr a", "expected a stage", "filtr", "found 'filtr'", Some("did you mean 'filter'?")),
            ("stream s = x | select { a: 1 b }", "expected ',' or '}'", "b }", "found 'b'", None),
            ("schema A { a: int b: int }", "expected ',' or '}'", "b:", "found 'b'", None),
            (
                "stream s = x | filter a < b < c",
                "expected '|' or a declaration",
                "< c",
                "found '<'",
                Some("comparisons do not chain: combine them with 'and'"),
            ),
            (
                "stream filter = x",
                "expected a name",
                "filter",
                "found 'filter'",
                Some("'filter' is a keyword; write `filter` in backquotes to use it as a name"),
            ),
            ("stream s = x | window tumbling 10s", "expected '('", "10s", "found '10s'", None),
            (
                "stream s = x | window hop(1s)",
                "expected 'tumbling', 'sliding' or 'session'",
                "hop",
                "found 'hop'",
                None,
            ),
            ("stream s = x | join y on a = b", "expected '=='", "= b", "found '='", Some("use '==' to compare values")),
            ("stream s = x | group auction", "expected 'by'", "auction", "found 'auction'", None),
            ("stream s = x | filter if a then b", "expected 'else'", "", "found end of file", None),
            ("sink x => file(\"a\")", "expected '->'", "=>", "found '='", None),
            ("stream s == x", "expected '='", "==", "found '=='", None),
            (
                "source s = file(\"a)\nstream t = s",
                "expected an argument or ')'",
                "\"a)",
                "found a string",
                Some("this string is not closed: add '\"' before the end of the line"),
            ),
            ("stream s = x | select { a: 1,\n", "expected a field or '}'", "", "found end of file", None),
        ];
        for (src, message, where_, label, help) in cases {
            let d = err(src);
            assert_eq!(d.message, format!("syntax error: {message}"), "{src}");
            let start = if where_.is_empty() { src.len() } else { at(src, where_, 0).start };
            assert_eq!(d.span.start, start, "{src}");
            // The caret underlines the token the label names (one character of a string).
            match label.strip_prefix("found '").and_then(|l| l.strip_suffix('\'')) {
                Some(token) => assert_eq!(&src[d.span.start..d.span.end], token, "{src}"),
                None => assert_eq!(d.span.end - d.span.start, usize::from(!where_.is_empty()), "{src}"),
            }
            assert_eq!(&d.label, label, "{src}");
            assert_eq!(d.help.as_deref(), *help, "{src}");
        }
    }

    /// After a syntax error, parsing starts again at the next declaration, so every broken
    /// declaration is reported, once, and nothing about the sound ones in between.
    #[test]
    fn every_syntax_error_is_reported() {
        let src = "stream a = = x\n\
                   stream b = x | filter (\n\
                   sink a -> stdout()\n\
                   stream c = x | select { stream }\n\
                   # a comment with sink in it\n\
                   sink c => stdout()\n\
                   stream d = x | select { sink: 1 }\n";
        let diags = parse(src).expect_err("four broken declarations");
        let lines: Vec<usize> = diags.iter().map(|d| crate::span::line_col(src, d.span.start).0).collect();
        assert_eq!(lines, [1, 3, 4, 6], "{diags:?}");
        // A file of thousands of broken declarations on one line is reported in linear time,
        // and at most MAX_SYNTAX_ERRORS of them.
        let many = "stream s = = x ".repeat(20_000);
        assert_eq!(parse(&many).expect_err("broken").len(), MAX_SYNTAX_ERRORS);
    }

    #[test]
    fn never_panics_on_broken_text() {
        // Every prefix, and the text with each character removed, parses or gives diagnostics.
        for src in [FIRST_PIPELINE, EVERYTHING] {
            for (i, c) in src.char_indices() {
                let _ = parse(&src[..i]);
                let _ = parse(&format!("{}{}", &src[..i], &src[i + c.len_utf8()..]));
            }
        }
        for text in ["", "# only a comment", "\r\n\t ", "é", "stream s = `", "param p: int = \"\\u12"] {
            let _ = parse(text);
        }
        assert_eq!(parse("  # nothing\n"), Ok(File { decls: Vec::new() }));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let parens = |n: usize| format!("param p: int = {}1{}", "(".repeat(n), ")".repeat(n));
        let negs = |n: usize| format!("param p: int = {}x", "- ".repeat(n));
        let nots = |n: usize| format!("param p: bool = {}x", "not ".repeat(n));
        let lists = |n: usize| format!("param p: int = {}{}", "[".repeat(n), "]".repeat(n));
        let loops = |n: usize| {
            let open = " | iterate (max 1) { loop".repeat(n);
            format!("stream s = x{open}{}", " }".repeat(n))
        };
        let types = |n: usize| format!("schema A {{ a: {}int{} }}", "list<".repeat(n), ">".repeat(n));
        for make in [parens, negs, nots, lists, loops, types] {
            let fine = make(MAX_DEPTH - 2);
            assert!(parse(&fine).is_ok(), "{fine}");
            for n in [MAX_DEPTH + 1, 1000, 3000, 100_000] {
                let d = parse(&make(n)).expect_err("too deep");
                assert_eq!(d.len(), 1, "{d:?}");
                assert!(d[0].message.contains("nested too deeply"), "{d:?}");
            }
        }
    }

    #[test]
    fn friendly_names_never_leak_rule_names() {
        for rule in [Rule::EOI, Rule::stage, Rule::kw_by, Rule::cmp_op, Rule::ident, Rule::rbrace] {
            let (name, _) = friendly(rule);
            assert!(!name.contains('_') && name != format!("{rule:?}"), "{name}");
        }
    }
}
