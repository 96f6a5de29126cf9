//! Diagnostics: mistakes in a pipeline, as data. Rendering happens at the edge (the CLI).

use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a pipeline: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The headline, e.g. `unknown field 'prise'`.
    pub message: String,
    /// The primary span, underlined with a caret.
    pub span: Span,
    /// Text printed under the caret, e.g. what was expected.
    pub label: String,
    /// Secondary spans (e.g. the first definition of a duplicate name).
    pub related: Vec<(Span, String)>,
    /// A suggestion, e.g. `did you mean 'price'?`.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            help: None,
        }
    }

    /// A finding about the command line or the program, not about a place in the text.
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(Span::new(usize::MAX, usize::MAX), message)
    }

    /// Whether the diagnostic points at no place in the text.
    pub fn is_global(&self) -> bool {
        self.span.start == usize::MAX
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(span, message) }
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean 'x'?" when one of `candidates` is close to `name`.
    pub fn suggest<'a>(self, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
        match suggest(name, candidates) {
            Some(s) => self.help(format!("did you mean '{s}'?")),
            None => self,
        }
    }

    /// Sets the help unless there is one already (e.g. from `suggest`).
    pub fn or_help(self, help: impl Into<String>) -> Diagnostic {
        if self.help.is_some() {
            self
        } else {
            self.help(help)
        }
    }

    pub fn related(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.related.push((span, text.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest of `candidates` to `name`, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, with a transposition counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(suggest("prise", ["price", "auction", "bidder"]), Some("price"));
        assert_eq!(suggest("aucton", ["price", "auction"]), Some("auction"));
        assert_eq!(suggest("xyz", ["price", "auction"]), None);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
