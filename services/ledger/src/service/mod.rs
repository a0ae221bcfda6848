//! The `freedumb.ledger.v1.LedgerService` implementation, one file per
//! resource (accounts, categories, transactions, transfers, rules, import,
//! watch). This file is the thin tonic adapter: every handler takes the
//! user from the access token (never from the request), parses the request
//! into its validated domain form (`crate::domain`), calls one function
//! returning `Result<_, LedgerError>`, and the error becomes a `Status` in
//! one place (`From<LedgerError> for Status`).

mod accounts;
mod categories;
mod import;
mod rules;
mod transactions;
mod transfers;
mod watch;

use std::sync::Arc;

use freedumb_kit::events::EventBus;
use freedumb_kit::{FieldViolations, Shutdown};
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_server::LedgerService;
use prost::Message;
use tokio::sync::Notify;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

pub use self::categories::default_categories;
pub use self::import::ImportLimits;
use crate::domain::{Currency, ImportFields, ImportRequest, optional_id, required_id};
use crate::error::LedgerError;
use crate::store::{AccountRecord, Created, LedgerStore, LedgerSystemStore, TransactionRecord};

type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// What the service needs.
pub struct LedgerDeps {
    /// Persistence, scoped by the caller.
    pub store: Arc<dyn LedgerStore>,
    /// System-wide persistence: planner statistics after large imports.
    pub system: Arc<dyn LedgerSystemStore>,
    /// Where the relay publishes, for `WatchTransactions`.
    pub bus: Arc<dyn EventBus>,
    /// Wakes the relay after a commit.
    pub wake: Arc<Notify>,
    /// Ends watch streams on shutdown.
    pub shutdown: Shutdown,
    /// Import operations.
    pub operations: Arc<dyn freedumb_kit::operations::Operations>,
    /// How large imports may be, and how they are written.
    pub imports: ImportLimits,
}

/// Operations per page when the request does not say.
const OPERATIONS_PAGE_SIZE: u32 = 100;

/// The ledger service (cheap to clone: import jobs hold a clone).
#[derive(Clone)]
pub struct LedgerApi {
    deps: Arc<LedgerDeps>,
    /// Users whose profile (and default categories) exist.
    profiles: moka::sync::Cache<Uuid, ()>,
}

impl LedgerApi {
    /// A service over `deps`.
    pub fn new(deps: LedgerDeps) -> Self {
        Self {
            deps: Arc::new(deps),
            profiles: moka::sync::Cache::new(100_000),
        }
    }

    /// The caller, with their profile and default categories written on
    /// their first request (then remembered, so later calls only read the
    /// token).
    async fn caller_with_profile<T>(&self, request: &Request<T>) -> Result<Uuid, Status> {
        let user_id = freedumb_kit::auth::caller(request)?.user_id;
        if self.profiles.get(&user_id).is_none() {
            let now = freedumb_kit::time::now();
            self.deps
                .store
                .ensure_profile(user_id, &default_categories(user_id, now), now)
                .await
                .map_err(LedgerError::from)?;
            self.profiles.insert(user_id, ());
        }
        Ok(user_id)
    }

    /// Tells the relay that a commit left events in the outbox.
    fn committed(&self) {
        self.deps.wake.notify_one();
    }

    async fn account(&self, user_id: Uuid, id: Uuid) -> Result<AccountRecord> {
        self.deps
            .store
            .get_account(user_id, id)
            .await?
            .ok_or(LedgerError::NotFound("account"))
    }

    async fn transaction(&self, user_id: Uuid, id: Uuid) -> Result<TransactionRecord> {
        self.deps
            .store
            .get_transaction(user_id, id)
            .await?
            .ok_or(LedgerError::NotFound("transaction"))
    }
}

/// Parses a request into its validated domain form.
fn parse<R, T>(request: R) -> Result<T>
where
    T: TryFrom<R, Error = FieldViolations>,
{
    T::try_from(request).map_err(LedgerError::InvalidArgument)
}

/// A request's id field that must hold an id.
fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    required_id(raw).map_err(|e| LedgerError::field(field, e))
}

/// The currency of a stored account (valid when written; a failure here
/// is a corrupt row, not bad input).
fn stored_currency(code: &str) -> Result<Currency> {
    Currency::parse(code)
        .map_err(|e| LedgerError::Unexpected(anyhow::anyhow!("stored currency {code}: {e}")))
}

