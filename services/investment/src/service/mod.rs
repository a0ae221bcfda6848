//! The `freedumb.investment.v1.InvestmentService` implementation:
//! portfolios (`portfolios.rs`), instruments (`instruments.rs`),
//! activities (`activities.rs`), and holdings, performance, values and
//! prices (`figures.rs`). This file is the thin tonic adapter: every
//! handler takes the user from the access token, parses the request, calls
//! one function returning `Result<_, InvestmentError>`, and the error
//! becomes a `Status` in one place.

mod activities;
mod closes;
mod figures;
mod instruments;
mod portfolios;

use std::sync::Arc;

pub use self::closes::CloseCache;

use freedumb_kit::UpdateMask;
use freedumb_kit::domain::required_id;
use freedumb_kit::peer::{Credentials, LedgerPeer};
use freedumb_proto::investment as pb;
use freedumb_proto::investment::investment_service_server::InvestmentService;
use prost::Message;
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::instrument::INSTRUMENT_UPDATABLE;
use crate::domain::portfolio::PORTFOLIO_UPDATABLE;
use crate::error::InvestmentError;
use crate::store::{IdempotencyKey, InvestmentStore, PortfolioRecord};

type Result<T, E = InvestmentError> = std::result::Result<T, E>;

/// Rows per page when a list request names no page size.
const DEFAULT_PAGE_SIZE: u32 = 100;

/// What the service needs.
pub struct InvestmentDeps {
    /// Persistence, scoped by the caller.
    pub store: Arc<dyn InvestmentStore>,
    /// The ledger, called as the caller.
    pub ledger: LedgerPeer,
    /// Wakes the outbox relay after a change with an event.
    pub wake: Arc<Notify>,
    /// Closes read recently.
    pub closes: Arc<CloseCache>,
}

/// The investment service.
#[derive(Clone)]
pub struct InvestmentApi {
    deps: Arc<InvestmentDeps>,
}

impl InvestmentApi {
    /// A service over `deps`.
    pub fn new(deps: InvestmentDeps) -> Self {
        Self {
            deps: Arc::new(deps),
        }
    }

    async fn portfolio(&self, user_id: Uuid, id: Uuid) -> Result<PortfolioRecord> {
        self.deps
            .store
            .get_portfolio(user_id, id)
            .await?
            .ok_or(InvestmentError::NotFound("portfolio"))
    }
}

fn caller<T>(request: &Request<T>) -> Result<Uuid, Status> {
    Ok(freedumb_kit::auth::caller(request)?.user_id)
}

/// A request's id field that must hold an id.
fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    required_id(raw).map_err(|e| InvestmentError::field(field, e))
}

/// The idempotency key of a create: its `request_id` (none when empty)
/// bound to the request's content.
fn request_key(
    method: &'static str,
    request_id: &str,
    request: &impl Message,
) -> Result<Option<IdempotencyKey>> {
    let Some(request_id) = freedumb_kit::domain::request_id(request_id)
        .map_err(|e| InvestmentError::field("request_id", e))?
    else {
        return Ok(None);
    };
    Ok(Some(IdempotencyKey {
        method,
        request_id: request_id.to_owned(),
        request_hash: Sha256::digest(request.encode_to_vec()).to_vec(),
    }))
}

fn today() -> chrono::NaiveDate {
    freedumb_kit::time::now().date_naive()
}

