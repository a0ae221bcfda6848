//! Investment events: built inside the transaction that records or deletes
//! an activity (the outbox), then moved to the stream by the kit's relay.

use freedumb_kit::domain::Currency;
use freedumb_kit::outbox::OutboxEvent;
use freedumb_kit::time;
use freedumb_proto::investment as pb;
use prost::Message as _;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::activity::Detail;
use crate::domain::units;
use crate::store::ActivityRecord;

/// The stream investment events are published on.
pub const STREAM: &str = "freedumb.investment.v1.events";

/// The money an activity moves between its cash account and the
/// portfolio's, in `currency` (the instrument's for a trade): a purchase's
/// cost with its fee, a sale's proceeds less its fee, a deposit or a
/// withdrawal. `None` for what moves no ledger money, or a fee in another
/// currency (refused before it gets here).
pub fn cash_amount(detail: &Detail, currency: Currency) -> Option<Decimal> {
    let fee = |t: &crate::domain::Trade| match t.fee {
        None => Some(Decimal::ZERO),
        Some(fee) if fee.currency == currency => Some(fee.amount()),
        Some(_) => None,
    };
    match detail {
        Detail::Buy(t) => Some(t.quantity * t.price + fee(t)?),
        Detail::Sell(t) => Some(t.quantity * t.price - fee(t)?),
        Detail::Deposit(c) | Detail::Withdrawal(c) => Some(c.amount()),
        _ => None,
    }
}

/// What an activity reads as: "Buy 10 AAPL at 187.42", "Deposit 500.00 USD".
pub fn summary(detail: &Detail, currency: Currency, symbol: Option<&str>) -> String {
    let kind = detail.kind().as_str();
    let mut word = kind[..1].to_owned();
    word.push_str(&kind[1..].to_lowercase());
    let what = symbol.unwrap_or("?");
    match detail {
        Detail::Buy(t) | Detail::Sell(t) => {
            format!("{word} {} {what} at {} {currency}", t.quantity, t.price)
        }
        Detail::Split { ratio, .. } => format!("{word} {what} by {ratio}"),
        _ => {
            let amount = detail
                .amount()
                .map(|c| format!("{} {}", c.amount(), c.currency));
            [Some(word), symbol.map(str::to_owned), amount]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        }
    }
}

fn event(user_id: Uuid, kind: &str, change: pb::investment_event::Change) -> OutboxEvent {
    let event_id = Uuid::now_v7();
    let event = pb::InvestmentEvent {
        event_id: event_id.to_string(),
        user_id: user_id.to_string(),
        create_time: Some(time::timestamp(time::now())),
        change: Some(change),
    };
    OutboxEvent {
        event_id,
        user_id,
        kind: kind.to_owned(),
        payload: event.encode_to_vec(),
    }
}

/// The event announcing `activity`, recorded in a portfolio whose ledger
/// account is `portfolio_account`; `currency` is the activity's (the
/// instrument's for a trade).
pub fn recorded(
    activity: &ActivityRecord,
    portfolio_account: Option<Uuid>,
    currency: Currency,
    symbol: Option<&str>,
) -> OutboxEvent {
    let cash_amount = activity
        .cash_account_id
        .and(portfolio_account)
        .and_then(|_| cash_amount(&activity.detail, currency))
        .map(|amount| units::money(amount, currency));
    event(
        activity.user_id,
        "activity_recorded",
        pb::investment_event::Change::ActivityRecorded(pb::ActivityRecorded {
            activity: Some(crate::convert::activity(activity)),
            portfolio_account_id: portfolio_account.map(|a| a.to_string()).unwrap_or_default(),
            cash_amount,
            summary: summary(&activity.detail, currency, symbol),
        }),
    )
}

/// The event announcing that `activity` was deleted.
pub fn deleted(activity: &ActivityRecord) -> OutboxEvent {
    event(
        activity.user_id,
        "activity_deleted",
        pb::investment_event::Change::ActivityDeleted(pb::ActivityDeleted {
            activity: Some(crate::convert::activity(activity)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cash, Trade};

    #[test]
    fn summaries_read_like_a_statement_line() {
        let usd = Currency::parse("USD").unwrap();
        let buy = Detail::Buy(Trade {
            instrument_id: Uuid::nil(),
            quantity: "10".parse().unwrap(),
            price: "187.42".parse().unwrap(),
            fee: None,
        });
        assert_eq!(
            summary(&buy, usd, Some("AAPL")),
            "Buy 10 AAPL at 187.42 USD"
        );
        let deposit = Detail::Deposit(Cash {
            currency: usd,
            minor: 50_000,
        });
        assert_eq!(summary(&deposit, usd, None), "Deposit 500.00 USD");
        assert_eq!(cash_amount(&buy, usd), Some("1874.20".parse().unwrap()));
    }
}
