//! Unit tests of the checker: every mistake reported once, none causing another.

use super::{check, Options};
use crate::diag::Diagnostic;
use crate::parse::parse;

/// The diagnostics of a pipeline checked with `options` (files are not looked for unless
/// asked), as `line: message`.
fn diagnostics_with(src: &str, options: &Options) -> Vec<String> {
    let file = parse(src).expect("the test pipelines parse");
    let diags = match check(&file, options) {
        Ok(checked) => checked.warnings,
        Err(diags) => diags,
    };
    diags.iter().map(|d| show(src, d)).collect()
}

fn diagnostics(src: &str) -> Vec<String> {
    diagnostics_with(src, &Options::default())
}

fn show(src: &str, d: &Diagnostic) -> String {
    let kind = if d.is_error() { "" } else { "warning: " };
    if d.is_global() {
        return format!("-: {kind}{}", d.message);
    }
    format!("{}: {kind}{}", crate::span::line_col(src, d.span.start).0, d.message)
}

const SCHEMA: &str = "schema Bid { auction: int, price: int }\n";

#[test]
fn every_bad_connector_argument_is_reported_in_one_run() {
    let src = format!(
        "{SCHEMA}source b: Bid = file(\"b.jsonl\", fromat: \"csv\", header: 1, delimiter: \";;\", follow: \"yes\")\n\
         sink b -> stdout()\n"
    );
    assert_eq!(
        diagnostics(&src),
        [
            "2: file() has no argument 'fromat'",
            "2: argument 'header' of file() must be a bool, found 1",
            "2: the delimiter must be one ASCII character, found \";;\": it has more than one character",
            "2: argument 'follow' of file() must be a bool, found string",
        ]
    );
}

#[test]
fn a_misspelt_argument_name_is_not_also_reported_missing() {
    let src = "source b = file(pth: \"b.txt\")\nsink b -> stdout()\n";
    assert_eq!(diagnostics(src), ["1: file() has no argument 'pth'"]);
    let src = "source b = file(format: \"text\")\nsink b -> stdout()\n";
    assert_eq!(diagnostics(src), ["1: file() needs the argument 'path'"]);
}

#[test]
fn the_streams_of_a_source_with_a_broken_connector_are_checked() {
    let src = format!(
        "{SCHEMA}source a: Bid = fiel(\"a.jsonl\")\nsource b: Bid = file(\"b.jsonl\", format: \"cvs\")\n\
         stream x = a | filter prise > 1\nstream y = b | filter pryce > 1\nsink x -> stdout()\nsink y -> stdout()\n"
    );
    assert_eq!(
        diagnostics(&src),
        [
            "2: unknown source connector 'fiel'",
            "3: unknown format 'cvs'",
            "4: unknown field 'prise'",
            "5: unknown field 'pryce'"
        ]
    );
}

#[test]
fn mistakes_downstream_of_a_broken_stream_are_reported_without_cascades() {
    let src = format!(
        "{SCHEMA}source b: Bid = file(\"b.jsonl\")\n\
         stream x = b | filter prise > 1 | select {{ auction, bad: nope, cents: price * 100 }}\n\
         stream y = x | filter bad > 1 and cents > 1 and centz > 1\n\
         stream z = y | group by auction | aggregate {{ n: count(), m: max(bad), w: sum(wrong) }}\n\
         stream v = z | filter n > 1 and m > 1 and w > 1 and q > 1\n\
         sink v -> stdout()\n"
    );
    assert_eq!(
        diagnostics(&src),
        [
            "3: unknown field 'prise'",
            "3: unknown field 'nope'",
            "4: unknown field 'centz'",
            "5: unknown field 'wrong'",
            "6: unknown field 'q'",
        ]
    );
}

#[test]
fn a_bad_param_value_is_reported_once() {
    let src = "param n: int = 10\nsource g = generate(nexmark: \"bid\", events: n)\n\
               stream s = g | filter price > n\nsink s -> stdout()\n\
               test \"t\" { given g = [] expect s = [{ auction: n, bidder: 1, price: n, channel: \"c\", url: \"u\", date_time: @2024-01-01T00:00:00Z }] }\n";
    let options = Options { params: vec![("n".into(), "lots".into())], ..Options::default() };
    assert_eq!(diagnostics_with(src, &options), ["1: --param n=lots: 'lots' is not a valid int"]);
}

#[test]
fn a_stream_whose_sink_connector_is_misspelt_is_used() {
    let src =
        format!("{SCHEMA}source b: Bid = file(\"b.jsonl\")\nstream x = b | filter price > 1\nsink x -> stdot()\n");
    assert_eq!(diagnostics(&src), ["4: unknown sink connector 'stdot'"]);
}

#[test]
fn now_is_an_error_in_a_batch_job_only() {
    let now = |source: &str| {
        format!("{SCHEMA}source b: Bid = {source}\nstream x = b | derive {{ t: now() }}\nsink x -> stdout()\n")
    };
    let batch = ["3: now() is only for streaming jobs, and this is a batch job"];
    assert_eq!(diagnostics(&now("file(\"b.jsonl\")")), batch);
    assert_eq!(diagnostics(&now("stdin()")), Vec::<String>::new());
    assert_eq!(diagnostics(&now("file(\"b.jsonl\", follow: true)")), Vec::<String>::new());
    // A test feeds the sources from the program, but the job is what the pipeline declares.
    let test_mode = Options { test_mode: true, rust_sinks: ["x".to_string()].into(), ..Options::default() };
    assert_eq!(diagnostics_with(&now("file(\"b.jsonl\")"), &test_mode), batch);
    assert_eq!(diagnostics_with(&now("stdin()"), &test_mode), Vec::<String>::new());
}

