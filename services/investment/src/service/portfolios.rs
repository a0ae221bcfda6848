//! Portfolios: create (with the ledger account checked), list, change.

use freedumb_kit::UpdateMask;
use freedumb_kit::page::{Filters, Page};
use freedumb_kit::peer::Credentials;
use freedumb_kit::time;
use freedumb_proto::investment as pb;
use freedumb_proto::ledger::AccountKind;
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, InvestmentApi, Result};
use crate::convert;
use crate::domain::PortfolioSpec;
use crate::domain::portfolio::merge_portfolio;
use crate::error::InvestmentError;
use crate::store::{IdempotencyKey, PortfolioRecord};

impl InvestmentApi {
    /// Checks that `account_id` is one of the caller's ledger accounts of
    /// kind INVESTMENT.
    async fn require_investment_account(
        &self,
        credentials: &Credentials,
        account_id: Uuid,
    ) -> Result<()> {
        let field = "portfolio.account_id";
        match self.deps.ledger.account(credentials, account_id).await? {
            None => Err(InvestmentError::field(
                field,
                "is not one of your ledger accounts",
            )),
            Some(a) if a.kind != AccountKind::Investment as i32 => Err(InvestmentError::field(
                field,
                "must be a ledger account of kind INVESTMENT",
            )),
            Some(_) => Ok(()),
        }
    }

    pub(super) async fn create_portfolio_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        portfolio: &pb::Portfolio,
        key: Option<&IdempotencyKey>,
    ) -> Result<pb::CreatePortfolioResponse> {
        let spec = PortfolioSpec::parse(portfolio)?;
        if let Some(account_id) = spec.account_id {
            self.require_investment_account(credentials, account_id)
                .await?;
        }
        let now = time::now();
        let record = PortfolioRecord {
            id: Uuid::now_v7(),
            user_id,
            name: spec.name.to_string(),
            account_id: spec.account_id,
            base_currency: spec.base_currency,
            method: spec.method,
            create_time: now,
            update_time: now,
        };
        let created = self.deps.store.create_portfolio(&record, key).await?;
        Ok(pb::CreatePortfolioResponse {
            portfolio: Some(convert::portfolio(&created.into_inner())),
        })
    }

    pub(super) async fn list_portfolios_for(
        &self,
        user_id: Uuid,
        req: &pb::ListPortfoliosRequest,
    ) -> Result<pb::ListPortfoliosResponse> {
        let page: Page<Uuid> = Page::of(
            req.page_size,
            DEFAULT_PAGE_SIZE,
            &req.page_token,
            &Filters::new("portfolios"),
        )?;
        let mut rows = self
            .deps
            .store
            .list_portfolios(user_id, page.after, page.size.fetch_limit())
            .await?;
        let next_page_token = page.next_page_token(&mut rows, |p| p.id);
        Ok(pb::ListPortfoliosResponse {
            portfolios: rows.iter().map(convert::portfolio).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_portfolio_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        id: Uuid,
        patch: &pb::Portfolio,
        mask: &UpdateMask,
    ) -> Result<pb::UpdatePortfolioResponse> {
        let current = self.portfolio(user_id, id).await?;
        let merged = merge_portfolio(&convert::portfolio(&current), patch, mask);
        let spec = PortfolioSpec::parse(&merged)?;
        if let Some(account_id) = spec.account_id
            && spec.account_id != current.account_id
        {
            self.require_investment_account(credentials, account_id)
                .await?;
        }
        let record = PortfolioRecord {
            name: spec.name.to_string(),
            account_id: spec.account_id,
            method: spec.method,
            update_time: time::now(),
            ..current
        };
        self.deps.store.update_portfolio(&record).await?;
        Ok(pb::UpdatePortfolioResponse {
            portfolio: Some(convert::portfolio(&record)),
        })
    }
}
