//! Activities: recorded after the checks that need the caller's other
//! objects (the portfolio, the instrument, the ledger accounts), with the
//! check that no sale sells more than is held made inside the store's
//! transaction.

use freedumb_kit::domain::{Currency, optional_id};
use freedumb_kit::page::{Filters, Page};
use freedumb_kit::peer::Credentials;
use freedumb_kit::time;
use freedumb_proto::investment as pb;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, InvestmentApi, Result, today};
use crate::convert;
use crate::domain::NewActivity;
use crate::domain::activity::{Activity, Detail};
use crate::domain::book::{Oversold, check_quantities};
use crate::error::InvestmentError;
use crate::outbox;
use crate::store::{IdempotencyKey, PortfolioRecord};

/// Where a page of activities ended.
#[derive(Serialize, Deserialize)]
struct After {
    date: chrono::NaiveDate,
    id: Uuid,
}

fn oversold_on_create(e: &Oversold) -> InvestmentError {
    InvestmentError::field(
        "activity.quantity",
        format!(
            "sells {} units on {}, but {} are held then",
            e.sold, e.date, e.held
        ),
    )
}

fn oversold_on_delete(e: &Oversold) -> InvestmentError {
    InvestmentError::FailedPrecondition(format!(
        "without this activity, the sale on {} would sell {} units while {} are held; \
         delete that sale first",
        e.date, e.sold, e.held
    ))
}

impl InvestmentApi {
    /// The currency an activity's money counts in (its instrument's, or
    /// its amount's) and its instrument's symbol.
    async fn currency_of(
        &self,
        user_id: Uuid,
        detail: &Detail,
    ) -> Result<(Currency, Option<String>)> {
        match (detail.instrument_id(), detail.amount()) {
            (Some(id), _) => match self.deps.store.get_instrument(user_id, id).await? {
                Some(i) => Ok((i.currency, Some(i.symbol))),
                None => Err(InvestmentError::field(
                    "activity.instrument_id",
                    "is not one of your instruments",
                )),
            },
            (None, Some(amount)) => Ok((amount.currency, None)),
            (None, None) => Err(InvestmentError::Unexpected(anyhow::anyhow!(
                "an activity with neither instrument nor amount"
            ))),
        }
    }

    /// Checks the ledger side of an activity that names a cash account:
    /// the portfolio has an account, the cash account is another of the
    /// caller's, both in the activity's currency, and a trade's fee too.
    async fn check_cash_account(
        &self,
        credentials: &Credentials,
        portfolio: &PortfolioRecord,
        activity: &NewActivity,
        currency: Currency,
    ) -> Result<()> {
        let Some(cash_account) = activity.cash_account_id else {
            return Ok(());
        };
        let field = "activity.cash_account_id";
        let Some(portfolio_account) = portfolio.account_id else {
            return Err(InvestmentError::field(
                field,
                "the portfolio has no account_id: link it to a ledger account first",
            ));
        };
        if cash_account == portfolio_account {
            return Err(InvestmentError::field(
                field,
                "must be another account than the portfolio's own",
            ));
        }
        for (id, what) in [
            (cash_account, "is"),
            (portfolio_account, "the portfolio's account is"),
        ] {
            let account = self
                .deps
                .ledger
                .account(credentials, id)
                .await?
                .ok_or_else(|| {
                    InvestmentError::field(field, format!("{what} not one of your ledger accounts"))
                })?;
            let code = account
                .opening_balance
                .as_ref()
                .map(|m| m.currency_code.as_str())
                .unwrap_or_default();
            if code != currency.code() {
                return Err(InvestmentError::field(
                    field,
                    format!("{what} in {code}, but the activity is in {currency}"),
                ));
            }
        }
        if let Some(fee) = activity.detail.trade().and_then(|t| t.fee)
            && fee.currency != currency
        {
            return Err(InvestmentError::field(
                "activity.fee.currency_code",
                format!("must be {currency} when the activity moves ledger money"),
            ));
        }
        Ok(())
    }

    pub(super) async fn create_activity_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        activity: &pb::Activity,
        key: Option<&IdempotencyKey>,
    ) -> Result<pb::CreateActivityResponse> {
        let new = NewActivity::parse(activity, today())?;
        let portfolio = self.portfolio(user_id, new.portfolio_id).await?;
        let (currency, symbol) = self.currency_of(user_id, &new.detail).await?;
        self.check_cash_account(credentials, &portfolio, &new, currency)
            .await?;
        let record = Activity {
            id: Uuid::now_v7(),
            user_id,
            portfolio_id: new.portfolio_id,
            date: new.date,
            detail: new.detail,
            cash_account_id: new.cash_account_id,
            note: new.note.into_string(),
            create_time: time::now(),
        };
        let check = |all: &[&Activity]| check_quantities(all).map_err(|e| oversold_on_create(&e));
        let account = portfolio.account_id;
        let announce =
            |a: &Activity| Some(outbox::recorded(a, account, currency, symbol.as_deref()));
        let created = self
            .deps
            .store
            .create_activity(&record, key, &check, &announce)
            .await?;
        self.deps.wake.notify_one();
        Ok(pb::CreateActivityResponse {
            activity: Some(convert::activity(&created.into_inner())),
        })
    }

    pub(super) async fn list_activities_for(
        &self,
        user_id: Uuid,
        req: &pb::ListActivitiesRequest,
    ) -> Result<pb::ListActivitiesResponse> {
        let mut v = freedumb_kit::FieldViolations::new();
        let portfolio_id = v.check(
            "portfolio_id",
            freedumb_kit::domain::required_id(&req.portfolio_id),
        );
        let instrument_id = v.check("instrument_id", optional_id(&req.instrument_id));
        let filters = Filters::new("activities")
            .id(portfolio_id)
            .id(instrument_id.flatten());
        let page: Option<Page<After>> = Page::parse(
            &mut v,
            req.page_size,
            DEFAULT_PAGE_SIZE,
            &req.page_token,
            &filters,
        );
        let (Some(portfolio_id), Some(instrument_id), Some(page)) =
            (portfolio_id, instrument_id, page)
        else {
            return Err(InvestmentError::InvalidArgument(v));
        };
        if !v.is_empty() {
            return Err(InvestmentError::InvalidArgument(v));
        }
        // An unknown portfolio is NOT_FOUND, not an empty page.
        self.portfolio(user_id, portfolio_id).await?;
        let mut rows = self
            .deps
            .store
            .list_activities(
                user_id,
                portfolio_id,
                instrument_id,
                page.after.as_ref().map(|a| (a.date, a.id)),
                page.size.fetch_limit(),
            )
            .await?;
        let next_page_token = page.next_page_token(&mut rows, |a| After {
            date: a.date,
            id: a.id,
        });
        Ok(pb::ListActivitiesResponse {
            activities: rows.iter().map(convert::activity).collect(),
            next_page_token,
        })
    }

    pub(super) async fn delete_activity_for(&self, user_id: Uuid, id: Uuid) -> Result<()> {
        let check = |all: &[&Activity]| check_quantities(all).map_err(|e| oversold_on_delete(&e));
        let announce = |a: &Activity| Some(outbox::deleted(a));
        self.deps
            .store
            .delete_activity(user_id, id, &check, &announce)
            .await?;
        self.deps.wake.notify_one();
        Ok(())
    }
}
