//! Syntax errors for people: pest's error turned into "expected ..., found ...", with the
//! friendly name of each rule and hints for common mistakes; and every syntax error of a
//! file, by starting again at the next declaration after each one.

use pest::error::{ErrorVariant, InputLocation};
use pest::Parser as _;

use super::{EddyParser, Rule};
use crate::diag::{suggest, Diagnostic};
use crate::span::Span;

/// How prominent an expected item is: `Low` ones (operators, `.`, `(`, end of file...) are
/// possible almost everywhere, so they are named only when nothing else is expected.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Prio {
    Normal,
    Low,
}

/// The friendly name of each rule in "expected ..." messages. Exhaustive on purpose: a new
/// grammar rule does not compile until it has a name here.
pub(super) fn friendly(rule: Rule) -> (&'static str, Prio) {
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
        record_type => ("a record type: { field: type, ... }", Normal),
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
        sort_key => ("a sort key", Normal),
        index => ("an index: [i]", Low),
        member => ("a field: .name", Low),
        with_ties => ("'with ties'", Low),
        join_cond => ("a join condition", Normal),
        expr | if_expr | or_expr | and_expr | not_expr | cmp_expr | arith | term | unary | neg | list | record
        | paren | call | name | postfix => ("an expression", Normal),
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

pub(super) const DECL_KEYWORDS: [&str; 6] = ["schema", "param", "source", "stream", "sink", "test"];
pub(super) const STAGE_KEYWORDS: [&str; 13] = [
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
pub(super) const RESERVED: [&str; 33] = [
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
pub(super) const MAX_SYNTAX_ERRORS: usize = 100;

/// Every syntax error of the file. Declarations begin with keywords, so after an error the
/// parser starts again at the next declaration keyword (`resume_at`) and goes on; the
/// declaration with the error is skipped to there. Each parse reads only from one
/// resumption point to the next error, so the whole costs about one parse of the file.
pub(super) fn syntax_errors(src: &str, first: pest::error::Error<Rule>) -> Vec<Diagnostic> {
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
pub(super) fn resume_at(src: &str, start: usize, pos: usize) -> Option<usize> {
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
pub(super) fn syntax_error(src: &str, pos: usize, err: &pest::error::Error<Rule>) -> Diagnostic {
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
pub(super) fn expected_names(positives: &[Rule]) -> Vec<&'static str> {
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

pub(super) enum Found<'a> {
    End,
    String,
    Token(&'a str),
}

/// What the text holds at `pos`, and a one-character (or, at the end, empty) span there.
pub(super) fn found_at(src: &str, pos: usize) -> (Span, Found<'_>) {
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
pub(super) fn help_for(src: &str, pos: usize, found: &Found, positives: &[Rule]) -> Option<String> {
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
    if token == "=" && expects(Rule::cmp_op) {
        return Some("use '==' to compare values".into());
    }
    let is_cmp = ["==", "!=", "<", "<=", ">", ">="].contains(&token);
    if is_cmp && !expects(Rule::cmp_op) && expects(Rule::add_op) {
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
