//! The `freedumb.analytics.v1.AnalyticsService` implementation: totals,
//! cash flow and merchants (`figures.rs`), net worth (`net_worth.rs`) and
//! the rebuild. This file is the thin tonic adapter: every handler takes
//! the user from the access token, calls one function returning
//! `Result<_, AnalyticsError>`, and the error becomes a `Status` in one
//! place.

mod figures;
mod net_worth;
mod reports;

pub use self::net_worth::InvestmentPeer;
pub use self::reports::neutralized;

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
    /// Report files.
    pub reports: Arc<dyn crate::store::ReportStore>,
    /// Report operations.
    pub operations: Arc<dyn freedumb_kit::operations::Operations>,
    /// Ends watch streams on shutdown.
    pub shutdown: freedumb_kit::Shutdown,
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

/// A request's operation id.
fn operation_id(raw: &str) -> Result<Uuid> {
    freedumb_kit::domain::required_id(raw).map_err(|e| AnalyticsError::field("operation_id", e))
}

/// Operations per page when the request does not say.
const DEFAULT_PAGE_SIZE: u32 = 100;

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

    #[tracing::instrument(skip_all)]
    async fn create_report(
        &self,
        request: Request<pb::CreateReportRequest>,
    ) -> Result<Response<pb::CreateReportResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        Ok(Response::new(
            self.create_report(user_id, credentials, request.get_ref())
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::GetOperationResponse>, Status> {
        let user_id = caller(&request)?;
        let id = operation_id(&request.get_ref().operation_id)?;
        let op = self
            .deps
            .operations
            .get(user_id, id)
            .await
            .map_err(AnalyticsError::from)?
            .ok_or(AnalyticsError::NotFound("operation"))?;
        Ok(Response::new(pb::GetOperationResponse {
            operation: Some(op.to_proto()),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_operations(
        &self,
        request: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        use freedumb_kit::page::{Filters, Page};
        let user_id = caller(&request)?;
        let req = request.get_ref();
        let page: Page<Uuid> = Page::of(
            req.page_size,
            DEFAULT_PAGE_SIZE,
            &req.page_token,
            &Filters::new("operations"),
        )
        .map_err(AnalyticsError::from)?;
        let mut rows = self
            .deps
            .operations
            .list(user_id, page.after, page.size.fetch_limit())
            .await
            .map_err(AnalyticsError::from)?;
        let next_page_token = page.next_page_token(&mut rows, |o| o.id);
        Ok(Response::new(pb::ListOperationsResponse {
            operations: rows.iter().map(|o| o.to_proto()).collect(),
            next_page_token,
        }))
    }

    type WatchOperationStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::WatchOperationResponse, Status>> + Send>,
    >;

    #[tracing::instrument(skip_all)]
    async fn watch_operation(
        &self,
        request: Request<pb::WatchOperationRequest>,
    ) -> Result<Response<Self::WatchOperationStream>, Status> {
        use futures::StreamExt as _;
        let user_id = caller(&request)?;
        let id = operation_id(&request.get_ref().operation_id)?;
        // An unknown id is NOT_FOUND before the stream starts.
        self.deps
            .operations
            .get(user_id, id)
            .await
            .map_err(AnalyticsError::from)?
            .ok_or(AnalyticsError::NotFound("operation"))?;
        let stream = freedumb_kit::operations::watch(
            self.deps.operations.clone(),
            user_id,
            id,
            self.deps.shutdown.clone(),
        )
        .map(|r| {
            r.map(|op| pb::WatchOperationResponse {
                operation: Some(op),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_operation(
        &self,
        request: Request<pb::CancelOperationRequest>,
    ) -> Result<Response<pb::CancelOperationResponse>, Status> {
        let user_id = caller(&request)?;
        let id = operation_id(&request.get_ref().operation_id)?;
        let op = self
            .deps
            .operations
            .cancel(user_id, id)
            .await
            .map_err(AnalyticsError::from)?;
        Ok(Response::new(pb::CancelOperationResponse {
            operation: Some(op.to_proto()),
        }))
    }

    type DownloadReportStream = reports::DownloadStream;

    #[tracing::instrument(skip_all)]
    async fn download_report(
        &self,
        request: Request<pb::DownloadReportRequest>,
    ) -> Result<Response<Self::DownloadReportStream>, Status> {
        let user_id = caller(&request)?;
        let id = operation_id(&request.get_ref().operation_id)?;
        let (file, stream) = self.download(user_id, id).await?;
        let mut response = Response::new(stream);
        // The gateway answers REST downloads with this header.
        let disposition = format!("attachment; filename=\"{}\"", file.file_name);
        if let Ok(value) = disposition.parse() {
            response.metadata_mut().insert("content-disposition", value);
        }
        Ok(response)
    }
}
