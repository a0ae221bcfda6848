//! The tonic implementation of `freedumb.auth.v1.AuthService`: a thin
//! adapter whose handlers call one function each (in `users` and
//! `sessions`) returning [`AuthError`], converted to `Status` once. Requests
//! become validated domain values (`crate::domain::requests`) at the door.

mod sessions;
mod users;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use freedumb_kit::auth::{AccessClaims, Caller};
use freedumb_kit::state::Revocations;
use freedumb_kit::time::{self, timestamp};
use freedumb_proto::auth::auth_service_server::AuthService;
use freedumb_proto::auth::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::domain::RefreshToken;
use crate::error::AuthError;
use crate::hashing::PasswordHasher;
use crate::keys::SigningKeys;
use crate::outbox::Client;
use crate::revocations::RevocationSync;
use crate::store::{AuthStore, ClientSighting, SessionRecord, UserRecord};
use crate::throttle::LoginThrottle;

/// The auth service.
pub struct AuthApi {
    store: Arc<dyn AuthStore>,
    hasher: PasswordHasher,
    keys: Arc<SigningKeys>,
    throttle: LoginThrottle,
    revocations: Arc<dyn Revocations>,
    revocation_sync: RevocationSync,
    proxies: freedumb_kit::client::TrustedProxies,
    wake: Arc<tokio::sync::Notify>,
    issuer: String,
    audience: String,
    access_ttl: chrono::Duration,
    refresh_ttl: chrono::Duration,
    /// How long a revoked session must stay on the revocation list: as long
    /// as one of its access tokens can still pass verification.
    revocation_ttl: Duration,
    /// How long after its use a refresh token may be presented again.
    refresh_grace: chrono::Duration,
    /// The rotations of the last grace period, by the presented token's
    /// hash: a repeated use gets the same answer.
    recent_refreshes: moka::sync::Cache<[u8; 32], Arc<tokio::sync::OnceCell<Rotated>>>,
    /// Set when registrations are confirmed by email.
    confirm_by_email: Option<ConfirmByEmail>,
}

/// How registrations are confirmed by email.
struct ConfirmByEmail {
    /// How long a token works.
    ttl: chrono::Duration,
    /// The link template, with `{token}`.
    url: Option<String>,
}

/// What a refresh returned, kept for the grace period.
#[derive(Clone)]
pub(super) struct Rotated {
    user_id: Uuid,
    session_id: Uuid,
    tokens: TokenPair,
}

/// Rotations remembered at most (a few hundred bytes each).
const RECENT_REFRESHES: u64 = 100_000;

/// What [`AuthApi`] is built from.
pub struct AuthDeps {
    /// Persistence.
    pub store: Arc<dyn AuthStore>,
    /// Signing keys (shared with the in-process verifier).
    pub keys: Arc<SigningKeys>,
    /// Login throttling.
    pub throttle: LoginThrottle,
    /// Where ended sessions are announced to every verifier.
    pub revocations: Arc<dyn Revocations>,
    /// Restores that list when an announcement did not reach it.
    pub revocation_sync: RevocationSync,
    /// Proxies whose `x-forwarded-for` names the client (the gateway).
    pub proxies: freedumb_kit::client::TrustedProxies,
    /// Wakes the outbox relay after a commit that wrote an event.
    pub wake: Arc<tokio::sync::Notify>,
}

impl AuthApi {
    /// The service over `deps`, configured by `config`.
    pub fn new(deps: AuthDeps, config: &AuthConfig) -> anyhow::Result<Self> {
        let secs = freedumb_kit::time::seconds;
        Ok(Self {
            store: deps.store,
            hasher: PasswordHasher::new(config)?,
            keys: deps.keys,
            throttle: deps.throttle,
            revocations: deps.revocations,
            revocation_sync: deps.revocation_sync,
            proxies: deps.proxies,
            wake: deps.wake,
            issuer: config.token.issuer.clone(),
            audience: config.token.audience.clone(),
            access_ttl: secs(config.token.access_ttl_secs),
            refresh_ttl: secs(config.refresh_ttl_secs),
            revocation_ttl: Duration::from_secs(
                config.token.access_ttl_secs + config.token.leeway_secs,
            ),
            refresh_grace: secs(config.refresh_reuse_grace_secs),
            recent_refreshes: moka::sync::Cache::builder()
                .max_capacity(RECENT_REFRESHES)
                .time_to_live(Duration::from_secs(config.refresh_reuse_grace_secs.max(1)))
                .build(),
            confirm_by_email: config
                .confirm_registration_by_email
                .then(|| ConfirmByEmail {
                    ttl: secs(config.registration_token_ttl_secs),
                    url: config.confirm_registration_url.clone(),
                }),
        })
    }

