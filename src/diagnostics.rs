//! Diagnostics rendered for people: file:line:col, the source line, a caret under the span,
//! the label, and the suggestion — the one place where they become text.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label, Severity as Level};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::Buffer, Config};
use eddy_dsl::{Diagnostic, Severity};

/// Renders diagnostics about `text` (named `name`), with ANSI colours or without.
pub fn render(name: &str, text: &str, diags: &[Diagnostic], color: bool) -> String {
    let file = SimpleFile::new(name, text);
    let config = Config::default();
    let mut buffer = if color { Buffer::ansi() } else { Buffer::no_color() };
    for d in diags {
        let level = match d.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
        };
        let clamp = |s: usize| s.min(text.len());
        let (start, end) = (clamp(d.span.start), clamp(d.span.end.max(d.span.start)));
        let mut labels = Vec::new();
        if !d.is_global() {
            labels.push(Label::primary((), start..end).with_message(&d.label));
            for (span, message) in &d.related {
                labels.push(Label::secondary((), clamp(span.start)..clamp(span.end)).with_message(message));
            }
        }
        let mut report = Report::new(level).with_message(&d.message).with_labels(labels);
        if let Some(help) = &d.help {
            report = report.with_notes(vec![format!("help: {help}")]);
        }
        if term::emit_to_write_style(&mut buffer, &config, &file, &report).is_err() {
            return format!("{name}: {}", d.message);
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}
