//! What the services check of a field's value, stated in the document where
//! JSON Schema can state it exactly: a fuzzer that follows the document
//! must see every value it calls valid accepted (unless the service's state
//! refuses it) and every value it calls invalid refused, so a rule here is
//! never looser nor stricter than the parser at the edge it mirrors. Rules
//! follow the field's name, and its message where one name means two rules.
//!
//! Left as plain types: emails and passwords (with well-formed ones a fuzzer
//! signs accounts up and then fails their sign-ins, and those failures count
//! against the sign-in throttle of the address it shares with the users it
//! tests as, until their sign-ins are refused too: a CI run lost its users
//! that way), and values only the service can judge (a regular expression
//! that must compile, a template, a time zone name, a URL that must resolve
//! to public addresses).

use prost_reflect::FieldDescriptor;
use serde_json::{Value, json};

use super::{CURRENCY_CODE, UUID, reference};

/// The rules on a string field (for a list, on each of its items).
pub(super) fn string_rules(field: &FieldDescriptor, schema: &mut Value) {
    let name = field.name();
    let message = field.parent_message();
    let package = message.package_name();
    let id = name == "id"
        || (name.ends_with("_id") && name != "request_id")
        || (name.ends_with("_ids") && field.is_list());
    if id {
        // An element of a list of ids is always one; a single id may be
        // left empty where it is optional.
        schema["pattern"] = if field.is_list() {
            json!(format!("^{UUID}$"))
        } else {
            json!(format!("^({UUID})?$"))
        };
    } else if name == "currency_code" || name.ends_with("_currency_code") {
        *schema = reference(CURRENCY_CODE);
    } else if name == "month" || name == "start_month" {
        schema["pattern"] =
            json!("^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])$");
    } else if name == "refresh_token" {
        schema["pattern"] = json!("^fdr_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$");
    } else if name == "token" && message.name() == "ConfirmRegistrationRequest" {
        schema["pattern"] = json!("^fdc_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$");
    } else if name == "request_id" {
        // freedumb_kit::domain::request_id.
        schema["maxLength"] = json!(128);
        schema["pattern"] = json!(format!("^{PRINTABLE}*$"));
    } else if name == "tags" && package == "freedumb.ledger.v1" {
        schema["pattern"] = json!(tag_pattern());
    } else if matches!(
        name,
        "quiet_hours_start" | "quiet_hours_end" | "digest_time"
    ) && message.name() == "Preferences"
    {
        // The notification service's `clock::parse_time`; empty is unset.
        schema["pattern"] = json!("^(([01][0-9]|2[0-3]):[0-5][0-9])?$");
    } else if name == "encoding" && message.name() == "CsvOptions" {
        // The ledger's `TextEncoding::parse` (trimmed, any case); empty
        // means detected.
        schema["pattern"] = json!(format!(
            "^({SPACE}*([uU][tT][fF]-?8|[wW][iI][nN][dD][oO][wW][sS]-1252|[cC][pP]1252|[iI][sS][oO]-8859-1|[lL][aA][tT][iI][nN]1){SPACE}*)?$"
        ));
    } else if name == "symbol" && message.name() == "Instrument" {
        schema["pattern"] = json!("^[A-Za-z0-9.:^=_-]{1,32}$");
    } else if let Some(rule) = text_rule(package, message.name(), name) {
        rule.apply(schema);
    }
}

/// The rules on an integer field (for a list, on each of its items).
pub(super) fn integer_rules(field: &FieldDescriptor, schema: &mut Value) {
    let range = match (field.parent_message().name(), field.name()) {
        (_, "page_size") => Some((0, 1000)),
        ("RecurringRule", "interval") | ("CategorizationRule", "stage") => Some((0, 1000)),
        ("SuggestRulesRequest", "max_suggestions") | ("ListTopMerchantsRequest", "limit") => {
            Some((0, 100))
        }
        (_, "alert_thresholds_percent") => Some((1, 1000)),
        _ => None,
    };
    if let Some((min, max)) = range {
        schema["minimum"] = json!(min);
        schema["maximum"] = json!(max);
    }
}

/// The bounds of a Money field's amount. (Money is one message for amounts
/// of either sign, balances and totals included, so the rule is the
/// field's.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MoneyRule {
    /// 1 to 10^15 minor units (`freedumb_kit::domain::MAX_AMOUNT_MINOR`):
    /// a budget, a goal's target, a threshold, an activity's amount or fee.
    Positive,
    /// Within ±10^15 minor units (`freedumb_kit::domain::AmountMinor`): one
    /// transaction's amount, or money assigned.
    Signed,
}

