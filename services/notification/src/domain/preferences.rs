//! A user's notification preferences: stored as JSON, parsed from the API
//! field by field, merged by update mask.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use chrono_tz::Tz;
use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{Currency, MAX_AMOUNT_MINOR, money, truncate};
use freedumb_proto::notification as pb;
use serde::{Deserialize, Serialize};

use super::Kind;
use super::clock::{QuietHours, parse_time, parse_zone};

/// The longest custom email template.
pub const MAX_TEMPLATE_CHARS: usize = 4_000;
/// The longest email address.
const MAX_EMAIL_CHARS: usize = 254;
/// When the digest goes out by default (local).
const DEFAULT_DIGEST_TIME: &str = "08:00";

/// The fields `UpdatePreferences` may change.
pub const UPDATABLE: &[&str] = &[
    "kinds",
    "email",
    "time_zone",
    "quiet_hours_start",
    "quiet_hours_end",
    "daily_digest",
    "digest_time",
    "large_transaction_threshold",
];

/// The channels of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    /// In the feed.
    pub in_app: bool,
    /// By email (when the user has an address).
    pub email: bool,
    /// To the user's webhook endpoints.
    pub webhook: bool,
    /// A custom email body template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_template: Option<String>,
}

impl Default for Channels {
    fn default() -> Self {
        Self {
            in_app: true,
            email: true,
            webhook: true,
            email_template: None,
        }
    }
}

/// A user's preferences, valid as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Channels per kind (stored name); absent kinds have the defaults.
    #[serde(default)]
    pub kinds: BTreeMap<String, Channels>,
    /// Where email goes.
    #[serde(default)]
    pub email: Option<String>,
    /// IANA zone name; empty for UTC.
    #[serde(default)]
    pub time_zone: String,
    /// Quiet hours (`HH:MM`, `HH:MM`).
    #[serde(default)]
    pub quiet_hours: Option<(String, String)>,
    /// One email a day instead of one per notification.
    #[serde(default)]
    pub daily_digest: bool,
    /// When the digest goes out (`HH:MM`), local.
    #[serde(default)]
    pub digest_time: Option<String>,
    /// (currency, minor units) from which a transaction is large.
    #[serde(default)]
    pub large_transaction: Option<(String, i64)>,
}

impl Preferences {
    /// The channels of `kind`.
    pub fn channels(&self, kind: Kind) -> Channels {
        self.kinds.get(kind.as_str()).cloned().unwrap_or_default()
    }

    /// The user's zone (UTC if the stored one no longer parses).
    pub fn zone(&self) -> Tz {
        parse_zone(&self.time_zone).unwrap_or(Tz::UTC)
    }

    /// The user's quiet hours.
    pub fn quiet(&self) -> Option<QuietHours> {
        let (start, end) = self.quiet_hours.as_ref()?;
        Some(QuietHours {
            start: parse_time(start).ok()?,
            end: parse_time(end).ok()?,
        })
    }

    /// When the digest goes out, local.
    pub fn digest_at(&self) -> NaiveTime {
        let at = self.digest_time.as_deref().unwrap_or(DEFAULT_DIGEST_TIME);
        parse_time(at).unwrap_or(NaiveTime::MIN)
    }

    /// Whether a transaction of `minor` in `currency` is large for the user.
    pub fn is_large(&self, currency: &str, minor: i64) -> bool {
        self.large_transaction
            .as_ref()
            .is_some_and(|(c, threshold)| {
                c == currency && minor.unsigned_abs() >= threshold.unsigned_abs()
            })
    }

    /// The API form.
    pub fn to_pb(&self) -> pb::Preferences {
        let kinds = Kind::ALL
            .into_iter()
            .filter_map(|kind| {
                let c = self.kinds.get(kind.as_str())?;
                Some(pb::KindPreference {
                    kind: kind.to_pb().into(),
                    in_app: c.in_app,
                    email: c.email,
                    webhook: c.webhook,
                    email_template: c.email_template.clone().unwrap_or_default(),
                })
            })
            .collect();
        let (quiet_hours_start, quiet_hours_end) = self.quiet_hours.clone().unwrap_or_default();
        pb::Preferences {
            kinds,
            email: self.email.clone().unwrap_or_default(),
            time_zone: self.time_zone.clone(),
            quiet_hours_start,
            quiet_hours_end,
            daily_digest: self.daily_digest,
            digest_time: self.digest_time.clone().unwrap_or_default(),
            large_transaction_threshold: self.large_transaction.as_ref().map(|(c, m)| money(c, *m)),
        }
    }

