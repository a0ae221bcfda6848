//! Activities: what a request describes, checked field by field against
//! the rules of its kind (see `freedumb.investment.v1.Activity`).

use chrono::NaiveDate;
use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{
    Currency, MAX_AMOUNT_MINOR, Text, optional_id, required_date, required_id,
};
use freedumb_proto::common::Money;
use freedumb_proto::investment as pb;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::units;

/// What an activity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityKind {
    /// Units bought.
    Buy,
    /// Units sold.
    Sell,
    /// Cash paid by an instrument.
    Dividend,
    /// Interest received.
    Interest,
    /// A fee apart from a trade.
    Fee,
    /// Money in.
    Deposit,
    /// Money out.
    Withdrawal,
    /// Units split.
    Split,
}

const KINDS: [ActivityKind; 8] = [
    ActivityKind::Buy,
    ActivityKind::Sell,
    ActivityKind::Dividend,
    ActivityKind::Interest,
    ActivityKind::Fee,
    ActivityKind::Deposit,
    ActivityKind::Withdrawal,
    ActivityKind::Split,
];

impl ActivityKind {
    /// From the API enum.
    pub fn from_proto(raw: i32) -> Result<Self, String> {
        use pb::ActivityKind as K;
        match K::try_from(raw) {
            Ok(K::Buy) => Ok(Self::Buy),
            Ok(K::Sell) => Ok(Self::Sell),
            Ok(K::Dividend) => Ok(Self::Dividend),
            Ok(K::Interest) => Ok(Self::Interest),
            Ok(K::Fee) => Ok(Self::Fee),
            Ok(K::Deposit) => Ok(Self::Deposit),
            Ok(K::Withdrawal) => Ok(Self::Withdrawal),
            Ok(K::Split) => Ok(Self::Split),
            _ => Err(
                "is required: BUY, SELL, DIVIDEND, INTEREST, FEE, DEPOSIT, WITHDRAWAL or SPLIT"
                    .into(),
            ),
        }
    }

    /// The API enum.
    pub fn to_proto(self) -> pb::ActivityKind {
        use pb::ActivityKind as K;
        match self {
            Self::Buy => K::Buy,
            Self::Sell => K::Sell,
            Self::Dividend => K::Dividend,
            Self::Interest => K::Interest,
            Self::Fee => K::Fee,
            Self::Deposit => K::Deposit,
            Self::Withdrawal => K::Withdrawal,
            Self::Split => K::Split,
        }
    }

    /// The stored (and API) name, upper-case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
            Self::Dividend => "DIVIDEND",
            Self::Interest => "INTEREST",
            Self::Fee => "FEE",
            Self::Deposit => "DEPOSIT",
            Self::Withdrawal => "WITHDRAWAL",
            Self::Split => "SPLIT",
        }
    }

    /// From the stored name.
    pub fn from_stored(raw: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| k.as_str() == raw)
    }
}

/// A positive amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cash {
    /// Its currency.
    pub currency: Currency,
    /// Its amount in minor units, positive.
    pub minor: i64,
}

impl Cash {
    /// Parses a positive `Money`.
    fn parse(v: &mut FieldViolations, field: &str, money: &Money) -> Option<Self> {
        let currency = v.check(
            &format!("{field}.currency_code"),
            Currency::parse(&money.currency_code),
        );
        let minor = money.amount_minor;
        if minor <= 0 || minor > MAX_AMOUNT_MINOR {
            v.add(
                format!("{field}.amount_minor"),
                format!("must be 1 to {MAX_AMOUNT_MINOR} minor units, got {minor}"),
            );
            return None;
        }
        Some(Self {
            currency: currency?,
            minor,
        })
    }

    /// As a decimal amount.
    pub fn amount(self) -> Decimal {
        units::from_minor(self.minor, self.currency)
    }
}

/// A purchase or a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// What.
    pub instrument_id: Uuid,
    /// How many units (positive).
    pub quantity: Decimal,
    /// At what price per unit (zero or more), in the instrument's currency.
    pub price: Decimal,
    /// What the broker charged, if anything.
    pub fee: Option<Cash>,
}

