//! Server-streaming RPCs over REST: newline-delimited JSON.

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::helpers::{http1_sender, rest, spawn_app};

#[tokio::test]
async fn server_streaming_rpcs_answer_with_newline_delimited_json() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let token = app.token().await;
    let account = json!({
        "name": "Cash",
        "kind": "ACCOUNT_KIND_CASH",
        "openingBalance": { "currencyCode": "EUR", "amountMinor": "0" },
    })
    .to_string();
    let (_, _, created) = rest(gw, "POST", "/v1/accounts", Some(&token), Some(&account)).await;
    let account_id = created["account"]["id"].as_str().expect("id").to_owned();

    let mut sender = http1_sender(gw).await;
    let watch = http::Request::get(format!("/v1/transactions:watch?accountId={account_id}"))
        .header(http::header::HOST, gw.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        // Streams are never compressed, so each line arrives as written.
        .header(http::header::ACCEPT_ENCODING, "gzip")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(watch).await.expect("send");
    assert!(
        !response
            .headers()
            .contains_key(http::header::CONTENT_ENCODING)
    );
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    let mut body = response.into_body();

    let tx = json!({
        "accountId": account_id,
        "amount": { "currencyCode": "EUR", "amountMinor": "-300" },
        "date": { "year": 2026, "month": 11, "day": 23 },
        "description": "Bakery",
    })
    .to_string();
    let (status, _, _) = rest(gw, "POST", "/v1/transactions", Some(&token), Some(&tx)).await;
    assert_eq!(status, 200);

    let mut text = String::new();
    while !text.contains('\n') {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")
            .expect("stream open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let line: Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON line");
    assert_eq!(
        line["event"]["transactionCreated"]["transaction"]["description"],
        "Bakery"
    );
}
