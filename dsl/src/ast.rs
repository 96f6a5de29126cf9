//! The syntax tree of a pipeline file, as written, with a span on every node.

use crate::span::{Span, Spanned};
use crate::value::Value;

pub type Ident = Spanned<String>;

/// A whole `.eddy` file: its declarations in order.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub decls: Vec<Decl>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decl {
    Schema(SchemaDecl),
    Param(ParamDecl),
    Source(SourceDecl),
    Stream(StreamDecl),
    Sink(SinkDecl),
    Test(TestDecl),
}

/// `schema Name { field: type, ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaDecl {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
}

/// A type as written: `int`, `string?`, `list<float>`, `list<int?>?`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    /// `bool int float string timestamp duration list` or a misspelling of one.
    pub name: Ident,
    /// The element type of `list<T>`.
    pub arg: Option<Box<TypeExpr>>,
    /// The fields of a record type `{ ... }` (then `name` is `{`).
    pub record: Option<Vec<FieldDecl>>,
    pub nullable: bool,
    pub span: Span,
}

/// `param name: type = literal`
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Expr,
    pub span: Span,
}

/// `source name[: Schema] = connector(args...) [watermark FIELD - DURATION]`
#[derive(Clone, Debug, PartialEq)]
pub struct SourceDecl {
    pub name: Ident,
    pub schema: Option<Ident>,
    pub connector: Connector,
    pub watermark: Option<Watermark>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Watermark {
    pub field: Ident,
    /// The fields inside `field`, a record, down to a nested event time: `meta.ts`.
    pub path: Vec<Ident>,
    pub delay: Expr,
    pub span: Span,
}

/// `name(arg, key: arg, ...)`: positional arguments first, then named ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Connector {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

/// `stream name = input | stage | ...`
#[derive(Clone, Debug, PartialEq)]
pub struct StreamDecl {
    pub name: Ident,
    pub pipe: Pipe,
    pub span: Span,
}

/// An input followed by stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipe {
    pub input: StreamRef,
    pub stages: Vec<Stage>,
    pub span: Span,
}

/// A reference to a stream: `bids`, `bids.errors`, `bids.late`, or `loop` inside `iterate`.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRef {
    pub name: Ident,
    /// `errors` or `late` (or a misspelling, reported by check).
    pub side: Option<Ident>,
    pub span: Span,
}

/// `sink stream -> connector(args...)`
#[derive(Clone, Debug, PartialEq)]
pub struct SinkDecl {
    pub input: StreamRef,
    pub connector: Connector,
    pub span: Span,
}

/// `test "name" { given source = [records] ... advance source to TIME ... expect stream = [records] ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct TestDecl {
    pub name: Spanned<String>,
    pub steps: Vec<TestStep>,
    pub span: Span,
}

