//! The ai service's domain: merchants as statement lines name them, the
//! transactions a request asks about, the caller's rules, the cascade
//! that decides and the rules the history suggests.

pub mod ask;
pub mod cascade;
pub mod input;
pub mod insights;
pub mod merchant;
pub mod rule;
pub mod suggest;

pub use self::cascade::{
    Decision, Known, ModelGuess, Source, Step, Undecided, decide, decide_known, history_confidence,
};
pub use self::input::{Input, MAX_BATCH, parse_batch};
pub use self::merchant::{Merchant, keyify, merchant_of, normalize};
pub use self::rule::{CompiledRule, Condition, RULE_UPDATABLE, RuleSpec};
pub use self::suggest::{Seen, Suggestion, suggest};