#[tonic::async_trait]
impl InvestmentService for InvestmentApi {
    #[tracing::instrument(skip_all)]
    async fn create_portfolio(
        &self,
        request: Request<pb::CreatePortfolioRequest>,
    ) -> Result<Response<pb::CreatePortfolioResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let req = request.into_inner();
        let key = request_key("CreatePortfolio", &req.request_id, &req)?;
        let portfolio = req.portfolio.unwrap_or_default();
        Ok(Response::new(
            self.create_portfolio_for(user_id, &credentials, &portfolio, key.as_ref())
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_portfolio(
        &self,
        request: Request<pb::GetPortfolioRequest>,
    ) -> Result<Response<pb::GetPortfolioResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("portfolio_id", &request.get_ref().portfolio_id)?;
        let portfolio = self.portfolio(user_id, id).await?;
        Ok(Response::new(pb::GetPortfolioResponse {
            portfolio: Some(crate::convert::portfolio(&portfolio)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_portfolios(
        &self,
        request: Request<pb::ListPortfoliosRequest>,
    ) -> Result<Response<pb::ListPortfoliosResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.list_portfolios_for(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_portfolio(
        &self,
        request: Request<pb::UpdatePortfolioRequest>,
    ) -> Result<Response<pb::UpdatePortfolioResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let req = request.into_inner();
        let patch = req.portfolio.unwrap_or_default();
        let id = parse_id("portfolio.id", &patch.id)?;
        let mask = UpdateMask::parse(req.update_mask.as_ref(), PORTFOLIO_UPDATABLE)
            .map_err(InvestmentError::from)?;
        Ok(Response::new(
            self.update_portfolio_for(user_id, &credentials, id, &patch, &mask)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_portfolio(
        &self,
        request: Request<pb::DeletePortfolioRequest>,
    ) -> Result<Response<pb::DeletePortfolioResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("portfolio_id", &request.get_ref().portfolio_id)?;
        self.deps
            .store
            .delete_portfolio(user_id, id, &|a| Some(crate::outbox::deleted(a)))
            .await
            .map_err(InvestmentError::from)?;
        self.deps.wake.notify_one();
        Ok(Response::new(pb::DeletePortfolioResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn create_instrument(
        &self,
        request: Request<pb::CreateInstrumentRequest>,
    ) -> Result<Response<pb::CreateInstrumentResponse>, Status> {
        let user_id = caller(&request)?;
        let instrument = request.into_inner().instrument.unwrap_or_default();
        Ok(Response::new(
            self.create_instrument_for(user_id, &instrument).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_instrument(
        &self,
        request: Request<pb::GetInstrumentRequest>,
    ) -> Result<Response<pb::GetInstrumentResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("instrument_id", &request.get_ref().instrument_id)?;
        let instrument = self.instrument(user_id, id).await?;
        Ok(Response::new(pb::GetInstrumentResponse {
            instrument: Some(crate::convert::instrument(&instrument)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_instruments(
        &self,
        request: Request<pb::ListInstrumentsRequest>,
    ) -> Result<Response<pb::ListInstrumentsResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.list_instruments_for(user_id, request.get_ref())
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_instrument(
        &self,
        request: Request<pb::UpdateInstrumentRequest>,
    ) -> Result<Response<pb::UpdateInstrumentResponse>, Status> {
        let user_id = caller(&request)?;
        let req = request.into_inner();
        let patch = req.instrument.unwrap_or_default();
        let id = parse_id("instrument.id", &patch.id)?;
        let mask = UpdateMask::parse(req.update_mask.as_ref(), INSTRUMENT_UPDATABLE)
            .map_err(InvestmentError::from)?;
        Ok(Response::new(
            self.update_instrument_for(user_id, id, &patch, &mask)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_instrument(
        &self,
        request: Request<pb::DeleteInstrumentRequest>,
    ) -> Result<Response<pb::DeleteInstrumentResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("instrument_id", &request.get_ref().instrument_id)?;
        self.deps
            .store
            .delete_instrument(user_id, id)
            .await
            .map_err(InvestmentError::from)?;
        Ok(Response::new(pb::DeleteInstrumentResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn create_activity(
        &self,
        request: Request<pb::CreateActivityRequest>,
    ) -> Result<Response<pb::CreateActivityResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let req = request.into_inner();
        let key = request_key("CreateActivity", &req.request_id, &req)?;
        let activity = req.activity.unwrap_or_default();
        Ok(Response::new(
            self.create_activity_for(user_id, &credentials, &activity, key.as_ref())
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_activity(
        &self,
        request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::GetActivityResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("activity_id", &request.get_ref().activity_id)?;
        let activity = self
            .deps
            .store
            .get_activity(user_id, id)
            .await
            .map_err(InvestmentError::from)?
            .ok_or(InvestmentError::NotFound("activity"))?;
        Ok(Response::new(pb::GetActivityResponse {
            activity: Some(crate::convert::activity(&activity)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_activities(
        &self,
        request: Request<pb::ListActivitiesRequest>,
    ) -> Result<Response<pb::ListActivitiesResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.list_activities_for(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_activity(
        &self,
        request: Request<pb::DeleteActivityRequest>,
    ) -> Result<Response<pb::DeleteActivityResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("activity_id", &request.get_ref().activity_id)?;
        self.delete_activity_for(user_id, id).await?;
        Ok(Response::new(pb::DeleteActivityResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_holdings(
        &self,
        request: Request<pb::ListHoldingsRequest>,
    ) -> Result<Response<pb::ListHoldingsResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.list_holdings_for(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_performance(
        &self,
        request: Request<pb::GetPerformanceRequest>,
    ) -> Result<Response<pb::GetPerformanceResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.performance_for(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_portfolio_values(
        &self,
        request: Request<pb::ListPortfolioValuesRequest>,
    ) -> Result<Response<pb::ListPortfolioValuesResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.values_for(user_id, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_prices(
        &self,
        request: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(
            self.prices_for(user_id, request.get_ref()).await?,
        ))
    }
}
