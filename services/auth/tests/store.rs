//! The auth store contract, run against SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI).

use std::sync::Arc;

use chrono::Duration;
use freedumb_auth::domain::{ConfirmationToken, Email, RefreshToken};
use freedumb_auth::outbox::Client;
use freedumb_auth::store::{
    AuthStore, ClientSighting, RegistrationRequest, Requested, RevokeReason, Rotation,
    SessionRecord, SigningKeyRecord, UserRecord,
};
use uuid::Uuid;

freedumb_kit::store_contract!(
    freedumb_auth::NAME,
    freedumb_auth::MIGRATIONS,
    freedumb_auth::store::for_database;
    users_are_unique_by_email,
    users_are_found_by_email_and_id,
    refresh_tokens_rotate_once_and_reuse_revokes_the_session,
    a_repeat_within_the_grace_supersedes_the_first_answer,
    concurrent_rotations_of_one_token_rotate_once,
    expired_sessions_do_not_rotate,
    sessions_are_scoped_to_their_user,
    logout_all_keeps_only_the_current_session,
    password_change_revokes_other_sessions,
    signing_keys_are_listed_newest_first_until_they_expire,
    sign_ins_from_new_clients_are_announced_once,
    a_confirmed_registration_creates_the_account_once_and_voids_the_other_requests,
    registration_requests_are_capped_per_address_until_they_expire,
    a_registration_of_a_taken_address_names_the_account_and_keeps_no_token,
);

/// Rotation without a grace period: any second use is a reuse.
const NO_GRACE: Duration = Duration::zero();

fn user(email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        email: Email::parse(email).expect("valid"),
        password_hash: "$argon2id$stub".into(),
        create_time: freedumb_kit::time::now(),
    }
}

fn session(user_id: Uuid, lifetime: Duration) -> SessionRecord {
    let now = freedumb_kit::time::now();
    SessionRecord {
        id: Uuid::now_v7(),
        user_id,
        create_time: now,
        expire_time: now + lifetime,
        revoke_time: None,
    }
}

async fn users_are_unique_by_email(store: Arc<dyn AuthStore>) {
    store
        .create_user(&user("a@example.com"))
        .await
        .expect("first");
    let err = store
        .create_user(&user("A@Example.com"))
        .await
        .expect_err("duplicate");
    assert!(err.is_duplicate(), "{err:?}");
}

async fn users_are_found_by_email_and_id(store: Arc<dyn AuthStore>) {
    let u = user("b@example.com");
    store.create_user(&u).await.expect("insert");
    let by_email = store
        .get_user_by_email(&u.email)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(by_email.id, u.id);
    assert_eq!(by_email.email, u.email);
    let by_id = store.get_user(u.id).await.expect("find").expect("exists");
    assert_eq!(by_id.password_hash, u.password_hash);
    assert!(
        store
            .get_user(Uuid::now_v7())
            .await
            .expect("find")
            .is_none()
    );
}

async fn refresh_tokens_rotate_once_and_reuse_revokes_the_session(store: Arc<dyn AuthStore>) {
    let u = user("c@example.com");
    store.create_user(&u).await.expect("user");
    let s = session(u.id, Duration::days(1));
    let (r1, r2, r3) = (
        RefreshToken::generate(),
        RefreshToken::generate(),
        RefreshToken::generate(),
    );
    store
        .create_session(&s, &r1.hash(), None)
        .await
        .expect("session");

    let rotated = store
        .rotate_refresh_token(&r1.hash(), &r2.hash(), freedumb_kit::time::now(), NO_GRACE)
        .await
        .expect("rotate");
    assert_eq!(rotated, Rotation::Rotated(s.clone()));

    let reused = store
        .rotate_refresh_token(&r1.hash(), &r3.hash(), freedumb_kit::time::now(), NO_GRACE)
        .await
        .expect("reuse");
    assert!(
        matches!(reused, Rotation::Reused(ref r) if r.id == s.id),
        "{reused:?}"
    );
    let after = store
        .get_session(u.id, s.id)
        .await
        .expect("find")
        .expect("exists");
    assert!(after.revoke_time.is_some(), "reuse revokes the session");

    let r4 = RefreshToken::generate();
    let with_r2 = store
        .rotate_refresh_token(&r2.hash(), &r4.hash(), freedumb_kit::time::now(), NO_GRACE)
        .await
        .expect("rotate");
    assert_eq!(
        with_r2,
        Rotation::Invalid,
        "the family's newest token died with the session"
    );
    let unknown = store
        .rotate_refresh_token(
            &RefreshToken::generate().hash(),
            &r4.hash(),
            freedumb_kit::time::now(),
            NO_GRACE,
        )
        .await;
    assert_eq!(unknown.expect("rotate"), Rotation::Invalid);
}

