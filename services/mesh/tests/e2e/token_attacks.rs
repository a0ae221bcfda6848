//! Every way of presenting a bad access token ends in UNAUTHENTICATED. The
//! forged tokens are signed with the server's real private key (read from
//! its database) where that makes the attack strongest, and a control token
//! signed the same way with good claims proves the harness itself works.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use freedumb_proto::auth::{GetJwksRequest, GetMeRequest, LogoutRequest};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::EncodePublicKey as _;
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{TestApp, authed, spawn_app};

struct Forge {
    kid: String,
    key: EncodingKey,
    claims: Value,
    valid_token: String,
}

impl Forge {
    async fn new(app: &TestApp) -> Self {
        freedumb_kit::auth::crypto::install();
        let valid_token = app.register().await.tokens.expect("tokens").access_token;
        let payload = valid_token.split('.').nth(1).expect("payload");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
        let db = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            app.data_dir.path().join("auth.db").display()
        ))
        .await
        .expect("open auth.db");
        let (kid, pem): (String, String) =
            sqlx::query_as("SELECT kid, private_key_pem FROM signing_keys")
                .fetch_one(&db)
                .await
                .expect("key");
        Self {
            kid,
            key: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem"),
            claims,
            valid_token,
        }
    }

    fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        header
    }

    /// The valid claims with `changes` applied, signed with the real key.
    fn sign(&self, changes: Value) -> String {
        let mut claims = self.claims.clone();
        for (k, v) in changes.as_object().expect("object") {
            claims[k] = v.clone();
        }
        jsonwebtoken::encode(&self.header(), &claims, &self.key).expect("sign")
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let err = app
        .client()
        .await
        .get_me(authed(GetMeRequest {}, token))
        .await
        .expect_err(what);
    assert_eq!(err.code(), Code::Unauthenticated, "{what}: {err:?}");
}

#[tokio::test]
async fn forged_and_misused_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let forge = Forge::new(&app).await;
    let mut client = app.client().await;

    // Control: the harness's own signing with good claims is accepted, so
    // every refusal below is due to the one thing each attack changes.
    let control = forge.sign(json!({ "jti": uuid::Uuid::now_v7().to_string() }));
    client
        .get_me(authed(GetMeRequest {}, &control))
        .await
        .expect("control token accepted");

    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": forge.kid })),
        b64(&forge.claims)
    );
    assert_refused(&app, &none, "alg none").await;

    let jwk = client
        .get_jwks(GetJwksRequest {})
        .await
        .expect("jwks")
        .into_inner()
        .keys
        .remove(0);
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(&jwk.n).expect("n")),
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(&jwk.e).expect("e")),
    )
    .expect("public key");
    let public_pem = public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("public key PEM");
    // Signed by hand: the platform's jsonwebtoken provider signs RS256 only.
    let hs_body = format!(
        "{}.{}",
        b64(&json!({ "alg": "HS256", "typ": "at+jwt", "kid": forge.kid })),
        b64(&forge.claims)
    );
    let hs_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public_pem.as_bytes());
    let hs256 = format!(
        "{hs_body}.{}",
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&hs_key, hs_body.as_bytes()))
    );
    assert_refused(&app, &hs256, "HS256 signed with the public key").await;

    let attacker_pem = freedumb_kit::auth::crypto::generate_rsa_key()
        .expect("keygen")
        .private_key_pem;
    let mut unknown_header = forge.header();
    unknown_header.kid = Some("attacker-key".into());
    let unknown_kid = jsonwebtoken::encode(
        &unknown_header,
        &forge.claims,
        &EncodingKey::from_rsa_pem(attacker_pem.as_bytes()).expect("pem"),
    )
    .expect("sign");
    assert_refused(&app, &unknown_kid, "unknown kid").await;

    let mut own_kid_header = forge.header();
    own_kid_header.kid = Some(forge.kid.clone());
    let wrong_key = jsonwebtoken::encode(
        &own_kid_header,
        &forge.claims,
        &EncodingKey::from_rsa_pem(attacker_pem.as_bytes()).expect("pem"),
    )
    .expect("sign");
    assert_refused(&app, &wrong_key, "real kid, wrong key").await;

    let mut parts: Vec<String> = forge.valid_token.split('.').map(str::to_owned).collect();
    let mut tampered_claims = forge.claims.clone();
    tampered_claims["sub"] = json!(uuid::Uuid::now_v7().to_string());
    parts[1] = b64(&tampered_claims);
    assert_refused(&app, &parts.join("."), "tampered payload").await;

    let t = now();
    let cases = [
        (
            "expired beyond leeway",
            json!({ "exp": t - 31 - 5, "iat": t - 1000, "nbf": t - 1000 }),
        ),
        ("nbf in the future", json!({ "nbf": t + 31 + 60 })),
        ("wrong iss", json!({ "iss": "someone-else" })),
        ("wrong aud", json!({ "aud": "another-api" })),
        ("no exp", json!({ "exp": null })),
    ];
    for (what, changes) in cases {
        assert_refused(&app, &forge.sign(changes), what).await;
    }

    let mut id_token_header = forge.header();
    id_token_header.typ = Some("JWT".into());
    let wrong_type =
        jsonwebtoken::encode(&id_token_header, &forge.claims, &forge.key).expect("sign");
    assert_refused(&app, &wrong_type, "not typed as an access token").await;

    let refresh = app.register().await.tokens.expect("tokens").refresh_token;
    assert_refused(&app, &refresh, "refresh token used as an access token").await;
    assert_refused(&app, "not-a-token", "garbage").await;
}

#[tokio::test]
async fn a_token_of_a_logged_out_session_is_unauthenticated() {
    let app = spawn_app().await;
    let tokens = app.register().await.tokens.expect("tokens");
    let mut client = app.client().await;
    client
        .logout(authed(LogoutRequest {}, &tokens.access_token))
        .await
        .expect("logout");
    assert_refused(&app, &tokens.access_token, "token from a revoked session").await;
    // A second logout with the same token is refused too.
    let err = client
        .logout(authed(LogoutRequest {}, &tokens.access_token))
        .await
        .expect_err("again");
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_unauthenticated() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let err = client.get_me(GetMeRequest {}).await.expect_err("no header");
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut request = tonic::Request::new(GetMeRequest {});
    request.metadata_mut().insert(
        "authorization",
        "Basic dXNlcjpwYXNz".parse().expect("metadata"),
    );
    let err = client.get_me(request).await.expect_err("basic auth");
    assert_eq!(err.code(), Code::Unauthenticated);
}
