//! Diagnostics rendered for people: file:line:col, the source line, a caret under the span,
//! the label, and the suggestion — the one place where they become text.
//!
//! What is printed stays proportional to what a person can read, whatever the pipeline: at
//! most `MAX_SHOWN` diagnostics in full (errors first), then one line counting the others,
//! and a source line longer than `MAX_LINE` is shown as a window around its carets (with the
//! true line and column in the header). Without both, 2 000 errors on one long line printed
//! that line 2 000 times.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as Report, Label, Severity as Level};
use codespan_reporting::files::{Error as FilesError, Files, SimpleFile};
use codespan_reporting::term::{self, termcolor::Buffer, Config};
use eddy_dsl::{Diagnostic, Severity};

/// How many diagnostics are rendered in full.
pub const MAX_SHOWN: usize = 50;
/// Source lines longer than this (in bytes) are shortened around their carets.
const MAX_LINE: usize = 120;
/// How much of a long line is shown before the first caret.
const BEFORE: usize = 40;

/// Renders diagnostics about `text` (named `name`), with ANSI colours or without.
pub fn render(name: &str, text: &str, diags: &[Diagnostic], color: bool) -> String {
    let file = SimpleFile::new(name, text);
    let config = Config::default();
    let mut buffer = if color { Buffer::ansi() } else { Buffer::no_color() };
    let shown = chosen(diags);
    for d in diags.iter().enumerate().filter(|(i, _)| shown.contains(i)).map(|(_, d)| d) {
        let emitted = match Excerpt::of(name, text, d) {
            Some(excerpt) => {
                let report = report(d, |s| excerpt.offset(s));
                term::emit_to_write_style(&mut buffer, &config, &excerpt, &report)
            }
            None => {
                let clamp = |s: usize| s.min(text.len());
                term::emit_to_write_style(&mut buffer, &config, &file, &report(d, clamp))
            }
        };
        if emitted.is_err() {
            return format!("{name}: {}", d.message);
        }
    }
    let mut out = String::from_utf8_lossy(buffer.as_slice()).into_owned();
    out.push_str(&not_shown(diags, &shown));
    out
}

/// The indices of the diagnostics rendered in full: all of them when they are few, else the
/// first errors (and warnings if there is room), in their order.
fn chosen(diags: &[Diagnostic]) -> Vec<usize> {
    if diags.len() <= MAX_SHOWN {
        return (0..diags.len()).collect();
    }
    let errors = diags.iter().enumerate().filter(|(_, d)| d.is_error()).map(|(i, _)| i);
    let warnings = diags.iter().enumerate().filter(|(_, d)| !d.is_error()).map(|(i, _)| i);
    let mut shown: Vec<usize> = errors.chain(warnings).take(MAX_SHOWN).collect();
    shown.sort_unstable();
    shown
}

/// The line that counts the diagnostics not rendered, if any.
fn not_shown(diags: &[Diagnostic], shown: &[usize]) -> String {
    let hidden =
        |error: bool| diags.iter().enumerate().filter(|(i, d)| d.is_error() == error && !shown.contains(i)).count();
    let plural = |n: usize, what: &str| format!("{n} more {what}{}", if n == 1 { "" } else { "s" });
    match (hidden(true), hidden(false)) {
        (0, 0) => String::new(),
        (e, 0) => format!("note: {} not shown\n", plural(e, "error")),
        (0, w) => format!("note: {} not shown\n", plural(w, "warning")),
        (e, w) => format!("note: {} and {} not shown\n", plural(e, "error"), plural(w, "warning")),
    }
}

/// The codespan report of a diagnostic, its spans mapped by `at` (byte offsets into the file
/// the report is rendered from).
fn report(d: &Diagnostic, at: impl Fn(usize) -> usize) -> Report<()> {
    let level = match d.severity {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warning,
    };
    let mut labels = Vec::new();
    if !d.is_global() {
        let (start, end) = (at(d.span.start), at(d.span.end.max(d.span.start)));
        labels.push(Label::primary((), start..end).with_message(&d.label));
        for (span, message) in &d.related {
            labels.push(Label::secondary((), at(span.start)..at(span.end.max(span.start))).with_message(message));
        }
    }
    let mut report = Report::new(level).with_message(&d.message).with_labels(labels);
    if let Some(help) = &d.help {
        report = report.with_notes(vec![format!("help: {help}")]);
    }
    report
}

/// The lines a diagnostic points at, each shortened to a window around its spans when the
/// line is long, as a small file of its own that reports the original line and column
/// numbers. Spans are cut at the end of their first line and at the window's edge.
struct Excerpt<'a> {
    name: &'a str,
    original: &'a str,
    text: String,
    lines: Vec<Window>,
}

/// One shown line: where it starts in the excerpt, and which part of the original it shows.
struct Window {
    /// The excerpt's byte where this line starts, and where its shown part starts (after a `…`).
    start: usize,
    body: usize,
    /// The original line: its index, its byte range, and the part shown.
    line: usize,
    line_range: Range<usize>,
    shown: Range<usize>,
}