async fn a_repeat_within_the_grace_supersedes_the_first_answer(store: Arc<dyn AuthStore>) {
    let u = user("grace@example.com");
    store.create_user(&u).await.expect("user");
    let s = session(u.id, Duration::days(1));
    let (r1, lost, retried) = (
        RefreshToken::generate(),
        RefreshToken::generate(),
        RefreshToken::generate(),
    );
    store
        .create_session(&s, &r1.hash(), None)
        .await
        .expect("session");
    let grace = Duration::seconds(10);
    let now = freedumb_kit::time::now();
    let first = store
        .rotate_refresh_token(&r1.hash(), &lost.hash(), now, grace)
        .await
        .expect("rotate");
    assert_eq!(first, Rotation::Rotated(s.clone()));
    // The answer was lost; the client retries with r1 within the grace.
    let again = store
        .rotate_refresh_token(
            &r1.hash(),
            &retried.hash(),
            now + Duration::seconds(3),
            grace,
        )
        .await
        .expect("repeat");
    assert_eq!(again, Rotation::Repeated(s.clone()));
    // The session lives on with one live token: the retried one.
    let next = RefreshToken::generate();
    let later = now + Duration::seconds(4);
    assert_eq!(
        store
            .rotate_refresh_token(&retried.hash(), &next.hash(), later, grace)
            .await
            .expect("rotate"),
        Rotation::Rotated(s.clone())
    );
    // The superseded token, and r1 after the grace, are reuses.
    let reused = store
        .rotate_refresh_token(
            &r1.hash(),
            &RefreshToken::generate().hash(),
            now + Duration::seconds(30),
            grace,
        )
        .await
        .expect("reuse");
    assert!(matches!(reused, Rotation::Reused(_)), "{reused:?}");
    let after = store
        .get_session(u.id, s.id)
        .await
        .expect("find")
        .expect("exists");
    assert!(
        after.revoke_time.is_some(),
        "a reuse after the grace revokes"
    );
    assert_eq!(
        store
            .rotate_refresh_token(&next.hash(), &RefreshToken::generate().hash(), later, grace)
            .await
            .expect("rotate"),
        Rotation::Invalid
    );
}

async fn concurrent_rotations_of_one_token_rotate_once(store: Arc<dyn AuthStore>) {
    // Two devices refreshing with the same token at once: on SQLite a
    // deferred transaction would fail with SQLITE_BUSY (INTERNAL to the
    // client); every call must get an answer instead.
    let u = user("race@example.com");
    store.create_user(&u).await.expect("user");
    let s = session(u.id, Duration::days(1));
    let presented = RefreshToken::generate();
    store
        .create_session(&s, &presented.hash(), None)
        .await
        .expect("session");
    let calls = (0..8).map(|_| {
        let store = store.clone();
        let presented = presented.hash();
        tokio::spawn(async move {
            store
                .rotate_refresh_token(
                    &presented,
                    &RefreshToken::generate().hash(),
                    freedumb_kit::time::now(),
                    NO_GRACE,
                )
                .await
        })
    });
    let mut rotated = 0;
    for call in futures::future::join_all(calls).await {
        match call
            .expect("task")
            .expect("every concurrent rotation answers")
        {
            Rotation::Rotated(_) => rotated += 1,
            Rotation::Repeated(_) | Rotation::Reused(_) | Rotation::Invalid => {}
        }
    }
    assert_eq!(rotated, 1, "exactly one caller gets the next token");
}

