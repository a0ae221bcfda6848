//! Auth's domain types, parsed at the edge so the rest of the crate can
//! trust them.

mod email;
pub mod password;
pub mod requests;
mod token;

pub use self::email::{Email, EmailError};
pub use self::password::{Password, PasswordError};
pub use self::requests::{Credentials, PasswordChange, PresentedPassword, Registration};
pub use self::token::{ConfirmationToken, ConfirmationTokenHash, RefreshToken, RefreshTokenHash};
