//! Unit tests of join conditions: which are keys, which are predicates, and their mistakes.

use crate::check::Options;
use crate::plan::{Node, NodeKind, Plan};
use crate::span::line_col;

const HEAD: &str = "schema Bid { auction: int, price: int, at: timestamp }\n\
                    schema Auction { id: int, reserve: int, price: int, at: timestamp }\n\
                    source bids: Bid = file(\"b.jsonl\") watermark at - 1s\n\
                    source auctions: Auction = file(\"a.jsonl\") watermark at - 1s\n\
                    stream a10 = auctions | window tumbling(10s)\n";

fn plan(stages: &str) -> Plan {
    let src = format!("{HEAD}stream s = bids | {stages}\nsink s -> stdout()\n");
    match crate::compile(&src, &Options::default()) {
        Ok((plan, _)) => plan,
        Err(diags) => panic!("{stages}: {:?}", diags.iter().map(|d| &d.message).collect::<Vec<_>>()),
    }
}

/// The join's keys (`left == right`, named by each side's schema) and its predicate (named by
/// the joined schema).
fn join(stages: &str) -> (Vec<String>, Option<String>) {
    let plan = plan(stages);
    let node: &Node = plan.nodes.iter().find(|n| matches!(n.kind, NodeKind::Join { .. })).expect("a join");
    let NodeKind::Join { left, right, left_keys, right_keys, predicate, .. } = &node.kind else { unreachable!() };
    let (ls, rs) = (&plan.nodes[*left].schema, &plan.nodes[*right].schema);
    let keys = left_keys.iter().zip(right_keys).map(|(l, r)| format!("{} == {}", l.show(ls), r.show(rs))).collect();
    (keys, predicate.as_ref().map(|p| p.show(&node.schema).to_string()))
}

/// The errors of a pipeline, as `line:column: message`.
fn errors(stages: &str) -> Vec<String> {
    let src = format!("{HEAD}stream s = bids | {stages}\nsink s -> stdout()\n");
    let Err(diags) = crate::compile(&src, &Options::default()) else { panic!("{stages}: no error") };
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let (line, col) = line_col(&src, d.span.start);
            format!("{line}:{col}: {}", d.message)
        })
        .collect()
}

#[test]
fn an_equality_of_one_field_of_each_side_is_a_key_the_rest_predicates() {
    let (keys, predicate) = join("join auctions on auction == id and bids.price > reserve");
    assert_eq!(keys, ["auction == id"]);
    assert_eq!(predicate.as_deref(), Some("(bids.price > reserve)"));
    // Reversed, the key is normalised: the piped stream's side first.
    let (keys, _) = join("join auctions on id == auction and reserve == bids.price");
    assert_eq!(keys, ["auction == id", "price == reserve"]);
    // In any order: a predicate may come first.
    let (keys, predicate) = join("join auctions on reserve < 10 and auction == id");
    assert_eq!((keys, predicate.as_deref()), (vec!["auction == id".to_string()], Some("(reserve < 10)")));
}

#[test]
fn equalities_that_do_not_read_one_side_each_are_predicates() {
    let (keys, predicate) = join(
        "join auctions on auction == id and auction == 3 and bids.price == auctions.price + 1 and auction + id == 4",
    );
    // A key may be computed, over one side's fields each.
    assert_eq!(keys, ["auction == id", "price == (price + 1)"]);
    assert_eq!(predicate.as_deref(), Some("((auction == 3) and ((auction + id) == 4))"));
    // Over this side's fields only (a filter of the left records, in effect).
    let (keys, predicate) = join("left join auctions on auction == id and auction == bids.price");
    assert_eq!((keys.len(), predicate.as_deref()), (1, Some("(auction == bids.price)")));
}

#[test]
fn every_kind_of_join_carries_its_predicate() {
    let (_, p) = join("join auctions on auction == id and bids.price > reserve within 5s");
    assert_eq!(p.as_deref(), Some("(bids.price > reserve)"));
    let (_, p) = join("window tumbling(10s) | join a10 on auction == id and bids.price > reserve");
    assert_eq!(p.as_deref(), Some("(bids.price > reserve)"));
    let plan = plan("window tumbling(10s) | left join a10 on auction == id and bids.at < a10.at");
    let kinds: Vec<String> = plan.nodes.iter().map(|n| format!("{:?}", n.kind)).collect();
    assert!(kinds.iter().any(|k| k.starts_with("Join") && k.contains("Windowed")), "{kinds:?}");
}

#[test]
fn a_join_without_a_key_is_an_error() {
    assert_eq!(
        errors("join auctions on bids.price > reserve and auction == 3"),
        ["6:36: a join needs at least one key: an equality between a field of each side"]
    );
    assert_eq!(
        errors("join auctions on auction == id or auction == reserve"),
        ["6:36: a join needs at least one key: an equality between a field of each side"]
    );
}

#[test]
fn a_predicate_must_be_a_bool() {
    assert_eq!(
        errors("join auctions on auction == id and reserve + 1"),
        ["6:54: a join condition must be a bool, found int"]
    );
}

#[test]
fn a_name_on_both_sides_must_be_qualified_in_a_predicate() {
    assert_eq!(
        errors("join auctions on auction == id and price > reserve"),
        ["6:54: 'price' is ambiguous: both sides of the join have it"]
    );
}

#[test]
fn a_mistaken_key_is_reported_once_as_a_key() {
    // `idd` is unknown on the other side; `price` (on both) is not also called ambiguous.
    assert_eq!(errors("join auctions on price == idd"), ["6:45: unknown field 'idd'"]);
    assert_eq!(errors("join auctions on idd == auction"), ["6:36: unknown field 'idd'"]);
}

#[test]
fn predicates_after_within_are_an_error_that_says_where_they_go() {
    let src =
        format!("{HEAD}stream s = bids | join auctions on auction == id within 5s and price > 1\nsink s -> stdout()\n");
    let Err(diags) = crate::compile(&src, &Options::default()) else { panic!("no error") };
    let diags: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].message, "join conditions go before `within`");
    assert_eq!(&src[diags[0].span.start..diags[0].span.end], "price > 1");
}

#[test]
fn explain_shows_the_predicate_after_the_keys() {
    let text = plan("join auctions on auction == id and bids.price > reserve and bids.at <= auctions.at").to_string();
    let line =
        "on auction == id; where (bids.price > reserve) and (bids.at <= auctions.at); both sides exchanged by key";
    assert!(text.contains(line), "{text}");
    let text = plan("join auctions on auction == id").to_string();
    assert!(text.contains("on auction == id; both sides exchanged by key"), "{text}");
}

#[test]
fn the_fields_a_predicate_reads_are_decoded() {
    let plan = plan("join auctions on auction == id and reserve > bids.price | select { auction }");
    let used = |name: &str| {
        let node = plan.nodes.iter().find(|n| n.name == name).expect("the source");
        let NodeKind::Source { used, .. } = &node.kind else { panic!("{name} is no source") };
        node.schema.names().zip(used).filter(|(_, u)| **u).map(|(n, _)| n.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(used("auctions"), ["id", "reserve", "at"]);
    assert_eq!(used("bids"), ["auction", "price", "at"]);
}
