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
/// and the warnings; on failure, every diagnostic found.
pub fn compile(src: &str, options: &check::Options) -> Result<(plan::Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = parse::parse(src)?;
    let checked = check::check(&file, options)?;
    Ok((lower::lower(&checked), checked.warnings))
}