/// One clause of a test, in the order written.
#[derive(Clone, Debug, PartialEq)]
pub enum TestStep {
    /// Records fed to a source (after those of earlier `given`s).
    Given(StreamRef, Expr),
    /// Moves a source's watermark to a time: records behind it given later are late.
    Advance(StreamRef, Expr),
    /// The records a stream must hold when the test ends.
    Expect(StreamRef, Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub kind: StageKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StageKind {
    Filter(Expr),
    /// `select { a: EXPR, b }` — `b` alone is `b: b` (the name's span is the expression's).
    Select(Vec<(Ident, Expr)>),
    Derive(Vec<(Ident, Expr)>),
    Unnest {
        expr: Expr,
        alias: Ident,
    },
    Window(WindowSpec),
    GroupBy(Vec<Expr>),
    Aggregate(Vec<(Ident, Expr)>),
    /// `distinct` (keys empty) or `distinct by k, ...`.
    Distinct(Vec<Expr>),
    Top {
        n: Expr,
        /// The sort keys, the first first, each with whether it is descending.
        by: Vec<(Expr, bool)>,
        /// `with ties`: also the records equal on every sort key to the last kept one.
        ties: bool,
    },
    Join {
        left: bool,
        other: StreamRef,
        /// The conditions joined by `and`, as written: the checker tells the key equalities
        /// (`L == R`) from the predicates over the joined row.
        on: Vec<Expr>,
        within: Option<Expr>,
    },
    Union(Vec<StreamRef>),
    Iterate {
        max: Expr,
        body: Pipe,
    },
}

impl StageKind {
    /// The stage's keyword, as diagnostics name it.
    pub fn keyword(&self) -> &'static str {
        match self {
            StageKind::Filter(_) => "filter",
            StageKind::Select(_) => "select",
            StageKind::Derive(_) => "derive",
            StageKind::Unnest { .. } => "unnest",
            StageKind::Window(_) => "window",
            StageKind::GroupBy(_) => "group by",
            StageKind::Aggregate(_) => "aggregate",
            StageKind::Distinct(_) => "distinct",
            StageKind::Top { .. } => "top",
            StageKind::Join { .. } => "join",
            StageKind::Union(_) => "union",
            StageKind::Iterate { .. } => "iterate",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum WindowSpec {
    Tumbling(Expr),
    Sliding { size: Expr, every: Expr },
    Session { gap: Expr },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal: number, string, bool, null, duration, timestamp.
    Lit(Value),
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// `{ field: value, ... }` (records in `test` blocks).
    Record(Vec<(Ident, Expr)>),
    /// A field, param or (after a join) qualified field: `price`, `bids.price`.
    Name {
        qualifier: Option<Ident>,
        name: Ident,
    },
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x in [..]` / `x not in [..]`
    In {
        expr: Box<Expr>,
        list: Box<Expr>,
        negated: bool,
    },
    /// `x is null` / `x is not null`
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `record.field`, after another access (`user.address.city`: `user.address` is a
    /// `Name`) or an index (`items[0].sku`).
    Member {
        record: Box<Expr>,
        field: Ident,
    },
    /// `list[index]`.
    Index {
        list: Box<Expr>,
        index: Box<Expr>,
    },
    /// `f(args)`; `count()` has no arguments.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

impl Expr {
    /// Calls `f` on this expression and every one inside it, parents first. Iterative, so
    /// that walking a deep tree needs no deep stack.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        let mut todo = vec![self];
        while let Some(e) = todo.pop() {
            f(e);
            match &e.kind {
                ExprKind::Lit(_) | ExprKind::Name { .. } => {}
                ExprKind::List(items) | ExprKind::Call { args: items, .. } => todo.extend(items.iter().rev()),
                ExprKind::Record(fields) => todo.extend(fields.iter().rev().map(|(_, v)| v)),
                ExprKind::Unary(_, x) | ExprKind::IsNull { expr: x, .. } | ExprKind::Member { record: x, .. } => {
                    todo.push(x)
                }
                ExprKind::Binary(_, a, b)
                | ExprKind::In { expr: a, list: b, .. }
                | ExprKind::Index { list: a, index: b } => todo.extend([&**b, &**a]),
                ExprKind::If { cond, then, otherwise } => todo.extend([&**otherwise, &**then, &**cond]),
            }
        }
    }
}

impl Pipe {
    /// Every expression written in the pipe's stages, those of `iterate` bodies included.
    pub fn exprs(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        for stage in &self.stages {
            match &stage.kind {
                StageKind::Filter(e) | StageKind::Unnest { expr: e, .. } => out.push(e),
                StageKind::Select(items) | StageKind::Derive(items) | StageKind::Aggregate(items) => {
                    out.extend(items.iter().map(|(_, e)| e))
                }
                StageKind::Window(WindowSpec::Tumbling(e) | WindowSpec::Session { gap: e }) => out.push(e),
                StageKind::Window(WindowSpec::Sliding { size, every }) => out.extend([size, every]),
                StageKind::GroupBy(keys) | StageKind::Distinct(keys) => out.extend(keys),
                StageKind::Top { n, by, .. } => {
                    out.push(n);
                    out.extend(by.iter().map(|(e, _)| e));
                }
                StageKind::Join { on, within, .. } => {
                    out.extend(on);
                    out.extend(within);
                }
                StageKind::Union(_) => {}
                StageKind::Iterate { max, body } => {
                    out.push(max);
                    out.extend(body.exprs());
                }
            }
        }
        out
    }
}
