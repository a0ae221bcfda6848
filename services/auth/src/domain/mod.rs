//! Auth's domain types, parsed at the edge so the rest of the crate can
//! trust them.

mod email;
pub mod password;
mod refresh_token;
pub mod requests;

pub use self::email::{Email, EmailError};
pub use self::password::{Password, PasswordError};
pub use self::refresh_token::{RefreshToken, RefreshTokenHash};
pub use self::requests::{Credentials, PasswordChange, PresentedPassword, Registration};