/// An activity's kind with exactly the fields that kind takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// Units bought.
    Buy(Trade),
    /// Units sold.
    Sell(Trade),
    /// Cash paid by an instrument, in its currency.
    Dividend {
        /// The instrument.
        instrument_id: Uuid,
        /// What it paid.
        amount: Cash,
    },
    /// Interest received, from an instrument or on cash.
    Interest {
        /// The instrument, if any.
        instrument_id: Option<Uuid>,
        /// What was received.
        amount: Cash,
    },
    /// A fee apart from a trade.
    Fee {
        /// The instrument it concerns, if any.
        instrument_id: Option<Uuid>,
        /// What was charged.
        amount: Cash,
    },
    /// Money moved in.
    Deposit(Cash),
    /// Money moved out.
    Withdrawal(Cash),
    /// Units split.
    Split {
        /// The instrument.
        instrument_id: Uuid,
        /// New units per old unit.
        ratio: Decimal,
    },
}

impl Detail {
    /// Its kind.
    pub fn kind(&self) -> ActivityKind {
        match self {
            Self::Buy(_) => ActivityKind::Buy,
            Self::Sell(_) => ActivityKind::Sell,
            Self::Dividend { .. } => ActivityKind::Dividend,
            Self::Interest { .. } => ActivityKind::Interest,
            Self::Fee { .. } => ActivityKind::Fee,
            Self::Deposit(_) => ActivityKind::Deposit,
            Self::Withdrawal(_) => ActivityKind::Withdrawal,
            Self::Split { .. } => ActivityKind::Split,
        }
    }

    /// The instrument it concerns, if any.
    pub fn instrument_id(&self) -> Option<Uuid> {
        match self {
            Self::Buy(t) | Self::Sell(t) => Some(t.instrument_id),
            Self::Dividend { instrument_id, .. } | Self::Split { instrument_id, .. } => {
                Some(*instrument_id)
            }
            Self::Interest { instrument_id, .. } | Self::Fee { instrument_id, .. } => {
                *instrument_id
            }
            Self::Deposit(_) | Self::Withdrawal(_) => None,
        }
    }

    /// The money of a dividend, interest, fee, deposit or withdrawal.
    pub fn amount(&self) -> Option<Cash> {
        match self {
            Self::Dividend { amount, .. }
            | Self::Interest { amount, .. }
            | Self::Fee { amount, .. }
            | Self::Deposit(amount)
            | Self::Withdrawal(amount) => Some(*amount),
            Self::Buy(_) | Self::Sell(_) | Self::Split { .. } => None,
        }
    }

    /// The trade of a purchase or a sale.
    pub fn trade(&self) -> Option<&Trade> {
        match self {
            Self::Buy(t) | Self::Sell(t) => Some(t),
            _ => None,
        }
    }
}

/// A recorded activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Its id (UUIDv7: activities of one day apply in id order).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its portfolio.
    pub portfolio_id: Uuid,
    /// Its date.
    pub date: NaiveDate,
    /// What it did.
    pub detail: Detail,
    /// The ledger account the money came from or went to.
    pub cash_account_id: Option<Uuid>,
    /// A note.
    pub note: String,
    /// Recorded.
    pub create_time: chrono::DateTime<chrono::Utc>,
}

/// A new activity, valid in itself. What needs the store (the portfolio,
/// the instrument's currency, the units held) is checked when it is
/// recorded.
#[derive(Debug, Clone)]
pub struct NewActivity {
    /// Its portfolio.
    pub portfolio_id: Uuid,
    /// Its date.
    pub date: NaiveDate,
    /// What it did.
    pub detail: Detail,
    /// The ledger account the money came from or went to.
    pub cash_account_id: Option<Uuid>,
    /// A note.
    pub note: Text<500>,
}

/// The earliest activity date accepted.
const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

