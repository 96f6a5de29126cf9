//! What the checker knows about connectors: their arguments, and the schemas they bring.

use crate::types::{Field, Schema, Type};

/// Connectors a source may name.
pub const SOURCES: &[&str] = &["file", "stdin", "generate"];
/// Connectors a sink may name.
pub const SINKS: &[&str] = &["file", "stdout"];
/// Message-system connectors the language names but this build does not have yet.
pub const PLANNED: &[&str] = &["kafka", "http", "redis", "amqp", "nats"];

/// The named arguments each connector accepts (the first positional one is `path` for `file`).
pub fn arguments(connector: &str, is_source: bool) -> &'static [&'static str] {
    match (connector, is_source) {
        ("file", true) => &["path", "format", "header", "delimiter", "follow", "idle", "epoch"],
        ("file", false) => &["path", "format", "header", "delimiter", "partitioned"],
        ("stdin", true) => &["format", "header", "delimiter", "idle", "epoch"],
        ("stdout", _) => &["format", "header", "delimiter"],
        ("generate", _) => &["nexmark", "events", "seed", "rate", "idle", "epoch"],
        _ => &[],
    }
}

/// The Nexmark event kinds the generator produces.
pub const NEXMARK_KINDS: &[&str] = &["person", "auction", "bid"];

/// The schema of a Nexmark event kind.
pub fn nexmark_schema(kind: &str) -> Option<Schema> {
    let f = |name: &str, ty: Type| Field { name: name.to_string(), ty };
    let fields = match kind {
        "person" => vec![
            f("id", Type::INT),
            f("name", Type::STRING),
            f("email_address", Type::STRING),
            f("credit_card", Type::STRING),
            f("city", Type::STRING),
            f("state", Type::STRING),
            f("date_time", Type::TIMESTAMP),
            f("extra", Type::STRING.nullable()),
        ],
        "auction" => vec![
            f("id", Type::INT),
            f("item_name", Type::STRING),
            f("description", Type::STRING),
            f("initial_bid", Type::INT),
            f("reserve", Type::INT),
            f("date_time", Type::TIMESTAMP),
            f("expires", Type::TIMESTAMP),
            f("seller", Type::INT),
            f("category", Type::INT),
            f("extra", Type::STRING.nullable()),
        ],
        "bid" => vec![
            f("auction", Type::INT),
            f("bidder", Type::INT),
            f("price", Type::INT),
            f("channel", Type::STRING),
            f("url", Type::STRING),
            f("date_time", Type::TIMESTAMP),
            f("extra", Type::STRING.nullable()),
        ],
        _ => return None,
    };
    Some(Schema::new(fields))
}

/// The schema of the side stream `x.errors`.
pub fn errors_schema() -> Schema {
    let f = |name: &str| Field { name: name.to_string(), ty: Type::STRING };
    Schema::new(vec![f("raw"), f("error"), f("source"), f("position")])
}

/// The schema of a text-format source without a declared schema.
pub fn text_schema() -> Schema {
    Schema::new(vec![Field { name: "line".into(), ty: Type::STRING }])
}
