//! Tests of the whole edge through `Gateway::router` (see `harness`).

mod error_bodies;
mod fuzz;
mod harness;
mod percent_escapes;
mod rate_limit_keys;
mod upstream_replies;

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
