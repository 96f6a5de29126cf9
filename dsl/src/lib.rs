//! The Eddy pipeline language: text → AST (`parse`) → checked pipeline (`check`) → plan (`lower`).
//! Knows nothing of timely; the engine renders the plan.

pub mod ast;
pub mod check;
pub mod connectors;
pub mod diag;
pub mod eval;
mod explain;
pub mod functions;
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
