//! Throttling of password checks and registrations that slows guessing
//! without letting an attacker lock the real user out. Every attempt is
//! counted *before* the (slow) password check, so parallel guesses cannot
//! slip past the limits, and taken back when the password was right, so the
//! counts are failed plus in-flight attempts:
//!
//! - per (account, client): a few such attempts, then that client waits for
//!   that account — the owner elsewhere is unaffected;
//! - per client: a bound on them across all accounts (spraying);
//! - per account: when attempts from everywhere pile up (a distributed
//!   attack), only clients that signed in to the account before may keep
//!   trying;
//! - per client: a bound on registrations.
//!
//! A client is its IP address, IPv6 grouped by /64 (one subscriber's
//! block). Keys hold a hash of the email, never the email itself.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use freedumb_kit::state::{Counters, StateUnavailable};
use sha2::{Digest, Sha256};

use crate::domain::Email;

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PAIR_LIMIT: u64 = 5;
const CLIENT_LIMIT: u64 = 100;
const ACCOUNT_LIMIT: u64 = 100;
const REGISTER_LIMIT: u64 = 100;
/// How long after its last sign-in a client counts as the owner's.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Decides whether an attempt may proceed.
#[derive(Clone)]
pub struct LoginThrottle {
    counters: Arc<dyn Counters>,
}

/// The attempt must wait this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub Duration);