async fn expired_sessions_do_not_rotate(store: Arc<dyn AuthStore>) {
    let u = user("d@example.com");
    store.create_user(&u).await.expect("user");
    let s = session(u.id, Duration::seconds(1));
    let r1 = RefreshToken::generate();
    store
        .create_session(&s, &r1.hash(), None)
        .await
        .expect("session");
    let later = freedumb_kit::time::now() + Duration::seconds(5);
    let outcome = store
        .rotate_refresh_token(
            &r1.hash(),
            &RefreshToken::generate().hash(),
            later,
            NO_GRACE,
        )
        .await;
    assert_eq!(outcome.expect("rotate"), Rotation::Invalid);
}

async fn sessions_are_scoped_to_their_user(store: Arc<dyn AuthStore>) {
    let (a, b) = (user("e@example.com"), user("f@example.com"));
    store.create_user(&a).await.expect("a");
    store.create_user(&b).await.expect("b");
    let s = session(a.id, Duration::days(1));
    store
        .create_session(&s, &RefreshToken::generate().hash(), None)
        .await
        .expect("session");
    assert!(store.get_session(b.id, s.id).await.expect("find").is_none());
    assert!(
        store
            .get_session_user(b.id, s.id)
            .await
            .expect("find")
            .is_none()
    );
    let (with_user, owner) = store
        .get_session_user(a.id, s.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (with_user, owner.id, owner.email),
        (s.clone(), a.id, a.email.clone())
    );
    let revoked = store
        .revoke_session(b.id, s.id, RevokeReason::Logout, freedumb_kit::time::now())
        .await;
    assert!(!revoked.expect("revoke"), "B cannot revoke A's session");
    assert!(
        store
            .get_session(a.id, s.id)
            .await
            .expect("find")
            .expect("exists")
            .is_active(freedumb_kit::time::now())
    );
    assert!(
        store
            .revoke_session(a.id, s.id, RevokeReason::Logout, freedumb_kit::time::now())
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_session(a.id, s.id, RevokeReason::Logout, freedumb_kit::time::now())
            .await
            .expect("again")
    );
}

async fn logout_all_keeps_only_the_current_session(store: Arc<dyn AuthStore>) {
    let (a, b) = (user("g@example.com"), user("h@example.com"));
    store.create_user(&a).await.expect("a");
    store.create_user(&b).await.expect("b");
    let sessions: Vec<_> = (0..3).map(|_| session(a.id, Duration::days(1))).collect();
    for s in &sessions {
        store
            .create_session(s, &RefreshToken::generate().hash(), None)
            .await
            .expect("session");
    }
    let other = session(b.id, Duration::days(1));
    store
        .create_session(&other, &RefreshToken::generate().hash(), None)
        .await
        .expect("session");

    let mut revoked = store
        .revoke_other_sessions(
            a.id,
            sessions[0].id,
            RevokeReason::LogoutAll,
            freedumb_kit::time::now(),
        )
        .await
        .expect("revoke");
    revoked.sort();
    assert_eq!(revoked, vec![sessions[1].id, sessions[2].id]);
    let kept = store
        .get_session(a.id, sessions[0].id)
        .await
        .expect("find")
        .expect("exists");
    assert!(kept.is_active(freedumb_kit::time::now()));
    let untouched = store
        .get_session(b.id, other.id)
        .await
        .expect("find")
        .expect("exists");
    assert!(
        untouched.is_active(freedumb_kit::time::now()),
        "another user's sessions are untouched"
    );
}

