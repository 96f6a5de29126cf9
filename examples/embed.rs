//! Embedding Eddy in a Rust program: a pipeline from text, a Rust function it calls, a
//! source fed from a channel, and a stream's records received in a closure.
//!
//!     cargo run --example embed

use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use eddy::{Pipeline, RunConfig, Type, Value};

const PIPELINE: &str = r#"
schema Trade { symbol: string, qty: int, price: float }

param min_value: float = 1000.0

source trades: Trade = stdin()

stream large = trades
  | derive { value: qty * price }
  | filter value >= min_value
  | group by symbol
  | aggregate { trades: count(), value: sum(value), venue: first(venue_of(symbol)) }
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The trades arrive on a channel, here from another thread.
    let (tx, rx) = sync_channel(1024);
    let producer = std::thread::spawn(move || {
        for i in 0..10_000i64 {
            let symbol = ["ACME", "GLOBEX", "INITECH"][(i % 3) as usize];
            let row = vec![Value::str(symbol), Value::Int(i % 50), Value::float(10.0 + (i % 7) as f64)];
            if tx.send(row).is_err() {
                break;
            }
        }
    });

    let results = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&results);
    let summary = Pipeline::from_text("embedded.eddy", PIPELINE)
        .param("min_value", "300")
        .function("venue_of", &[Type::STRING], Type::STRING, |args| match args[0].as_str() {
            Some(s) if s.starts_with('A') => Value::str("NYSE"),
            Some(_) => Value::str("NASDAQ"),
            None => Value::Null,
        })
        .feed_channel("trades", rx)
        .on_records("large", move |record| {
            if let Ok(mut r) = sink.lock() {
                r.push(record.to_json());
            }
        })
        .run(&RunConfig { workers: 2, ..RunConfig::default() })?;
    producer.join().map_err(|_| "the producer failed")?;

    let mut results = results.lock().map_err(|_| "poisoned")?.clone();
    results.sort();
    for line in &results {
        println!("{line}");
    }
    eprint!("{summary}");
    Ok(())
}
