//! Hand-written timely versions of Q3, Q7 and Q8, with the sources and the sink of
//! `tstruct.rs`:
//! - Q3: the local persons exchanged by id and the category-10 auctions by seller into a
//!   symmetric hash join (ids are unique: a person is kept, an auction only until its seller
//!   comes).
//! - Q7: each worker keeps the top of each window of its own bids (pipelined); a window's tops
//!   are exchanged by window and merged once every worker has closed it.
//! - Q8: persons exchanged by id and auctions by seller into per-window state, joined when
//!   the frontiers of both inputs pass the window's end.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Filter;
use timely::dataflow::operators::Capability;
use timely::dataflow::Scope;

use crate::baseline::{parse_time, Q5_WINDOW as WINDOW};
use crate::baseline_join::{local, push_csv, q7_line, q8_line, AuctionQ3, AuctionQ8, BidQ7, PersonQ8, Q3_CATEGORY};
use crate::tstruct::{event_source, file_source, sink, Errors, Shared};
use crate::windows::{Q8Window, Top, TopBid};

/// Q3's owned person.
#[derive(Clone, Serialize, Deserialize)]
struct PersonQ3 {
    id: i64,
    name: String,
    city: String,
    state: String,
}

/// The end of the window of event time `t`, as a timely time.
fn window_end(t: i64) -> u64 {
    (t.div_euclid(WINDOW) * WINDOW + WINDOW).max(0) as u64
}

/// Q3: `name,city,state,auction` for every category-10 auction of a local seller.
pub fn q3(scope: Scope<'_, u64>, data: &Path, errors: Errors, read: Rc<Cell<u64>>, target: (Shared, Errors)) {
    let persons = file_source::<PersonQ3>(scope, data.join("persons.jsonl"), errors.clone(), read.clone())
        .filter(|p| local(&p.state));
    let auctions = file_source::<AuctionQ3>(scope, data.join("auctions.jsonl"), errors, read)
        .filter(|a| a.category == Q3_CATEGORY);
    let by_id = Exchange::new(|p: &PersonQ3| p.id as u64);
    let by_seller = Exchange::new(|a: &AuctionQ3| a.seller as u64);
    let joined = persons
        .binary(auctions, by_id, by_seller, "Q3Join", |_cap, _info| {
            // Per local person: the start of its output lines, `name,city,state,`.
            let mut sellers: HashMap<i64, Rc<str>> = HashMap::new();
            // Auctions (ids) by seller, until the seller comes.
            let mut waiting: HashMap<i64, Vec<i64>> = HashMap::new();
            move |persons, auctions, output| {
                persons.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for p in data.drain(..) {
                        let mut prefix = String::with_capacity(48);
                        for cell in [&p.name, &p.city, &p.state] {
                            push_csv(&mut prefix, cell);
                            prefix.push(',');
                        }
                        let prefix: Rc<str> = prefix.into();
                        for auction in waiting.remove(&p.id).unwrap_or_default() {
                            session.give((Rc::clone(&prefix), auction));
                        }
                        sellers.insert(p.id, prefix);
                    }
                });
                auctions.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for a in data.drain(..) {
                        match sellers.get(&a.seller) {
                            Some(prefix) => session.give((Rc::clone(prefix), a.id)),
                            None => waiting.entry(a.seller).or_default().push(a.id),
                        }
                    }
                });
            }
        })
        .container::<Vec<_>>();
    sink(joined, target, |(prefix, auction), out| {
        use std::io::Write;
        out.extend_from_slice(prefix.as_bytes());
        let _ = writeln!(out, "{auction}");
    });
}

