//! The ledger, called as the caller (the kit's client, shared with every
//! domain that reads the caller's ledger).

pub use freedumb_kit::peer::{Credentials, LedgerPeer, PeerError};