impl MoneyRule {
    /// The rule on the Money `field`, if it has one.
    pub(super) fn of(field: &FieldDescriptor) -> Option<Self> {
        match (field.parent_message().name(), field.name()) {
            ("Budget", "amount")
            | ("Goal", "target")
            | ("Preferences", "large_transaction_threshold")
            | ("Activity", "amount" | "fee") => Some(Self::Positive),
            ("Transaction" | "CreateTransactionRequest" | "TransactionInput", "amount")
            | ("AssignMoneyRequest", "amount") => Some(Self::Signed),
            _ => None,
        }
    }

    /// The suffix of the Money schema with this rule.
    pub(super) fn suffix(self) -> &'static str {
        match self {
            Self::Positive => ".Positive",
            Self::Signed => ".Bounded",
        }
    }

    /// What the schema says of itself.
    pub(super) fn description(self) -> &'static str {
        match self {
            Self::Positive => "An amount of money that must be positive: 1 to 10^15 minor units.",
            Self::Signed => "An amount of money within ±10^15 minor units.",
        }
    }

    /// The schema of the amount in minor units, as a string of digits or a
    /// number.
    pub(super) fn amount_minor(self) -> Value {
        let max = freedumb_kit::domain::MAX_AMOUNT_MINOR;
        let digits = max.to_string().len() - 2;
        match self {
            Self::Positive => json!({ "anyOf": [
                { "type": "string", "format": "int64", "pattern": format!("^({max}|[1-9][0-9]{{0,{digits}}})$") },
                { "type": "integer", "format": "int64", "minimum": 1, "maximum": max }
            ] }),
            Self::Signed => json!({ "anyOf": [
                { "type": "string", "format": "int64", "pattern": signed_amount_pattern() },
                { "type": "integer", "format": "int64", "minimum": -max, "maximum": max }
            ] }),
        }
    }
}

/// Digits of an amount within ±10^15 minor units.
fn signed_amount_pattern() -> String {
    let max = freedumb_kit::domain::MAX_AMOUNT_MINOR;
    format!(
        "^-?({max}|[1-9][0-9]{{0,{}}}|0)$",
        max.to_string().len() - 2
    )
}

/// Whether a signed 64-bit integer field is an amount within ±10^15 minor
/// units (`freedumb_kit::domain::AmountMinor`).
pub(super) fn is_bounded_amount(field: &FieldDescriptor) -> bool {
    matches!(
        (field.parent_message().name(), field.name()),
        (
            "ListTransactionsRequest",
            "min_amount_minor" | "max_amount_minor"
        ) | ("Split", "amount_minor")
    )
}

/// The rules on a signed 64-bit integer as a string of digits.
pub(super) fn int64_rules(field: &FieldDescriptor, schema: &mut Value) {
    if is_bounded_amount(field) {
        schema["pattern"] = json!(signed_amount_pattern());
    }
}

/// Whether an enum field takes the value `name`: a notification kind a user
/// configures is neither unset nor REGISTRATION (sent by email only).
pub(super) fn enum_value_taken(field: &FieldDescriptor, name: &str) -> bool {
    let configured = matches!(
        (field.parent_message().name(), field.name()),
        ("KindPreference", "kind") | ("WebhookEndpoint", "kinds")
    );
    !configured
        || !matches!(
            name,
            "NOTIFICATION_KIND_UNSPECIFIED" | "NOTIFICATION_KIND_REGISTRATION"
        )
}

/// The rules on a list as a whole: how many items, and whether they may
/// repeat.
pub(super) fn list_rules(field: &FieldDescriptor, schema: &mut Value) {
    let message = field.parent_message();
    let (min, max, unique) = match (message.name(), field.name()) {
        (_, "tags") if message.package_name() == "freedumb.ledger.v1" => (0, 20, false),
        ("Budget", "category_ids") => (1, 50, true),
        ("BudgetPlan", "category_ids") => (1, 100, true),
        ("BudgetPlan", "income_category_ids") => (0, 50, true),
        ("Budget", "alert_thresholds_percent") => (0, 10, true),
        ("CategorizeRequest", "transactions") => (1, 1000, false),
        ("CategorizationRule", "conditions") => (1, 10, false),
        ("MarkReadRequest", "notification_ids") => (1, 1000, false),
        // The five kinds a user configures, each once.
        ("WebhookEndpoint", "kinds") => (0, 5, true),
        _ => return,
    };
    if min > 0 {
        schema["minItems"] = json!(min);
    }
    schema["maxItems"] = json!(max);
    if unique {
        schema["uniqueItems"] = json!(true);
    }
}

