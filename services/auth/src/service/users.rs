//! Accounts: registration, the caller's profile, password changes.

use std::net::IpAddr;

use freedumb_kit::auth::Caller;
use freedumb_kit::time;
use freedumb_proto::auth::*;
use uuid::Uuid;

use crate::outbox::Client;

use super::{AuthApi, user_pb};
use crate::domain::{PasswordChange, Registration};
use crate::error::AuthError;
use crate::store::UserRecord;
use crate::throttle::Throttled;

impl AuthApi {
    pub(super) async fn register(
        &self,
        req: RegisterRequest,
        client: Client,
    ) -> Result<RegisterResponse, AuthError> {
        if let Err(Throttled(wait)) = self.throttle.register_attempt(client.address).await? {
            return Err(AuthError::Throttled(wait));
        }
        let Registration { email, password } = req.try_into()?;
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
        let tokens = self.start_session(user.id, now, &client).await?;
        Ok(RegisterResponse {
            user: Some(user_pb(&user)),
            tokens: Some(tokens),
        })
    }

    pub(super) async fn get_me(&self, caller: Caller) -> Result<GetMeResponse, AuthError> {
        // One read: the session must still be active, and its user exist.
        let (_, user) = self
            .store
            .get_session_user(caller.user_id, caller.session_id)
            .await?
            .filter(|(session, _)| session.is_active(time::now()))
            .ok_or(AuthError::SessionEnded)?;
        Ok(GetMeResponse {
            user: Some(user_pb(&user)),
        })
    }

    pub(super) async fn change_password(
        &self,
        caller: Caller,
        req: ChangePasswordRequest,
        address: Option<IpAddr>,
    ) -> Result<ChangePasswordResponse, AuthError> {
        self.active_session(&caller).await?;
        let PasswordChange {
            current,
            new: new_password,
        } = req.try_into()?;
        let user = self
            .store
            .get_user(caller.user_id)
            .await?
            .ok_or(AuthError::SessionEnded)?;
        new_password
            .check_guessable(&user.email.words())
            .map_err(|e| AuthError::field("new_password", e.to_string()))?;
        if let Err(Throttled(wait)) = self.throttle.attempt(&user.email, address).await? {
            return Err(AuthError::Throttled(wait));
        }
        if !self
            .hasher
            .verify(current.expose(), Some(&user.password_hash))
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
        self.announce_revoked(&revoked).await;
        tracing::info!(user_id = %caller.user_id, revoked = revoked.len(), "password changed");
        Ok(ChangePasswordResponse {
            revoked_sessions: revoked.len() as i64,
        })
    }
}
