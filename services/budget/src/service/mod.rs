//! The `freedumb.budget.v1.BudgetService` implementation: budgets
//! (`budgets.rs`) and their status, watch and rebuild (`status.rs`). This
//! file is the thin tonic adapter: every handler takes the user from the
//! access token, parses the request into its validated form, calls one
//! function returning `Result<_, BudgetError>`, and the error becomes a
//! `Status` in one place (`From<BudgetError> for Status`).

mod budgets;
mod goals;
mod plans;
mod status;

pub use self::status::clamp;

use std::sync::Arc;
use std::time::Duration;

use freedumb_kit::domain::required_id;
use freedumb_kit::events::EventBus;
use freedumb_kit::{Shutdown, UpdateMask};
use freedumb_proto::budget as pb;
use freedumb_proto::budget::budget_service_server::BudgetService;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::{BudgetSpec, UPDATABLE};
use crate::error::BudgetError;
use crate::peer::{Credentials, LedgerPeer};
use crate::store::{BudgetRecord, BudgetStore};

type Result<T, E = BudgetError> = std::result::Result<T, E>;

/// What the service needs.
pub struct BudgetDeps {
    /// Persistence, scoped by the caller.
    pub store: Arc<dyn BudgetStore>,
    /// The ledger, called as the caller.
    pub ledger: LedgerPeer,
    /// Where spending hints are published, for watchers.
    pub bus: Arc<dyn EventBus>,
    /// Ends watch streams on shutdown.
    pub shutdown: Shutdown,
    /// How often a watch looks again without a hint.
    pub watch_refresh: Duration,
}

/// The budget service.
#[derive(Clone)]
pub struct BudgetApi {
    deps: Arc<BudgetDeps>,
}

impl BudgetApi {
    /// A service over `deps`.
    pub fn new(deps: BudgetDeps) -> Self {
        Self {
            deps: Arc::new(deps),
        }
    }

    async fn budget(&self, user_id: Uuid, id: Uuid) -> Result<BudgetRecord> {
        self.deps
            .store
            .get_budget(user_id, id)
            .await?
            .ok_or(BudgetError::NotFound("budget"))
    }
}

fn caller<T>(request: &Request<T>) -> Result<Uuid, Status> {
    Ok(freedumb_kit::auth::caller(request)?.user_id)
}

/// A request's id field that must hold an id.
fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    required_id(raw).map_err(|e| BudgetError::field(field, e))
}

