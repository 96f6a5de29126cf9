//! The Eddy pipeline language: text → AST (`parse`) → checked pipeline (`check`) → plan (`lower`).
//! Knows nothing of timely; the engine renders the plan.

pub mod ast;
pub mod check;
pub mod connectors;
pub mod diag;
pub mod eval;
mod explain;
pub mod functions;
pub mod json;
pub mod lower;
pub mod parse;
pub mod plan;
pub mod span;
pub mod time;
pub mod types;
pub mod value;

pub use diag::{Diagnostic, Severity};
pub use span::Span;
pub use types::{Base, Field, Schema, Type};
pub use value::{Row, Value, F64};

/// Parses, checks and lowers a pipeline: the whole front end in one call. On success, the plan
/// and the warnings; on failure, every diagnostic found. The `test` blocks are checked too
/// unless `options.ignore_tests` (a run ignores them, so their mistakes do not stop it).
pub fn compile(src: &str, options: &check::Options) -> Result<(plan::Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = parse::parse(src)?;
    let checked = check::check(&file, options)?;
    Ok((lower::lower(&checked), checked.warnings))
}

/// The `test` blocks of a pipeline, each with the plan it runs: every source fed by the test
/// (or by nothing), and the expected streams as sinks instead of the declared ones.
pub fn compile_tests(
    src: &str,
    options: &check::Options,
) -> Result<Vec<(check::TestCase, plan::Plan)>, Vec<Diagnostic>> {
    let file = parse::parse(src)?;
    let checked = check::check(&file, options)?;
    let mut tests = Vec::new();
    for case in checked.tests {
        let options = check::Options {
            test_mode: true,
            check_files: false,
            // Checked above already.
            ignore_tests: true,
            rust_sinks: case.expects.iter().map(|e| e.stream.clone()).collect(),
            ..options.clone()
        };
        let checked = check::check(&file, &options)?;
        tests.push((case, lower::lower(&checked)));
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filter whose condition is `terms` of an operator chain, nested in `parens`.
    fn pipeline(terms: usize, op: &str, parens: usize) -> String {
        let chain = vec!["n > 0"; terms].join(&format!(" {op} "));
        let (open, close) = ("(".repeat(parens), ")".repeat(parens));
        format!(
            "schema R {{ n: int }}\nsource r: R = file(\"r.jsonl\")\n\
             stream s = r | filter {open}{chain}{close}\nsink s -> stdout()\n"
        )
    }

    /// The deepest expressions the parser accepts go through every recursive pass on a thread
    /// with the stack timely gives its workers and `cargo test` its threads (the default
    /// 2 MiB): parse, check, lower and explain there, and compiling and evaluating (what
    /// workers do) with a quarter of it, to leave room for the operators around them.
    #[test]
    fn deepest_expressions_fit_a_worker_stack() {
        const STACK: usize = 2 << 20;
        let on_thread = |stack: usize, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().stack_size(stack).spawn(f).expect("thread starts").join().is_ok()
        };
        for (terms, parens) in [(parse::MAX_DEPTH - 4, 0), (2, parse::MAX_DEPTH - 6), (30, 60)] {
            let src = pipeline(terms, "and", parens);
            let planned = std::sync::Arc::new(std::sync::Mutex::new(None));
            let out = std::sync::Arc::clone(&planned);
            let compiled = on_thread(
                STACK,
                Box::new(move || {
                    let (plan, _) = compile(&src, &check::Options::default()).expect("within the limit");
                    assert!(plan.to_string().contains("filter"));
                    *out.lock().expect("not poisoned") = Some(plan);
                }),
            );
            assert!(compiled, "{terms} terms in {parens} parentheses");
            let plan = planned.lock().expect("not poisoned").take().expect("a plan");
            let evaluated = on_thread(
                STACK / 4,
                Box::new(move || {
                    let plan::NodeKind::Map { steps, .. } = &plan.nodes[1].kind else { panic!("a map") };
                    let plan::Step::Filter(e) = &steps[0] else { panic!("a filter") };
                    assert_eq!(eval::compile(e)(&[Value::Int(1)]), Value::Bool(true));
                }),
            );
            assert!(evaluated, "{terms} terms in {parens} parentheses");
        }
    }

    /// A flat chain of thousands of terms used to overflow the stack (SIGABRT) in every pass;
    /// now it is one diagnostic, for each operator, at any length.
    #[test]
    fn long_operator_chains_are_a_diagnostic_not_a_crash() {
        for op in ["+", "*", "and", "or"] {
            for terms in [parse::MAX_DEPTH + 2, 7_000, 100_000] {
                let chain = vec!["n"; terms].join(&format!(" {op} "));
                let src = format!("schema R {{ n: int }}\nsource r: R = file(\"r.jsonl\")\nstream s = r | derive {{ x: {chain} }}\nsink s -> stdout()\n");
                let diags = compile(&src, &check::Options::default()).expect_err("too deep");
                assert_eq!(diags.len(), 1, "{op} x {terms}: {diags:?}");
                assert!(diags[0].message.contains("nested too deeply"), "{:?}", diags[0]);
            }
        }
    }

    /// A constant `regex_match` pattern is checked with the size limits before anything runs;
    /// at run time it is compiled once per compiled call, and one that cannot compile gives
    /// null rather than being compiled again for each record.
    #[test]
    fn regex_patterns_are_checked_once_and_bounded() {
        assert!(functions::regex_problem("\\w{1000}{1000}").is_some_and(|p| p.contains("too large")));
        assert!(functions::regex_problem("(x").is_some_and(|p| p.contains("unclosed group")));
        assert_eq!(functions::regex_problem("^a+$"), None);
        let call = |pattern: &str| plan::Expr::Call {
            func: functions::Function::Builtin(functions::Builtin::RegexMatch),
            args: vec![plan::Expr::Field(0), plan::Expr::Lit(Value::str(pattern))],
        };
        let matches = eval::compile(&call("^a+$"));
        assert_eq!(matches(&[Value::str("aaa")]), Value::Bool(true));
        assert_eq!(matches(&[Value::str("ab")]), Value::Bool(false));
        let broken = eval::compile(&call("\\w{1000}{1000}"));
        assert_eq!(broken(&[Value::str("a")]), Value::Null);
    }
}
