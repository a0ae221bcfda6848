//! Savings goals and their progress: an account's balance read from the
//! ledger as the caller, or a category's sum from the projection.

use freedumb_kit::UpdateMask;
use freedumb_kit::page::{Filters, Page};
use freedumb_kit::time;
use freedumb_proto::budget as pb;
use uuid::Uuid;

use super::{BudgetApi, Result};
use crate::convert;
use crate::domain::{GoalSource, GoalSpec, Progress, Span, merge_goal};
use crate::error::BudgetError;
use crate::peer::Credentials;
use crate::store::GoalRecord;

/// Goals per page when the request does not say.
const DEFAULT_PAGE_SIZE: u32 = 50;

impl BudgetApi {
    async fn goal(&self, user_id: Uuid, id: Uuid) -> Result<GoalRecord> {
        self.deps
            .store
            .get_goal(user_id, id)
            .await?
            .ok_or(BudgetError::NotFound("goal"))
    }

    /// Refuses an account or category the caller does not have, and an
    /// account in another currency.
    async fn check_source(&self, credentials: &Credentials, spec: &GoalSpec) -> Result<()> {
        match spec.source {
            GoalSource::Account(id) => match self.deps.ledger.account(credentials, id).await? {
                None => Err(BudgetError::field(
                    "goal.account_id",
                    format!("no account {id}"),
                )),
                Some(account) => {
                    let currency = account
                        .opening_balance
                        .map(|m| m.currency_code)
                        .unwrap_or_default();
                    if currency == spec.currency.code() {
                        Ok(())
                    } else {
                        Err(BudgetError::field(
                            "goal.target.currency_code",
                            format!("must be the account's currency, {currency}"),
                        ))
                    }
                }
            },
            GoalSource::Category(id) => {
                self.deps
                    .ledger
                    .require_categories(credentials, &[id], |_| "goal.category_id".to_owned())
                    .await?;
                Ok(())
            }
        }
    }

    /// Where `goal` stands today.
    async fn progress(
        &self,
        credentials: &Credentials,
        goal: &GoalRecord,
    ) -> Result<pb::GoalProgress> {
        let today = time::now().date_naive();
        let saved = match goal.source {
            GoalSource::Account(id) => self
                .deps
                .ledger
                .account(credentials, id)
                .await?
                .and_then(|a| a.balance)
                .filter(|m| m.currency_code == goal.currency)
                .map_or(0, |m| m.amount_minor),
            GoalSource::Category(id) if today >= goal.start_date => {
                let span = Span {
                    start: goal.start_date,
                    end: today,
                };
                let sums = self
                    .deps
                    .store
                    .sum_spending(goal.user_id, &goal.currency, &[id], span)
                    .await?;
                super::clamp(sums.iter().map(|(_, s)| i128::from(*s)).sum())
            }
            GoalSource::Category(_) => 0,
        };
        let p = Progress::of(
            goal.target_minor,
            goal.start_date,
            goal.target_date,
            today,
            saved,
        );
        Ok(convert::progress(&p, &goal.currency))
    }

    pub(super) async fn create_goal_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        goal: &pb::Goal,
    ) -> Result<pb::CreateGoalResponse> {
        let spec = GoalSpec::parse(goal, time::now().date_naive())?;
        self.check_source(credentials, &spec).await?;
        let now = time::now();
        let record = GoalRecord {
            id: Uuid::now_v7(),
            user_id,
            name: spec.name.to_string(),
            currency: spec.currency.code().to_owned(),
            target_minor: spec.target_minor,
            target_date: spec.target_date,
            start_date: spec.start_date,
            source: spec.source,
            create_time: now,
            update_time: now,
        };
        // Progress first: a ledger failure then leaves nothing stored.
        let progress = self.progress(credentials, &record).await?;
        self.deps
            .store
            .create_goal(&record, already_reached(&progress))
            .await?;
        Ok(pb::CreateGoalResponse {
            progress: Some(progress),
            goal: Some(convert::goal(&record)),
        })
    }

    pub(super) async fn get_goal_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        id: Uuid,
    ) -> Result<pb::GetGoalResponse> {
        let goal = self.goal(user_id, id).await?;
        Ok(pb::GetGoalResponse {
            progress: Some(self.progress(credentials, &goal).await?),
            goal: Some(convert::goal(&goal)),
        })
    }

    pub(super) async fn list_goals_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        req: &pb::ListGoalsRequest,
    ) -> Result<pb::ListGoalsResponse> {
        let page: Page<Uuid> = Page::of(
            req.page_size,
            DEFAULT_PAGE_SIZE,
            &req.page_token,
            &Filters::new("goals"),
        )?;
        let mut rows = self
            .deps
            .store
            .list_goals(user_id, page.after, page.size.fetch_limit())
            .await?;
        let next_page_token = page.next_page_token(&mut rows, |g| g.id);
        let mut goals = Vec::with_capacity(rows.len());
        for goal in &rows {
            goals.push(pb::GoalWithProgress {
                progress: Some(self.progress(credentials, goal).await?),
                goal: Some(convert::goal(goal)),
            });
        }
        Ok(pb::ListGoalsResponse {
            goals,
            next_page_token,
        })
    }

    pub(super) async fn update_goal_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        patch: &pb::Goal,
        mask: &UpdateMask,
    ) -> Result<pb::UpdateGoalResponse> {
        let id = freedumb_kit::domain::required_id(&patch.id)
            .map_err(|e| BudgetError::field("goal.id", e))?;
        let current = self.goal(user_id, id).await?;
        let merged = merge_goal(&convert::goal(&current), patch, mask)?;
        let spec = GoalSpec::parse(&merged, current.start_date)?;
        let record = GoalRecord {
            name: spec.name.to_string(),
            target_minor: spec.target_minor,
            target_date: spec.target_date,
            update_time: time::now(),
            ..current
        };
        let progress = self.progress(credentials, &record).await?;
        self.deps
            .store
            .update_goal(&record, already_reached(&progress))
            .await?;
        Ok(pb::UpdateGoalResponse {
            progress: Some(progress),
            goal: Some(convert::goal(&record)),
        })
    }
}

/// What a goal has saved when it has reached its target already: recorded
/// so, reaching it is not announced.
fn already_reached(progress: &pb::GoalProgress) -> Option<i64> {
    progress
        .reached
        .then(|| progress.saved.as_ref().map_or(0, |m| m.amount_minor))
}
