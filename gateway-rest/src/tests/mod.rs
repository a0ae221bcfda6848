//! Tests of the whole edge through `Gateway::router` (see `harness`).

mod error_bodies;
mod fuzz;
mod harness;
mod percent_escapes;
mod rate_limit_keys;
mod upstream_replies;

use serde_json::json;

/// What the document says of a request body is what the gateway does: an
/// unknown field is refused, and 64-bit integers are decimal strings or
/// numbers.
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
    // A string of digits or a number, as the proto3 JSON mapping reads them.
    let amount = &schemas["freedumb.common.v1.Money"]["properties"]["amountMinor"]["anyOf"];
    let pattern = regex::Regex::new(amount[0]["pattern"].as_str().expect("pattern"))
        .expect("a valid pattern");
    for ok in ["0", "-125", "999999999999999999"] {
        assert!(pattern.is_match(ok), "{ok}");
    }
    for bad in ["", "1.5", "+3", " 1", "12e3", "9999999999999999999"] {
        assert!(!pattern.is_match(bad), "{bad}");
    }
    assert_eq!(amount[1]["type"], "integer");
    assert_eq!(amount[1]["maximum"], 999_999_999_999_999_999_i64);
}

#[test]
fn the_document_states_the_services_rules_on_values() {
    let document: serde_json::Value =
        serde_json::from_str(&crate::openapi_document().expect("document")).expect("JSON");
    let schemas = &document["components"]["schemas"];
    // Currency codes: ISO 4217 with minor units, and required in Money.
    let codes = schemas["CurrencyCode"]["enum"].as_array().expect("codes");
    for code in ["EUR", "USD", "JPY", "BHD"] {
        assert!(codes.iter().any(|c| c == code), "{code}");
    }
    assert!(!codes.iter().any(|c| c == "XAU"));
    assert_eq!(
        schemas["freedumb.common.v1.Money"]["required"],
        json!(["currencyCode"])
    );
    // Ids: a UUID, or empty where optional.
    let id = schemas["freedumb.ledger.v1.CreateTransactionRequest"]["properties"]["categoryId"]
        ["pattern"]
        .as_str()
        .expect("id pattern");
    let id = regex::Regex::new(id).expect("a valid pattern");
    assert!(id.is_match("") && id.is_match("0190b7c4-0000-7000-8000-000000000001"));
    assert!(!id.is_match("0") && !id.is_match("0190b7c4"));
    // A create's body keeps the resource's required fields; an update's
    // body (its mask decides) requires none, states the rules of the fields
    // its mask may name, and only the types of the others (immutable or
    // output only: the service ignores them).
    let create = &document["paths"]["/v1/categories"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(create, "#/components/schemas/freedumb.ledger.v1.Category");
    assert_eq!(
        schemas["freedumb.ledger.v1.Category"]["required"],
        json!(["name", "kind"])
    );
    let update = &schemas["freedumb.ledger.v1.Transaction.Update"];
    assert!(update.get("required").is_none(), "{update}");
    assert_eq!(
        update["properties"]["amount"]["allOf"][0]["$ref"],
        "#/components/schemas/freedumb.common.v1.Money.Bounded"
    );
    assert!(update["properties"]["categoryId"]["pattern"].is_string());
    assert_eq!(
        update["properties"]["accountId"],
        json!({ "type": "string" })
    );
    let category = &schemas["freedumb.ledger.v1.Category.Update"]["properties"];
    assert_eq!(
        category["name"]["pattern"],
        schemas["freedumb.ledger.v1.Category"]["properties"]["name"]["pattern"]
    );
    assert!(category["name"]["minLength"].is_null() || category["name"]["minLength"] == 1);
    // The mask: required, and only the fields neither output only nor
    // immutable.
    let mask = document["paths"]["/v1/categories/{category_id}"]["patch"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "updateMask")
        .expect("updateMask");
    assert_eq!(mask["required"], true);
    let mask = regex::Regex::new(mask["schema"]["pattern"].as_str().expect("pattern"))
        .expect("a valid pattern");
    for ok in ["name", "parentId", "name,parentId"] {
        assert!(mask.is_match(ok), "{ok}");
    }
    for bad in ["", "kind", "name,kind", "id", "createTime", "name,"] {
        assert!(!mask.is_match(bad), "{bad}");
    }
    // At most one field of a oneof.
    assert_eq!(
        schemas["freedumb.budget.v1.Goal"]["not"],
        json!({ "anyOf": [{ "required": ["accountId", "categoryId"] }] })
    );
    // A required field given as a query parameter is a required parameter.
    let cash_flow = document["paths"]["/v1/analytics/cashFlow"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let currency = cash_flow
        .iter()
        .find(|p| p["name"] == "currencyCode")
        .expect("currencyCode");
    assert_eq!(currency["required"], true);
    // A date: its shape, then the calendar (day 29 of February only in
    // leap years).
    let date = &schemas["google.type.Date"]["allOf"];
    assert_eq!(date[0]["required"], json!(["year", "month", "day"]));
    assert_eq!(date[0]["properties"]["month"]["maximum"], 12);
    let calendar = date[1]["anyOf"].as_array().expect("calendar");
    assert_eq!(calendar.len(), 4);
    assert_eq!(calendar[3]["properties"]["day"]["enum"], json!([29]));
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
