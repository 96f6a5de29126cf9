//! Tests of the parser: the AST with spans, literals, and syntax errors.

use super::syntax_error::*;
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
        ExprKind::Index { list, index } => format!("(at {} {})", sexp(list), sexp(index)),
        ExprKind::Member { record, field } => format!("(. {} {})", sexp(record), field.node),
    }
}

#[test]
fn parses_indexing_tighter_than_operators() {
    assert_eq!(sexp(&expr("xs[0]")), "(at xs 0)");
    assert_eq!(sexp(&expr("split(url, \"/\")[3]")), "(at split(url \"/\") 3)");
    assert_eq!(sexp(&expr("m[1][-1] + 2")), "(+ (at (at m 1) -1) 2)");
    assert_eq!(sexp(&expr("-xs[i + 1]")), "(neg (at xs (+ i 1)))");
    assert_eq!(sexp(&expr("[1, 2][0]")), "(at [1 2] 0)");
    // A long chain of indexes is nested too deeply for a diagnostic, not for the stack.
    let deep = format!("xs{}", "[0]".repeat(20_000));
    assert!(err(&format!("param p: int = {deep}")).message.contains("nested too deeply"));
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
    let StageKind::Top { by, ties: true, .. } = &t.pipe.stages[0].kind else { panic!() };
    assert_eq!(by.iter().map(|(e, desc)| (sexp(e), *desc)).collect::<Vec<_>>(), [("with".to_string(), true)]);
    let u = stream(&f, "u");
    let StageKind::Top { by, ties: true, .. } = &u.pipe.stages[0].kind else { panic!() };
    assert_eq!(by.iter().map(|(e, desc)| (sexp(e), *desc)).collect::<Vec<_>>(), [("ties".to_string(), false)]);
    let e = err("stream t = ev | top 2 by price with");
    assert!(e.message.contains("'ties'"), "{e:?}");
}

#[test]
fn parses_top_with_several_sort_keys() {
    let f = ok("stream t = ev | top 3 by price desc, t, n asc, len(s) desc with ties");
    let StageKind::Top { by, ties: true, .. } = &stream(&f, "t").pipe.stages[0].kind else { panic!() };
    let keys: Vec<(String, bool)> = by.iter().map(|(e, desc)| (sexp(e), *desc)).collect();
    let want = [("price", true), ("t", false), ("n", false), ("len(s)", true)];
    assert_eq!(keys, want.map(|(k, d)| (k.to_string(), d)));
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
    let [Stage { kind: StageKind::Iterate { max, body }, .. }] = &reach.pipe.stages[..] else { panic!("{reach:#?}") };
    assert_eq!(sexp(max), "100");
    assert_eq!(body.input.name.node, "loop");
    let kinds: Vec<&str> = body.stages.iter().map(|s| s.kind.keyword()).collect();
    assert_eq!(kinds, ["join", "select", "union", "distinct"]);
    let StageKind::Join { left, other, on, within } = &body.stages[0].kind else { panic!() };
    assert!(!left && within.is_none());
    assert_eq!(other.name.node, "edges");
    assert_eq!(on.iter().map(sexp).collect::<Vec<_>>(), ["(== node src)"]);
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
    assert!(matches!(&b.pipe.stages[1].kind, StageKind::Top { by, ties: false, .. } if by[0].1));
    let c = stream(&f, "c");
    assert!(matches!(&c.pipe.stages[0].kind, StageKind::Top { by, ties: false, .. } if !by[0].1));
    assert!(matches!(&c.pipe.stages[1].kind, StageKind::Distinct(k) if k.is_empty()));

    let d = stream(&f, "d");
    let StageKind::Join { left: true, on, within: Some(w), .. } = &d.pipe.stages[0].kind else { panic!() };
    let on: Vec<String> = on.iter().map(sexp).collect();
    assert_eq!(on, ["(== a.tag b.tag)", "(== (+ n 1) b.n)"]);
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
        ("stream s = x | window hop(1s)", "expected 'tumbling', 'sliding' or 'session'", "hop", "found 'hop'", None),
        (
            "stream s = x | join y on a = b",
            "expected 'within', '|' or a declaration",
            "= b",
            "found '='",
            Some("use '==' to compare values"),
        ),
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

/// `RESERVED` (the words the hints call keywords) is the grammar's `keyword` rule: the same
/// words, each one rejected as a name; a contextual word is a name.
#[test]
fn reserved_words_are_the_grammars_keywords() {
    let grammar = include_str!("../../../grammar/eddy.pest");
    let rule = grammar.split("\nkeyword = @{").nth(1).and_then(|r| r.split("~ !ident_char").next()).expect("the rule");
    let mut in_grammar: Vec<&str> = rule.split('"').skip(1).step_by(2).collect();
    let mut reserved = RESERVED.to_vec();
    in_grammar.sort_unstable();
    reserved.sort_unstable();
    assert_eq!(in_grammar, reserved);
    for word in RESERVED {
        assert!(EddyParser::parse(Rule::ident, word).is_err(), "{word} is a name");
    }
    for word in ["as", "left", "max", "given", "tumbling", "every"] {
        assert!(EddyParser::parse(Rule::ident, word).is_ok(), "{word} is not a name");
    }
}

/// The conditions of a join stage, as s-expressions, and its `within`.
fn join_conds(src: &str) -> (Vec<String>, Option<String>) {
    let f = ok(src);
    let s = stream(&f, "s");
    let StageKind::Join { on, within, .. } = &s.pipe.stages[0].kind else { panic!("{s:#?}") };
    (on.iter().map(sexp).collect(), within.as_ref().map(sexp))
}

#[test]
fn parses_join_predicates_as_conditions() {
    let src = "stream s = bids | join auctions on auction == id and price > reserve and not (a or b) \
               and bids.date_time <= expires within 5s\nsink s -> stdout()";
    let (on, within) = join_conds(src);
    assert_eq!(on, ["(== auction id)", "(> price reserve)", "(not (or a b))", "(<= bids.date_time expires)"]);
    assert_eq!(within.as_deref(), Some("5s"));
    // Parentheses around `and`s group nothing: the conditions are the same.
    let (on, _) = join_conds("stream s = bids | join a on (x == y and p) and q\nsink s -> stdout()");
    assert_eq!(on, ["(== x y)", "p", "q"]);
}

#[test]
fn parses_a_top_level_or_as_one_join_condition() {
    // `or` binds looser than `and`: the checker explains why this has no key.
    let (on, within) = join_conds("stream s = bids | left join a on x == y or p == q\nsink s -> stdout()");
    assert_eq!(on, ["(or (== x y) (== p q))"]);
    assert_eq!(within, None);
}

#[test]
fn rejects_a_join_without_conditions() {
    let src = "stream s = bids | join a on within 5s\nsink s -> stdout()";
    let d = err(src);
    assert!(d.message.starts_with("syntax error"), "{d:?}");
}
