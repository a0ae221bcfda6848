use freedumb_proto::auth::*;
use tonic::Code;

use crate::helpers::{Backends, PASSWORD, authed, login_with, reason, spawn_app, spawn_app_with};

#[tokio::test]
async fn register_login_get_me_refresh_logout() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let email = "Flow.User@Example.com";

    let registered = client
        .register(RegisterRequest {
            email: email.into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("register")
        .into_inner();
    let user = registered.user.expect("user");
    assert_eq!(user.email, "flow.user@example.com", "emails are normalized");

    let login = login_with(&mut client, email, PASSWORD)
        .await
        .expect("login");
    let tokens = login.tokens.expect("tokens");
    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.refresh_token.starts_with("fdr_"));

    let me = client
        .get_me(authed(GetMeRequest {}, &tokens.access_token))
        .await
        .expect("get me");
    assert_eq!(me.into_inner().user.expect("user").id, user.id);

    let refreshed = client
        .refresh(RefreshRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .expect("refresh")
        .into_inner()
        .tokens
        .expect("tokens");
    assert_ne!(
        refreshed.refresh_token, tokens.refresh_token,
        "refresh tokens rotate"
    );
    client
        .get_me(authed(GetMeRequest {}, &refreshed.access_token))
        .await
        .expect("new access token works");

    client
        .logout(authed(LogoutRequest {}, &refreshed.access_token))
        .await
        .expect("logout");
    for access in [&tokens.access_token, &refreshed.access_token] {
        let err = client
            .get_me(authed(GetMeRequest {}, access))
            .await
            .expect_err("session ended");
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    let err = client
        .refresh(RefreshRequest {
            refresh_token: refreshed.refresh_token,
        })
        .await
        .expect_err("logged-out refresh token");
    assert_eq!(err.code(), Code::Unauthenticated);
    // The registration session is a different one and still works.
    let other = registered.tokens.expect("tokens").access_token;
    client
        .get_me(authed(GetMeRequest {}, &other))
        .await
        .expect("other session unaffected");
}

#[tokio::test]
async fn a_refresh_repeated_within_the_grace_gets_the_same_pair() {
    // A client that lost the answer retries with the same token.
    let app = spawn_app().await;
    let mut client = app.client().await;
    let first = app.register().await.tokens.expect("tokens");
    let refresh = |token: &str| RefreshRequest {
        refresh_token: token.to_owned(),
    };
    let answered = client
        .refresh(refresh(&first.refresh_token))
        .await
        .expect("R1 -> R2")
        .into_inner()
        .tokens
        .expect("tokens");
    let retried = client
        .refresh(refresh(&first.refresh_token))
        .await
        .expect("R1 again, within the grace")
        .into_inner()
        .tokens
        .expect("tokens");
    assert_eq!(retried.refresh_token, answered.refresh_token);
    assert_eq!(retried.access_token, answered.access_token);
    // The session goes on with the new token.
    client
        .refresh(refresh(&answered.refresh_token))
        .await
        .expect("R2 -> R3");
}

#[tokio::test]
async fn reusing_a_refresh_token_after_the_grace_revokes_the_whole_family() {
    let app = spawn_app_with(
        Backends::default(),
        &[("FREEDUMB_AUTH__REFRESH_REUSE_GRACE_SECS", "1")],
    )
    .await;
    let mut client = app.client().await;
    let first = app.register().await.tokens.expect("tokens");

    let second = client
        .refresh(RefreshRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .expect("R1 -> R2")
        .into_inner()
        .tokens
        .expect("tokens");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let err = client
        .refresh(RefreshRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .expect_err("R1 again");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "INVALID_REFRESH_TOKEN");

    let err = client
        .refresh(RefreshRequest {
            refresh_token: second.refresh_token,
        })
        .await
        .expect_err("R2 died with the family");
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = client
        .get_me(authed(GetMeRequest {}, &second.access_token))
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn logout_all_ends_every_other_session() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let registered = app.register().await;
    let current = app.login(&registered).await;
    let others = [
        registered.tokens.clone().expect("tokens"),
        app.login(&registered).await,
    ];

    let revoked = client
        .logout_all(authed(LogoutAllRequest {}, &current.access_token))
        .await
        .expect("logout all")
        .into_inner();
    assert_eq!(revoked.revoked_sessions, 2);
    client
        .get_me(authed(GetMeRequest {}, &current.access_token))
        .await
        .expect("current kept");
    for other in others {
        let err = client
            .get_me(authed(GetMeRequest {}, &other.access_token))
            .await
            .expect_err("ended");
        assert_eq!(err.code(), Code::Unauthenticated);
        let err = client
            .refresh(RefreshRequest {
                refresh_token: other.refresh_token,
            })
            .await
            .expect_err("ended");
        assert_eq!(err.code(), Code::Unauthenticated);
    }
}

#[tokio::test]
async fn change_password_ends_other_sessions_and_replaces_the_password() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let registered = app.register().await;
    let email = registered.user.as_ref().expect("user").email.clone();
    let current = app.login(&registered).await;
    let other = registered.tokens.expect("tokens");
    let new_password = "a much better passphrase";

    let err = client
        .change_password(authed(
            ChangePasswordRequest {
                current_password: "not the password".into(),
                new_password: new_password.into(),
            },
            &current.access_token,
        ))
        .await
        .expect_err("wrong current password");
    assert_eq!(err.code(), Code::InvalidArgument);

    let changed = client
        .change_password(authed(
            ChangePasswordRequest {
                current_password: PASSWORD.into(),
                new_password: new_password.into(),
            },
            &current.access_token,
        ))
        .await
        .expect("change")
        .into_inner();
    assert_eq!(changed.revoked_sessions, 1);
    client
        .get_me(authed(GetMeRequest {}, &current.access_token))
        .await
        .expect("current kept");
    let err = client
        .get_me(authed(GetMeRequest {}, &other.access_token))
        .await
        .expect_err("other ended");
    assert_eq!(err.code(), Code::Unauthenticated);

    let err = login_with(&mut client, email.clone(), PASSWORD)
        .await
        .expect_err("old password");
    assert_eq!(err.code(), Code::Unauthenticated);
    login_with(&mut client, email, new_password)
        .await
        .expect("new password");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_fail_alike() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let email = app.register().await.user.expect("user").email;

    let wrong_password = login_with(&mut client, email, "not the password")
        .await
        .expect_err("wrong password");
    let unknown = login_with(&mut client, "nobody@example.com", PASSWORD)
        .await
        .expect_err("unknown email");
    assert_eq!(wrong_password.code(), Code::Unauthenticated);
    assert_eq!(wrong_password.code(), unknown.code());
    assert_eq!(wrong_password.message(), unknown.message());
    assert_eq!(reason(&wrong_password), "INVALID_CREDENTIALS");
    assert_eq!(reason(&unknown), "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_info() {
    use tonic_types::StatusExt as _;
    let app = spawn_app().await;
    let mut client = app.client().await;
    let email = app.register().await.user.expect("user").email;
    for _ in 0..5 {
        let err = login_with(&mut client, email.clone(), "wrong password!")
            .await
            .expect_err("wrong");
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    let err = login_with(&mut client, email.clone(), PASSWORD)
        .await
        .expect_err("throttled even with the right password");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err), "RATE_LIMITED");
    let retry = err
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("retry info");
    assert!(retry.as_secs() > 0);
    // Throttling is per account: another account from the same address is fine.
    let other = app.register().await.user.expect("user").email;
    login_with(&mut client, other, PASSWORD)
        .await
        .expect("other account");
}

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_email_create_one_account() {
    let app = spawn_app().await;
    let client = app.client().await;
    let email = format!("race-{}@example.com", uuid::Uuid::new_v4().simple());
    let calls = (0..50).map(|_| {
        let mut client = client.clone();
        let email = email.clone();
        tokio::spawn(async move {
            client
                .register(RegisterRequest {
                    email,
                    password: PASSWORD.into(),
                })
                .await
                .map(|_| ())
        })
    });
    let results: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one registration succeeds");
    for err in results.into_iter().filter_map(Result::err) {
        assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
        assert_eq!(reason(&err), "EMAIL_TAKEN");
    }
}

#[tokio::test]
async fn jwks_lists_the_signing_key() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let tokens = app.register().await.tokens.expect("tokens");
    let header = jsonwebtoken::decode_header(&tokens.access_token).expect("header");
    let jwks = client
        .get_jwks(GetJwksRequest {})
        .await
        .expect("jwks")
        .into_inner();
    let key = jwks
        .keys
        .iter()
        .find(|k| Some(&k.kid) == header.kid.as_ref())
        .expect("signing key published");
    assert_eq!(
        (key.kty.as_str(), key.alg.as_str(), key.r#use.as_str()),
        ("RSA", "RS256", "sig")
    );
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
}

#[tokio::test]
async fn concurrent_refreshes_on_sqlite_never_fail_internally() {
    // The same refresh token from several devices at once, and many
    // sessions refreshing at once: SQLite serializes the writers
    // (BEGIN IMMEDIATE), so each call gets a real answer, never INTERNAL.
    let app = spawn_app().await;
    let mut client = app.client().await;
    client
        .register(RegisterRequest {
            email: "racer@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("register");
    let mut sessions = Vec::new();
    for _ in 0..8 {
        let login = login_with(&mut client, "racer@example.com", PASSWORD)
            .await
            .expect("login");
        sessions.push(login.tokens.expect("tokens").refresh_token);
    }
    let shared = sessions[0].clone();
    let calls = sessions
        .iter()
        .cloned()
        .chain(std::iter::repeat_n(shared, 8))
        .map(|refresh_token| {
            let mut client = client.clone();
            tokio::spawn(async move {
                client
                    .refresh(RefreshRequest { refresh_token })
                    .await
                    .map(|r| r.into_inner().tokens.expect("tokens").refresh_token)
            })
        });
    let results = futures::future::join_all(calls).await;
    let mut answers = Vec::new();
    for result in results {
        let tokens = result
            .expect("task")
            .unwrap_or_else(|status| panic!("every refresh answers: {status:?}"));
        answers.push(tokens);
    }
    // Seven sessions refresh once each; the nine uses of the shared token
    // at once share one rotation (the grace period): the same new pair.
    // (The shared token is the first session's: answers 0 and 8 to 15.)
    let shared: std::collections::HashSet<_> = answers[8..].iter().chain([&answers[0]]).collect();
    assert_eq!(shared.len(), 1, "one pair for the shared token");
    let distinct: std::collections::HashSet<_> = answers.iter().collect();
    assert_eq!(distinct.len(), 8);
}

/// The confirmation tokens a message carries.
fn tokens_in(mail: &str) -> Vec<String> {
    let mut found: Vec<String> = mail
        .match_indices("fdc_")
        .map(|(at, _)| mail[at..].chars().take(4 + 43).collect::<String>())
        .filter(|t| t.len() == 47)
        .collect();
    found.dedup();
    found
}

#[tokio::test]
async fn registration_confirmed_by_email_tells_nobody_whether_an_address_has_an_account() {
    let Some(smtp) = crate::notification_support::SmtpServer::start().await else {
        return;
    };
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_app_with(
        Backends::default(),
        &[
            ("FREEDUMB_NOTIFICATION__SMTP_URL", &smtp_url),
            ("FREEDUMB_AUTH__CONFIRM_REGISTRATION_BY_EMAIL", "true"),
            (
                "FREEDUMB_AUTH__CONFIRM_REGISTRATION_URL",
                "https://app.example.com/confirm?token={token}",
            ),
        ],
    )
    .await;
    let mut client = app.client().await;
    let registrar = client.clone();
    let register = move |email: &'static str, password: &'static str| {
        let mut client = registrar.clone();
        async move {
            client
                .register(RegisterRequest {
                    email: email.into(),
                    password: password.into(),
                })
                .await
                .expect("register")
                .into_inner()
        }
    };

    // A new address: no account and no session yet, only a message.
    let fresh = register("Grace@Example.com", PASSWORD).await;
    assert_eq!(
        fresh,
        RegisterResponse {
            user: None,
            tokens: None,
            confirmation_required: true,
        }
    );
    let refused = login_with(&mut client, "grace@example.com", PASSWORD)
        .await
        .expect_err("no account before the confirmation");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let mails = smtp.wait_for_mail("grace@example.com", 1).await;
    assert!(
        mails[0].contains("Subject: Confirm your FREEDUMB registration"),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("https://app.example.com/confirm?token=fdc_"));
    let first = tokens_in(&mails[0]);
    assert_eq!(first.len(), 1, "{}", mails[0]);

    // Someone else registers the same address with another password.
    let other = register("grace@example.com", "another long passphrase here").await;
    assert_eq!(other, fresh, "the same answer");
    let mails = smtp.wait_for_mail("grace@example.com", 2).await;
    let second: Vec<String> = mails
        .iter()
        .flat_map(|m| tokens_in(m))
        .filter(|t| *t != first[0])
        .collect();
    assert_eq!(second.len(), 1);

    // The owner of the mailbox confirms theirs: the account, signed in.
    let confirmed = client
        .confirm_registration(ConfirmRegistrationRequest {
            token: first[0].clone(),
        })
        .await
        .expect("confirm")
        .into_inner();
    let user = confirmed.user.expect("user");
    assert_eq!(user.email, "grace@example.com");
    let access = confirmed.tokens.expect("tokens").access_token;
    let me = client
        .get_me(authed(GetMeRequest {}, &access))
        .await
        .expect("get me")
        .into_inner();
    assert_eq!(me.user.expect("user").id, user.id);
    login_with(&mut client, "grace@example.com", PASSWORD)
        .await
        .expect("the confirmed registration's password");
    login_with(
        &mut client,
        "grace@example.com",
        "another long passphrase here",
    )
    .await
    .expect_err("not the other registration's");

    // Both tokens are spent: the used one and the voided one.
    for token in [&first[0], &second[0]] {
        let err = client
            .confirm_registration(ConfirmRegistrationRequest {
                token: token.clone(),
            })
            .await
            .expect_err("spent");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(crate::helpers::violated_fields(&err), ["token"]);
    }

    // Registering the taken address answers exactly as for a new one; the
    // message tells the owner, and carries no token.
    let taken = register("grace@example.com", "yet another long passphrase").await;
    assert_eq!(taken, fresh);
    let mails = smtp.wait_for_mail("grace@example.com", 3).await;
    let note = mails
        .iter()
        .find(|m| m.contains("Subject: Someone tried to register your address at FREEDUMB"))
        .expect("the note to the owner");
    assert!(note.contains("has an account already"), "{note}");
    assert!(tokens_in(note).is_empty());
    login_with(&mut client, "grace@example.com", PASSWORD)
        .await
        .expect("the account is unchanged");

    // A token that was never sent, and one of another kind.
    for (token, code) in [
        (format!("fdc_{}", "A".repeat(43)), Code::InvalidArgument),
        ("fdr_nope".to_owned(), Code::InvalidArgument),
    ] {
        let err = client
            .confirm_registration(ConfirmRegistrationRequest { token })
            .await
            .expect_err("refused");
        assert_eq!(err.code(), code);
    }
}
