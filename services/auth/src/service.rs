//! The tonic implementation of `freedumb.auth.v1.AuthService`: parse the
//! request into domain types, apply the rules, persist, answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use freedumb_kit::FieldViolations;
use freedumb_kit::auth::{AccessClaims, Caller};
use freedumb_kit::state::Revocations;
use freedumb_kit::time::{self, timestamp};
use freedumb_proto::auth::auth_service_server::AuthService;
use freedumb_proto::auth::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::domain::{Email, Password, RefreshToken};
use crate::error::AuthError;
use crate::hashing::PasswordHasher;
use crate::keys::SigningKeys;
use crate::store::{AuthStore, RevokeReason, Rotation, SessionRecord, UserRecord};
use crate::throttle::{LoginThrottle, Throttled};

/// Longest password text looked at when signing in (longer ones cannot
/// match: registration refuses them).
const MAX_PASSWORD_BYTES: usize = 4 * crate::domain::password::MAX_CHARS;

/// The auth service.
pub struct AuthApi {
    store: Arc<dyn AuthStore>,
    hasher: PasswordHasher,
    keys: Arc<SigningKeys>,
    throttle: LoginThrottle,
    revocations: Arc<dyn Revocations>,
    proxies: freedumb_kit::client::TrustedProxies,
    issuer: String,
    audience: String,
    access_ttl: chrono::Duration,
    refresh_ttl: chrono::Duration,
    /// How long a revoked session must stay on the revocation list: as long
    /// as one of its access tokens can still pass verification.
    revocation_ttl: Duration,
}

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
    /// Proxies whose `x-forwarded-for` names the client (the gateway).
    pub proxies: freedumb_kit::client::TrustedProxies,
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
            proxies: deps.proxies,
            issuer: config.token.issuer.clone(),
            audience: config.token.audience.clone(),
            access_ttl: secs(config.token.access_ttl_secs),
            refresh_ttl: secs(config.refresh_ttl_secs),
            revocation_ttl: Duration::from_secs(
                config.token.access_ttl_secs + config.token.leeway_secs,
            ),
        })
    }

    async fn register(
        &self,
        req: RegisterRequest,
        address: Option<IpAddr>,
    ) -> Result<RegisterResponse, AuthError> {
        if let Err(Throttled(wait)) = self.throttle.register_attempt(address).await? {
            return Err(AuthError::Throttled(wait));
        }
        let mut v = FieldViolations::new();
        let email = v.check("email", Email::parse(&req.email));
        let password = v.check("password", Password::parse(&req.password));
        let (Some(email), Some(password)) = (email, password) else {
            return Err(AuthError::InvalidArgument(v));
        };
        let now = time::now();
        let user = UserRecord {
            id: Uuid::now_v7(),
            email,
            password_hash: self.hasher.hash(&password).await?,
            create_time: now,
        };
        self.store.create_user(&user).await.map_err(|e| {
            if e.is_duplicate() {
                AuthError::EmailTaken
            } else {
                e.into()
            }
        })?;
        tracing::info!(user_id = %user.id, "user registered");
        let tokens = self.start_session(user.id, now).await?;
        Ok(RegisterResponse {
            user: Some(user_pb(&user)),
            tokens: Some(tokens),
        })
    }

    async fn login(
        &self,
        req: LoginRequest,
        address: Option<IpAddr>,
    ) -> Result<LoginResponse, AuthError> {
        let mut v = FieldViolations::new();
        let email = v.check("email", Email::parse(&req.email));
        if req.password.is_empty() {
            v.add("password", "is required");
        } else if req.password.len() > MAX_PASSWORD_BYTES {
            v.add("password", "is too long");
        }
        let Some(email) = email.filter(|_| v.is_empty()) else {
            return Err(AuthError::InvalidArgument(v));
        };
        if let Err(Throttled(wait)) = self.throttle.attempt(&email, address).await? {
            return Err(AuthError::Throttled(wait));
        }
        let user = self.store.get_user_by_email(&email).await?;
        let matched = self
            .hasher
            .verify(
                &req.password,
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        let user = match user {
            Some(user) if matched => user,
            _ => return Err(AuthError::InvalidCredentials),
        };
        self.throttle.record_success(&email, address).await?;
        let tokens = self.start_session(user.id, time::now()).await?;
        Ok(LoginResponse {
            user: Some(user_pb(&user)),
            tokens: Some(tokens),
        })
    }

    async fn refresh(&self, req: RefreshRequest) -> Result<RefreshResponse, AuthError> {
        if req.refresh_token.is_empty() {
            return Err(AuthError::field("refresh_token", "is required"));
        }
        let presented = RefreshToken::parse(&req.refresh_token)
            .ok_or_else(|| AuthError::field("refresh_token", "is not a FREEDUMB refresh token"))?;
        let next = RefreshToken::generate();
        let now = time::now();
        match self
            .store
            .rotate_refresh_token(&presented.hash(), &next.hash(), now)
            .await?
        {
            Rotation::Rotated(session) => {
                let tokens = self.tokens(session.user_id, &session, &next, now).await?;
                Ok(RefreshResponse {
                    tokens: Some(tokens),
                })
            }
            Rotation::Reused(session) => {
                tracing::warn!(
                    user_id = %session.user_id,
                    session_id = %session.id,
                    "refresh token reused: session revoked"
                );
                self.announce_revoked(&[session.id]).await?;
                Err(AuthError::InvalidRefreshToken)
            }
            Rotation::Invalid => Err(AuthError::InvalidRefreshToken),
        }
    }

    async fn logout(&self, caller: Caller) -> Result<LogoutResponse, AuthError> {
        self.active_session(&caller).await?;
        self.store
            .revoke_session(
                caller.user_id,
                caller.session_id,
                RevokeReason::Logout,
                time::now(),
            )
            .await?;
        self.announce_revoked(&[caller.session_id]).await?;
        Ok(LogoutResponse {})
    }

    async fn logout_all(&self, caller: Caller) -> Result<LogoutAllResponse, AuthError> {
        self.active_session(&caller).await?;
        let revoked = self
            .store
            .revoke_other_sessions(
                caller.user_id,
                caller.session_id,
                RevokeReason::LogoutAll,
                time::now(),
            )
            .await?;
        self.announce_revoked(&revoked).await?;
        Ok(LogoutAllResponse {
            revoked_sessions: revoked.len() as i64,
        })
    }

    async fn get_me(&self, caller: Caller) -> Result<GetMeResponse, AuthError> {
        self.active_session(&caller).await?;
        let user = self
            .store
            .get_user(caller.user_id)
            .await?
            .ok_or(AuthError::SessionEnded)?;
        Ok(GetMeResponse {
            user: Some(user_pb(&user)),
        })
    }

    async fn change_password(
        &self,
        caller: Caller,
        req: ChangePasswordRequest,
        address: Option<IpAddr>,
    ) -> Result<ChangePasswordResponse, AuthError> {
        self.active_session(&caller).await?;
        let mut v = FieldViolations::new();
        if req.current_password.is_empty() {
            v.add("current_password", "is required");
        } else if req.current_password.len() > MAX_PASSWORD_BYTES {
            v.add("current_password", "is too long");
        }
        let new_password = v.check("new_password", Password::parse(&req.new_password));
        if req.new_password == req.current_password && !req.new_password.is_empty() {
            v.add("new_password", "must differ from the current password");
        }
        let (Some(new_password), true) = (new_password, v.is_empty()) else {
            return Err(AuthError::InvalidArgument(v));
        };
        let user = self
            .store
            .get_user(caller.user_id)
            .await?
            .ok_or(AuthError::SessionEnded)?;
        if let Err(Throttled(wait)) = self.throttle.attempt(&user.email, address).await? {
            return Err(AuthError::Throttled(wait));
        }
        if !self
            .hasher
            .verify(&req.current_password, Some(&user.password_hash))
            .await?
        {
            return Err(AuthError::field("current_password", "is incorrect"));
        }
        self.throttle.record_success(&user.email, address).await?;
        let hash = self.hasher.hash(&new_password).await?;
        let revoked = self
            .store
            .update_password(caller.user_id, &hash, caller.session_id, time::now())
            .await?;
        self.announce_revoked(&revoked).await?;
        tracing::info!(user_id = %caller.user_id, revoked = revoked.len(), "password changed");
        Ok(ChangePasswordResponse {
            revoked_sessions: revoked.len() as i64,
        })
    }

    /// The caller's session, if it is still active: a valid signature is not
    /// enough for auth's own RPCs.
    async fn active_session(&self, caller: &Caller) -> Result<SessionRecord, AuthError> {
        self.store
            .get_session(caller.user_id, caller.session_id)
            .await?
            .filter(|s| s.is_active(time::now()))
            .ok_or(AuthError::SessionEnded)
    }

    /// Puts ended sessions on the shared revocation list, so every service's
    /// verifier refuses their access tokens at once.
    async fn announce_revoked(&self, sessions: &[Uuid]) -> Result<(), AuthError> {
        for session in sessions {
            self.revocations
                .revoke(*session, self.revocation_ttl)
                .await?;
        }
        Ok(())
    }

    async fn start_session(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AuthError> {
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id,
            create_time: now,
            expire_time: now + self.refresh_ttl,
            revoke_time: None,
        };
        let refresh = RefreshToken::generate();
        self.store.create_session(&session, &refresh.hash()).await?;
        self.tokens(user_id, &session, &refresh, now).await
    }

    async fn tokens(
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
        let address = self.proxies.grpc_client(&req);
        Ok(Response::new(
            AuthApi::register(self, req.into_inner(), address).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let address = self.proxies.grpc_client(&req);
        Ok(Response::new(
            AuthApi::login(self, req.into_inner(), address).await?,
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