    /// The caller's session, if it is still active: a valid signature is not
    /// enough for auth's own RPCs.
    pub(super) async fn active_session(&self, caller: &Caller) -> Result<SessionRecord, AuthError> {
        self.store
            .get_session(caller.user_id, caller.session_id)
            .await?
            .filter(|s| s.is_active(time::now()))
            .ok_or(AuthError::SessionEnded)
    }

    /// Puts ended sessions on the shared revocation list, so every service's
    /// verifier refuses their access tokens at once.
    ///
    /// When the list does not answer, the sessions have ended all the
    /// same (the database says so): the call succeeds, and the revocation
    /// sync puts them on the list once it answers.
    pub(super) async fn announce_revoked(&self, sessions: &[Uuid]) {
        for session in sessions {
            if let Err(e) = self.revocations.revoke(*session, self.revocation_ttl).await {
                tracing::warn!(error = %e, "revocation not announced: the sync will restore it");
                self.revocation_sync.wake();
                return;
            }
        }
    }

    pub(super) async fn start_session(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        client: &Client,
    ) -> Result<TokenPair, AuthError> {
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id,
            create_time: now,
            expire_time: now + self.refresh_ttl,
            revoke_time: None,
        };
        let refresh = RefreshToken::generate();
        let announce = || client.announce(user_id, session.id);
        let sighting = ClientSighting {
            key: client.key(),
            announce: &announce,
        };
        self.store
            .create_session(&session, &refresh.hash(), Some(&sighting))
            .await?;
        // A sign-in from a new client may have left an event to publish.
        self.wake.notify_one();
        self.tokens(user_id, &session, &refresh, now).await
    }

    pub(super) async fn tokens(
        &self,
        user_id: Uuid,
        session: &SessionRecord,
        refresh: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AuthError> {
        let expires = (now + self.access_ttl).min(session.expire_time);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: user_id,
            aud: self.audience.clone(),
            exp: expires.timestamp(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            jti: Uuid::now_v7(),
            sid: session.id,
        };
        Ok(TokenPair {
            access_token: self.keys.sign(&claims).await?,
            access_token_expire_time: Some(timestamp(expires)),
            refresh_token: refresh.expose().to_owned(),
            refresh_token_expire_time: Some(timestamp(session.expire_time)),
            token_type: "Bearer".into(),
        })
    }
}

fn user_pb(user: &UserRecord) -> User {
    User {
        id: user.id.to_string(),
        email: user.email.as_str().to_owned(),
        create_time: Some(timestamp(user.create_time)),
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[tracing::instrument(skip_all)]
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let client = Client::of(&req, self.proxies.grpc_client(&req));
        Ok(Response::new(
            AuthApi::register(self, req.into_inner(), client).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_registration(
        &self,
        req: Request<ConfirmRegistrationRequest>,
    ) -> Result<Response<ConfirmRegistrationResponse>, Status> {
        let client = Client::of(&req, self.proxies.grpc_client(&req));
        Ok(Response::new(
            AuthApi::confirm_registration(self, req.into_inner(), client).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let client = Client::of(&req, self.proxies.grpc_client(&req));
        Ok(Response::new(
            AuthApi::login(self, req.into_inner(), client).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(
        &self,
        req: Request<RefreshRequest>,
    ) -> Result<Response<RefreshResponse>, Status> {
        Ok(Response::new(
            AuthApi::refresh(self, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn logout(
        &self,
        req: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let caller = freedumb_kit::auth::caller(&req)?;
        Ok(Response::new(AuthApi::logout(self, caller).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn logout_all(
        &self,
        req: Request<LogoutAllRequest>,
    ) -> Result<Response<LogoutAllResponse>, Status> {
        let caller = freedumb_kit::auth::caller(&req)?;
        Ok(Response::new(AuthApi::logout_all(self, caller).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn get_me(&self, req: Request<GetMeRequest>) -> Result<Response<GetMeResponse>, Status> {
        let caller = freedumb_kit::auth::caller(&req)?;
        Ok(Response::new(AuthApi::get_me(self, caller).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn change_password(
        &self,
        req: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = freedumb_kit::auth::caller(&req)?;
        let address = self.proxies.grpc_client(&req);
        Ok(Response::new(
            AuthApi::change_password(self, caller, req.into_inner(), address).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_jwks(
        &self,
        _req: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        let keys = self.keys.jwks().await.map_err(AuthError::from)?;
        Ok(Response::new(GetJwksResponse { keys }))
    }
}
