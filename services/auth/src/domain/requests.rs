//! Auth's requests as validated values, parsed once at the door: every
//! invalid field is reported together, and the service trusts what it gets.

use freedumb_kit::FieldViolations;
use freedumb_proto::auth::{
    ChangePasswordRequest, ConfirmRegistrationRequest, LoginRequest, RefreshRequest,
    RegisterRequest,
};
use secrecy::{ExposeSecret as _, SecretString};

use super::{ConfirmationToken, Email, Password, RefreshToken};

/// Longest password text looked at when signing in (longer ones cannot
/// match: registration refuses them).
const MAX_PRESENTED_BYTES: usize = 4 * super::password::MAX_CHARS;

/// A password as typed to prove who one is (sign-in, confirming a change):
/// present and of a length a stored password can have. Never printed.
pub struct PresentedPassword(SecretString);

impl PresentedPassword {
    /// Checks `raw`'s presence and length (not the policy: an old password
    /// may predate it).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            Err("is required")
        } else if raw.len() > MAX_PRESENTED_BYTES {
            Err("is too long")
        } else {
            Ok(Self(SecretString::from(raw)))
        }
    }

    /// The text, for verification.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for PresentedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PresentedPassword(..)")
    }
}

/// A `Register` request: a new account's email and a password that meets
/// the policy.
#[derive(Debug)]
pub struct Registration {
    /// Normalized email.
    pub email: Email,
    /// The new password.
    pub password: Password,
}

impl TryFrom<RegisterRequest> for Registration {
    type Error = FieldViolations;

    fn try_from(req: RegisterRequest) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let email = v.check("email", Email::parse(&req.email));
        let context = email.as_ref().map(Email::words).unwrap_or_default();
        let password = v.check("password", Password::parse(&req.password, &context));
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self { email, password }),
            _ => Err(v),
        }
    }
}

/// A `Login` request.
#[derive(Debug)]
pub struct Credentials {
    /// Normalized email.
    pub email: Email,
    /// The password as typed.
    pub password: PresentedPassword,
}

impl TryFrom<LoginRequest> for Credentials {
    type Error = FieldViolations;

    fn try_from(req: LoginRequest) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let email = v.check("email", Email::parse(&req.email));
        let password = v.check("password", PresentedPassword::parse(&req.password));
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self { email, password }),
            _ => Err(v),
        }
    }
}

/// A `ChangePassword` request: the current password as typed and a new
/// one that meets the policy and differs from it.
#[derive(Debug)]
pub struct PasswordChange {
    /// The current password, to be verified.
    pub current: PresentedPassword,
    /// The new password.
    pub new: Password,
}

impl TryFrom<ChangePasswordRequest> for PasswordChange {
    type Error = FieldViolations;

    fn try_from(req: ChangePasswordRequest) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let current = v.check(
            "current_password",
            PresentedPassword::parse(&req.current_password),
        );
        // The email is known once the user is read: `Password::check_guessable`.
        let new = v.check("new_password", Password::parse(&req.new_password, &[]));
        if req.new_password == req.current_password && !req.new_password.is_empty() {
            v.add("new_password", "must differ from the current password");
        }
        match (current, new) {
            (Some(current), Some(new)) if v.is_empty() => Ok(Self { current, new }),
            _ => Err(v),
        }
    }
}

impl TryFrom<RefreshRequest> for RefreshToken {
    type Error = FieldViolations;

    fn try_from(req: RefreshRequest) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        if req.refresh_token.is_empty() {
            v.add("refresh_token", "is required");
            return Err(v);
        }
        RefreshToken::parse(&req.refresh_token).ok_or_else(|| {
            v.add("refresh_token", "is not a FREEDUMB refresh token");
            v
        })
    }
}

impl TryFrom<ConfirmRegistrationRequest> for ConfirmationToken {
    type Error = FieldViolations;

