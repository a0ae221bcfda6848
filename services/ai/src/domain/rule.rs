//! Categorization rules: a rule as a request describes it (checked and
//! compiled at the door), and how a compiled rule tests a transaction.
//! Patterns run on the `regex` crate's engine: linear in the input,
//! whatever the pattern, so no rule can stall the service.

use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{AmountMinor, Name, required_id};
use freedumb_proto::ai as pb;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::input::Input;
use super::merchant::{Merchant, keyify};

/// The most conditions a rule has.
pub const MAX_CONDITIONS: usize = 10;
/// The longest condition value.
pub const MAX_VALUE: usize = 200;
/// The highest stage.
pub const MAX_STAGE: i32 = 1000;
/// The fields `UpdateCategorizationRule` may change.
pub const RULE_UPDATABLE: &[&str] = &["name", "conditions", "category_id", "stage", "stop"];
/// The most memory one compiled pattern (and its lazy DFA) may take.
const PATTERN_SIZE_LIMIT: usize = 128 * 1024;
/// Compiled patterns of stored rules kept for reuse (compiling is most of
/// a small request's work: every request runs the caller's stored rules).
/// At most 1,000 × 128 KiB, whatever users store.
const PATTERN_CACHE: u64 = 1_000;

/// `pattern` compiled case-insensitively.
fn build_pattern(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("is not a valid pattern: {}", first_line(&e)))
}

/// A stored rule's `pattern`, from the process's cache when it was
/// compiled before. Only stored patterns enter the cache: a request
/// refused after its patterns were checked leaves nothing behind.
fn stored_pattern(pattern: &str) -> Result<Regex, String> {
    static CACHE: std::sync::LazyLock<moka::sync::Cache<String, Regex>> =
        std::sync::LazyLock::new(|| moka::sync::Cache::new(PATTERN_CACHE));
    if let Some(compiled) = CACHE.get(pattern) {
        return Ok(compiled);
    }
    let compiled = build_pattern(pattern)?;
    CACHE.insert(pattern.to_owned(), compiled.clone());
    Ok(compiled)
}

/// A condition as stored: the API's three fields, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionRecord {
    /// `description`, `merchant`, `amount` or `account`.
    pub field: String,
    /// `contains`, `is`, `matches`, `greater_than` or `less_than`.
    pub operator: String,
    /// What it compares with.
    pub value: String,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// The description (`merchant: false`: lower-cased) or the merchant
    /// (its matching key) contains the text (lower-cased, or as a key).
    Contains {
        /// Whether it tests the merchant.
        merchant: bool,
        /// Lower-cased, or the value's key for the merchant.
        text: String,
    },
    /// The description is the text (ignoring case and the surrounding
    /// spaces), or the merchant's key is the value's key.
    Is {
        /// Whether it tests the merchant.
        merchant: bool,
        /// Lower-cased and trimmed, or the value's key for the merchant.
        text: String,
    },
    /// The description or merchant matches the pattern (case-insensitive).
    Matches {
        /// Whether it tests the merchant.
        merchant: bool,
        /// The compiled pattern.
        pattern: Regex,
    },
    /// The amount equals.
    AmountIs(i64),
    /// The amount is greater.
    AmountGreaterThan(i64),
    /// The amount is less.
    AmountLessThan(i64),
    /// The account is.
    AccountIs(Uuid),
}

impl Condition {
    /// Compiles one condition, or says what is wrong with it.
    pub fn compile(
        c: &pb::RuleCondition,
    ) -> Result<(Self, ConditionRecord), (&'static str, String)> {
        Self::compile_with(c, build_pattern)
    }

    /// Compiles one stored condition, its pattern through the cache.
    fn compile_stored(
        c: &pb::RuleCondition,
    ) -> Result<(Self, ConditionRecord), (&'static str, String)> {
        Self::compile_with(c, stored_pattern)
    }

