//! The investment domain's values, parsed at the door, and the arithmetic
//! of holdings and returns. Nothing here touches storage or the network.

pub mod activity;
pub mod book;
pub mod instrument;
pub mod market;
pub mod performance;
pub mod portfolio;
pub mod returns;
pub mod units;

pub use self::activity::{ActivityKind, Cash, Detail, NewActivity, Trade};
pub use self::instrument::{InstrumentKind, InstrumentSpec, Isin, Symbol};
pub use self::portfolio::{CostBasisMethod, PortfolioSpec};
