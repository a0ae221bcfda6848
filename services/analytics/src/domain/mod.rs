//! The analytics domain: periods, and the facts a ledger transaction
//! contributes to the read model.

pub mod facts;
pub mod period;

pub use self::facts::{Fact, facts_of};
pub use self::period::{Interval, Span, periods};
