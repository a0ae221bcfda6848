//! Path variables and query parameters are percent-decoded strictly: a
//! malformed escape is a 400 naming the field, never passed on as text.

use std::sync::Arc;

use http::StatusCode;
use prost_reflect::{DescriptorPool, Value as Field};

use super::harness::{gateway_without_services, get, send};
use crate::{GatewayConfig, routes, transcode};

async fn rejected_field(path: &str) -> String {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    let (status, _, body) = send(&router, get(path, Some("a.b.c"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    let violation = &body["details"][0]["fieldViolations"][0];
    assert_eq!(
        violation["description"], "malformed percent-encoding",
        "{body}"
    );
    violation["field"].as_str().expect("field").to_owned()
}

#[tokio::test]
async fn a_malformed_query_escape_is_a_400_naming_the_parameter() {
    assert_eq!(
        rejected_field("/v1/accounts?pageToken=%zz").await,
        "pageToken"
    );
    assert_eq!(
        rejected_field("/v1/accounts?pageSize=1&pageToken=ab%4").await,
        "pageToken"
    );
    assert_eq!(
        rejected_field("/v1/accounts?page%zToken=x").await,
        "page%zToken"
    );
}

#[tokio::test]
async fn a_malformed_path_escape_is_a_400_naming_the_variable() {
    assert_eq!(rejected_field("/v1/accounts/%zz").await, "account_id");
    assert_eq!(rejected_field("/v1/accounts/%C3").await, "account_id");
}

#[test]
fn escapes_and_plus_signs_decode_into_the_request_message() {
    let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET).expect("pool");
    let routes = routes::from_descriptors(&pool).expect("routes");
    let find = |template: &str| {
        routes
            .iter()
            .find(|r| r.method == http::Method::GET && r.template.text == template)
            .expect("route")
    };

    let list = find("/v1/accounts");
    let message = transcode::request(list, &[], Some("pageToken=a%2Bb+c&showArchived=true"), b"")
        .expect("message");
    assert_eq!(
        message
            .get_field_by_name("page_token")
            .expect("field")
            .as_ref(),
        &Field::String("a+b c".into())
    );
    assert_eq!(
        message
            .get_field_by_name("show_archived")
            .expect("field")
            .as_ref(),
        &Field::Bool(true)
    );

    let one = find("/v1/accounts/{account_id}");
    let captures = one
        .template
        .captures("/v1/accounts/a%20b+c")
        .expect("match");
    let message = transcode::request(one, &captures, None, b"").expect("message");
    assert_eq!(
        message
            .get_field_by_name("account_id")
            .expect("field")
            .as_ref(),
        &Field::String("a b+c".into())
    );
}
