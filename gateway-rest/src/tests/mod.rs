//! Tests of the whole edge through `Gateway::router` (see `harness`).

mod error_bodies;
mod fuzz;
mod harness;
mod percent_escapes;
mod rate_limit_keys;
mod upstream_replies;

/// What the document says of a request body is what the gateway does: an
/// unknown field is refused, and 64-bit integers are decimal strings.
#[test]
fn message_schemas_are_closed_and_64_bit_integers_are_digits() {
    let document: serde_json::Value =
        serde_json::from_str(&crate::openapi_document().expect("document")).expect("JSON");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let account = &schemas["freedumb.ledger.v1.Account"];
    assert_eq!(account["additionalProperties"], false, "{account}");
    for (name, schema) in schemas {
        if schema.get("properties").is_some() {
            assert_eq!(schema["additionalProperties"], false, "{name}");
        }
    }
    let amount = &schemas["freedumb.common.v1.Money"]["properties"]["amountMinor"];
    let pattern =
        regex::Regex::new(amount["pattern"].as_str().expect("pattern")).expect("a valid pattern");
    for ok in ["0", "-125", "999999999999999999"] {
        assert!(pattern.is_match(ok), "{ok}");
    }
    for bad in ["", "1.5", "+3", " 1", "12e3", "9999999999999999999"] {
        assert!(!pattern.is_match(bad), "{bad}");
    }
}

/// The checked-in `openapi.json` is what the contracts generate. Run with
/// `UPDATE_OPENAPI=1` to rewrite it after changing a contract.
#[test]
fn the_checked_in_openapi_document_is_current() {
    let generated = crate::openapi_document().expect("document");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).expect("write openapi.json");
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "gateway-rest/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p freedumb-gateway` and commit it"
    );
}
