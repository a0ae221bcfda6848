//! Accounts: registration, the caller's profile, password changes.

use std::net::IpAddr;

use freedumb_kit::auth::Caller;
use freedumb_kit::time;
use freedumb_proto::auth::*;
use uuid::Uuid;

use crate::outbox::{Client, PendingConfirmation};

use super::{AuthApi, ConfirmByEmail, user_pb};
use crate::domain::{ConfirmationToken, Email, PasswordChange, Registration};
use crate::error::AuthError;
use crate::store::{RegistrationRequest, Requested, UserRecord};
use crate::throttle::Throttled;

/// Registration requests an address may have waiting at once: each sends a
/// message, so more would let anyone flood a mailbox.
const LIVE_REQUESTS_PER_ADDRESS: u32 = 3;

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
        // Hashed before anything is looked up, so that both outcomes of a
        // confirmed registration take the same time.
        let password_hash = self.hasher.hash(&password).await?;
        if let Some(confirm) = &self.confirm_by_email {
            return self
                .request_registration(confirm, email, password_hash, &client)
                .await;
        }
        let user = UserRecord {
            id: Uuid::now_v7(),
            email,
            password_hash,
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
            confirmation_required: false,
        })
    }

    /// A registration confirmed by email: the same answer whatever the
    /// address; the message tells its owner what happened.
    async fn request_registration(
        &self,
        confirm: &ConfirmByEmail,
        email: Email,
        password_hash: String,
        client: &Client,
    ) -> Result<RegisterResponse, AuthError> {
        let now = time::now();
        let token = ConfirmationToken::generate();
        let link = confirm
            .url
            .as_deref()
            .map(|url| url.replace("{token}", token.expose()))
            .unwrap_or_default();
        let request = RegistrationRequest {
            id: Uuid::now_v7(),
            email,
            user_id: Uuid::now_v7(),
            token: token.hash(),
            password_hash,
            create_time: now,
            expire_time: now + confirm.ttl,
        };
        let pending = PendingConfirmation {
            token: token.expose(),
            link: &link,
            expire_time: request.expire_time,
        };
        let announce = |existing: Option<Uuid>| match existing {
            Some(user_id) => client.registration(user_id, request.email.as_str(), None),
            None => client.registration(request.user_id, request.email.as_str(), Some(pending)),
        };
        let requested = self
            .store
            .request_registration(&request, LIVE_REQUESTS_PER_ADDRESS, &announce)
            .await?;
        let outcome = match requested {
            Requested::Pending => "pending",
            Requested::AccountExists { .. } => "account_exists",
            Requested::Capped => "capped",
        };
        if requested != Requested::Capped {
            self.wake.notify_one();
        }
        metrics::counter!("auth_registration_requests_total", "outcome" => outcome).increment(1);
        tracing::info!(request_id = %request.id, outcome, "registration requested");
        Ok(RegisterResponse {
            user: None,
            tokens: None,
            confirmation_required: true,
        })
    }

    pub(super) async fn confirm_registration(
        &self,
        req: ConfirmRegistrationRequest,
        client: Client,
    ) -> Result<ConfirmRegistrationResponse, AuthError> {
        let token = ConfirmationToken::try_from(req)?;
        let now = time::now();
        let user = self
            .store
            .confirm_registration(&token.hash(), now)
            .await
            .map_err(|e| {
                if e.is_duplicate() {
                    AuthError::EmailTaken
                } else {
                    e.into()
                }
            })?
            .ok_or_else(|| {
                AuthError::field(
                    "token",
                    "is unknown, already used or expired; register again for a new one",
                )
            })?;
        tracing::info!(user_id = %user.id, "registration confirmed");
        let tokens = self.start_session(user.id, now, &client).await?;
        Ok(ConfirmRegistrationResponse {
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
