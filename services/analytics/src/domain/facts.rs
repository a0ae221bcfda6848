//! What one ledger transaction contributes to the read model: one fact per
//! split (or one for the whole transaction), with its account, currency,
//! booking day, category, merchant and whether it is a transfer leg.

use chrono::NaiveDate;
use freedumb_proto::ledger as ledger_pb;
use uuid::Uuid;

/// The longest merchant key kept.
const MERCHANT_CHARS: usize = 100;

/// One part of a transaction, as the read model sums it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Its account.
    pub account_id: Uuid,
    /// Its currency.
    pub currency: String,
    /// Its booking day.
    pub day: NaiveDate,
    /// Its category (none: uncategorized).
    pub category_id: Option<Uuid>,
    /// Its merchant, or its description when it has none.
    pub merchant: String,
    /// Its signed amount.
    pub amount_minor: i64,
    /// Whether it is a transfer leg (neither income nor spending).
    pub transfer: bool,
}

fn optional_id(raw: &str) -> anyhow::Result<Option<Uuid>> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Uuid::try_parse(raw)?))
    }
}

/// The merchant key of a transaction: its merchant, or else its
/// description without the words that hold a digit (card numbers,
/// references, dates: "CARD 1234 GROCER REF0042" is "CARD GROCER"), so
/// that one shop's statement lines count together; cut to 100 characters.
pub fn merchant_of(t: &ledger_pb::Transaction) -> String {
    let merchant = t.merchant.trim();
    let key = if merchant.is_empty() {
        let words: Vec<&str> = t
            .description
            .split_whitespace()
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .collect();
        if words.is_empty() {
            t.description.trim().to_owned()
        } else {
            words.join(" ")
        }
    } else {
        merchant.to_owned()
    };
    key.chars().take(MERCHANT_CHARS).collect()
}

/// The facts of `t` (a split transaction gives one per split).
pub fn facts_of(t: &ledger_pb::Transaction) -> anyhow::Result<Vec<Fact>> {
    let money = t
        .amount
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("a transaction without an amount"))?;
    let day = freedumb_kit::domain::required_date(t.date.as_ref())
        .map_err(|e| anyhow::anyhow!("a transaction's date {e}"))?;
    let base = Fact {
        account_id: Uuid::try_parse(&t.account_id)?,
        currency: money.currency_code.clone(),
        day,
        category_id: optional_id(&t.category_id)?,
        merchant: merchant_of(t),
        amount_minor: money.amount_minor,
        transfer: !t.transfer_id.is_empty(),
    };
    if t.splits.is_empty() {
        return Ok(vec![base]);
    }
    t.splits
        .iter()
        .map(|s| {
            Ok(Fact {
                category_id: optional_id(&s.category_id)?,
                amount_minor: s.amount_minor,
                ..base.clone()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_proto::common::Money;
    use freedumb_proto::google::r#type::Date;

    fn transaction() -> ledger_pb::Transaction {
        ledger_pb::Transaction {
            id: Uuid::now_v7().to_string(),
            account_id: Uuid::now_v7().to_string(),
            amount: Some(Money {
                currency_code: "EUR".into(),
                amount_minor: -3_000,
            }),
            date: Some(Date {
                year: 2024,
                month: 3,
                day: 5,
            }),
            description: "  CARD 1234 GROCER  ".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_split_gives_a_fact_per_part_and_the_description_stands_for_a_merchant() {
        let (food, home) = (Uuid::now_v7(), Uuid::now_v7());
        let mut t = transaction();
        t.splits = vec![
            ledger_pb::Split {
                category_id: food.to_string(),
                amount_minor: -2_000,
            },
            ledger_pb::Split {
                category_id: home.to_string(),
                amount_minor: -1_000,
            },
        ];
        let facts = facts_of(&t).unwrap();
        assert_eq!(facts.len(), 2);
        assert_eq!(facts[0].category_id, Some(food));
        assert_eq!(facts[1].amount_minor, -1_000);
        assert_eq!(facts[0].merchant, "CARD GROCER");
        assert!(!facts[0].transfer);
    }

    #[test]
    fn a_transfer_leg_is_marked() {
        let mut t = transaction();
        t.transfer_id = Uuid::now_v7().to_string();
        t.merchant = "Broker".into();
        let facts = facts_of(&t).unwrap();
        assert!(facts[0].transfer);
        assert_eq!(facts[0].merchant, "Broker");
    }
}