/// Free text, as the services read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextRule {
    /// `freedumb_kit::domain::Text<MAX>`: trimmed, then at most `MAX`
    /// characters, no control character but tab and line feed; may be
    /// blank.
    Optional(usize),
    /// `RequiredText<MAX>` (`Name` is `RequiredText<100>`): the same, and
    /// not blank.
    Required(usize),
    /// The ai's inputs: trimmed, then 1 to `MAX` characters of any kind.
    Trimmed(usize),
    /// The ai's merchant: at most `MAX` characters before trimming.
    Raw(usize),
}

impl TextRule {
    fn apply(self, schema: &mut Value) {
        match self {
            Self::Optional(max) => schema["pattern"] = json!(text_pattern(max, false)),
            Self::Required(max) => schema["pattern"] = json!(text_pattern(max, true)),
            Self::Trimmed(max) => {
                schema["pattern"] = json!(format!(
                    "^{SPACE}*{NOT_SPACE}([\\s\\S]{{0,{}}}{NOT_SPACE})?{SPACE}*$",
                    max - 2
                ));
            }
            Self::Raw(max) => schema["maxLength"] = json!(max),
        }
    }
}

/// The text rule of `field` in `message` of `package`, if it is free text.
fn text_rule(package: &str, message: &str, field: &str) -> Option<TextRule> {
    use TextRule::{Optional, Raw, Required, Trimmed};
    Some(match (package, message, field) {
        ("freedumb.investment.v1", "Instrument", "name") => Required(200),
        (_, _, "name") => Required(100),
        ("freedumb.ledger.v1", _, "description") => Optional(500),
        ("freedumb.ledger.v1", _, "merchant") => Optional(200),
        ("freedumb.ledger.v1", _, "notes") => Optional(2000),
        ("freedumb.ledger.v1", "ListTransactionsRequest", "text") => Optional(200),
        ("freedumb.investment.v1", "Activity", "note") => Optional(500),
        ("freedumb.notification.v1", "WebhookEndpoint", "description") => Optional(200),
        ("freedumb.ai.v1", "TransactionInput", "description") => Trimmed(500),
        ("freedumb.ai.v1", "TransactionInput", "merchant") => Raw(200),
        ("freedumb.ai.v1", "AskRequest", "question") => Trimmed(500),
        ("freedumb.ai.v1", "RuleCondition", "value") => Trimmed(200),
        _ => return None,
    })
}

/// White space as Rust's `str::trim` removes it (Unicode White_Space).
const SPACE: &str = r"[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Anything but white space.
const NOT_SPACE: &str = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Any character but a control one (Unicode Cc, `char::is_control`).
const PRINTABLE: &str = r"[^\u0000-\u001F\u007F-\u009F]";
/// What free text may hold inside: no control character but tab and line
/// feed.
const TEXT_CHAR: &str = r"[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]";
/// What free text may start and end with once trimmed: neither white space
/// nor a control character.
const TEXT_EDGE: &str =
    r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// `Text<max>` (`required`: `RequiredText<max>`): white space at either
/// end, around at most `max` characters that start and end with neither.
fn text_pattern(max: usize, required: bool) -> String {
    let inner = format!("{TEXT_EDGE}({TEXT_CHAR}{{0,{}}}{TEXT_EDGE})?", max - 2);
    if required {
        format!("^{SPACE}*{inner}{SPACE}*$")
    } else {
        format!("^{SPACE}*({inner})?{SPACE}*$")
    }
}

