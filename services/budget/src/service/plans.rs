//! Envelope plans: create, read, list, delete, assign money, and a month's
//! figures (the rules are `crate::domain::envelope`'s).

use freedumb_kit::domain::{AmountMinor, money, required_id};
use freedumb_kit::time;
use freedumb_proto::budget as pb;
use uuid::Uuid;

use super::{BudgetApi, Result};
use crate::domain::Span;
use crate::domain::envelope::{self, MAX_MONTHS, MonthInputs, Overspending, PlanSpec, YearMonth};
use crate::error::BudgetError;
use crate::peer::Credentials;
use crate::store::PlanRecord;

/// The API form of a plan.
fn plan_pb(p: &PlanRecord) -> pb::BudgetPlan {
    let overspending = match p.overspending {
        Overspending::CarryNegative => pb::OverspendingRule::CarryNegative,
        Overspending::FromToBeBudgeted => pb::OverspendingRule::FromToBeBudgeted,
    };
    pb::BudgetPlan {
        id: p.id.to_string(),
        name: p.name.clone(),
        category_ids: p.categories.iter().map(ToString::to_string).collect(),
        income_category_ids: p.income.iter().map(ToString::to_string).collect(),
        currency_code: p.currency.clone(),
        start_month: p.start_month.to_string(),
        overspending: overspending.into(),
        create_time: Some(time::timestamp(p.create_time)),
    }
}

impl BudgetApi {
    async fn plan(&self, user_id: Uuid, id: Uuid) -> Result<PlanRecord> {
        self.deps
            .store
            .get_plan(user_id, id)
            .await?
            .ok_or(BudgetError::NotFound("budget plan"))
    }

    pub(super) async fn create_plan_for(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        plan: &pb::BudgetPlan,
    ) -> Result<pb::CreateBudgetPlanResponse> {
        let spec = PlanSpec::parse(plan)?;
        let all: Vec<Uuid> = spec
            .categories
            .iter()
            .chain(&spec.income)
            .copied()
            .collect();
        let envelopes = spec.categories.len();
        self.deps
            .ledger
            .require_categories(credentials, &all, |i| match i.checked_sub(envelopes) {
                None => format!("plan.category_ids[{i}]"),
                Some(j) => format!("plan.income_category_ids[{j}]"),
            })
            .await?;
        let record = PlanRecord {
            id: Uuid::now_v7(),
            user_id,
            name: spec.name.to_string(),
            currency: spec.currency.code().to_owned(),
            categories: spec.categories,
            income: spec.income,
            start_month: spec.start_month,
            overspending: spec.overspending,
            create_time: time::now(),
        };
        self.deps.store.create_plan(&record).await?;
        Ok(pb::CreateBudgetPlanResponse {
            plan: Some(plan_pb(&record)),
        })
    }

