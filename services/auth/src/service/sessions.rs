//! Sessions: sign-in, refresh-token rotation, sign-out.

use freedumb_kit::auth::Caller;
use freedumb_kit::time;
use freedumb_proto::auth::*;

use std::sync::Arc;

use super::{AuthApi, Rotated, user_pb};
use crate::domain::{Credentials, RefreshToken, RefreshTokenHash};
use crate::error::AuthError;
use crate::outbox::Client;
use crate::store::{RevokeReason, Rotation};
use crate::throttle::Throttled;

impl AuthApi {
    pub(super) async fn login(
        &self,
        req: LoginRequest,
        client: Client,
    ) -> Result<LoginResponse, AuthError> {
        let address = client.address;
        let Credentials { email, password } = req.try_into()?;
        if let Err(Throttled(wait)) = self.throttle.attempt(&email, address).await? {
            return Err(AuthError::Throttled(wait));
        }
        let user = self.store.get_user_by_email(&email).await?;
        let matched = self
            .hasher
            .verify(
                password.expose(),
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        let user = match user {
            Some(user) if matched => user,
            _ => return Err(AuthError::InvalidCredentials),
        };
        self.throttle.record_success(&email, address).await?;
        let tokens = self.start_session(user.id, time::now(), &client).await?;
        Ok(LoginResponse {
            user: Some(user_pb(&user)),
            tokens: Some(tokens),
        })
    }

    /// Within the grace period the same refresh token gets the same answer
    /// from this replica: concurrent uses share one rotation, and a retry
    /// after a lost response gets the pair it lost (while its session
    /// lasts).
    pub(super) async fn refresh(&self, req: RefreshRequest) -> Result<RefreshResponse, AuthError> {
        let presented = RefreshToken::try_from(req)?.hash();
        if self.refresh_grace.is_zero() {
            let rotated = self.rotate(&presented).await?;
            return Ok(RefreshResponse {
                tokens: Some(rotated.tokens),
            });
        }
        let rotation = self
            .recent_refreshes
            .get_with(presented.0, || Arc::new(tokio::sync::OnceCell::new()));
        let mut first = false;
        let rotated = rotation
            .get_or_try_init(|| {
                first = true;
                self.rotate(&presented)
            })
            .await?;
        if !first {
            let active = self
                .store
                .get_session(rotated.user_id, rotated.session_id)
                .await?
                .is_some_and(|s| s.is_active(time::now()));
            if !active {
                return Err(AuthError::InvalidRefreshToken);
            }
        }
        Ok(RefreshResponse {
            tokens: Some(rotated.tokens.clone()),
        })
    }

    async fn rotate(&self, presented: &RefreshTokenHash) -> Result<Rotated, AuthError> {
        let next = RefreshToken::generate();
        let now = time::now();
        match self
            .store
            .rotate_refresh_token(presented, &next.hash(), now, self.refresh_grace)
            .await?
        {
            Rotation::Rotated(session) | Rotation::Repeated(session) => {
                let tokens = self.tokens(session.user_id, &session, &next, now).await?;
                Ok(Rotated {
                    user_id: session.user_id,
                    session_id: session.id,
                    tokens,
                })
            }
            Rotation::Reused(session) => {
                tracing::warn!(
                    user_id = %session.user_id,
                    session_id = %session.id,
                    "refresh token reused: session revoked"
                );
                self.announce_revoked(&[session.id]).await;
                Err(AuthError::InvalidRefreshToken)
            }
            Rotation::Invalid => Err(AuthError::InvalidRefreshToken),
        }
    }

    pub(super) async fn logout(&self, caller: Caller) -> Result<LogoutResponse, AuthError> {
        self.active_session(&caller).await?;
        self.store
            .revoke_session(
                caller.user_id,
                caller.session_id,
                RevokeReason::Logout,
                time::now(),
            )
            .await?;
        self.announce_revoked(&[caller.session_id]).await;
        Ok(LogoutResponse {})
    }

    pub(super) async fn logout_all(&self, caller: Caller) -> Result<LogoutAllResponse, AuthError> {
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
        self.announce_revoked(&revoked).await;
        Ok(LogoutAllResponse {
            revoked_sessions: revoked.len() as i64,
        })
    }
}