impl NewActivity {
    /// Checks `activity` (dated no later than `today`), naming fields
    /// under `activity.`.
    pub fn parse(activity: &pb::Activity, today: NaiveDate) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let portfolio_id = v.check("activity.portfolio_id", required_id(&activity.portfolio_id));
        let kind = v.check("activity.kind", ActivityKind::from_proto(activity.kind));
        let date = v
            .check("activity.date", required_date(activity.date.as_ref()))
            .and_then(|d| {
                if d > today {
                    v.add("activity.date", format!("{d} is in the future"));
                    None
                } else if d < EARLIEST {
                    v.add("activity.date", format!("{d} is before {EARLIEST}"));
                    None
                } else {
                    Some(d)
                }
            });
        let cash_account_id = v.check(
            "activity.cash_account_id",
            optional_id(&activity.cash_account_id),
        );
        let note = v.check("activity.note", Text::parse(&activity.note));
        let detail = kind.and_then(|kind| detail(&mut v, kind, activity));
        if let (Some(Some(_)), Some(d)) = (cash_account_id, &detail)
            && !matches!(
                d.kind(),
                ActivityKind::Buy
                    | ActivityKind::Sell
                    | ActivityKind::Deposit
                    | ActivityKind::Withdrawal
            )
        {
            v.add(
                "activity.cash_account_id",
                format!(
                    "must be empty for a {}: only a BUY, SELL, DEPOSIT or WITHDRAWAL moves ledger money",
                    d.kind().as_str()
                ),
            );
        }
        match (portfolio_id, date, cash_account_id, note, detail) {
            (Some(portfolio_id), Some(date), Some(cash_account_id), Some(note), Some(detail))
                if v.is_empty() =>
            {
                Ok(Self {
                    portfolio_id,
                    date,
                    detail,
                    cash_account_id,
                    note,
                })
            }
            _ => Err(v),
        }
    }
}

/// Which of the kind-dependent fields a kind takes.
struct Takes {
    instrument: Need,
    trade: bool,
    amount: bool,
    ratio: bool,
}

#[derive(PartialEq, Eq)]
enum Need {
    Required,
    Optional,
    Never,
}

fn takes(kind: ActivityKind) -> Takes {
    use ActivityKind as K;
    let (instrument, trade, amount, ratio) = match kind {
        K::Buy | K::Sell => (Need::Required, true, false, false),
        K::Dividend => (Need::Required, false, true, false),
        K::Interest | K::Fee => (Need::Optional, false, true, false),
        K::Deposit | K::Withdrawal => (Need::Never, false, true, false),
        K::Split => (Need::Required, false, false, true),
    };
    Takes {
        instrument,
        trade,
        amount,
        ratio,
    }
}