/// The throttling identity of a client address.
fn client_key(address: Option<IpAddr>) -> String {
    match address.map(|a| a.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

struct Keys {
    pair: String,
    client: String,
    account: String,
    known: String,
}

impl Keys {
    fn new(email: &Email, address: Option<IpAddr>) -> Self {
        let digest = Sha256::digest(email.as_str().as_bytes());
        let account: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let client = client_key(address);
        Self {
            pair: format!("login:pair:{account}:{client}"),
            known: format!("login:known:{account}:{client}"),
            client: format!("login:client:{client}"),
            account: format!("login:acct:{account}"),
        }
    }
}

impl LoginThrottle {
    /// A throttle keeping its counts in `counters`.
    pub fn new(counters: Arc<dyn Counters>) -> Self {
        Self { counters }
    }

    /// Counts a password check for `email` from `address`; `Err` when it
    /// must wait instead.
    pub async fn attempt(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> Result<Result<(), Throttled>, StateUnavailable> {
        let keys = Keys::new(email, address);
        let c = &self.counters;
        if c.incr(&keys.client, WINDOW).await? > CLIENT_LIMIT {
            return Ok(Err(Throttled(c.ttl(&keys.client).await?)));
        }
        if c.incr(&keys.pair, WINDOW).await? > PAIR_LIMIT {
            return Ok(Err(Throttled(c.ttl(&keys.pair).await?)));
        }
        if c.incr(&keys.account, WINDOW).await? > ACCOUNT_LIMIT && c.get(&keys.known).await? == 0 {
            return Ok(Err(Throttled(c.ttl(&keys.account).await?)));
        }
        Ok(Ok(()))
    }

    /// The password was right: the attempt is taken back, this client's
    /// attempts on the account start over, and it counts as the owner's for
    /// another [`KNOWN_FOR`].
    pub async fn record_success(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> Result<(), StateUnavailable> {
        let keys = Keys::new(email, address);
        self.counters.decr(&keys.client).await?;
        self.counters.decr(&keys.account).await?;
        self.counters.reset(&keys.pair).await?;
        self.counters.reset(&keys.known).await?;
        self.counters.incr(&keys.known, KNOWN_FOR).await?;
        Ok(())
    }

    /// Counts a registration from `address`; `Err` when it must wait.
    pub async fn register_attempt(
        &self,
        address: Option<IpAddr>,
    ) -> Result<Result<(), Throttled>, StateUnavailable> {
        let key = format!("register:client:{}", client_key(address));
        if self.counters.incr(&key, WINDOW).await? > REGISTER_LIMIT {
            return Ok(Err(Throttled(self.counters.ttl(&key).await?)));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use freedumb_kit::state::MemoryState;

    use super::*;

    fn setup() -> (LoginThrottle, Email) {
        (
            LoginThrottle::new(Arc::new(MemoryState::default())),
            Email::parse("a@example.com").expect("valid"),
        )
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[tokio::test]
    async fn a_client_is_slowed_after_a_few_attempts_on_one_account() {
        let (throttle, email) = setup();
        let (attacker, owner) = (ip("203.0.113.9"), ip("198.51.100.1"));
        for _ in 0..PAIR_LIMIT {
            assert!(
                throttle
                    .attempt(&email, attacker)
                    .await
                    .expect("attempt")
                    .is_ok()
            );
        }
        let Err(Throttled(wait)) = throttle.attempt(&email, attacker).await.expect("attempt")
        else {
            panic!("the attacker should be throttled");
        };
        assert!(wait > Duration::from_secs(60));
        assert!(
            throttle
                .attempt(&email, owner)
                .await
                .expect("attempt")
                .is_ok(),
            "the owner is not locked out"
        );
    }

    #[tokio::test]
    async fn a_distributed_attack_does_not_lock_out_a_known_client() {
        let (throttle, email) = setup();
        let owner = ip("198.51.100.1");
        throttle
            .record_success(&email, owner)
            .await
            .expect("record");
        for i in 0..ACCOUNT_LIMIT {
            let bot = Some(IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8]));
            throttle
                .attempt(&email, bot)
                .await
                .expect("attempt")
                .expect("each bot is new");
        }
        assert!(
            throttle
                .attempt(&email, ip("192.0.2.77"))
                .await
                .expect("attempt")
                .is_err()
        );
        assert!(
            throttle
                .attempt(&email, owner)
                .await
                .expect("attempt")
                .is_ok()
        );
    }

    #[tokio::test]
    async fn success_clears_the_pair_counter() {
        let (throttle, email) = setup();
        let addr = ip("198.51.100.1");
        for _ in 0..PAIR_LIMIT {
            throttle
                .attempt(&email, addr)
                .await
                .expect("attempt")
                .expect("allowed");
        }
        throttle.record_success(&email, addr).await.expect("record");
        assert!(
            throttle
                .attempt(&email, addr)
                .await
                .expect("attempt")
                .is_ok()
        );
    }

    #[tokio::test]
    async fn successful_sign_ins_do_not_count_against_the_client() {
        let (throttle, email) = setup();
        let office = ip("198.51.100.1");
        for _ in 0..CLIENT_LIMIT * 2 {
            throttle
                .attempt(&email, office)
                .await
                .expect("attempt")
                .expect("allowed");
            throttle
                .record_success(&email, office)
                .await
                .expect("record");
        }
    }

    #[tokio::test]
    async fn one_ipv6_subnet_is_one_client() {
        let (throttle, email) = setup();
        for i in 0..PAIR_LIMIT {
            let addr = ip(&format!("2001:db8:1:2::{:x}", i + 1));
            throttle
                .attempt(&email, addr)
                .await
                .expect("attempt")
                .expect("allowed");
        }
        assert!(
            throttle
                .attempt(&email, ip("2001:db8:1:2:ffff::9"))
                .await
                .expect("attempt")
                .is_err()
        );
        assert!(
            throttle
                .attempt(&email, ip("2001:db8:1:3::1"))
                .await
                .expect("attempt")
                .is_ok()
        );
        assert_eq!(
            client_key(ip("::ffff:192.0.2.1")),
            "192.0.2.1",
            "IPv4-mapped is IPv4"
        );
    }

    #[tokio::test]
    async fn registrations_are_bounded_per_client() {
        let (throttle, _) = setup();
        let addr = ip("198.51.100.1");
        for _ in 0..REGISTER_LIMIT {
            throttle
                .register_attempt(addr)
                .await
                .expect("attempt")
                .expect("allowed");
        }
        assert!(
            throttle
                .register_attempt(addr)
                .await
                .expect("attempt")
                .is_err()
        );
        assert!(
            throttle
                .register_attempt(ip("198.51.100.2"))
                .await
                .expect("attempt")
                .is_ok()
        );
    }
}