    pub(super) async fn get_plan_for(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::GetBudgetPlanResponse> {
        Ok(pb::GetBudgetPlanResponse {
            plan: Some(plan_pb(&self.plan(user_id, id).await?)),
        })
    }

    pub(super) async fn list_plans_for(
        &self,
        user_id: Uuid,
    ) -> Result<pb::ListBudgetPlansResponse> {
        let plans = self.deps.store.list_plans(user_id).await?;
        Ok(pb::ListBudgetPlansResponse {
            plans: plans.iter().map(plan_pb).collect(),
        })
    }

    pub(super) async fn assign_for(
        &self,
        user_id: Uuid,
        req: &pb::AssignMoneyRequest,
    ) -> Result<pb::AssignMoneyResponse> {
        let mut v = freedumb_kit::FieldViolations::new();
        let plan_id = v.check("plan_id", required_id(&req.plan_id));
        let month = v.check("month", YearMonth::parse(&req.month));
        let category = v.check("category_id", required_id(&req.category_id));
        let amount = match &req.amount {
            Some(m) => v
                .check("amount.amount_minor", AmountMinor::parse(m.amount_minor))
                .map(|a| (a, m.currency_code.clone())),
            None => {
                v.add("amount", "is required");
                None
            }
        };
        let (Some(plan_id), Some(month), Some(category), Some((amount, currency))) =
            (plan_id, month, category, amount)
        else {
            return Err(BudgetError::InvalidArgument(v));
        };
        let plan = self.plan(user_id, plan_id).await?;
        if currency != plan.currency {
            v.add(
                "amount.currency_code",
                format!("must be the plan's currency, {}", plan.currency),
            );
        }
        if !plan.categories.contains(&category) {
            v.add(
                "category_id",
                format!("{category} is not one of the plan's categories"),
            );
        }
        v.check("month", months_from(&plan, month));
        if !v.is_empty() {
            return Err(BudgetError::InvalidArgument(v));
        }
        self.deps
            .store
            .set_assignment(user_id, plan_id, month, category, amount.get())
            .await?;
        Ok(pb::AssignMoneyResponse {
            month: Some(self.month_of(&plan, month).await?),
        })
    }

    pub(super) async fn plan_month_for(
        &self,
        user_id: Uuid,
        req: &pb::GetPlanMonthRequest,
    ) -> Result<pb::GetPlanMonthResponse> {
        let id = required_id(&req.plan_id).map_err(|e| BudgetError::field("plan_id", e))?;
        let month = YearMonth::parse(&req.month).map_err(|e| BudgetError::field("month", e))?;
        let plan = self.plan(user_id, id).await?;
        months_from(&plan, month).map_err(|e| BudgetError::field("month", e))?;
        Ok(pb::GetPlanMonthResponse {
            month: Some(self.month_of(&plan, month).await?),
        })
    }

    /// The figures of `month`, computed from the plan's first month.
    async fn month_of(&self, plan: &PlanRecord, month: YearMonth) -> Result<pb::PlanMonth> {
        let count = months_from(plan, month).map_err(|e| BudgetError::field("month", e))? + 1;
        let span = Span {
            start: plan.start_month.first_day(),
            end: month.last_day(),
        };
        let all: Vec<Uuid> = plan
            .categories
            .iter()
            .chain(&plan.income)
            .copied()
            .collect();
        let sums = self
            .deps
            .store
            .sum_spending_by_day(plan.user_id, &plan.currency, &all, span)
            .await?;
        let assignments = self.deps.store.list_assignments(plan.id, month).await?;
        let mut inputs = vec![MonthInputs::default(); count];
        for (category, day, sum) in sums {
            let Some(input) = plan
                .start_month
                .months_to(YearMonth::of(day))
                .and_then(|i| inputs.get_mut(i))
            else {
                continue;
            };
            if plan.income.contains(&category) {
                input.income = input.income.saturating_add(sum);
            } else {
                let activity = input.activity.entry(category).or_insert(0);
                *activity = activity.saturating_add(sum);
            }
        }
        for (at, category, amount) in assignments {
            if let Some(input) = plan
                .start_month
                .months_to(at)
                .and_then(|i| inputs.get_mut(i))
            {
                input.assigned.insert(category, amount);
            }
        }
        let months = envelope::months(&plan.categories, plan.overspending, &inputs);
        let last = months
            .last()
            .ok_or_else(|| BudgetError::Unexpected(anyhow::anyhow!("no month computed")))?;
        let m = |minor: i64| Some(money(&plan.currency, minor));
        Ok(pb::PlanMonth {
            month: month.to_string(),
            envelopes: plan
                .categories
                .iter()
                .filter_map(|c| last.envelopes.get(c).map(|e| (c, e)))
                .map(|(c, e)| pb::EnvelopeMonth {
                    category_id: c.to_string(),
                    carried_in: m(e.carried_in),
                    assigned: m(e.assigned),
                    activity: m(e.activity),
                    available: m(e.available),
                })
                .collect(),
            income: m(last.income),
            assigned: m(last.assigned),
            overspending_covered: m(last.overspending_covered),
            to_be_budgeted: m(last.to_be_budgeted),
        })
    }
}

/// How many months `month` is after the plan's first: not before it, and
/// within [`MAX_MONTHS`].
fn months_from(plan: &PlanRecord, month: YearMonth) -> std::result::Result<usize, String> {
    match plan.start_month.months_to(month) {
        None => Err(format!(
            "{month} is before the plan's first month {}",
            plan.start_month
        )),
        Some(n) if n > MAX_MONTHS => Err(format!(
            "{month} is more than {} years after the plan's first month {}",
            MAX_MONTHS / 12,
            plan.start_month
        )),
        Some(n) => Ok(n),
    }
}
