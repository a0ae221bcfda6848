//! The auth store contract, run against SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI).

use std::sync::Arc;

use chrono::Duration;
use freedumb_auth::domain::{Email, RefreshToken};
use freedumb_auth::store::{
    self, AuthStore, RevokeReason, Rotation, SessionRecord, SigningKeyRecord, UserRecord,
};
use freedumb_kit::{Config, Database};
use secrecy::SecretString;
use uuid::Uuid;

async fn sqlite() -> (Arc<dyn AuthStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    (open(&config).await, dir)
}

async fn postgres() -> Option<Arc<dyn AuthStore>> {
    let url = freedumb_kit::testing::fresh_postgres_database().await?;
    let config = Config {
        database_url: Some(SecretString::from(url)),
        ..Config::default()
    };
    Some(open(&config).await)
}

async fn open(config: &Config) -> Arc<dyn AuthStore> {
    let db = Database::connect(config, freedumb_auth::NAME)
        .await
        .expect("connect");
    db.migrate(&freedumb_auth::MIGRATIONS)
        .await
        .expect("migrate");
    // Migrating twice is a no-op (every replica migrates at start).
    db.migrate(&freedumb_auth::MIGRATIONS)
        .await
        .expect("migrate again");
    db.check_ready(&freedumb_auth::MIGRATIONS)
        .await
        .expect("ready");
    store::for_database(&db)
}

/// Runs one contract test on every configured backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::sqlite().await.0).await; })*
        }
        mod postgres_backend {
            $(#[tokio::test] async fn $name() {
                if let Some(store) = super::postgres().await { super::$name(store).await; }
            })*
        }
    };
}

on_every_backend!(
    users_are_unique_by_email,
    users_are_found_by_email_and_id,
    refresh_tokens_rotate_once_and_reuse_revokes_the_session,
    expired_sessions_do_not_rotate,
    sessions_are_scoped_to_their_user,
    logout_all_keeps_only_the_current_session,
    password_change_revokes_other_sessions,
    signing_keys_are_listed_newest_first_until_they_expire,
);

fn user(email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        email: Email::parse(email).expect("valid"),
        password_hash: "$argon2id$stub".into(),
        create_time: store::now(),
    }
}

fn session(user_id: Uuid, lifetime: Duration) -> SessionRecord {
    let now = store::now();
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
        .insert_user(&user("a@example.com"))
        .await
        .expect("first");
    let err = store
        .insert_user(&user("A@Example.com"))
        .await
        .expect_err("duplicate");
    assert!(err.is_duplicate(), "{err:?}");
}

