//! Which bucket a call counts in: the verified user of its access token,
//! or its client address; never a claim the caller could have written.

use std::sync::Arc;

use http::StatusCode;
use uuid::Uuid;

use super::harness::{Issuer, gateway_without_services, get, limits_of, send};

/// Calls answered by the gateway itself after the limiter let them through.
const ANY_PATH: &str = "/v1/nowhere";

#[tokio::test]
async fn forged_tokens_with_different_subjects_share_one_bucket() {
    let issuer = Issuer::new();
    let gateway = gateway_without_services(&limits_of(2)).with_verifier(issuer.verifier());
    let router = Arc::new(gateway).router();
    let (alice, bob, carol) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());

    let (first, _, _) = send(&router, get(ANY_PATH, Some(&issuer.forged(alice)))).await;
    let (second, _, _) = send(&router, get(ANY_PATH, Some(&issuer.forged(bob)))).await;
    let (third, _, _) = send(&router, get(ANY_PATH, Some(&issuer.forged(carol)))).await;
    let (anonymous, _, _) = send(&router, get(ANY_PATH, None)).await;

    assert_eq!(
        (first, second),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(
        third,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged sub opened a new bucket"
    );
    assert_eq!(
        anonymous,
        StatusCode::TOO_MANY_REQUESTS,
        "forgeries count as the address"
    );
}

#[tokio::test]
async fn verified_users_count_in_their_own_buckets() {
    let issuer = Issuer::new();
    let gateway = gateway_without_services(&limits_of(1)).with_verifier(issuer.verifier());
    let router = Arc::new(gateway).router();
    let (alice, bob) = (issuer.token(Uuid::new_v4()), issuer.token(Uuid::new_v4()));

    let (alice_first, _, _) = send(&router, get(ANY_PATH, Some(&alice))).await;
    let (bob_first, _, _) = send(&router, get(ANY_PATH, Some(&bob))).await;
    let (anonymous, _, _) = send(&router, get(ANY_PATH, None)).await;
    let (alice_second, _, _) = send(&router, get(ANY_PATH, Some(&alice))).await;

    assert_eq!(alice_first, StatusCode::NOT_FOUND);
    assert_eq!(
        bob_first,
        StatusCode::NOT_FOUND,
        "bob is not counted as alice"
    );
    assert_eq!(
        anonymous,
        StatusCode::NOT_FOUND,
        "the address is not counted as a user"
    );
    assert_eq!(alice_second, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_a_verifier_every_call_counts_per_address() {
    let issuer = Issuer::new();
    let router = Arc::new(gateway_without_services(&limits_of(1))).router();

    let (alice, _, _) = send(&router, get(ANY_PATH, Some(&issuer.token(Uuid::new_v4())))).await;
    let (bob, _, _) = send(&router, get(ANY_PATH, Some(&issuer.token(Uuid::new_v4())))).await;

    assert_eq!(alice, StatusCode::NOT_FOUND);
    assert_eq!(bob, StatusCode::TOO_MANY_REQUESTS);
}