impl<'a> Excerpt<'a> {
    /// The excerpt of `d`, or `None` when every line it points at is short (shown as it is).
    fn of(name: &'a str, original: &'a str, d: &Diagnostic) -> Option<Excerpt<'a>> {
        if d.is_global() {
            return None;
        }
        let clamp = |s: usize| floor_char(original, s.min(original.len()));
        let spans: Vec<(usize, usize)> = std::iter::once((d.span.start, d.span.end))
            .chain(d.related.iter().map(|(s, _)| (s.start, s.end)))
            .map(|(s, e)| (clamp(s), clamp(e.max(s))))
            .collect();
        let line_of = |at: usize| line_bounds(original, at);
        if spans.iter().all(|(s, _)| line_of(*s).len() <= MAX_LINE) {
            return None;
        }
        let mut ranges: Vec<Range<usize>> = spans.iter().map(|(s, _)| line_of(*s)).collect();
        ranges.sort_by_key(|r| r.start);
        ranges.dedup();
        let mut excerpt = Excerpt { name, original, text: String::new(), lines: Vec::new() };
        for range in ranges {
            let on_line: Vec<(usize, usize)> =
                spans.iter().filter(|(s, _)| range.contains(s) || *s == range.end).copied().collect();
            excerpt.push_line(range, &on_line);
        }
        Some(excerpt)
    }

    fn push_line(&mut self, range: Range<usize>, spans: &[(usize, usize)]) {
        let first = spans.iter().map(|(s, _)| *s).min().unwrap_or(range.start);
        let from = floor_char(self.original, first.saturating_sub(BEFORE).max(range.start));
        let to = floor_char(self.original, (from + MAX_LINE).min(range.end));
        let start = self.text.len();
        if from > range.start {
            self.text.push('…');
        }
        let body = self.text.len();
        self.text.push_str(&self.original[from..to]);
        if to < range.end {
            self.text.push('…');
        }
        self.text.push('\n');
        let line = self.original[..range.start].matches('\n').count();
        self.lines.push(Window { start, body, line, line_range: range, shown: from..to });
    }

    /// Where an original byte offset is in the excerpt (clamped to its line's window).
    fn offset(&self, at: usize) -> usize {
        let at = at.min(self.original.len());
        let window = self
            .lines
            .iter()
            .rev()
            .find(|w| w.line_range.start <= at)
            .or(self.lines.first())
            .expect("an excerpt has a line");
        let inside = at.clamp(window.shown.start, window.shown.end);
        window.body + (inside - window.shown.start)
    }

    fn window(&self, line_index: usize) -> Result<&Window, FilesError> {
        self.lines.get(line_index).ok_or(FilesError::LineTooLarge { given: line_index, max: self.lines.len() })
    }
}

impl<'a> Files<'a> for Excerpt<'a> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, FilesError> {
        Ok(self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, FilesError> {
        Ok(&self.text)
    }

    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, FilesError> {
        Ok(self.lines.iter().rposition(|w| w.start <= byte_index).unwrap_or(0))
    }

    fn line_number(&'a self, (): (), line_index: usize) -> Result<usize, FilesError> {
        Ok(self.window(line_index)?.line + 1)
    }

    /// The column in the original line, counted in characters as codespan does.
    fn column_number(&'a self, (): (), line_index: usize, byte_index: usize) -> Result<usize, FilesError> {
        let w = self.window(line_index)?;
        let inside = byte_index.saturating_sub(w.body).min(w.shown.len());
        let original = w.shown.start + inside;
        Ok(self.original[w.line_range.start..original].chars().count() + 1)
    }

    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, FilesError> {
        let start = self.window(line_index)?.start;
        let end = self.lines.get(line_index + 1).map_or(self.text.len(), |w| w.start);
        Ok(start..end)
    }
}

/// The byte range of the line holding `at`, without its line break.
fn line_bounds(text: &str, at: usize) -> Range<usize> {
    let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
    start..end
}

/// `at`, moved back to the start of the character it falls in.
fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_dsl::Span;

    fn errors_on_one_line(n: usize) -> (String, Vec<Diagnostic>) {
        let line: String = (0..n).map(|i| format!("f{i} + ")).collect::<String>() + "0";
        let text = format!("# a pipeline\nstream s = x | derive {{ y: {line} }}\n");
        let diags = (0..n)
            .map(|i| {
                let at = text.find(&format!("f{i} ")).expect("the field is there");
                Diagnostic::error(Span::new(at, at + format!("f{i}").len()), format!("unknown field 'f{i}'"))
                    .label("not a field")
            })
            .collect();
        (text, diags)
    }

    /// 2 000 errors on one long line printed that line 2 000 times (40 MB); now 50 short
    /// excerpts and a count.
    #[test]
    fn many_errors_on_a_long_line_print_little() {
        let (text, diags) = errors_on_one_line(2_000);
        let out = render("p.eddy", &text, &diags, false);
        assert!(out.len() < 50 * 1_000, "{} bytes", out.len());
        assert_eq!(out.matches("\nerror: ").count() + usize::from(out.starts_with("error: ")), MAX_SHOWN);
        assert!(out.ends_with("note: 1950 more errors not shown\n"), "{}", &out[out.len() - 200..]);
        // The header keeps the true line and column; the caret sits under the name.
        let at = text.find("f1500 ").expect("there");
        let col = text[..at].chars().rev().take_while(|c| *c != '\n').count() + 1;
        let one = render("p.eddy", &text, &diags[1500..1501], false);
        assert!(one.contains(&format!("p.eddy:2:{col}")), "{one}");
        let caret_line = one.lines().find(|l| l.contains('^')).expect("a caret");
        let source_line = one.lines().find(|l| l.contains("f1500 + ")).expect("the line");
        let name_at = source_line[..source_line.find("f1500").expect("shown")].chars().count();
        assert_eq!(caret_line.chars().position(|c| c == '^'), Some(name_at), "{one}");
        assert!(source_line.chars().count() < MAX_LINE + 20, "{source_line}");
    }

    #[test]
    fn short_lines_are_shown_whole_and_few_diagnostics_all() {
        let (text, diags) = errors_on_one_line(3);
        let out = render("p.eddy", &text, &diags, false);
        assert!(out.contains("f0 + f1 + f2 + 0"), "{out}");
        assert!(!out.contains("not shown"), "{out}");
    }
}