#[test]
fn sinks_that_clash_with_a_source_or_each_other_are_errors() {
    let src = format!(
        "{SCHEMA}source b: Bid = file(\"in/b.jsonl\")\nsink b -> file(\"./in/../in/b.jsonl\")\n\
         sink b -> file(\"out.csv\")\nsink b -> file(\"./out.csv\")\n\
         sink b -> stdout()\nsink b -> stdout(format: \"csv\", header: false)\nsink b -> stdout(format: \"text\")\n\
         sink b -> stdout(format: \"csv\")\n"
    );
    assert_eq!(
        diagnostics(&src),
        [
            "3: this sink writes './in/../in/b.jsonl', which a source reads",
            "5: two sinks write './out.csv'",
            "9: two sinks write to stdout, and one of them writes a CSV header",
        ]
    );
    // One file per worker is not the file itself.
    let parts = format!("{SCHEMA}source b: Bid = file(\"b.jsonl\")\nsink b -> file(\"b.jsonl\", partitioned: true)\n");
    assert_eq!(diagnostics(&parts), Vec::<String>::new());
}

#[test]
fn a_csv_delimiter_that_would_corrupt_records_is_an_error() {
    for (delimiter, why) in [
        ("\\n", "a line break ends a record"),
        ("\\r", "a line break ends a record"),
        ("\\\"", "a double quote quotes a field"),
        ("\\u0000", "NUL is not a delimiter"),
        ("é", "it is not ASCII"),
        ("", "it is empty"),
        ("ab", "it has more than one character"),
    ] {
        let src = format!(
            "{SCHEMA}source b: Bid = file(\"b.jsonl\")\nsink b -> file(\"o.csv\", delimiter: \"{delimiter}\")\n"
        );
        let diags = diagnostics(&src);
        assert_eq!(diags.len(), 1, "{delimiter}: {diags:?}");
        assert!(
            diags[0].starts_with("3: the delimiter must be one ASCII character") && diags[0].ends_with(why),
            "{diags:?}"
        );
    }
    let tab = format!("{SCHEMA}source b: Bid = file(\"b.jsonl\")\nsink b -> file(\"o.csv\", delimiter: \"\\t\")\n");
    assert_eq!(diagnostics(&tab), Vec::<String>::new());
}

#[test]
fn test_blocks_are_left_out_when_asked_and_their_names_are_unique() {
    let src = format!(
        "{SCHEMA}source b: Bid = file(\"b.jsonl\")\nsink b -> stdout()\n\
         test \"t\" {{ given b = [{{ auction: 1, price: 2, m: 1 }}] expect b = [] }}\ntest \"t\" {{ given b = [] expect b = [] }}\n"
    );
    assert_eq!(diagnostics(&src), ["4: unknown field 'm'", "5: two tests are named \"t\""]);
    let run = Options { ignore_tests: true, ..Options::default() };
    assert_eq!(diagnostics_with(&src, &run), Vec::<String>::new());
}

#[test]
fn a_cycle_is_reported_once() {
    let src = format!(
        "{SCHEMA}source b: Bid = file(\"b.jsonl\")\nstream x = y | union y, y | union y\nstream y = x | union x\nsink y -> stdout()\n"
    );
    assert_eq!(diagnostics(&src), ["3: streams form a cycle: x -> y -> x"]);
}

#[test]
fn an_input_that_is_a_directory_says_so() {
    let dir = std::env::temp_dir();
    let src = format!("{SCHEMA}source b: Bid = file({:?})\nsink b -> stdout()\n", dir.display().to_string());
    let options = Options { check_files: true, ..Options::default() };
    let diags = diagnostics_with(&src, &options);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].ends_with("is a directory, not a file"), "{diags:?}");
}

#[test]
fn the_stages_after_a_bad_window_size_or_join_condition_are_checked() {
    let src = "schema V { user: int, t: timestamp }\nsource v: V = file(\"v.jsonl\") watermark t - 1s\n\
               source w: V = file(\"w.jsonl\") watermark t - 1s\n\
               stream a = v | window tumbling(10) | group by user | aggregate { n: count() } | filter n > 1 and nn > 1\n\
               stream b = v | join w on usr == user | filter v.t > t0\n\
               sink a -> stdout()\nsink b -> stdout()\n";
    assert_eq!(
        diagnostics(src),
        [
            "4: the window size must be a constant positive duration, found int",
            "4: unknown field 'nn'",
            "5: unknown field 'usr'",
            "5: unknown field 't0'",
        ]
    );
}

#[test]
fn a_value_in_a_test_that_is_not_a_constant_is_an_error() {
    let src = "schema E { t: timestamp }\nsource e: E = stdin()\nsink e -> stdout()\n\
               test \"t\" { given e = [{ t: now() }] expect e = [] }\n";
    assert_eq!(diagnostics(src), ["4: a value in a test must be a constant"]);
}