#[tonic::async_trait]
impl BudgetService for BudgetApi {
    #[tracing::instrument(skip_all)]
    async fn create_budget(
        &self,
        request: Request<pb::CreateBudgetRequest>,
    ) -> Result<Response<pb::CreateBudgetResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let budget = request.into_inner().budget.unwrap_or_default();
        let spec = BudgetSpec::parse(&budget, "budget.").map_err(BudgetError::from)?;
        Ok(Response::new(
            self.create(user_id, &credentials, spec).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_budget(
        &self,
        request: Request<pb::GetBudgetRequest>,
    ) -> Result<Response<pb::GetBudgetResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("budget_id", &request.get_ref().budget_id)?;
        Ok(Response::new(self.get(user_id, id).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_budgets(
        &self,
        request: Request<pb::ListBudgetsRequest>,
    ) -> Result<Response<pb::ListBudgetsResponse>, Status> {
        let user_id = caller(&request)?;
        let listing =
            crate::domain::budget_listing(request.get_ref()).map_err(BudgetError::from)?;
        Ok(Response::new(self.list(user_id, &listing).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn update_budget(
        &self,
        request: Request<pb::UpdateBudgetRequest>,
    ) -> Result<Response<pb::UpdateBudgetResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let req = request.into_inner();
        let patch = req.budget.unwrap_or_default();
        let id = parse_id("budget.id", &patch.id)?;
        let mask =
            UpdateMask::parse(req.update_mask.as_ref(), UPDATABLE).map_err(BudgetError::from)?;
        Ok(Response::new(
            self.update(user_id, &credentials, id, &patch, &mask)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_budget(
        &self,
        request: Request<pb::DeleteBudgetRequest>,
    ) -> Result<Response<pb::DeleteBudgetResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("budget_id", &request.get_ref().budget_id)?;
        self.deps
            .store
            .delete_budget(user_id, id)
            .await
            .map_err(BudgetError::from)?;
        crate::watch::spending_changed(self.deps.bus.as_ref(), &[user_id]).await;
        Ok(Response::new(pb::DeleteBudgetResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn get_budget_status(
        &self,
        request: Request<pb::GetBudgetStatusRequest>,
    ) -> Result<Response<pb::GetBudgetStatusResponse>, Status> {
        let user_id = caller(&request)?;
        let req = request.into_inner();
        let id = parse_id("budget_id", &req.budget_id)?;
        let today = freedumb_kit::time::now().date_naive();
        let day = crate::domain::status_day(req.date.as_ref(), today)
            .map_err(|e| BudgetError::field("date", e))?;
        let budget = self.budget(user_id, id).await?;
        let status = status::compute(self.deps.store.as_ref(), &budget, day).await?;
        Ok(Response::new(pb::GetBudgetStatusResponse {
            status: Some(status),
        }))
    }

    type WatchBudgetStatusStream = status::WatchStream;

    #[tracing::instrument(skip_all)]
    async fn watch_budget_status(
        &self,
        request: Request<pb::WatchBudgetStatusRequest>,
    ) -> Result<Response<Self::WatchBudgetStatusStream>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("budget_id", &request.get_ref().budget_id)?;
        Ok(Response::new(self.watch(user_id, id).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn rebuild_spending(
        &self,
        request: Request<pb::RebuildSpendingRequest>,
    ) -> Result<Response<pb::RebuildSpendingResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        Ok(Response::new(self.rebuild(user_id, &credentials).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn create_goal(
        &self,
        request: Request<pb::CreateGoalRequest>,
    ) -> Result<Response<pb::CreateGoalResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let goal = request.into_inner().goal.unwrap_or_default();
        Ok(Response::new(
            self.create_goal_for(user_id, &credentials, &goal).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_goal(
        &self,
        request: Request<pb::GetGoalRequest>,
    ) -> Result<Response<pb::GetGoalResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let id = parse_id("goal_id", &request.get_ref().goal_id)?;
        Ok(Response::new(
            self.get_goal_for(user_id, &credentials, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_goals(
        &self,
        request: Request<pb::ListGoalsRequest>,
    ) -> Result<Response<pb::ListGoalsResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        Ok(Response::new(
            self.list_goals_for(user_id, &credentials, request.get_ref())
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_goal(
        &self,
        request: Request<pb::UpdateGoalRequest>,
    ) -> Result<Response<pb::UpdateGoalResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let req = request.into_inner();
        let mask = UpdateMask::parse(req.update_mask.as_ref(), crate::domain::GOAL_UPDATABLE)
            .map_err(BudgetError::from)?;
        let patch = req.goal.unwrap_or_default();
        Ok(Response::new(
            self.update_goal_for(user_id, &credentials, &patch, &mask)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_goal(
        &self,
        request: Request<pb::DeleteGoalRequest>,
    ) -> Result<Response<pb::DeleteGoalResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("goal_id", &request.get_ref().goal_id)?;
        self.deps
            .store
            .delete_goal(user_id, id)
            .await
            .map_err(BudgetError::from)?;
        Ok(Response::new(pb::DeleteGoalResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn create_budget_plan(
        &self,
        request: Request<pb::CreateBudgetPlanRequest>,
    ) -> Result<Response<pb::CreateBudgetPlanResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let plan = request.into_inner().plan.unwrap_or_default();
        Ok(Response::new(
            self.create_plan_for(user_id, &credentials, &plan).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_budget_plan(
        &self,
        request: Request<pb::GetBudgetPlanRequest>,
    ) -> Result<Response<pb::GetBudgetPlanResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("plan_id", &request.get_ref().plan_id)?;
        Ok(Response::new(self.get_plan_for(user_id, id).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_budget_plans(
        &self,
        request: Request<pb::ListBudgetPlansRequest>,
    ) -> Result<Response<pb::ListBudgetPlansResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(self.list_plans_for(user_id).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_budget_plan(
        &self,
        request: Request<pb::DeleteBudgetPlanRequest>,
    ) -> Result<Response<pb::DeleteBudgetPlanResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("plan_id", &request.get_ref().plan_id)?;
        self.deps
            .store
            .delete_plan(user_id, id)
            .await
            .map_err(BudgetError::from)?;
        Ok(Response::new(pb::DeleteBudgetPlanResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn assign_money(
        &self,
        request: Request<pb::AssignMoneyRequest>,
    ) -> Result<Response<pb::AssignMoneyResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.assign_for(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_plan_month(
        &self,
        request: Request<pb::GetPlanMonthRequest>,
    ) -> Result<Response<pb::GetPlanMonthResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.plan_month_for(user_id, request.get_ref()).await?,
        ))
    }
}
