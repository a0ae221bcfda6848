//! Records and figures as API messages.

use freedumb_kit::domain::{date, money};
use freedumb_kit::time;
use freedumb_proto::investment as pb;

use crate::domain::activity::Detail;
use crate::domain::performance::Figures;
use crate::domain::units;
use crate::store::{ActivityRecord, InstrumentRecord, PortfolioRecord};

/// A portfolio as the API shows it.
pub fn portfolio(p: &PortfolioRecord) -> pb::Portfolio {
    pb::Portfolio {
        id: p.id.to_string(),
        name: p.name.clone(),
        account_id: p.account_id.map(|a| a.to_string()).unwrap_or_default(),
        base_currency_code: p.base_currency.code().to_owned(),
        cost_basis_method: p.method.to_proto() as i32,
        create_time: Some(time::timestamp(p.create_time)),
        update_time: Some(time::timestamp(p.update_time)),
    }
}

/// An instrument as the API shows it.
pub fn instrument(i: &InstrumentRecord) -> pb::Instrument {
    pb::Instrument {
        id: i.id.to_string(),
        symbol: i.symbol.clone(),
        isin: i.isin.clone().unwrap_or_default(),
        name: i.name.clone(),
        kind: i.kind.to_proto() as i32,
        currency_code: i.currency.code().to_owned(),
        create_time: Some(time::timestamp(i.create_time)),
    }
}

/// An activity as the API shows it.
pub fn activity(a: &ActivityRecord) -> pb::Activity {
    let cash = |c: crate::domain::Cash| money(c.currency.code(), c.minor);
    let mut out = pb::Activity {
        id: a.id.to_string(),
        portfolio_id: a.portfolio_id.to_string(),
        kind: a.detail.kind().to_proto() as i32,
        date: Some(date(a.date)),
        instrument_id: a
            .detail
            .instrument_id()
            .map(|i| i.to_string())
            .unwrap_or_default(),
        amount: a.detail.amount().map(cash),
        cash_account_id: a.cash_account_id.map(|c| c.to_string()).unwrap_or_default(),
        note: a.note.clone(),
        create_time: Some(time::timestamp(a.create_time)),
        ..Default::default()
    };
    match &a.detail {
        Detail::Buy(t) | Detail::Sell(t) => {
            out.quantity = t.quantity.to_string();
            out.price = t.price.to_string();
            out.fee = t.fee.map(cash);
        }
        Detail::Split { ratio, .. } => out.split_ratio = ratio.to_string(),
        _ => {}
    }
    out
}

/// Performance figures as the API shows them.
pub fn performance(f: &Figures) -> pb::Performance {
    let m = |d| Some(units::money(d, f.currency));
    let (mwr, problem) = match &f.mwr {
        Ok(r) => (Some(*r), String::new()),
        Err(e) => (None, e.to_string()),
    };
    pb::Performance {
        currency_code: f.currency.code().to_owned(),
        start_value: m(f.start_value),
        end_value: m(f.end_value),
        invested: m(f.invested),
        withdrawn: m(f.withdrawn),
        dividends: m(f.dividends),
        interest: m(f.interest),
        fees: m(f.fees),
        absolute_gain: m(f.absolute_gain()),
        time_weighted_return: f.twr,
        time_weighted_return_annualized: f.twr_annualized,
        money_weighted_return: mwr,
        money_weighted_return_problem: problem,
    }
}