    fn try_from(req: ConfirmRegistrationRequest) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        if req.token.is_empty() {
            v.add("token", "is required");
            return Err(v);
        }
        ConfirmationToken::parse(req.token.trim()).ok_or_else(|| {
            v.add(
                "token",
                "is not a FREEDUMB confirmation token (fdc_ and 43 characters)",
            );
            v
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &FieldViolations) -> Vec<&str> {
        v.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn a_password_made_of_the_email_is_refused_saying_why() {
        let err = Registration::try_from(RegisterRequest {
            email: "zorbulon.frimpt@example.com".into(),
            password: "zorbulonfrimpt".into(),
        })
        .expect_err("guessable from the email");
        let (field, why) = err.iter().next().expect("one violation");
        assert_eq!(field, "password");
        assert!(why.starts_with("is too easy to guess: "), "{why}");
        assert!(
            Registration::try_from(RegisterRequest {
                email: "someone.else@example.com".into(),
                password: "zorbulonfrimpt".into(),
            })
            .is_ok()
        );
    }

    #[test]
    fn a_registration_reports_every_bad_field() {
        let err = Registration::try_from(RegisterRequest {
            email: "bad".into(),
            password: "x".into(),
        })
        .expect_err("invalid");
        assert_eq!(fields(&err), ["email", "password"]);
    }

    #[test]
    fn sign_in_takes_any_stored_length_but_not_nothing_or_megabytes() {
        let ok = Credentials::try_from(LoginRequest {
            email: "A@Example.com".into(),
            password: "short".into(),
        })
        .expect("old passwords may be short");
        assert_eq!(ok.email.as_str(), "a@example.com");
        assert_eq!(ok.password.expose(), "short");
        let err = Credentials::try_from(LoginRequest {
            email: "a@example.com".into(),
            password: "x".repeat(MAX_PRESENTED_BYTES + 1),
        })
        .expect_err("too long");
        assert_eq!(fields(&err), ["password"]);
        assert!(!format!("{ok:?}").contains("short"), "never printed");
    }

    #[test]
    fn a_new_password_must_differ_from_the_current_one() {
        let err = PasswordChange::try_from(ChangePasswordRequest {
            current_password: "correct horse battery".into(),
            new_password: "correct horse battery".into(),
        })
        .expect_err("same");
        assert_eq!(fields(&err), ["new_password"]);
        let err = PasswordChange::try_from(ChangePasswordRequest::default()).expect_err("empty");
        assert_eq!(fields(&err), ["current_password", "new_password"]);
    }

    #[test]
    fn refresh_tokens_are_required_and_shaped() {
        let missing = RefreshToken::try_from(RefreshRequest::default()).expect_err("missing");
        assert_eq!(fields(&missing), ["refresh_token"]);
        let forged = RefreshToken::try_from(RefreshRequest {
            refresh_token: "fdr_nope".into(),
        })
        .expect_err("forged");
        assert_eq!(fields(&forged), ["refresh_token"]);
        let real = RefreshToken::generate();
        let parsed = RefreshToken::try_from(RefreshRequest {
            refresh_token: real.expose().to_owned(),
        })
        .expect("real");
        assert_eq!(parsed.hash(), real.hash());
    }

    #[test]
    fn confirmation_tokens_are_required_and_shaped_and_may_be_pasted_with_spaces() {
        let missing =
            ConfirmationToken::try_from(ConfirmRegistrationRequest::default()).expect_err("none");
        assert_eq!(fields(&missing), ["token"]);
        let refresh = ConfirmationToken::try_from(ConfirmRegistrationRequest {
            token: RefreshToken::generate().expose().to_owned(),
        })
        .expect_err("another kind");
        assert_eq!(fields(&refresh), ["token"]);
        let real = ConfirmationToken::generate();
        let pasted = ConfirmationToken::try_from(ConfirmRegistrationRequest {
            token: format!(" {}\n", real.expose()),
        })
        .expect("real");
        assert_eq!(pasted.hash(), real.hash());
    }
}
