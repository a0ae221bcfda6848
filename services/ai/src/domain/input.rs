//! A transaction to categorize, checked at the door.

use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{AmountMinor, Currency, optional_id};
use freedumb_proto::ai as pb;
use uuid::Uuid;

use super::merchant::{Merchant, merchant_of};

/// The most transactions one `Categorize` takes.
pub const MAX_BATCH: usize = 1000;
/// The longest description.
pub const MAX_DESCRIPTION: usize = 500;
/// The longest merchant.
pub const MAX_MERCHANT: usize = 200;

/// A transaction as the cascade sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The statement text, trimmed, for the global model.
    pub description: String,
    /// The statement text, lower-cased for the rules.
    pub description_lower: String,
    /// The merchant: the given one, or the description's, normalized.
    pub merchant: Option<Merchant>,
    /// The signed amount.
    pub amount_minor: i64,
    /// Its currency.
    pub currency: Currency,
    /// The account, when given.
    pub account_id: Option<Uuid>,
}

impl Input {
    /// Checks `t`, naming fields under `prefix` (`transactions[3].`).
    pub fn parse(t: &pb::TransactionInput, prefix: &str) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let field = |name: &str| format!("{prefix}{name}");
        let description = t.description.trim();
        if description.is_empty() {
            v.add(field("description"), "is required");
        } else if description.chars().count() > MAX_DESCRIPTION {
            v.add(
                field("description"),
                format!("must be at most {MAX_DESCRIPTION} characters"),
            );
        }
        if t.merchant.chars().count() > MAX_MERCHANT {
            v.add(
                field("merchant"),
                format!("must be at most {MAX_MERCHANT} characters"),
            );
        }
        let (currency, amount) = match &t.amount {
            None => {
                v.add(field("amount"), "is required");
                (None, None)
            }
            Some(m) => (
                v.check(
                    &field("amount.currency_code"),
                    Currency::parse(&m.currency_code),
                ),
                v.check(
                    &field("amount.amount_minor"),
                    AmountMinor::parse(m.amount_minor),
                ),
            ),
        };
        let account_id = v.check(&field("account_id"), optional_id(&t.account_id));
        match (currency, amount, account_id) {
            (Some(currency), Some(amount), Some(account_id)) if v.is_empty() => {
                let merchant = merchant_of(&t.merchant, description);
                Ok(Self {
                    description: description.to_owned(),
                    description_lower: description.to_lowercase(),
                    merchant,
                    amount_minor: amount.get(),
                    currency,
                    account_id,
                })
            }
            _ => Err(v),
        }
    }
}

/// Checks a batch of 1 to [`MAX_BATCH`] transactions, naming each field
/// `transactions[i].…`.
pub fn parse_batch(transactions: &[pb::TransactionInput]) -> Result<Vec<Input>, FieldViolations> {
    let mut v = FieldViolations::new();
    if transactions.is_empty() {
        v.add("transactions", "is required");
        return Err(v);
    }
    if transactions.len() > MAX_BATCH {
        v.add(
            "transactions",
            format!(
                "at most {MAX_BATCH} per request, got {}",
                transactions.len()
            ),
        );
        return Err(v);
    }
    let mut inputs = Vec::with_capacity(transactions.len());
    for (i, t) in transactions.iter().enumerate() {
        match Input::parse(t, &format!("transactions[{i}].")) {
            Ok(input) => inputs.push(input),
            Err(errors) => v.extend(errors),
        }
    }
    if v.is_empty() { Ok(inputs) } else { Err(v) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::domain::money;

    fn input(description: &str, merchant: &str) -> pb::TransactionInput {
        pb::TransactionInput {
            description: description.into(),
            merchant: merchant.into(),
            amount: Some(money("EUR", -450)),
            account_id: String::new(),
        }
    }

    #[test]
    fn the_merchant_comes_from_the_merchant_field_or_the_description() {
        let parsed =
            Input::parse(&input("SQ *BLUE BOTTLE 0042 OAKLAND CA", ""), "").expect("valid");
        assert_eq!(
            parsed.merchant.map(|m| m.key),
            Some("blue bottle".to_owned())
        );
        let given = Input::parse(&input("CARD 1234", "Blue Bottle"), "").expect("valid");
        assert_eq!(
            given.merchant.map(|m| m.key),
            Some("blue bottle".to_owned())
        );
    }

    #[test]
    fn bad_transactions_are_refused_field_by_field() {
        let too_long = input(&"x".repeat(501), &"m".repeat(201));
        let mut no_amount = input("Rent", "");
        no_amount.amount = None;
        let mut bad_account = input("Rent", "");
        bad_account.account_id = "nope".into();
        let err =
            parse_batch(&[input("ok", ""), too_long, no_amount, bad_account]).expect_err("invalid");
        let fields: Vec<String> = err.iter().map(|(f, _)| f.to_owned()).collect();
        assert_eq!(
            fields,
            [
                "transactions[1].description",
                "transactions[1].merchant",
                "transactions[2].amount",
                "transactions[3].account_id"
            ]
        );
        let many = vec![input("x", ""); MAX_BATCH + 1];
        assert!(parse_batch(&many).is_err());
        assert!(parse_batch(&[]).is_err());
    }
}