    fn compile_with(
        c: &pb::RuleCondition,
        pattern: fn(&str) -> Result<Regex, String>,
    ) -> Result<(Self, ConditionRecord), (&'static str, String)> {
        use pb::{RuleField as F, RuleOperator as O};
        let value = c.value.trim();
        if value.is_empty() {
            return Err(("value", "is required".into()));
        }
        if value.chars().count() > MAX_VALUE {
            return Err(("value", format!("must be at most {MAX_VALUE} characters")));
        }
        let field = F::try_from(c.field).unwrap_or(F::Unspecified);
        let operator = O::try_from(c.operator).unwrap_or(O::Unspecified);
        let merchant = field == F::Merchant;
        let condition = match (field, operator) {
            (F::Unspecified, _) => return Err(("field", "is required".into())),
            (_, O::Unspecified) => return Err(("operator", "is required".into())),
            (F::Merchant, O::Contains | O::Is) => {
                let key = keyify(value);
                if key.is_empty() {
                    return Err(("value", "names no merchant (no letters or digits)".into()));
                }
                if operator == O::Is {
                    Self::Is {
                        merchant,
                        text: key,
                    }
                } else {
                    Self::Contains {
                        merchant,
                        text: key,
                    }
                }
            }
            (F::Description, O::Contains) => Self::Contains {
                merchant,
                text: value.to_lowercase(),
            },
            (F::Description, O::Is) => Self::Is {
                merchant,
                text: value.to_lowercase(),
            },
            (F::Description | F::Merchant, O::Matches) => Self::Matches {
                merchant,
                pattern: pattern(value).map_err(|why| ("value", why))?,
            },
            (F::Amount, O::Is | O::GreaterThan | O::LessThan) => {
                let minor: i64 = value.parse().map_err(|_| {
                    (
                        "value",
                        format!("{value:?} is not an amount in minor units"),
                    )
                })?;
                let minor = AmountMinor::parse(minor).map_err(|e| ("value", e))?.get();
                match operator {
                    O::Is => Self::AmountIs(minor),
                    O::GreaterThan => Self::AmountGreaterThan(minor),
                    _ => Self::AmountLessThan(minor),
                }
            }
            (F::Account, O::Is) => Self::AccountIs(required_id(value).map_err(|e| ("value", e))?),
            (F::Description | F::Merchant, _) => {
                return Err((
                    "operator",
                    "text fields take CONTAINS, IS or MATCHES".into(),
                ));
            }
            (F::Amount, _) => {
                return Err((
                    "operator",
                    "amounts take IS, GREATER_THAN or LESS_THAN".into(),
                ));
            }
            (F::Account, _) => return Err(("operator", "accounts take IS".into())),
        };
        let record = ConditionRecord {
            field: field
                .as_str_name()
                .trim_start_matches("RULE_FIELD_")
                .to_lowercase(),
            operator: operator
                .as_str_name()
                .trim_start_matches("RULE_OPERATOR_")
                .to_lowercase(),
            value: value.to_owned(),
        };
        Ok((condition, record))
    }

    /// Whether `input` passes.
    pub fn holds(&self, input: &Input) -> bool {
        self.holds_text(&input.description_lower, input.merchant.as_ref())
            .unwrap_or_else(|| match self {
                Self::AmountIs(minor) => input.amount_minor == *minor,
                Self::AmountGreaterThan(minor) => input.amount_minor > *minor,
                Self::AmountLessThan(minor) => input.amount_minor < *minor,
                Self::AccountIs(id) => input.account_id == Some(*id),
                _ => false,
            })
    }

    /// Whether a description (lower-cased) and merchant pass a text
    /// condition; `None` for the others.
    pub fn holds_text(&self, description_lower: &str, merchant: Option<&Merchant>) -> Option<bool> {
        let key = || merchant.map_or("", |m| m.key.as_str());
        Some(match self {
            Self::Contains {
                merchant: true,
                text,
            } => {
                // Whole words of the key: "bottle" is in "blue bottle",
                // "bot" is not.
                let key = format!(" {} ", key());
                key.contains(&format!(" {text} "))
            }
            Self::Contains {
                merchant: false,
                text,
            } => description_lower.contains(text.as_str()),
            Self::Is {
                merchant: true,
                text,
            } => key() == text,
            Self::Is {
                merchant: false,
                text,
            } => description_lower.trim() == text,
            Self::Matches {
                merchant: true,
                pattern,
            } => pattern.is_match(merchant.map_or("", |m| m.name.as_str())),
            Self::Matches {
                merchant: false,
                pattern,
            } => pattern.is_match(description_lower),
            Self::AmountIs(_)
            | Self::AmountGreaterThan(_)
            | Self::AmountLessThan(_)
            | Self::AccountIs(_) => {
                return None;
            }
        })
    }
}

fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map_or_else(
            || text.clone(),
            |l| l.trim_start_matches("error: ").to_owned(),
        )
}

/// A rule's content, valid as a whole.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// Its name.
    pub name: Name,
    /// Its conditions as stored.
    pub conditions: Vec<ConditionRecord>,
    /// Where matching transactions go.
    pub category_id: Uuid,
    /// When it runs.
    pub stage: i32,
    /// Whether a match ends the run.
    pub stop: bool,
}

impl RuleSpec {
    /// Checks `rule`, naming fields under `rule.`.
    pub fn parse(rule: &pb::CategorizationRule) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let name = v.check("rule.name", Name::parse(&rule.name));
        let category_id = v.check("rule.category_id", required_id(&rule.category_id));
        if !(0..=MAX_STAGE).contains(&rule.stage) {
            v.add("rule.stage", format!("must be 0 to {MAX_STAGE}"));
        }
        if rule.conditions.is_empty() {
            v.add("rule.conditions", "at least one is required");
        } else if rule.conditions.len() > MAX_CONDITIONS {
            v.add(
                "rule.conditions",
                format!("at most {MAX_CONDITIONS}, got {}", rule.conditions.len()),
            );
        }
        let mut conditions = Vec::with_capacity(rule.conditions.len());
        for (i, c) in rule.conditions.iter().take(MAX_CONDITIONS).enumerate() {
            match Condition::compile(c) {
                Ok((_, record)) => conditions.push(record),
                Err((field, why)) => v.add(format!("rule.conditions[{i}].{field}"), why),
            }
        }
        match (name, category_id) {
            (Some(name), Some(category_id)) if v.is_empty() => Ok(Self {
                name,
                conditions,
                category_id,
                stage: rule.stage,
                stop: rule.stop,
            }),
            _ => Err(v),
        }
    }
}

/// The API form of a stored condition.
pub fn condition_pb(c: &ConditionRecord) -> pb::RuleCondition {
    let field = pb::RuleField::from_str_name(&format!("RULE_FIELD_{}", c.field.to_uppercase()))
        .unwrap_or(pb::RuleField::Unspecified);
    let operator =
        pb::RuleOperator::from_str_name(&format!("RULE_OPERATOR_{}", c.operator.to_uppercase()))
            .unwrap_or(pb::RuleOperator::Unspecified);
    pb::RuleCondition {
        field: field.into(),
        operator: operator.into(),
        value: c.value.clone(),
    }
}

/// A stored rule, compiled to run.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Its id.
    pub id: Uuid,
    /// Where matching transactions go.
    pub category_id: Uuid,
    /// Whether a match ends the run.
    pub stop: bool,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