/// The response of an idempotent create: this call's, or the first call's.
fn created<Resp: Message + Default>(outcome: Created, fresh: Resp) -> Result<Resp> {
    match outcome {
        Created::New => Ok(fresh),
        Created::Replay(bytes) => Resp::decode(bytes.as_slice()).map_err(|e| {
            LedgerError::Unexpected(anyhow::Error::from(e).context("stored response"))
        }),
    }
}

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    #[tracing::instrument(skip_all)]
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let account = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::create_account(self, user_id, account).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("account_id", &request.get_ref().account_id)?;
        Ok(Response::new(
            LedgerApi::get_account(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let listing = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::list_accounts(self, user_id, listing).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::UpdateAccountResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let update = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::update_account(self, user_id, update).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn archive_account(
        &self,
        request: Request<pb::ArchiveAccountRequest>,
    ) -> Result<Response<pb::ArchiveAccountResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("account_id", &request.get_ref().account_id)?;
        Ok(Response::new(
            LedgerApi::archive_account(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_balance_history(
        &self,
        request: Request<pb::GetBalanceHistoryRequest>,
    ) -> Result<Response<pb::GetBalanceHistoryResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let query = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::get_balance_history(self, user_id, query).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn create_category(
        &self,
        request: Request<pb::CreateCategoryRequest>,
    ) -> Result<Response<pb::CreateCategoryResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let category = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::create_category(self, user_id, category).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        Ok(Response::new(
            LedgerApi::list_categories(self, user_id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_category(
        &self,
        request: Request<pb::UpdateCategoryRequest>,
    ) -> Result<Response<pb::UpdateCategoryResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let update = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::update_category(self, user_id, update).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_category(
        &self,
        request: Request<pb::DeleteCategoryRequest>,
    ) -> Result<Response<pb::DeleteCategoryResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let deletion = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::delete_category(self, user_id, deletion).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn create_transaction(
        &self,
        request: Request<pb::CreateTransactionRequest>,
    ) -> Result<Response<pb::CreateTransactionResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let transaction = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::create_transaction(self, user_id, transaction).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_transaction(
        &self,
        request: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::GetTransactionResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("transaction_id", &request.get_ref().transaction_id)?;
        Ok(Response::new(
            LedgerApi::get_transaction(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let query = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::list_transactions(self, user_id, query).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_transaction(
        &self,
        request: Request<pb::UpdateTransactionRequest>,
    ) -> Result<Response<pb::UpdateTransactionResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let patch = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::update_transaction(self, user_id, patch).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_transaction(
        &self,
        request: Request<pb::DeleteTransactionRequest>,
    ) -> Result<Response<pb::DeleteTransactionResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("transaction_id", &request.get_ref().transaction_id)?;
        Ok(Response::new(
            LedgerApi::delete_transaction(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn create_transfer(
        &self,
        request: Request<pb::CreateTransferRequest>,
    ) -> Result<Response<pb::CreateTransferResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let transfer = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::create_transfer(self, user_id, transfer).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_transfer(
        &self,
        request: Request<pb::GetTransferRequest>,
    ) -> Result<Response<pb::GetTransferResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("transfer_id", &request.get_ref().transfer_id)?;
        Ok(Response::new(
            LedgerApi::get_transfer(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_transfer(
        &self,
        request: Request<pb::DeleteTransferRequest>,
    ) -> Result<Response<pb::DeleteTransferResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("transfer_id", &request.get_ref().transfer_id)?;
        Ok(Response::new(
            LedgerApi::delete_transfer(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn create_recurring_rule(
        &self,
        request: Request<pb::CreateRecurringRuleRequest>,
    ) -> Result<Response<pb::CreateRecurringRuleResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let rule = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::create_recurring_rule(self, user_id, rule).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_recurring_rule(
        &self,
        request: Request<pb::GetRecurringRuleRequest>,
    ) -> Result<Response<pb::GetRecurringRuleResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("rule_id", &request.get_ref().rule_id)?;
        Ok(Response::new(
            LedgerApi::get_recurring_rule(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_recurring_rules(
        &self,
        request: Request<pb::ListRecurringRulesRequest>,
    ) -> Result<Response<pb::ListRecurringRulesResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let listing = parse(request.into_inner())?;
        Ok(Response::new(
            LedgerApi::list_recurring_rules(self, user_id, listing).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_recurring_rule(
        &self,
        request: Request<pb::DeleteRecurringRuleRequest>,
    ) -> Result<Response<pb::DeleteRecurringRuleResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("rule_id", &request.get_ref().rule_id)?;
        Ok(Response::new(
            LedgerApi::delete_recurring_rule(self, user_id, id).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn import_transactions(
        &self,
        request: Request<Streaming<pb::ImportTransactionsRequest>>,
    ) -> Result<Response<pb::ImportTransactionsResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let upload =
            import::Upload::receive(request.into_inner(), self.deps.imports.max_bytes).await?;
        // Options are checked after the whole file arrived, as before: a
        // file too large is reported first.
        let options = parse(upload.options)?;
        Ok(Response::new(
            LedgerApi::import_transactions(self, user_id, options, upload.file).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn create_import(
        &self,
        request: Request<pb::CreateImportRequest>,
    ) -> Result<Response<pb::CreateImportResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let req = request.into_inner();
        let file = req.file.unwrap_or_default();
        let parsed: ImportRequest = parse(ImportFields {
            account_id: &req.account_id,
            format: req.format,
            csv: req.csv.as_ref(),
            category_id: &req.category_id,
            request_id: &req.request_id,
            content_type: &file.content_type,
        })?;
        Ok(Response::new(
            LedgerApi::create_import(self, user_id, parsed, file.data.into()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn preview_import(
        &self,
        request: Request<pb::PreviewImportRequest>,
    ) -> Result<Response<pb::PreviewImportResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let req = request.into_inner();
        let file = req.file.unwrap_or_default();
        let parsed: ImportRequest = parse(ImportFields {
            account_id: &req.account_id,
            format: req.format,
            csv: req.csv.as_ref(),
            category_id: "",
            request_id: "",
            content_type: &file.content_type,
        })?;
        Ok(Response::new(
            LedgerApi::preview_import(self, user_id, parsed, file.data.into()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::GetOperationResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("operation_id", &request.get_ref().operation_id)?;
        let (operation, import) = self.import_operation(user_id, id).await?;
        Ok(Response::new(pb::GetOperationResponse {
            operation: Some(operation),
            import: Some(import),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_operations(
        &self,
        request: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        use freedumb_kit::page::{Filters, Page};
        let user_id = self.caller_with_profile(&request).await?;
        let req = request.get_ref();
        let page: Page<Uuid> = Page::of(
            req.page_size,
            OPERATIONS_PAGE_SIZE,
            &req.page_token,
            &Filters::new("operations"),
        )
        .map_err(LedgerError::InvalidArgument)?;
        let mut rows = self
            .deps
            .operations
            .list(user_id, page.after, page.size.fetch_limit())
            .await
            .map_err(LedgerError::from)?;
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
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("operation_id", &request.get_ref().operation_id)?;
        // An unknown id is NOT_FOUND before the stream starts.
        self.import_operation(user_id, id).await?;
        let api = self.clone();
        let stream = freedumb_kit::operations::watch(
            self.deps.operations.clone(),
            user_id,
            id,
            self.deps.shutdown.clone(),
        )
        .then(move |update| {
            let api = api.clone();
            async move {
                let operation = update?;
                let import = api.import_progress(user_id, id).await?;
                Ok(pb::WatchOperationResponse {
                    operation: Some(operation),
                    import: Some(import),
                })
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_operation(
        &self,
        request: Request<pb::CancelOperationRequest>,
    ) -> Result<Response<pb::CancelOperationResponse>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let id = parse_id("operation_id", &request.get_ref().operation_id)?;
        let operation = self
            .deps
            .operations
            .cancel(user_id, id)
            .await
            .map_err(LedgerError::from)?;
        Ok(Response::new(pb::CancelOperationResponse {
            operation: Some(operation.to_proto()),
            import: Some(self.import_progress(user_id, id).await?),
        }))
    }

    type WatchTransactionsStream = watch::WatchStream;

    #[tracing::instrument(skip_all)]
    async fn watch_transactions(
        &self,
        request: Request<pb::WatchTransactionsRequest>,
    ) -> Result<Response<Self::WatchTransactionsStream>, Status> {
        let user_id = self.caller_with_profile(&request).await?;
        let account = optional_id(&request.get_ref().account_id)
            .map_err(|e| LedgerError::field("account_id", e))?;
        Ok(Response::new(
            LedgerApi::watch_transactions(self, user_id, account).await?,
        ))
    }
}
