//! Holdings, derived by replaying a portfolio's activities in date order
//! (those of one day in id order, which is the order they were recorded):
//! units, lots and their cost (FIFO or average), realized gains, dividends
//! and fees. [`Replay`] walks the activities day by day for valuation and
//! performance; [`check_quantities`] is the cheap test that no sale sells
//! more than is held.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::NaiveDate;
use freedumb_kit::domain::Currency;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::activity::{Activity, Detail, Trade};
use super::market::{MissingRate, Rates, convert};
use super::portfolio::CostBasisMethod;

/// Quantities this close to what is held count as all of it: a sale of
/// "everything" after a split by a ratio like 1/3 may differ from the
/// held quantity in the 28th digit.
fn dust() -> Decimal {
    Decimal::new(1, 12)
}

/// A sale of more units than were held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sale on {date} sells {sold} units, but {held} are held then")]
pub struct Oversold {
    /// The sale.
    pub activity_id: Uuid,
    /// Its date.
    pub date: NaiveDate,
    /// Its instrument.
    pub instrument_id: Uuid,
    /// Units held before it.
    pub held: Decimal,
    /// Units it sells.
    pub sold: Decimal,
}

/// Why a replay stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A sale sells more than is held.
    #[error(transparent)]
    Oversold(#[from] Oversold),
    /// An exchange rate a conversion needs is missing.
    #[error(transparent)]
    MissingRate(#[from] MissingRate),
    /// An activity names an instrument the caller no longer has.
    #[error("activity {0} names an unknown instrument")]
    UnknownInstrument(Uuid),
}

/// Checks that no sale sells more units than are held at its point of the
/// replay (`activities` in replay order).
pub fn check_quantities(activities: &[&Activity]) -> Result<(), Oversold> {
    let mut held: HashMap<Uuid, Decimal> = HashMap::new();
    for a in activities {
        match &a.detail {
            Detail::Buy(t) => *held.entry(t.instrument_id).or_default() += t.quantity,
            Detail::Sell(t) => {
                let units = held.entry(t.instrument_id).or_default();
                if t.quantity > *units + dust() {
                    return Err(Oversold {
                        activity_id: a.id,
                        date: a.date,
                        instrument_id: t.instrument_id,
                        held: *units,
                        sold: t.quantity,
                    });
                }
                *units = (*units - t.quantity).max(Decimal::ZERO);
            }
            Detail::Split {
                instrument_id,
                ratio,
            } => {
                if let Some(units) = held.get_mut(instrument_id) {
                    *units *= *ratio;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Activities in replay order.
pub fn sort(activities: &mut [Activity]) {
    activities.sort_by_key(|a| (a.date, a.id));
}

/// Units bought together, and what they cost.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lot {
    quantity: Decimal,
    /// In the instrument's currency, fees included.
    cost: Decimal,
    /// In the base currency at the purchase date's rate (None when the
    /// rate was missing).
    cost_base: Option<Decimal>,
}

/// One instrument in a portfolio, as the activities so far leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Its currency.
    pub currency: Currency,
    /// Units held.
    pub quantity: Decimal,
    lots: VecDeque<Lot>,
    /// Proceeds of sales over the cost of the units sold, net of fees.
    pub realized: Decimal,
    /// Dividends received.
    pub dividends: Decimal,
    /// Trade fees paid (in the instrument's currency).
    pub fees: Decimal,
    /// The latest trade's date and price (the fallback price before any
    /// close is known).
    pub last_trade: Option<(NaiveDate, Decimal)>,
}

impl Position {
    fn new(currency: Currency) -> Self {
        Self {
            currency,
            quantity: Decimal::ZERO,
            lots: VecDeque::new(),
            realized: Decimal::ZERO,
            dividends: Decimal::ZERO,
            fees: Decimal::ZERO,
            last_trade: None,
        }
    }

    /// What the units held cost, fees included.
    pub fn cost(&self) -> Decimal {
        self.lots.iter().map(|l| l.cost).sum()
    }

    /// [`Self::cost`] in the base currency, each purchase at its own date's
    /// rate (None when a rate was missing).
    pub fn cost_base(&self) -> Option<Decimal> {
        self.lots.iter().map(|l| l.cost_base).sum()
    }

    fn buy(
        &mut self,
        method: CostBasisMethod,
        quantity: Decimal,
        cost: Decimal,
        base: Option<Decimal>,
    ) {
        self.quantity += quantity;
        match (method, self.lots.back_mut()) {
            (CostBasisMethod::Average, Some(lot)) => {
                lot.quantity += quantity;
                lot.cost += cost;
                lot.cost_base = lot.cost_base.zip(base).map(|(a, b)| a + b);
            }
            _ => self.lots.push_back(Lot {
                quantity,
                cost,
                cost_base: base,
            }),
        }
    }

    /// Takes `quantity` units out of the lots, oldest first; returns their
    /// cost (a single average lot gives the average cost).
    fn take(&mut self, quantity: Decimal) -> Decimal {
        let mut left = quantity;
        let mut cost = Decimal::ZERO;
        while left > Decimal::ZERO {
            let Some(lot) = self.lots.front_mut() else {
                break;
            };
            if lot.quantity <= left + dust() {
                left -= lot.quantity.min(left);
                cost += lot.cost;
                self.lots.pop_front();
            } else {
                let share = left / lot.quantity;
                let part = lot.cost * share;
                lot.cost_base = lot.cost_base.map(|b| b - b * share);
                lot.cost -= part;
                lot.quantity -= left;
                cost += part;
                left = Decimal::ZERO;
            }
        }
        self.quantity = (self.quantity - quantity).max(Decimal::ZERO);
        if self.quantity <= dust() {
            self.quantity = Decimal::ZERO;
            self.lots.clear();
        }
        cost
    }

    fn split(&mut self, ratio: Decimal) {
        self.quantity *= ratio;
        for lot in &mut self.lots {
            lot.quantity *= ratio;
        }
        if let Some((day, price)) = self.last_trade {
            self.last_trade = Some((day, price / ratio));
        }
    }
}

/// The money an activity moved, in `currency` (the instrument's, or the
/// amount's for one without an instrument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The instrument it concerns, if any.
    pub instrument_id: Option<Uuid>,
    /// The currency of the figures below.
    pub currency: Currency,
    /// Put in: a purchase's cost with its fee.
    pub invested: Decimal,
    /// Taken out: a sale's proceeds less its fee.
    pub withdrawn: Decimal,
    /// Dividends.
    pub dividends: Decimal,
    /// Interest.
    pub interest: Decimal,
    /// A trade's fee.
    pub trade_fees: Decimal,
    /// A fee apart from a trade.
    pub other_fees: Decimal,
}

impl Effect {
    fn new(instrument_id: Option<Uuid>, currency: Currency) -> Self {
        Self {
            instrument_id,
            currency,
            invested: Decimal::ZERO,
            withdrawn: Decimal::ZERO,
            dividends: Decimal::ZERO,
            interest: Decimal::ZERO,
            trade_fees: Decimal::ZERO,
            other_fees: Decimal::ZERO,
        }
    }

    /// Income counted at the day's end: dividends and interest less
    /// standalone fees.
    pub fn income(&self) -> Decimal {
        self.dividends + self.interest - self.other_fees
    }

    /// Whether it moved no money (a split, a deposit).
    pub fn is_empty(&self) -> bool {
        [
            self.invested,
            self.withdrawn,
            self.dividends,
            self.interest,
            self.trade_fees,
            self.other_fees,
        ]
        .iter()
        .all(Decimal::is_zero)
    }
}

/// What a replay needs besides the activities.
pub struct Context<'a> {
    /// Each instrument's currency.
    pub currencies: &'a HashMap<Uuid, Currency>,
    /// The portfolio's base currency.
    pub base: Currency,
    /// The portfolio's cost basis method.
    pub method: CostBasisMethod,
    /// Exchange rates.
    pub rates: &'a dyn Rates,
}

/// A portfolio's positions, advanced through its activities day by day.
pub struct Replay<'a> {
    activities: &'a [Activity],
    next: usize,
    context: Context<'a>,
    positions: BTreeMap<Uuid, Position>,
}

impl<'a> Replay<'a> {
    /// A replay of `activities` (in replay order, see [`sort`]).
    pub fn new(activities: &'a [Activity], context: Context<'a>) -> Self {
        Self {
            activities,
            next: 0,
            context,
            positions: BTreeMap::new(),
        }
    }

    /// The positions so far, by instrument (sold-out ones included).
    pub fn positions(&self) -> &BTreeMap<Uuid, Position> {
        &self.positions
    }

    /// The replay's context.
    pub fn context(&self) -> &Context<'a> {
        &self.context
    }

    /// The date of the first activity, if any.
    pub fn first_date(&self) -> Option<NaiveDate> {
        self.activities.first().map(|a| a.date)
    }

    /// Applies the activities dated on or before `day` not applied yet,
    /// and returns what each moved.
    pub fn advance_to(&mut self, day: NaiveDate) -> Result<Vec<Effect>, ReplayError> {
        let mut effects = Vec::new();
        while let Some(a) = self.activities.get(self.next) {
            if a.date > day {
                break;
            }
            let effect = self.apply(a)?;
            if !effect.is_empty() {
                effects.push(effect);
            }
            self.next += 1;
        }
        Ok(effects)
    }

    fn currency_of(&self, a: &Activity, instrument_id: Uuid) -> Result<Currency, ReplayError> {
        self.context
            .currencies
            .get(&instrument_id)
            .copied()
            .ok_or(ReplayError::UnknownInstrument(a.id))
    }

    fn position(&mut self, instrument_id: Uuid, currency: Currency) -> &mut Position {
        self.positions
            .entry(instrument_id)
            .or_insert_with(|| Position::new(currency))
    }

    /// A trade's fee in the instrument's currency.
    fn fee(&self, t: &Trade, currency: Currency, day: NaiveDate) -> Result<Decimal, MissingRate> {
        match t.fee {
            None => Ok(Decimal::ZERO),
            Some(fee) => convert(
                self.context.rates,
                fee.amount(),
                fee.currency,
                currency,
                day,
            ),
        }
    }

    fn apply(&mut self, a: &Activity) -> Result<Effect, ReplayError> {
        let (rates, base, method) = (self.context.rates, self.context.base, self.context.method);
        Ok(match &a.detail {
            Detail::Buy(t) => {
                let currency = self.currency_of(a, t.instrument_id)?;
                let fee = self.fee(t, currency, a.date)?;
                let cost = t.quantity * t.price + fee;
                let cost_base = convert(rates, cost, currency, base, a.date).ok();
                let p = self.position(t.instrument_id, currency);
                p.buy(method, t.quantity, cost, cost_base);
                p.fees += fee;
                p.last_trade = Some((a.date, t.price));
                Effect {
                    invested: cost,
                    trade_fees: fee,
                    ..Effect::new(Some(t.instrument_id), currency)
                }
            }
            Detail::Sell(t) => {
                let currency = self.currency_of(a, t.instrument_id)?;
                let fee = self.fee(t, currency, a.date)?;
                let p = self.position(t.instrument_id, currency);
                if t.quantity > p.quantity + dust() {
                    return Err(Oversold {
                        activity_id: a.id,
                        date: a.date,
                        instrument_id: t.instrument_id,
                        held: p.quantity,
                        sold: t.quantity,
                    }
                    .into());
                }
                let proceeds = t.quantity * t.price - fee;
                let cost = p.take(t.quantity);
                p.realized += proceeds - cost;
                p.fees += fee;
                p.last_trade = Some((a.date, t.price));
                Effect {
                    withdrawn: proceeds,
                    trade_fees: fee,
                    ..Effect::new(Some(t.instrument_id), currency)
                }
            }
            Detail::Dividend {
                instrument_id,
                amount,
            } => {
                let currency = self.currency_of(a, *instrument_id)?;
                let paid = convert(rates, amount.amount(), amount.currency, currency, a.date)?;
                self.position(*instrument_id, currency).dividends += paid;
                Effect {
                    dividends: paid,
                    ..Effect::new(Some(*instrument_id), currency)
                }
            }
            Detail::Interest {
                instrument_id,
                amount,
            }
            | Detail::Fee {
                instrument_id,
                amount,
            } => {
                let (instrument, currency) = match instrument_id {
                    Some(id) => (Some(*id), self.currency_of(a, *id)?),
                    None => (None, amount.currency),
                };
                let value = convert(rates, amount.amount(), amount.currency, currency, a.date)?;
                let mut effect = Effect::new(instrument, currency);
                if matches!(a.detail, Detail::Interest { .. }) {
                    effect.interest = value;
                } else {
                    effect.other_fees = value;
                }
                effect
            }
            Detail::Deposit(cash) | Detail::Withdrawal(cash) => Effect::new(None, cash.currency),
            Detail::Split {
                instrument_id,
                ratio,
            } => {
                let currency = self.currency_of(a, *instrument_id)?;
                self.position(*instrument_id, currency).split(*ratio);
                Effect::new(Some(*instrument_id), currency)
            }
        })
    }
}

#[cfg(test)]
mod tests;