impl CompiledRule {
    /// Compiles stored conditions (checked when they were saved; one that
    /// no longer compiles is an error).
    pub fn compile(
        id: Uuid,
        category_id: Uuid,
        stop: bool,
        conditions: &[ConditionRecord],
    ) -> Result<Self, String> {
        let conditions = conditions
            .iter()
            .map(|c| {
                Condition::compile_stored(&condition_pb(c))
                    .map(|(compiled, _)| compiled)
                    .map_err(|(field, why)| format!("rule {id}: {field} {why}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id,
            category_id,
            stop,
            conditions,
        })
    }

    /// Whether every condition holds for `input`.
    pub fn matches(&self, input: &Input) -> bool {
        self.conditions.iter().all(|c| c.holds(input))
    }

    /// Whether the rule is about `merchant`: it tests the text, and every
    /// text condition holds for the merchant's name (its other conditions
    /// aside).
    pub fn names(&self, merchant: &Merchant) -> bool {
        let description = merchant.name.to_lowercase();
        let mut tested = false;
        for c in &self.conditions {
            match c.holds_text(&description, Some(merchant)) {
                Some(false) => return false,
                Some(true) => tested = true,
                None => {}
            }
        }
        tested
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::domain::money;

    fn condition(
        field: pb::RuleField,
        operator: pb::RuleOperator,
        value: &str,
    ) -> pb::RuleCondition {
        pb::RuleCondition {
            field: field.into(),
            operator: operator.into(),
            value: value.into(),
        }
    }

    fn input(description: &str, minor: i64) -> Input {
        Input::parse(
            &pb::TransactionInput {
                description: description.into(),
                merchant: String::new(),
                amount: Some(money("EUR", minor)),
                account_id: String::new(),
            },
            "",
        )
        .expect("valid")
    }

    #[test]
    fn conditions_test_text_amounts_and_accounts() {
        use pb::{RuleField as F, RuleOperator as O};
        let compiled = |f, o, v| Condition::compile(&condition(f, o, v)).expect("valid").0;
        let coffee = input("SQ *BLUE BOTTLE 0042 OAKLAND CA", -450);
        assert!(compiled(F::Description, O::Contains, "blue bottle").holds(&coffee));
        assert!(compiled(F::Merchant, O::Is, "Blue Bottle").holds(&coffee));
        assert!(compiled(F::Merchant, O::Is, "BLUE-BOTTLE").holds(&coffee));
        assert!(!compiled(F::Merchant, O::Is, "Blue").holds(&coffee));
        assert!(compiled(F::Merchant, O::Contains, "bottle").holds(&coffee));
        assert!(!compiled(F::Merchant, O::Contains, "bot").holds(&coffee));
        assert!(compiled(F::Merchant, O::Matches, "^blue\\s+b").holds(&coffee));
        assert!(compiled(F::Amount, O::LessThan, "0").holds(&coffee));
        assert!(!compiled(F::Amount, O::GreaterThan, "-450").holds(&coffee));
        assert!(compiled(F::Amount, O::Is, "-450").holds(&coffee));
        let account = Uuid::now_v7();
        assert!(!compiled(F::Account, O::Is, &account.to_string()).holds(&coffee));
    }

    #[test]
    fn bad_conditions_name_what_is_wrong() {
        use pb::{RuleField as F, RuleOperator as O};
        let err = |f, o, v: &str| Condition::compile(&condition(f, o, v)).expect_err("invalid");
        assert_eq!(err(F::Description, O::Matches, "(unclosed").0, "value");
        assert_eq!(err(F::Amount, O::Contains, "1").0, "operator");
        assert_eq!(err(F::Amount, O::Is, "ten").0, "value");
        assert_eq!(err(F::Account, O::Is, "nope").0, "value");
        assert_eq!(err(F::Unspecified, O::Is, "x").0, "field");
        assert_eq!(err(F::Merchant, O::Unspecified, "x").0, "operator");
        assert_eq!(err(F::Merchant, O::Is, " ").0, "value");
        // A pattern whose compiled form is too large is refused, not run.
        assert_eq!(
            err(F::Description, O::Matches, "(\\w{100}){100}").0,
            "value"
        );
    }

    #[test]
    fn a_pattern_that_backtracks_elsewhere_runs_in_linear_time_here() {
        use pb::{RuleField as F, RuleOperator as O};
        let (evil, _) =
            Condition::compile(&condition(F::Description, O::Matches, "(a+)+$")).expect("valid");
        // A backtracking engine would not finish this in the age of the
        // universe.
        let text = format!("{}!", "a".repeat(400));
        assert!(!evil.holds(&input(&text, -1)));
    }

    #[test]
    fn stored_conditions_round_trip_through_the_api_form() {
        use pb::{RuleField as F, RuleOperator as O};
        let api = condition(F::Amount, O::GreaterThan, "1000");
        let (_, record) = Condition::compile(&api).expect("valid");
        assert_eq!(
            (record.field.as_str(), record.operator.as_str()),
            ("amount", "greater_than")
        );
        assert_eq!(condition_pb(&record), api);
    }
}
