//! The notification service's value types and validated requests: kinds,
//! preferences (with quiet hours and the digest in the user's time zone),
//! webhook endpoints (which addresses may be called, secrets, signatures)
//! and listings.

pub mod clock;
mod endpoint;
mod kind;
mod listing;
mod preferences;
pub mod webhook;

pub use self::endpoint::NewEndpoint;
pub use self::kind::Kind;
pub use self::listing::{DeliveryListing, NotificationListing};
pub use self::preferences::{
    Channels, MAX_TEMPLATE_CHARS, Preferences, UPDATABLE, check_template, merge,
};
