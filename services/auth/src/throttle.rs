//! Login throttling that slows guessing without letting an attacker lock
//! the real user out:
//!
//! - per (account, address): a few failures, then that address waits for
//!   that account — the owner elsewhere is unaffected;
//! - per address: a bound on failures across all accounts (spraying);
//! - per account: when failures from everywhere pile up (a distributed
//!   attack), only addresses that have signed in to the account before may
//!   keep trying.
//!
//! Keys hold a hash of the email, never the address itself.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use freedumb_kit::state::Counters;
use sha2::{Digest, Sha256};

use crate::domain::Email;

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PAIR_LIMIT: u64 = 5;
const ADDRESS_LIMIT: u64 = 50;
const ACCOUNT_LIMIT: u64 = 100;
/// How long an address that signed in counts as the owner's.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Decides whether a login attempt may proceed.
#[derive(Clone)]
pub struct LoginThrottle {
    counters: Arc<dyn Counters>,
}

/// The attempt must wait this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub Duration);

struct Keys {
    pair: String,
    address: String,
    account: String,
    known: String,
}

impl Keys {
    fn new(email: &Email, address: Option<IpAddr>) -> Self {
        let account = hex(&Sha256::digest(email.as_str().as_bytes())[..16]);
        let address = address.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        Self {
            pair: format!("login:pair:{account}:{address}"),
            known: format!("login:known:{account}:{address}"),
            address: format!("login:addr:{address}"),
            account: format!("login:acct:{account}"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl LoginThrottle {
    /// A throttle keeping its counts in `counters`.
    pub fn new(counters: Arc<dyn Counters>) -> Self {
        Self { counters }
    }

    /// `Err` when this attempt must wait.
    pub async fn check(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> anyhow::Result<Result<(), Throttled>> {
        let keys = Keys::new(email, address);
        let c = &self.counters;
        if c.get(&keys.address).await? >= ADDRESS_LIMIT {
            return Ok(Err(Throttled(c.ttl(&keys.address).await?)));
        }
        if c.get(&keys.pair).await? >= PAIR_LIMIT {
            return Ok(Err(Throttled(c.ttl(&keys.pair).await?)));
        }
        if c.get(&keys.account).await? >= ACCOUNT_LIMIT && c.get(&keys.known).await? == 0 {
            return Ok(Err(Throttled(c.ttl(&keys.account).await?)));
        }
        Ok(Ok(()))
    }

    /// Counts a failed attempt.
    pub async fn record_failure(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> anyhow::Result<()> {
        let keys = Keys::new(email, address);
        for key in [&keys.pair, &keys.address, &keys.account] {
            self.counters.incr(key, WINDOW).await?;
        }
        Ok(())
    }

    /// Clears this address's failures for the account and remembers the
    /// address as the owner's.
    pub async fn record_success(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> anyhow::Result<()> {
        let keys = Keys::new(email, address);
        self.counters.reset(&keys.pair).await?;
        self.counters.incr(&keys.known, KNOWN_FOR).await?;
        Ok(())
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

    #[tokio::test]
    async fn an_address_is_slowed_after_a_few_failures_on_one_account() {
        let (throttle, email) = setup();
        let attacker = Some("203.0.113.9".parse().expect("ip"));
        let owner = Some("198.51.100.1".parse().expect("ip"));
        for _ in 0..PAIR_LIMIT {
            assert!(
                throttle
                    .check(&email, attacker)
                    .await
                    .expect("check")
                    .is_ok()
            );
            throttle
                .record_failure(&email, attacker)
                .await
                .expect("record");
        }
        let Err(Throttled(wait)) = throttle.check(&email, attacker).await.expect("check") else {
            panic!("the attacker should be throttled");
        };
        assert!(wait > Duration::from_secs(60));
        assert!(
            throttle.check(&email, owner).await.expect("check").is_ok(),
            "the owner is not locked out"
        );
    }

    #[tokio::test]
    async fn a_distributed_attack_does_not_lock_out_a_known_address() {
        let (throttle, email) = setup();
        let owner = Some("198.51.100.1".parse().expect("ip"));
        throttle
            .record_success(&email, owner)
            .await
            .expect("record");
        for i in 0..ACCOUNT_LIMIT {
            let bot = Some(IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8]));
            throttle.record_failure(&email, bot).await.expect("record");
        }
        let stranger = Some("192.0.2.77".parse().expect("ip"));
        assert!(
            throttle
                .check(&email, stranger)
                .await
                .expect("check")
                .is_err()
        );
        assert!(throttle.check(&email, owner).await.expect("check").is_ok());
    }

    #[tokio::test]
    async fn success_clears_the_pair_counter() {
        let (throttle, email) = setup();
        let addr = Some("198.51.100.1".parse().expect("ip"));
        for _ in 0..PAIR_LIMIT - 1 {
            throttle.record_failure(&email, addr).await.expect("record");
        }
        throttle.record_success(&email, addr).await.expect("record");
        throttle.record_failure(&email, addr).await.expect("record");
        assert!(throttle.check(&email, addr).await.expect("check").is_ok());
    }
}
