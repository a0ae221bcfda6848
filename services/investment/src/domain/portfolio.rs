//! Portfolios: a name, a base currency, a cost basis method and the ledger
//! account that holds their money.

use freedumb_kit::domain::{Currency, Name, optional_id};
use freedumb_kit::{FieldViolations, UpdateMask};
use freedumb_proto::investment as pb;
use uuid::Uuid;

/// How the cost of units sold is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostBasisMethod {
    /// The oldest lots first.
    #[default]
    Fifo,
    /// Every unit held costs the average.
    Average,
}

impl CostBasisMethod {
    /// From the API enum (FIFO when unspecified).
    pub fn from_proto(raw: i32) -> Result<Self, String> {
        match pb::CostBasisMethod::try_from(raw) {
            Ok(pb::CostBasisMethod::Unspecified | pb::CostBasisMethod::Fifo) => Ok(Self::Fifo),
            Ok(pb::CostBasisMethod::Average) => Ok(Self::Average),
            Err(_) => Err(format!("{raw} is not FIFO or AVERAGE")),
        }
    }

    /// The API enum.
    pub fn to_proto(self) -> pb::CostBasisMethod {
        match self {
            Self::Fifo => pb::CostBasisMethod::Fifo,
            Self::Average => pb::CostBasisMethod::Average,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fifo => "fifo",
            Self::Average => "average",
        }
    }

    /// From the stored name.
    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "fifo" => Some(Self::Fifo),
            "average" => Some(Self::Average),
            _ => None,
        }
    }
}

/// A portfolio's content, valid as a whole.
#[derive(Debug, Clone)]
pub struct PortfolioSpec {
    /// Its name.
    pub name: Name,
    /// Its ledger account, if any (whether it is the caller's investment
    /// account is the ledger's to say).
    pub account_id: Option<Uuid>,
    /// Its base currency.
    pub base_currency: Currency,
    /// Its cost basis method.
    pub method: CostBasisMethod,
}

/// The fields `UpdatePortfolio` may change.
pub const PORTFOLIO_UPDATABLE: &[&str] = &["name", "account_id", "cost_basis_method"];

impl PortfolioSpec {
    /// Checks `portfolio`, naming fields under `portfolio.`.
    pub fn parse(portfolio: &pb::Portfolio) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let name = v.check("portfolio.name", Name::parse(&portfolio.name));
        let account_id = v.check("portfolio.account_id", optional_id(&portfolio.account_id));
        let base_currency = v.check(
            "portfolio.base_currency_code",
            Currency::parse(&portfolio.base_currency_code),
        );
        let method = v.check(
            "portfolio.cost_basis_method",
            CostBasisMethod::from_proto(portfolio.cost_basis_method),
        );
        match (name, account_id, base_currency, method) {
            (Some(name), Some(account_id), Some(base_currency), Some(method)) if v.is_empty() => {
                Ok(Self {
                    name,
                    account_id,
                    base_currency,
                    method,
                })
            }
            _ => Err(v),
        }
    }
}

/// `current` with the fields of `mask` taken from `patch`.
pub fn merge_portfolio(
    current: &pb::Portfolio,
    patch: &pb::Portfolio,
    mask: &UpdateMask,
) -> pb::Portfolio {
    let mut merged = current.clone();
    if mask.contains("name") {
        merged.name.clone_from(&patch.name);
    }
    if mask.contains("account_id") {
        merged.account_id.clone_from(&patch.account_id);
    }
    if mask.contains("cost_basis_method") {
        merged.cost_basis_method = patch.cost_basis_method;
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portfolio_needs_a_name_and_a_base_currency() {
        let err = PortfolioSpec::parse(&pb::Portfolio {
            account_id: "nope".into(),
            cost_basis_method: 9,
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = err.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "portfolio.name",
                "portfolio.account_id",
                "portfolio.base_currency_code",
                "portfolio.cost_basis_method"
            ]
        );
        let ok = PortfolioSpec::parse(&pb::Portfolio {
            name: "Broker".into(),
            base_currency_code: "EUR".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.method, CostBasisMethod::Fifo);
        assert_eq!(ok.account_id, None);
    }
}
