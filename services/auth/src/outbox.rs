//! Auth events: a sign-in from a new client, built inside the transaction
//! that starts the session (the outbox), moved to the stream by the kit's
//! relay.

use std::net::IpAddr;

use freedumb_kit::outbox::OutboxEvent;
use freedumb_kit::time;
use freedumb_proto::auth as pb;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// The stream auth events are published on.
pub const STREAM: &str = "freedumb.auth.v1.events";

/// The longest user agent kept.
const MAX_USER_AGENT: usize = 200;

/// The client a sign-in comes from, as the service saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// Its address (behind trusted proxies, the one they report).
    pub address: Option<IpAddr>,
    /// Its `User-Agent`, cut to 200 characters.
    pub user_agent: String,
}

impl Client {
    /// The client of a gRPC request.
    pub fn of<T>(request: &tonic::Request<T>, address: Option<IpAddr>) -> Self {
        let user_agent = request
            .metadata()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Self {
            address,
            user_agent: freedumb_kit::domain::truncate(user_agent, MAX_USER_AGENT).to_owned(),
        }
    }

    /// What identifies the client across sign-ins: its network (a /24 for
    /// IPv4, a /48 for IPv6, as addresses move within a provider's range)
    /// and its user agent, hashed.
    pub fn key(&self) -> [u8; 32] {
        let network = match self.address {
            Some(IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
            None => "unknown".to_owned(),
        };
        Sha256::digest(format!("{network}|{}", self.user_agent)).into()
    }

    /// The event asking for the message of a registration of `email`.
    pub fn registration(
        &self,
        user_id: Uuid,
        email: &str,
        pending: Option<PendingConfirmation<'_>>,
    ) -> OutboxEvent {
        let account_exists = pending.is_none();
        let (token, link, expire_time) = match pending {
            Some(p) => (
                p.token.to_owned(),
                p.link.to_owned(),
                Some(time::timestamp(p.expire_time)),
            ),
            None => (String::new(), String::new(), None),
        };
        self.event(
            user_id,
            "registration_requested",
            pb::auth_event::Change::RegistrationRequested(pb::RegistrationRequested {
                email: email.to_owned(),
                account_exists,
                token,
                link,
                expire_time,
                user_agent: self.user_agent.clone(),
                client_address: self.address_text(),
            }),
        )
    }

    /// The event announcing a sign-in of `user_id` from this client.
    pub fn announce(&self, user_id: Uuid, session_id: Uuid) -> OutboxEvent {
        self.event(
            user_id,
            "sign_in_from_new_client",
            pb::auth_event::Change::SignInFromNewClient(pb::SignInFromNewClient {
                session_id: session_id.to_string(),
                user_agent: self.user_agent.clone(),
                client_address: self.address_text(),
            }),
        )
    }

    fn address_text(&self) -> String {
        self.address.map(|a| a.to_string()).unwrap_or_default()
    }

    fn event(&self, user_id: Uuid, kind: &str, change: pb::auth_event::Change) -> OutboxEvent {
        let event_id = Uuid::now_v7();
        let event = pb::AuthEvent {
            event_id: event_id.to_string(),
            user_id: user_id.to_string(),
            create_time: Some(time::timestamp(time::now())),
            change: Some(change),
        };
        OutboxEvent {
            event_id,
            user_id,
            kind: kind.to_owned(),
            payload: event.encode_to_vec(),
        }
    }
}

/// What the message of a registration of a new address carries.
#[derive(Debug, Clone, Copy)]
pub struct PendingConfirmation<'a> {
    /// The confirmation token.
    pub token: &'a str,
    /// The link with the token, or empty.
    pub link: &'a str,
    /// When the token stops working.
    pub expire_time: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(address: &str, agent: &str) -> Client {
        Client {
            address: Some(address.parse().expect("ip")),
            user_agent: agent.into(),
        }
    }

    #[test]
    fn a_client_is_its_network_and_user_agent() {
        let laptop = client("203.0.113.7", "Firefox/140");
        assert_eq!(
            laptop.key(),
            client("203.0.113.200", "Firefox/140").key(),
            "same /24"
        );
        assert_ne!(laptop.key(), client("198.51.100.7", "Firefox/140").key());
        assert_ne!(laptop.key(), client("203.0.113.7", "curl/8").key());
        assert_eq!(
            client("2001:db8:1:2::1", "x").key(),
            client("2001:db8:1:ffff::9", "x").key()
        );
    }
}