async fn password_change_revokes_other_sessions(store: Arc<dyn AuthStore>) {
    let a = user("i@example.com");
    store.create_user(&a).await.expect("a");
    let (keep, other) = (
        session(a.id, Duration::days(1)),
        session(a.id, Duration::days(1)),
    );
    store
        .create_session(&keep, &RefreshToken::generate().hash(), None)
        .await
        .expect("keep");
    store
        .create_session(&other, &RefreshToken::generate().hash(), None)
        .await
        .expect("other");
    let revoked = store
        .update_password(a.id, "$argon2id$new", keep.id, freedumb_kit::time::now())
        .await
        .expect("update");
    assert_eq!(revoked, vec![other.id]);
    let found = store.get_user(a.id).await.expect("find").expect("exists");
    assert_eq!(found.password_hash, "$argon2id$new");
}

async fn signing_keys_are_listed_newest_first_until_they_expire(store: Arc<dyn AuthStore>) {
    let now = freedumb_kit::time::now();
    let key = |kid: &str, age: i64, ttl: i64| SigningKeyRecord {
        kid: kid.into(),
        private_key_pem: "pem".into(),
        public_n: "n".into(),
        public_e: "AQAB".into(),
        create_time: now - Duration::seconds(age),
        retire_time: now - Duration::seconds(age) + Duration::seconds(ttl / 2),
        expire_time: now - Duration::seconds(age) + Duration::seconds(ttl),
    };
    store
        .create_signing_key(&key("old", 100, 1000))
        .await
        .expect("old");
    store
        .create_signing_key(&key("new", 10, 1000))
        .await
        .expect("new");
    store
        .create_signing_key(&key("gone", 2000, 1000))
        .await
        .expect("gone");
    let kids: Vec<String> = store
        .list_signing_keys(now)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["new", "old"]);
    assert!(
        store
            .create_signing_key(&key("new", 1, 1))
            .await
            .expect_err("duplicate kid")
            .is_duplicate()
    );
}

async fn sign_ins_from_new_clients_are_announced_once(store: Arc<dyn AuthStore>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let u = user("clients@example.com");
    store.create_user(&u).await.expect("user");
    let laptop = Client {
        address: Some("203.0.113.7".parse().expect("ip")),
        user_agent: "Firefox/140".into(),
    };
    let phone = Client {
        address: Some("198.51.100.20".parse().expect("ip")),
        user_agent: "FREEDUMB-iOS/1.0".into(),
    };
    let announced = AtomicUsize::new(0);
    let announce = || {
        announced.fetch_add(1, Ordering::SeqCst);
        laptop.announce(u.id, Uuid::now_v7())
    };
    // Registration (the first client), the same client again, a new one,
    // and the new one again: only the third is announced.
    for (client, expected) in [(&laptop, 0), (&laptop, 0), (&phone, 1), (&phone, 1)] {
        let sighting = ClientSighting {
            key: client.key(),
            announce: &announce,
        };
        store
            .create_session(
                &session(u.id, Duration::days(1)),
                &RefreshToken::generate().hash(),
                Some(&sighting),
            )
            .await
            .expect("session");
        assert_eq!(announced.load(Ordering::SeqCst), expected);
    }
}

