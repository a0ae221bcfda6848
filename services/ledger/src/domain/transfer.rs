use chrono::NaiveDate;
use freedumb_kit::FieldViolations;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{
    AmountMinor, Currency, Description, ExchangeRate, IdempotencyKey, MAX_AMOUNT_MINOR, MoneyInput,
    RequestId, required_date, required_id, validated,
};

/// A validated `CreateTransferRequest`. The amount and the rate depend on
/// the two accounts' currencies and are checked once they are read
/// ([`NewTransfer::amounts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    /// The client's idempotency key, if it sent one.
    pub key: Option<IdempotencyKey>,
    /// The account the money leaves.
    pub from_account_id: Uuid,
    /// The account the money arrives in (never the same).
    pub to_account_id: Uuid,
    /// Booking date of both legs.
    pub date: NaiveDate,
    /// Description of the transfer and both legs.
    pub description: Description,
    /// The amount sent, as sent.
    pub amount: MoneyInput,
    /// The exchange rate as sent, trimmed.
    exchange_rate: String,
}

/// The money a transfer moves, checked against both accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferAmounts {
    /// Leaves the source account (positive, source minor units).
    pub sent: AmountMinor,
    /// Arrives in the destination (positive, destination minor units).
    pub received: AmountMinor,
    /// Destination units per source unit.
    pub rate: ExchangeRate,
}

impl TryFrom<pb::CreateTransferRequest> for NewTransfer {
    type Error = FieldViolations;

    fn try_from(req: pb::CreateTransferRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", RequestId::parse(&req.request_id));
        let from = v.check("from_account_id", required_id(&req.from_account_id));
        let to = v.check("to_account_id", required_id(&req.to_account_id));
        if from.is_some() && from == to {
            v.add("to_account_id", "must differ from from_account_id");
        }
        let date = v.check("date", required_date(req.date.as_ref()));
        let description = v.check("description", Description::parse(&req.description));
        let amount = v.check("amount", MoneyInput::required(req.amount.as_ref()));
        validated(v, || {
            Some(Self {
                key: request_id?.map(|id| id.for_request(&req)),
                from_account_id: from?,
                to_account_id: to?,
                date: date?,
                description: description?,
                amount: amount?,
                exchange_rate: req.exchange_rate.trim().to_owned(),
            })
        })
    }
}

impl NewTransfer {
    /// The amounts sent and received between accounts in `from` and `to`.
    pub fn amounts(
        &self,
        from: Currency,
        to: Currency,
    ) -> Result<TransferAmounts, FieldViolations> {
        let mut v = FieldViolations::new();
        let sent = v
            .check("amount", self.amount.in_currency(from))
            .and_then(|a| {
                if a.get() > 0 {
                    Some(a)
                } else {
                    v.add("amount.amount_minor", "must be positive");
                    None
                }
            });
        let rate = v.check(
            "exchange_rate",
            ExchangeRate::parse(&self.exchange_rate, from, to),
        );
        let (Some(sent), Some(rate)) = (sent, rate) else {
            return Err(v);
        };
        let received = rate
            .convert(sent.get())
            .filter(|r| (1..=MAX_AMOUNT_MINOR).contains(r))
            .and_then(|r| AmountMinor::parse(r).ok());
        match received {
            Some(received) => Ok(TransferAmounts {
                sent,
                received,
                rate,
            }),
            None => {
                v.add(
                    "exchange_rate",
                    format!(
                        "converts the amount to nothing or to more than {MAX_AMOUNT_MINOR} minor units"
                    ),
                );
                Err(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use freedumb_proto::common::Money;
    use freedumb_proto::google::r#type::Date;

    use super::*;

    fn fields(v: &FieldViolations) -> Vec<&str> {
        v.iter().map(|(f, _)| f.as_str()).collect()
    }

    fn c(code: &str) -> Currency {
        Currency::parse(code).expect("currency")
    }

    fn transfer(code: &str, minor: i64, rate: &str) -> pb::CreateTransferRequest {
        pb::CreateTransferRequest {
            from_account_id: Uuid::now_v7().to_string(),
            to_account_id: Uuid::now_v7().to_string(),
            amount: Some(Money {
                currency_code: code.into(),
                amount_minor: minor,
            }),
            exchange_rate: rate.into(),
            date: Some(Date {
                year: 2026,
                month: 1,
                day: 1,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_transfer_needs_two_different_accounts() {
        let mut req = transfer("USD", 5, "");
        req.to_account_id = req.from_account_id.clone();
        let err = NewTransfer::try_from(req).expect_err("same account");
        assert_eq!(fields(&err), ["to_account_id"]);
    }

    #[test]
    fn the_amount_is_positive_and_converted_at_the_rate() {
        let t = NewTransfer::try_from(transfer("USD", 1000, " 150.5 ")).expect("valid");
        let amounts = t.amounts(c("USD"), c("JPY")).expect("amounts");
        assert_eq!((amounts.sent.get(), amounts.received.get()), (1000, 1505));
        assert_eq!(amounts.rate.as_str(), "150.5");

        let negative = NewTransfer::try_from(transfer("USD", -5, "")).expect("valid at the door");
        let err = negative.amounts(c("USD"), c("USD")).expect_err("negative");
        assert_eq!(fields(&err), ["amount.amount_minor"]);

        let tiny = NewTransfer::try_from(transfer("JPY", 1, "0.001")).expect("valid");
        let err = tiny
            .amounts(c("JPY"), c("USD"))
            .expect_err("nothing arrives");
        assert_eq!(fields(&err), ["exchange_rate"]);

        let wrong = NewTransfer::try_from(transfer("EUR", 5, "")).expect("valid");
        let err = wrong
            .amounts(c("USD"), c("EUR"))
            .expect_err("currency and rate");
        assert_eq!(fields(&err), ["amount", "exchange_rate"]);
    }
}
