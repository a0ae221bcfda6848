//! Budgets: create, read, list, change (the categories checked with the
//! ledger, as the caller).

use freedumb_kit::UpdateMask;
use freedumb_kit::time;
use freedumb_proto::budget as pb;
use uuid::Uuid;

use super::{BudgetApi, Result};
use crate::convert;
use crate::domain::{BudgetListing, BudgetSpec, merge};
use crate::peer::Credentials;
use crate::store::BudgetRecord;

impl BudgetApi {
    /// Refuses categories the caller does not have in the ledger.
    async fn check_categories(&self, credentials: &Credentials, spec: &BudgetSpec) -> Result<()> {
        self.deps
            .ledger
            .require_categories(credentials, &spec.category_ids, |i| {
                format!("budget.category_ids[{i}]")
            })
            .await?;
        Ok(())
    }

    pub(super) async fn create(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        spec: BudgetSpec,
    ) -> Result<pb::CreateBudgetResponse> {
        self.check_categories(credentials, &spec).await?;
        let now = time::now();
        let record = BudgetRecord {
            id: Uuid::now_v7(),
            user_id,
            name: spec.name.to_string(),
            category_ids: spec.category_ids,
            currency: spec.currency.code().to_owned(),
            amount_minor: spec.amount_minor,
            schedule: spec.schedule,
            thresholds: spec.thresholds,
            create_time: now,
            update_time: now,
        };
        self.deps.store.create_budget(&record).await?;
        Ok(pb::CreateBudgetResponse {
            budget: Some(convert::budget(&record)),
        })
    }

    pub(super) async fn get(&self, user_id: Uuid, id: Uuid) -> Result<pb::GetBudgetResponse> {
        let budget = self.budget(user_id, id).await?;
        Ok(pb::GetBudgetResponse {
            budget: Some(convert::budget(&budget)),
        })
    }

    pub(super) async fn list(
        &self,
        user_id: Uuid,
        listing: &BudgetListing,
    ) -> Result<pb::ListBudgetsResponse> {
        let mut rows = self
            .deps
            .store
            .list_budgets(user_id, listing.after, listing.size.fetch_limit())
            .await?;
        let next_page_token = listing.next_page_token(&mut rows, |b| b.id);
        Ok(pb::ListBudgetsResponse {
            budgets: rows.iter().map(convert::budget).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        id: Uuid,
        patch: &pb::Budget,
        mask: &UpdateMask,
    ) -> Result<pb::UpdateBudgetResponse> {
        let current = self.budget(user_id, id).await?;
        let merged = merge(&convert::budget(&current), patch, mask)?;
        let spec = BudgetSpec::parse(&merged, "budget.")?;
        if mask.contains("category_ids") {
            self.check_categories(credentials, &spec).await?;
        }
        let record = BudgetRecord {
            name: spec.name.to_string(),
            category_ids: spec.category_ids,
            amount_minor: spec.amount_minor,
            schedule: spec.schedule,
            thresholds: spec.thresholds,
            update_time: time::now(),
            ..current
        };
        self.deps.store.update_budget(&record).await?;
        crate::watch::spending_changed(self.deps.bus.as_ref(), &[user_id]).await;
        Ok(pb::UpdateBudgetResponse {
            budget: Some(convert::budget(&record)),
        })
    }
}