async fn users_are_found_by_email_and_id(store: Arc<dyn AuthStore>) {
    let u = user("b@example.com");
    store.insert_user(&u).await.expect("insert");
    let by_email = store
        .find_user_by_email(&u.email)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(by_email.id, u.id);
    assert_eq!(by_email.email, u.email);
    let by_id = store
        .find_user_by_id(u.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(by_id.password_hash, u.password_hash);
    assert!(
        store
            .find_user_by_id(Uuid::now_v7())
            .await
            .expect("find")
            .is_none()
    );
}

async fn refresh_tokens_rotate_once_and_reuse_revokes_the_session(store: Arc<dyn AuthStore>) {
    let u = user("c@example.com");
    store.insert_user(&u).await.expect("user");
    let s = session(u.id, Duration::days(1));
    let (r1, r2, r3) = (
        RefreshToken::generate(),
        RefreshToken::generate(),
        RefreshToken::generate(),
    );
    store.insert_session(&s, &r1.hash()).await.expect("session");

    let rotated = store
        .rotate_refresh_token(&r1.hash(), &r2.hash(), store::now())
        .await
        .expect("rotate");
    assert_eq!(rotated, Rotation::Rotated(s.clone()));

    let reused = store
        .rotate_refresh_token(&r1.hash(), &r3.hash(), store::now())
        .await
        .expect("reuse");
    assert!(
        matches!(reused, Rotation::Reused(ref r) if r.id == s.id),
        "{reused:?}"
    );
    let after = store
        .find_session_by_user_id(u.id, s.id)
        .await
        .expect("find")
        .expect("exists");
    assert!(after.revoke_time.is_some(), "reuse revokes the session");

    let r4 = RefreshToken::generate();
    let with_r2 = store
        .rotate_refresh_token(&r2.hash(), &r4.hash(), store::now())
        .await
        .expect("rotate");
    assert_eq!(
        with_r2,
        Rotation::Invalid,
        "the family's newest token died with the session"
    );
    let unknown = store
        .rotate_refresh_token(&RefreshToken::generate().hash(), &r4.hash(), store::now())
        .await;
    assert_eq!(unknown.expect("rotate"), Rotation::Invalid);
}

async fn expired_sessions_do_not_rotate(store: Arc<dyn AuthStore>) {
    let u = user("d@example.com");
    store.insert_user(&u).await.expect("user");
    let s = session(u.id, Duration::seconds(1));
    let r1 = RefreshToken::generate();
    store.insert_session(&s, &r1.hash()).await.expect("session");
    let later = store::now() + Duration::seconds(5);
    let outcome = store
        .rotate_refresh_token(&r1.hash(), &RefreshToken::generate().hash(), later)
        .await;
    assert_eq!(outcome.expect("rotate"), Rotation::Invalid);
}

async fn sessions_are_scoped_to_their_user(store: Arc<dyn AuthStore>) {
    let (a, b) = (user("e@example.com"), user("f@example.com"));
    store.insert_user(&a).await.expect("a");
    store.insert_user(&b).await.expect("b");
    let s = session(a.id, Duration::days(1));
    store
        .insert_session(&s, &RefreshToken::generate().hash())
        .await
        .expect("session");
    assert!(
        store
            .find_session_by_user_id(b.id, s.id)
            .await
            .expect("find")
            .is_none()
    );
    let revoked = store
        .revoke_session_by_user_id(b.id, s.id, RevokeReason::Logout, store::now())
        .await;
    assert!(!revoked.expect("revoke"), "B cannot revoke A's session");
    assert!(
        store
            .find_session_by_user_id(a.id, s.id)
            .await
            .expect("find")
            .expect("exists")
            .is_active(store::now())
    );
    assert!(
        store
            .revoke_session_by_user_id(a.id, s.id, RevokeReason::Logout, store::now())
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_session_by_user_id(a.id, s.id, RevokeReason::Logout, store::now())
            .await
            .expect("again")
    );
}

async fn logout_all_keeps_only_the_current_session(store: Arc<dyn AuthStore>) {
    let (a, b) = (user("g@example.com"), user("h@example.com"));
    store.insert_user(&a).await.expect("a");
    store.insert_user(&b).await.expect("b");
    let sessions: Vec<_> = (0..3).map(|_| session(a.id, Duration::days(1))).collect();
    for s in &sessions {
        store
            .insert_session(s, &RefreshToken::generate().hash())
            .await
            .expect("session");
    }
    let other = session(b.id, Duration::days(1));
    store
        .insert_session(&other, &RefreshToken::generate().hash())
        .await
        .expect("session");

    let mut revoked = store
        .revoke_other_sessions_by_user_id(
            a.id,
            sessions[0].id,
            RevokeReason::LogoutAll,
            store::now(),
        )
        .await
        .expect("revoke");
    revoked.sort();
    assert_eq!(revoked, vec![sessions[1].id, sessions[2].id]);
    let kept = store
        .find_session_by_user_id(a.id, sessions[0].id)
        .await
        .expect("find")
        .expect("exists");
    assert!(kept.is_active(store::now()));
    let untouched = store
        .find_session_by_user_id(b.id, other.id)
        .await
        .expect("find")
        .expect("exists");
    assert!(
        untouched.is_active(store::now()),
        "another user's sessions are untouched"
    );
}

async fn password_change_revokes_other_sessions(store: Arc<dyn AuthStore>) {
    let a = user("i@example.com");
    store.insert_user(&a).await.expect("a");
    let (keep, other) = (
        session(a.id, Duration::days(1)),
        session(a.id, Duration::days(1)),
    );
    store
        .insert_session(&keep, &RefreshToken::generate().hash())
        .await
        .expect("keep");
    store
        .insert_session(&other, &RefreshToken::generate().hash())
        .await
        .expect("other");
    let revoked = store
        .update_password_by_user_id(a.id, "$argon2id$new", keep.id, store::now())
        .await
        .expect("update");
    assert_eq!(revoked, vec![other.id]);
    let found = store
        .find_user_by_id(a.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.password_hash, "$argon2id$new");
}

async fn signing_keys_are_listed_newest_first_until_they_expire(store: Arc<dyn AuthStore>) {
    let now = store::now();
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
        .insert_signing_key(&key("old", 100, 1000))
        .await
        .expect("old");
    store
        .insert_signing_key(&key("new", 10, 1000))
        .await
        .expect("new");
    store
        .insert_signing_key(&key("gone", 2000, 1000))
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
            .insert_signing_key(&key("new", 1, 1))
            .await
            .expect_err("duplicate kid")
            .is_duplicate()
    );
}
