//! The `freedumb.analytics.v1.AnalyticsService` implementation: totals,
//! cash flow and merchants (`figures.rs`), net worth (`net_worth.rs`) and
//! the rebuild. This file is the thin tonic adapter: every handler takes
//! the user from the access token, calls one function returning
//! `Result<_, AnalyticsError>`, and the error becomes a `Status` in one
//! place.

mod figures;
mod net_worth;

pub use self::net_worth::InvestmentPeer;

use std::sync::Arc;

use freedumb_kit::peer::{Credentials, LedgerPeer};
use freedumb_proto::analytics as pb;
use freedumb_proto::analytics::analytics_service_server::AnalyticsService;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::error::AnalyticsError;
use crate::store::AnalyticsStore;

type Result<T, E = AnalyticsError> = std::result::Result<T, E>;

/// What the service needs.
pub struct AnalyticsDeps {
    /// The read model, scoped by the caller.
    pub store: Arc<dyn AnalyticsStore>,
    /// The ledger, called as the caller.
    pub ledger: LedgerPeer,
    /// The investment service, called as the caller.
    pub investment: InvestmentPeer,
}

/// The analytics service.
#[derive(Clone)]
pub struct AnalyticsApi {
    deps: Arc<AnalyticsDeps>,
}

impl AnalyticsApi {
    /// A service over `deps`.
    pub fn new(deps: AnalyticsDeps) -> Self {
        Self {
            deps: Arc::new(deps),
        }
    }

    /// Recomputes the caller's read model from the ledger's transactions.
    async fn rebuild(&self, user_id: Uuid, credentials: &Credentials) -> Result<i64> {
        let started_ms = freedumb_kit::time::now().timestamp_millis();
        let transactions = self.deps.ledger.transactions(credentials).await?;
        let mut read = Vec::with_capacity(transactions.len());
        for t in &transactions {
            if let crate::store::Change::Upsert {
                transaction_id,
                version,
                facts,
                ..
            } = crate::model::upsert(user_id, t)?
            {
                read.push((transaction_id, version, facts));
            }
        }
        self.deps.store.rebuild(user_id, &read, started_ms).await?;
        Ok(i64::try_from(read.len()).unwrap_or(i64::MAX))
    }
}

fn caller<T>(request: &Request<T>) -> Result<Uuid, Status> {
    Ok(freedumb_kit::auth::caller(request)?.user_id)
}

#[tonic::async_trait]
impl AnalyticsService for AnalyticsApi {
    #[tracing::instrument(skip_all)]
    async fn get_category_totals(
        &self,
        request: Request<pb::GetCategoryTotalsRequest>,
    ) -> Result<Response<pb::GetCategoryTotalsResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.category_totals(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_cash_flow(
        &self,
        request: Request<pb::GetCashFlowRequest>,
    ) -> Result<Response<pb::GetCashFlowResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.cash_flow(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_top_merchants(
        &self,
        request: Request<pb::ListTopMerchantsRequest>,
    ) -> Result<Response<pb::ListTopMerchantsResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.top_merchants(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_net_worth(
        &self,
        request: Request<pb::GetNetWorthRequest>,
    ) -> Result<Response<pb::GetNetWorthResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        Ok(Response::new(
            self.net_worth(user_id, &credentials, request.get_ref())
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn rebuild_analytics(
        &self,
        request: Request<pb::RebuildAnalyticsRequest>,
    ) -> Result<Response<pb::RebuildAnalyticsResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        Ok(Response::new(pb::RebuildAnalyticsResponse {
            transactions_read: self.rebuild(user_id, &credentials).await?,
        }))
    }
}
