//! Recurring rules: a transaction template and a schedule; the recurring
//! worker records each occurrence when it falls due.

use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{LedgerApi, Result, created, stored_currency};
use crate::convert;
use crate::domain::{NewRule, RuleListing};
use crate::error::LedgerError;
use crate::store::RuleRecord;

impl LedgerApi {
    pub(super) async fn create_recurring_rule(
        &self,
        user_id: Uuid,
        new: NewRule,
    ) -> Result<pb::CreateRecurringRuleResponse> {
        let account = self.account(user_id, new.account_id).await?;
        let amount = new.amount_in(stored_currency(&account.currency)?)?;
        let record = RuleRecord {
            id: Uuid::now_v7(),
            user_id,
            account_id: account.id,
            currency: account.currency,
            amount_minor: amount.get(),
            description: new.description.into_string(),
            merchant: new.merchant.into_string(),
            category_id: new.category_id,
            tags: new.tags.into_vec(),
            schedule: new.schedule,
            next_index: 0,
            next_date: new.schedule.occurrence(0),
            create_time: time::now(),
        };
        let response = pb::CreateRecurringRuleResponse {
            rule: Some(convert::rule(&record)),
        };
        let idempotency = new
            .key
            .map(|key| key.record("CreateRecurringRule", &response));
        let outcome = self
            .deps
            .store
            .create_rule(&record, idempotency.as_ref())
            .await
            .map_err(LedgerError::unknown_category_on("rule.category_id"))?;
        created(outcome, response)
    }

    pub(super) async fn get_recurring_rule(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::GetRecurringRuleResponse> {
        let rule = self
            .deps
            .store
            .get_rule(user_id, id)
            .await?
            .ok_or(LedgerError::NotFound("recurring rule"))?;
        Ok(pb::GetRecurringRuleResponse {
            rule: Some(convert::rule(&rule)),
        })
    }

    pub(super) async fn list_recurring_rules(
        &self,
        user_id: Uuid,
        listing: RuleListing,
    ) -> Result<pb::ListRecurringRulesResponse> {
        let mut rows = self
            .deps
            .store
            .list_rules(user_id, listing.after, listing.page_size.fetch_limit())
            .await?;
        let next_page_token = listing.next_page_token(&mut rows);
        Ok(pb::ListRecurringRulesResponse {
            rules: rows.iter().map(convert::rule).collect(),
            next_page_token,
        })
    }

    pub(super) async fn delete_recurring_rule(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::DeleteRecurringRuleResponse> {
        self.deps.store.delete_rule(user_id, id).await?;
        Ok(pb::DeleteRecurringRuleResponse {})
    }
}