    /// Checks `p`, naming fields under `preferences.`.
    pub fn parse(p: &pb::Preferences) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let mut kinds = BTreeMap::new();
        for (i, k) in p.kinds.iter().enumerate() {
            let field = |name: &str| format!("preferences.kinds[{i}].{name}");
            let Some(kind) = v.check(&field("kind"), Kind::parse(k.kind)) else {
                continue;
            };
            if kinds.contains_key(kind.as_str()) {
                v.add(field("kind"), "is listed twice");
                continue;
            }
            let template = match k.email_template.as_str() {
                "" => None,
                t => v.check(&field("email_template"), check_template(t)),
            };
            kinds.insert(
                kind.as_str().to_owned(),
                Channels {
                    in_app: k.in_app,
                    email: k.email,
                    webhook: k.webhook,
                    email_template: template,
                },
            );
        }
        let email = match p.email.as_str() {
            "" => None,
            e => v.check("preferences.email", check_email(e)),
        };
        v.check("preferences.time_zone", parse_zone(&p.time_zone));
        let quiet_hours = match (p.quiet_hours_start.as_str(), p.quiet_hours_end.as_str()) {
            ("", "") => None,
            (start, end) => {
                let s = v.check("preferences.quiet_hours_start", parse_time(start));
                let e = v.check("preferences.quiet_hours_end", parse_time(end));
                s.zip(e).map(|_| (start.to_owned(), end.to_owned()))
            }
        };
        let digest_time = match p.digest_time.as_str() {
            "" => None,
            t => v
                .check("preferences.digest_time", parse_time(t))
                .map(|_| t.to_owned()),
        };
        let large_transaction = p.large_transaction_threshold.as_ref().and_then(|m| {
            let currency = v.check(
                "preferences.large_transaction_threshold.currency_code",
                Currency::parse(&m.currency_code),
            );
            let amount = v.check(
                "preferences.large_transaction_threshold.amount_minor",
                positive(m.amount_minor),
            );
            currency.zip(amount).map(|(c, a)| (c.code().to_owned(), a))
        });
        if !v.is_empty() {
            return Err(v);
        }
        Ok(Self {
            kinds,
            email,
            time_zone: p.time_zone.clone(),
            quiet_hours,
            daily_digest: p.daily_digest,
            digest_time,
            large_transaction,
        })
    }
}

/// `current` with the fields of `mask` taken from `patch`.
pub fn merge(
    current: &pb::Preferences,
    patch: &pb::Preferences,
    mask: &freedumb_kit::UpdateMask,
) -> pb::Preferences {
    let mut merged = current.clone();
    for path in mask.paths() {
        match path.as_str() {
            "kinds" => merged.kinds.clone_from(&patch.kinds),
            "email" => merged.email.clone_from(&patch.email),
            "time_zone" => merged.time_zone.clone_from(&patch.time_zone),
            "quiet_hours_start" => merged
                .quiet_hours_start
                .clone_from(&patch.quiet_hours_start),
            "quiet_hours_end" => merged.quiet_hours_end.clone_from(&patch.quiet_hours_end),
            "daily_digest" => merged.daily_digest = patch.daily_digest,
            "digest_time" => merged.digest_time.clone_from(&patch.digest_time),
            "large_transaction_threshold" => {
                merged
                    .large_transaction_threshold
                    .clone_from(&patch.large_transaction_threshold);
            }
            _ => {}
        }
    }
    merged
}

fn positive(minor: i64) -> Result<i64, String> {
    if minor <= 0 || minor > MAX_AMOUNT_MINOR {
        return Err(format!(
            "must be 1 to {MAX_AMOUNT_MINOR} minor units, got {minor}"
        ));
    }
    Ok(minor)
}

fn check_email(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!("must be at most {MAX_EMAIL_CHARS} characters"));
    }
    raw.parse::<lettre::Address>()
        .map(|_| raw.to_owned())
        .map_err(|_| format!("`{}` is not an email address", truncate(raw, 60)))
}

/// A custom template: bounded, and it compiles.
pub fn check_template(raw: &str) -> Result<String, String> {
    let chars = raw.chars().count();
    if chars > MAX_TEMPLATE_CHARS {
        return Err(format!(
            "must be at most {MAX_TEMPLATE_CHARS} characters, got {chars}"
        ));
    }
    let env = minijinja::Environment::new();
    env.template_from_str(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| format!("does not compile: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(p: &pb::Preferences) -> Vec<String> {
        Preferences::parse(p)
            .expect_err("invalid")
            .iter()
            .map(|(f, _)| f.clone())
            .collect()
    }

    #[test]
    fn valid_preferences_round_trip_through_the_api_form() {
        let p = pb::Preferences {
            kinds: vec![pb::KindPreference {
                kind: pb::NotificationKind::BudgetThreshold.into(),
                in_app: true,
                email: false,
                webhook: true,
                email_template: "{{ title }}!".into(),
            }],
            email: "ada@example.com".into(),
            time_zone: "Europe/Paris".into(),
            quiet_hours_start: "22:00".into(),
            quiet_hours_end: "07:00".into(),
            daily_digest: true,
            digest_time: "08:30".into(),
            large_transaction_threshold: Some(money("EUR", 50_000)),
        };
        let parsed = Preferences::parse(&p).expect("valid");
        assert_eq!(parsed.to_pb(), p);
        assert!(!parsed.channels(Kind::BudgetThreshold).email);
        assert!(parsed.channels(Kind::LargeTransaction).email, "defaults");
        assert!(
            parsed.is_large("EUR", -50_000)
                && !parsed.is_large("EUR", 49_999)
                && !parsed.is_large("USD", -99_999)
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = pb::Preferences {
            kinds: vec![
                pb::KindPreference {
                    kind: 0,
                    ..Default::default()
                },
                pb::KindPreference {
                    kind: pb::NotificationKind::LargeTransaction.into(),
                    email_template: "x".repeat(10_000),
                    ..Default::default()
                },
                pb::KindPreference {
                    kind: pb::NotificationKind::RecurringRecorded.into(),
                    email_template: "{% if %}".into(),
                    ..Default::default()
                },
            ],
            email: "not an address".into(),
            time_zone: "Nowhere/Else".into(),
            quiet_hours_start: "22:00".into(),
            quiet_hours_end: "25:00".into(),
            digest_time: "8am".into(),
            large_transaction_threshold: Some(money("EUR", 0)),
            ..Default::default()
        };
        assert_eq!(
            fields(&bad),
            [
                "preferences.kinds[0].kind",
                "preferences.kinds[1].email_template",
                "preferences.kinds[2].email_template",
                "preferences.email",
                "preferences.time_zone",
                "preferences.quiet_hours_end",
                "preferences.digest_time",
                "preferences.large_transaction_threshold.amount_minor",
            ]
        );
    }
}