/// Q7: every bid at the highest price of its window, with the window.
pub fn q7(scope: Scope<'_, u64>, data: &Path, errors: Errors, read: Rc<Cell<u64>>, target: (Shared, Errors)) {
    let bids = event_source(scope, "Q7Source", data.join("bids.jsonl"), errors, read, |line| {
        let b: BidQ7 = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let t = parse_time(&b.date_time).map_err(|e| e.to_string())?;
        Ok((t, TopBid { auction: b.auction, bidder: b.bidder, price: b.price, t }))
    });
    // This worker's top of each window, sent (at the window's end) when its frontier passes the end.
    let partial = bids
        .unary_frontier(Pipeline, "Q7Top", |_cap, _info| {
            let mut windows: HashMap<u64, (Capability<u64>, Top)> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for bid in data.drain(..) {
                        let end = window_end(bid.t);
                        let (_, top) = windows.entry(end).or_insert_with(|| {
                            let at = cap.least().map_or(end, |t| end.max(*t));
                            (cap.delayed(&at, 0), Top::default())
                        });
                        top.add(bid);
                    }
                });
                windows.retain(|&end, (cap, top)| {
                    if frontier.less_than(&end) {
                        return true;
                    }
                    output.session(&*cap).give((end, std::mem::take(top)));
                    false
                });
            }
        })
        .container::<Vec<_>>();
    // The tops of a window from every worker. Records are never behind their source's
    // watermark, so a top is sent at exactly its window's end: the window is complete once
    // the frontier is past its end.
    let by_window = Exchange::new(|(end, _): &(u64, Top)| end / WINDOW as u64);
    let merged = partial
        .unary_frontier(by_window, "Q7Merge", |_cap, _info| {
            let mut windows: HashMap<u64, (Capability<u64>, Top)> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (end, top) in data.drain(..) {
                        let (_, merged) = windows.entry(end).or_insert_with(|| {
                            let at = cap.least().map_or(end, |t| end.max(*t));
                            (cap.delayed(&at, 0), Top::default())
                        });
                        merged.merge(top);
                    }
                });
                windows.retain(|&end, (cap, top)| {
                    if frontier.less_equal(&end) {
                        return true;
                    }
                    let start = end as i64 - WINDOW;
                    output.session(&*cap).give_iterator(std::mem::take(&mut top.bids).into_iter().map(|b| (start, b)));
                    false
                });
            }
        })
        .container::<Vec<_>>();
    sink(merged, target, |(start, bid), out| {
        let mut line = String::new();
        q7_line(&mut line, *start, bid);
        out.extend_from_slice(line.as_bytes());
    });
}

/// Q8: `person,name,auction,window_start,window_end` for the persons and the auctions they
/// opened in the same window.
pub fn q8(scope: Scope<'_, u64>, data: &Path, errors: Errors, read: Rc<Cell<u64>>, target: (Shared, Errors)) {
    let persons = event_source(scope, "Q8Persons", data.join("persons.jsonl"), errors.clone(), read.clone(), |line| {
        let p: PersonQ8 = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let t = parse_time(&p.date_time).map_err(|e| e.to_string())?;
        Ok((t, (p.id, p.name.into_owned(), t)))
    });
    let auctions = event_source(scope, "Q8Auctions", data.join("auctions.jsonl"), errors, read, |line| {
        let a: AuctionQ8 = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let t = parse_time(&a.date_time).map_err(|e| e.to_string())?;
        Ok((t, (a.id, a.seller, t)))
    });
    let by_id = Exchange::new(|(id, _, _): &(i64, String, i64)| *id as u64);
    let by_seller = Exchange::new(|(_, seller, _): &(i64, i64, i64)| *seller as u64);
    let joined = persons
        .binary_frontier(auctions, by_id, by_seller, "Q8Join", |_cap, _info| {
            let mut windows: HashMap<u64, (Capability<u64>, Q8Window<String>)> = HashMap::new();
            move |(persons, persons_frontier), (auctions, auctions_frontier), output| {
                persons.for_each(|cap, data| {
                    for (id, name, t) in data.drain(..) {
                        let end = window_end(t);
                        let (_, window) = windows.entry(end).or_insert_with(|| {
                            let at = cap.least().map_or(end, |t| end.max(*t));
                            (cap.delayed(&at, 0), Q8Window::default())
                        });
                        window.person(id, name);
                    }
                });
                auctions.for_each(|cap, data| {
                    for (id, seller, t) in data.drain(..) {
                        let end = window_end(t);
                        let (_, window) = windows.entry(end).or_insert_with(|| {
                            let at = cap.least().map_or(end, |t| end.max(*t));
                            (cap.delayed(&at, 0), Q8Window::default())
                        });
                        window.auction(id, seller);
                    }
                });
                windows.retain(|&end, (cap, window)| {
                    if persons_frontier.less_than(&end) || auctions_frontier.less_than(&end) {
                        return true;
                    }
                    let start = end as i64 - WINDOW;
                    let rows = window.matches().map(|(person, name, auction)| (start, person, name.clone(), auction));
                    output.session(&*cap).give_iterator(rows);
                    false
                });
            }
        })
        .container::<Vec<_>>();
    sink(joined, target, |(start, person, name, auction), out| {
        let mut line = String::new();
        q8_line(&mut line, *start, *person, name, *auction);
        out.extend_from_slice(line.as_bytes());
    });
}
