//! The target registry: which modules a process runs. `all` (the default)
//! runs every service in one process on embedded defaults; a list such as
//! `auth` runs just those, as one Deployment among many.

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// A runnable module. Declaration order is start-up order (dependencies
/// first): a [`Targets`] set iterates in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// `freedumb.auth.v1.AuthService`.
    Auth,
    /// `freedumb.ledger.v1.LedgerService` and its outbox relay.
    Ledger,
    /// Records due occurrences of recurring rules.
    WorkerRecurring,
    /// The REST+JSON edge (transcoding to the gRPC services).
    Gateway,
}

/// Every target: (name, what it runs).
pub const REGISTRY: &[(&str, Target, &str)] = &[
    (
        "auth",
        Target::Auth,
        "accounts, sessions and token signing (freedumb.auth.v1)",
    ),
    (
        "ledger",
        Target::Ledger,
        "accounts, categories, transactions, transfers, recurring rules, import, events (freedumb.ledger.v1)",
    ),
    (
        "worker-recurring",
        Target::WorkerRecurring,
        "records due occurrences of recurring rules (needs the ledger database)",
    ),
    (
        "gateway",
        Target::Gateway,
        "REST+JSON transcoding of every annotated RPC, on FREEDUMB_GATEWAY_ADDR",
    ),
];

/// The targets `all` stands for.
pub const ALL: &[Target] = &[
    Target::Auth,
    Target::Ledger,
    Target::WorkerRecurring,
    Target::Gateway,
];

/// A validated, de-duplicated set of targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(BTreeSet<Target>);

impl Targets {
    /// Everything.
    pub fn all() -> Self {
        Self(ALL.iter().copied().collect())
    }

    /// Whether `target` runs.
    pub fn contains(&self, target: Target) -> bool {
        self.0.contains(&target)
    }

    /// The targets in start-up order.
    pub fn iter(&self) -> impl Iterator<Item = Target> + '_ {
        self.0.iter().copied()
    }

    /// The names, for logs.
    pub fn names(&self) -> Vec<&'static str> {
        REGISTRY
            .iter()
            .filter(|(_, t, _)| self.0.contains(t))
            .map(|(n, _, _)| *n)
            .collect()
    }
}

/// Parses `all` or a comma-separated list of names.
pub fn parse(raw: &str) -> Result<Targets, String> {
    let mut set = BTreeSet::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "all" {
            set.extend(ALL.iter().copied());
            continue;
        }
        match REGISTRY.iter().find(|(n, _, _)| *n == name) {
            Some((_, target, _)) => {
                set.insert(*target);
            }
            None => {
                let known: Vec<&str> = REGISTRY.iter().map(|(n, _, _)| *n).collect();
                return Err(format!(
                    "unknown target `{name}`; known: all, {}",
                    known.join(", ")
                ));
            }
        }
    }
    if set.is_empty() {
        return Err("no target given".into());
    }
    Ok(Targets(set))
}

/// The `--list-targets` text.
pub fn describe() -> String {
    let mut out = String::from("all\tevery target below, in one process\n");
    for (name, _, what) in REGISTRY {
        let _ = writeln!(out, "{name}\t{what}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_and_lists_parse() {
        assert_eq!(parse("all"), Ok(Targets::all()));
        assert!(parse("auth, auth").expect("valid").contains(Target::Auth));
        let both = parse("worker-recurring,ledger").expect("valid");
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            [Target::Ledger, Target::WorkerRecurring]
        );
    }

    #[test]
    fn unknown_targets_are_named() {
        let err = parse("auth,ledgr").expect_err("invalid");
        assert!(err.contains("ledgr"), "{err}");
        assert!(parse(" , ").is_err());
    }
}