/// The kind's fields, each present when required and absent otherwise.
fn detail(v: &mut FieldViolations, kind: ActivityKind, a: &pb::Activity) -> Option<Detail> {
    let takes = takes(kind);
    let name = kind.as_str();
    let refuse = |v: &mut FieldViolations, field: &str, present: bool| {
        if present {
            v.add(
                format!("activity.{field}"),
                format!("must be empty for a {name}"),
            );
        }
    };
    let instrument = match takes.instrument {
        Need::Never => {
            refuse(v, "instrument_id", !a.instrument_id.is_empty());
            Some(None)
        }
        Need::Optional => v.check("activity.instrument_id", optional_id(&a.instrument_id)),
        Need::Required => v
            .check("activity.instrument_id", required_id(&a.instrument_id))
            .map(Some),
    };
    let trade = if takes.trade {
        let quantity = v.check("activity.quantity", units::quantity(&a.quantity));
        let price = v.check("activity.price", units::price(&a.price));
        let fee = a
            .fee
            .as_ref()
            .filter(|m| **m != Money::default())
            .map(|m| Cash::parse(v, "activity.fee", m));
        Some((quantity, price, fee))
    } else {
        refuse(v, "quantity", !a.quantity.is_empty());
        refuse(v, "price", !a.price.is_empty());
        refuse(
            v,
            "fee",
            a.fee.as_ref().is_some_and(|m| *m != Money::default()),
        );
        None
    };
    let amount = if takes.amount {
        match &a.amount {
            Some(m) => Cash::parse(v, "activity.amount", m),
            None => {
                v.add("activity.amount", format!("is required for a {name}"));
                None
            }
        }
    } else {
        refuse(v, "amount", a.amount.is_some());
        None
    };
    let ratio = if takes.ratio {
        v.check("activity.split_ratio", units::split_ratio(&a.split_ratio))
    } else {
        refuse(v, "split_ratio", !a.split_ratio.is_empty());
        None
    };
    let instrument = instrument?;
    use ActivityKind as K;
    Some(match kind {
        K::Buy | K::Sell => {
            let (quantity, price, fee) = trade?;
            let trade = Trade {
                instrument_id: instrument?,
                quantity: quantity?,
                price: price?,
                fee: match fee {
                    None => None,
                    Some(parsed) => Some(parsed?),
                },
            };
            if kind == K::Buy {
                Detail::Buy(trade)
            } else {
                Detail::Sell(trade)
            }
        }
        K::Dividend => Detail::Dividend {
            instrument_id: instrument?,
            amount: amount?,
        },
        K::Interest => Detail::Interest {
            instrument_id: instrument,
            amount: amount?,
        },
        K::Fee => Detail::Fee {
            instrument_id: instrument,
            amount: amount?,
        },
        K::Deposit => Detail::Deposit(amount?),
        K::Withdrawal => Detail::Withdrawal(amount?),
        K::Split => Detail::Split {
            instrument_id: instrument?,
            ratio: ratio?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::domain::{date, money};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    fn buy() -> pb::Activity {
        pb::Activity {
            portfolio_id: Uuid::now_v7().to_string(),
            kind: pb::ActivityKind::Buy as i32,
            date: Some(date(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap())),
            instrument_id: Uuid::now_v7().to_string(),
            quantity: "10".into(),
            price: "187.42".into(),
            fee: Some(money("EUR", 100)),
            ..Default::default()
        }
    }

    fn fields(err: &FieldViolations) -> Vec<&str> {
        err.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn a_buy_takes_a_quantity_a_price_and_a_fee_in_its_own_currency() {
        let a = NewActivity::parse(&buy(), today()).unwrap();
        let Detail::Buy(t) = a.detail else {
            panic!("not a buy")
        };
        assert_eq!(t.quantity, Decimal::from(10));
        assert_eq!(t.fee.unwrap().currency.code(), "EUR");
    }

    #[test]
    fn every_wrong_field_of_a_trade_is_named() {
        let err = NewActivity::parse(
            &pb::Activity {
                quantity: "-3".into(),
                price: "abc".into(),
                amount: Some(money("USD", 5)),
                split_ratio: "2".into(),
                date: Some(date(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap())),
                ..buy()
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "activity.date",
                "activity.quantity",
                "activity.price",
                "activity.amount",
                "activity.split_ratio"
            ]
        );
    }

    #[test]
    fn a_dividend_needs_an_amount_and_no_trade_fields() {
        let err = NewActivity::parse(
            &pb::Activity {
                kind: pb::ActivityKind::Dividend as i32,
                fee: None,
                ..buy()
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&err),
            ["activity.quantity", "activity.price", "activity.amount"]
        );
    }

    #[test]
    fn only_money_moves_name_a_cash_account() {
        let err = NewActivity::parse(
            &pb::Activity {
                kind: pb::ActivityKind::Split as i32,
                quantity: String::new(),
                price: String::new(),
                fee: None,
                split_ratio: "2".into(),
                cash_account_id: Uuid::now_v7().to_string(),
                ..buy()
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(fields(&err), ["activity.cash_account_id"]);
        let deposit = NewActivity::parse(
            &pb::Activity {
                kind: pb::ActivityKind::Deposit as i32,
                instrument_id: String::new(),
                quantity: String::new(),
                price: String::new(),
                fee: None,
                amount: Some(money("USD", 100_000)),
                cash_account_id: Uuid::now_v7().to_string(),
                ..buy()
            },
            today(),
        )
        .unwrap();
        assert!(deposit.cash_account_id.is_some());
        assert_eq!(deposit.detail.kind(), ActivityKind::Deposit);
    }

    #[test]
    fn a_missing_kind_or_portfolio_is_named() {
        let err = NewActivity::parse(&pb::Activity::default(), today()).unwrap_err();
        assert_eq!(
            fields(&err),
            ["activity.portfolio_id", "activity.kind", "activity.date"]
        );
    }
}