/// A ledger tag: trimmed, then 1 to 50 characters and no control character
/// at all. (Lower-casing could lengthen a tag of 26 or more `İ`; the
/// document does not say so.)
fn tag_pattern() -> String {
    format!("^{SPACE}*{TEXT_EDGE}({PRINTABLE}{{0,48}}{TEXT_EDGE})?{SPACE}*$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::domain::{Name, RequiredText, Text};

    /// Whether `pattern` (a JSON Schema regex) matches `text`, as Rust's
    /// `regex` reads it (the same syntax for what these patterns use).
    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern).expect("pattern").is_match(text)
    }

    fn samples() -> Vec<String> {
        let mut samples: Vec<String> = [
            "",
            " ",
            "a",
            " a ",
            "\ta\n",
            "a\tb",
            "a\nb",
            "a\rb",
            "\ra\r",
            "a\u{0}b",
            "\u{0}",
            "a\u{85}b",
            "\u{85}a\u{85}",
            "\u{a0}",
            "a\u{a0}b",
            "\u{3000}x\u{3000}",
            "a\u{7f}",
            "\u{9f}",
            "é",
            "\u{feff}",
            "x\u{2028}",
            "\u{1c}a",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for n in [3, 4, 5, 6] {
            samples.push("x".repeat(n));
            samples.push(format!(" {} ", "é".repeat(n)));
            samples.push(format!("{}\n", "y".repeat(n)));
            samples.push(format!("a{}b", " ".repeat(n)));
        }
        samples
    }

    #[test]
    fn text_patterns_accept_exactly_what_text_parses() {
        for sample in samples() {
            assert_eq!(
                matches(&text_pattern(5, false), &sample),
                Text::<5>::parse(&sample).is_ok(),
                "Text<5> of {sample:?}"
            );
            assert_eq!(
                matches(&text_pattern(5, true), &sample),
                RequiredText::<5>::parse(&sample).is_ok(),
                "RequiredText<5> of {sample:?}"
            );
        }
        assert!(matches(&text_pattern(100, true), &"n".repeat(100)));
        assert!(!matches(&text_pattern(100, true), &"n".repeat(101)));
        assert_eq!(
            Name::parse(&"n".repeat(101)).is_ok(),
            matches(&text_pattern(100, true), &"n".repeat(101))
        );
    }

    #[test]
    fn request_id_pattern_accepts_exactly_what_the_kit_parses() {
        let pattern = format!("^{PRINTABLE}*$");
        for sample in samples() {
            let fits = sample.chars().count() <= 128;
            assert_eq!(
                matches(&pattern, &sample) && fits,
                freedumb_kit::domain::request_id(&sample).is_ok(),
                "request_id {sample:?}"
            );
        }
        let long = "é".repeat(128);
        assert!(freedumb_kit::domain::request_id(&long).is_ok());
        assert!(freedumb_kit::domain::request_id(&format!("{long}é")).is_err());
    }

    #[test]
    fn positive_amounts_are_1_to_the_kits_maximum() {
        let schema = MoneyRule::Positive.amount_minor();
        let pattern = schema["anyOf"][0]["pattern"].as_str().expect("pattern");
        let max = freedumb_kit::domain::MAX_AMOUNT_MINOR;
        for ok in ["1", "9", "10", "999999999999999", &max.to_string()] {
            assert!(matches(pattern, ok), "{ok}");
        }
        for bad in [
            "0",
            "-1",
            "01",
            "1000000000000001",
            "9999999999999999",
            "",
            "1.5",
        ] {
            assert!(!matches(pattern, bad), "{bad}");
        }
        assert_eq!(schema["anyOf"][1]["maximum"], max);
        let signed = signed_amount_pattern();
        for ok in ["0", "-1", "1", &max.to_string(), &format!("-{max}")] {
            assert!(matches(&signed, ok), "{ok}");
            let minor: i64 = ok.parse().expect("digits");
            assert!(
                freedumb_kit::domain::AmountMinor::parse(minor).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "01",
            "-01",
            "1000000000000001",
            "-1000000000000001",
            "",
            "+1",
        ] {
            assert!(!matches(&signed, bad), "{bad}");
        }
        assert!(freedumb_kit::domain::AmountMinor::parse(max + 1).is_err());
    }

    #[test]
    fn tag_pattern_is_trimmed_and_has_no_control_character() {
        let pattern = tag_pattern();
        assert!(matches(&pattern, " groceries "));
        assert!(matches(&pattern, &"t".repeat(50)));
        assert!(!matches(&pattern, &"t".repeat(51)));
        assert!(!matches(&pattern, "   "));
        assert!(!matches(&pattern, "a\tb"));
        assert!(matches(&pattern, "\ta b\n"));
    }
}