fn registration(
    email: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> (RegistrationRequest, ConfirmationToken) {
    let token = ConfirmationToken::generate();
    let request = RegistrationRequest {
        id: Uuid::now_v7(),
        email: Email::parse(email).expect("valid"),
        user_id: Uuid::now_v7(),
        token: token.hash(),
        password_hash: format!("$argon2id$stub-{}", Uuid::now_v7()),
        create_time: at,
        expire_time: at + Duration::hours(24),
    };
    (request, token)
}

/// Records `request` (cap 3), returning the outcome and the existing
/// account the announcement was asked for.
async fn request(
    store: &dyn AuthStore,
    request: &RegistrationRequest,
) -> (Requested, Option<Option<Uuid>>) {
    let asked = std::sync::Mutex::new(None);
    let client = Client::default();
    let announce = |existing: Option<Uuid>| {
        *asked.lock().expect("lock") = Some(existing);
        client.registration(request.user_id, request.email.as_str(), None)
    };
    let outcome = store
        .request_registration(request, 3, &announce)
        .await
        .expect("request");
    (outcome, asked.into_inner().expect("lock"))
}

async fn a_confirmed_registration_creates_the_account_once_and_voids_the_other_requests(
    store: Arc<dyn AuthStore>,
) {
    let now = freedumb_kit::time::now();
    let (first, first_token) = registration("new@example.com", now);
    let (second, second_token) = registration("New@Example.com", now);
    assert_eq!(
        request(store.as_ref(), &first).await,
        (Requested::Pending, Some(None))
    );
    assert_eq!(
        request(store.as_ref(), &second).await,
        (Requested::Pending, Some(None))
    );
    assert!(
        store
            .get_user_by_email(&first.email)
            .await
            .expect("read")
            .is_none(),
        "no account before the confirmation"
    );
    let later = now + Duration::minutes(5);
    let user = store
        .confirm_registration(&second_token.hash(), later)
        .await
        .expect("confirm")
        .expect("a live token");
    assert_eq!(user.id, second.user_id);
    assert_eq!(
        user.password_hash, second.password_hash,
        "the confirmed request's password"
    );
    assert_eq!(user.email.as_str(), "new@example.com");
    let stored = store
        .get_user(user.id)
        .await
        .expect("read")
        .expect("created");
    assert_eq!(stored.email, user.email);
    for token in [&second_token, &first_token] {
        assert!(
            store
                .confirm_registration(&token.hash(), later)
                .await
                .expect("confirm")
                .is_none(),
            "used or voided"
        );
    }
}

async fn registration_requests_are_capped_per_address_until_they_expire(store: Arc<dyn AuthStore>) {
    let now = freedumb_kit::time::now();
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (r, token) = registration("flood@example.com", now);
        assert_eq!(request(store.as_ref(), &r).await.0, Requested::Pending);
        tokens.push(token);
    }
    let (capped, capped_token) = registration("flood@example.com", now);
    assert_eq!(
        request(store.as_ref(), &capped).await,
        (Requested::Capped, None),
        "no message"
    );
    assert!(
        store
            .confirm_registration(&capped_token.hash(), now)
            .await
            .expect("confirm")
            .is_none(),
        "a capped request is not recorded"
    );
    // Another address is not affected.
    let (other, _) = registration("other@example.com", now);
    assert_eq!(request(store.as_ref(), &other).await.0, Requested::Pending);
    // Once they expire, the address may be registered again, and the
    // expired tokens no longer work.
    let after = now + Duration::hours(25);
    assert!(
        store
            .confirm_registration(&tokens[0].hash(), after)
            .await
            .expect("confirm")
            .is_none(),
        "expired"
    );
    let (again, again_token) = registration("flood@example.com", after);
    assert_eq!(request(store.as_ref(), &again).await.0, Requested::Pending);
    let user = store
        .confirm_registration(&again_token.hash(), after)
        .await
        .expect("confirm")
        .expect("live");
    assert_eq!(user.id, again.user_id);
}

async fn a_registration_of_a_taken_address_names_the_account_and_keeps_no_token(
    store: Arc<dyn AuthStore>,
) {
    let existing = user("taken@example.com");
    store.create_user(&existing).await.expect("user");
    let now = freedumb_kit::time::now();
    let (r, token) = registration("taken@example.com", now);
    assert_eq!(
        request(store.as_ref(), &r).await,
        (
            Requested::AccountExists {
                user_id: existing.id
            },
            Some(Some(existing.id))
        )
    );
    assert!(
        store
            .confirm_registration(&token.hash(), now)
            .await
            .expect("confirm")
            .is_none(),
        "nothing to confirm"
    );
    let kept = store
        .get_user(existing.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        kept.password_hash, existing.password_hash,
        "the account is unchanged"
    );
}
