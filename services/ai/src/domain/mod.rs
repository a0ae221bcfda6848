//! The ai service's domain: merchants as statement lines name them, the
//! transactions a request asks about, the caller's rules and the cascade
//! that decides.

pub mod cascade;
pub mod input;
pub mod merchant;
pub mod rule;

pub use self::cascade::{Decision, Source, Step, decide, history_confidence};
pub use self::input::{Input, MAX_BATCH, parse_batch};
pub use self::merchant::{Merchant, normalize};
pub use self::rule::{CompiledRule, Condition, RULE_UPDATABLE, RuleSpec};
