//! Auth and ledger RPCs over REST+JSON: path variables, query parameters
//! and bodies.

use serde_json::json;

use crate::helpers::{PASSWORD, rest, spawn_app};

#[tokio::test]
async fn every_auth_rpc_works_over_rest() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("the gateway runs in --target all");
    let email = format!("rest-{}@example.com", uuid::Uuid::new_v4().simple());
    let credentials = json!({ "email": email, "password": PASSWORD }).to_string();

    let (status, headers, registered) =
        rest(gw, "POST", "/v1/auth:register", None, Some(&credentials)).await;
    assert_eq!(status, 200, "{registered}");
    assert_eq!(registered["user"]["email"], email);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("x-request-id"));

    let (status, _, login) = rest(gw, "POST", "/v1/auth:login", None, Some(&credentials)).await;
    assert_eq!(status, 200, "{login}");
    let access = login["tokens"]["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = login["tokens"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();

    let (status, _, me) = rest(gw, "GET", "/v1/me", Some(&access), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], email);

    let (status, _, jwks) = rest(gw, "GET", "/v1/auth/jwks", None, None).await;
    assert_eq!(status, 200);
    assert!(!jwks["keys"].as_array().expect("keys").is_empty());

    let body = json!({ "refreshToken": refresh }).to_string();
    let (status, _, refreshed) = rest(gw, "POST", "/v1/auth:refresh", None, Some(&body)).await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["tokens"]["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();

    let body = json!({ "currentPassword": PASSWORD, "newPassword": "a much better passphrase 7" })
        .to_string();
    let (status, _, changed) = rest(
        gw,
        "POST",
        "/v1/auth:changePassword",
        Some(&access),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let (status, _, _) = rest(gw, "POST", "/v1/auth:logoutAll", Some(&access), Some("{}")).await;
    assert_eq!(status, 200);
    let (status, _, _) = rest(gw, "POST", "/v1/auth:logout", Some(&access), Some("{}")).await;
    assert_eq!(status, 200);
    let (status, _, after) = rest(gw, "GET", "/v1/me", Some(&access), None).await;
    assert_eq!(status, 401, "{after}");
    assert_eq!(after["code"], 16);
}

#[tokio::test]
async fn ledger_resources_over_rest_use_path_variables_query_and_body() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let token = app.token().await;
    let account = json!({
        "name": "Checking",
        "kind": "ACCOUNT_KIND_CHECKING",
        "openingBalance": { "currencyCode": "USD", "amountMinor": "5000" },
    })
    .to_string();
    let (status, _, created) = rest(gw, "POST", "/v1/accounts", Some(&token), Some(&account)).await;
    assert_eq!(status, 200, "{created}");
    let id = created["account"]["id"].as_str().expect("id").to_owned();

    // body "account" + path variable {account.id} + query update_mask.
    let (status, _, renamed) = rest(
        gw,
        "PATCH",
        &format!("/v1/accounts/{id}?updateMask=name"),
        Some(&token),
        Some(r#"{"name":"Everyday"}"#),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["account"]["name"], "Everyday");

    let tx = json!({
        "accountId": id,
        "amount": { "currencyCode": "USD", "amountMinor": "-1250" },
        "date": { "year": 2026, "month": 11, "day": 23 },
        "description": "Lunch",
        "tags": ["food"],
    })
    .to_string();
    let (status, _, created) = rest(gw, "POST", "/v1/transactions", Some(&token), Some(&tx)).await;
    assert_eq!(status, 200, "{created}");

    // Query parameters: a nested message field, a repeated field, an int64.
    let (status, _, listed) = rest(
        gw,
        "GET",
        &format!(
            "/v1/transactions?accountId={id}&startDate.year=2026&startDate.month=11&startDate.day=1\
             &tags=food&maxAmountMinor=-1000&pageSize=10"
        ),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["transactions"].as_array().expect("list").len(), 1);

    let (status, _, got) = rest(gw, "GET", &format!("/v1/accounts/{id}"), Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["account"]["balance"]["amountMinor"], "3750");
}
