//! The `freedumb.ledger.v1.LedgerService` implementation: validate input,
//! apply domain rules, call the store, answer in proto. Every handler takes
//! the user from the access token, never from the request.

use std::pin::Pin;
use std::str::FromStr as _;
use std::sync::Arc;

use chrono::NaiveDate;
use freedumb_kit::events::EventBus;
use freedumb_kit::{FieldViolations, Shutdown};
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_server::LedgerService;
use futures::Stream;
use prost::Message;
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use crate::convert;
use crate::domain::{self, Currency, MAX_AMOUNT_MINOR};
use crate::error::LedgerError;
use crate::import;
use crate::outbox;
use crate::recurrence::{Frequency, Schedule};
use crate::store::{
    self, AccountPatch, AccountRecord, CategoryRecord, Created, Idempotency, LedgerStore,
    RuleRecord, SplitRecord, StoreError, TransactionCursor, TransactionFilter, TransactionRecord,
    TransferRecord,
};

type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// The largest statement `ImportTransactions` takes.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// Transactions written per database transaction during an import.
const IMPORT_BATCH: usize = 1000;

/// Imports of at least this many rows refresh the planner's statistics.
const ANALYZE_AFTER_IMPORTED: i64 = 10_000;

/// The longest balance history, in days.
const MAX_HISTORY_DAYS: i64 = 3660;

/// What the service needs.
pub struct LedgerDeps {
    /// Persistence.
    pub store: Arc<dyn LedgerStore>,
    /// Where the relay publishes, for `WatchTransactions`.
    pub bus: Arc<dyn EventBus>,
    /// Wakes the relay after a commit.
    pub wake: Arc<Notify>,
    /// Ends watch streams on shutdown.
    pub shutdown: Shutdown,
}

/// The ledger service.
pub struct LedgerApi {
    deps: LedgerDeps,
    /// Users whose profile (and default categories) exist.
    profiles: moka::sync::Cache<Uuid, ()>,
}

impl LedgerApi {
    /// A service over `deps`.
    pub fn new(deps: LedgerDeps) -> Self {
        Self {
            deps,
            profiles: moka::sync::Cache::new(100_000),
        }
    }

    /// The caller, with their ledger set up on first use.
    async fn user<T>(&self, request: &Request<T>) -> Result<Uuid, Status> {
        let user_id = freedumb_kit::auth::caller(request)?.user_id;
        if self.profiles.get(&user_id).is_none() {
            let now = store::now();
            self.deps
                .store
                .ensure_profile(user_id, &default_categories(user_id, now), now)
                .await
                .map_err(LedgerError::from)?;
            self.profiles.insert(user_id, ());
        }
        Ok(user_id)
    }

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

/// The currency of a stored account (valid when written; a failure here
/// is a corrupt row, not bad input).
fn stored_currency(code: &str) -> Result<Currency> {
    Currency::parse(code)
        .map_err(|e| LedgerError::Unexpected(anyhow::anyhow!("stored currency {code}: {e}")))
}

/// A required id field of the request.
fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    domain::id(raw).map_err(|e| LedgerError::field(field, e))
}

/// The idempotency record of a create, if the client sent a request id.
fn idempotency<Req: Message, Resp: Message>(
    method: &'static str,
    request_id: Option<String>,
    request: &Req,
    response: &Resp,
) -> Option<Idempotency> {
    request_id.map(|request_id| Idempotency {
        method,
        request_id,
        request_hash: Sha256::digest(request.encode_to_vec()).to_vec(),
        response: response.encode_to_vec(),
    })
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

fn parse_mask(mask: Option<&prost_types::FieldMask>, allowed: &[&str]) -> Result<Vec<String>> {
    let paths = mask.map(|m| m.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        return Err(LedgerError::field(
            "update_mask",
            format!("is required; updatable fields: {}", allowed.join(", ")),
        ));
    }
    let mut v = FieldViolations::new();
    for path in &paths {
        if !allowed.contains(&path.as_str()) {
            v.add(
                "update_mask",
                format!(
                    "`{path}` cannot be updated; updatable fields: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    if !v.is_empty() {
        return Err(LedgerError::InvalidArgument(v));
    }
    Ok(paths)
}

/// The default category tree of a new user.
pub fn default_categories(
    user_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<CategoryRecord> {
    const TREE: &[(&str, &str, &[&str])] = &[
        ("income", "Salary", &[]),
        ("income", "Interest & dividends", &[]),
        ("income", "Gifts received", &[]),
        ("income", "Refunds", &[]),
        ("income", "Other income", &[]),
        (
            "expense",
            "Housing",
            &["Rent & mortgage", "Utilities", "Maintenance"],
        ),
        ("expense", "Food", &["Groceries", "Restaurants", "Coffee"]),
        ("expense", "Transport", &["Fuel", "Public transport", "Car"]),
        ("expense", "Health", &["Doctor", "Pharmacy", "Insurance"]),
        (
            "expense",
            "Shopping",
            &["Clothing", "Electronics", "Household"],
        ),
        (
            "expense",
            "Leisure",
            &["Entertainment", "Travel", "Subscriptions"],
        ),
        ("expense", "Education", &[]),
        ("expense", "Fees & charges", &[]),
        ("expense", "Taxes", &[]),
        ("expense", "Other expenses", &[]),
    ];
    let mut out = Vec::new();
    for (kind, name, children) in TREE {
        let parent = Uuid::now_v7();
        out.push(CategoryRecord {
            id: parent,
            user_id,
            name: (*name).to_owned(),
            kind: (*kind).to_owned(),
            parent_id: None,
            create_time: now,
        });
        for child in *children {
            out.push(CategoryRecord {
                id: Uuid::now_v7(),
                user_id,
                name: (*child).to_owned(),
                kind: (*kind).to_owned(),
                parent_id: Some(parent),
                create_time: now,
            });
        }
    }
    out
}

/// Checks splits against the transaction's amount.
fn check_splits(
    v: &mut FieldViolations,
    amount: i64,
    category_id: Option<Uuid>,
    raw: &[pb::Split],
) -> Vec<SplitRecord> {
    if raw.is_empty() {
        return Vec::new();
    }
    if category_id.is_some() {
        v.add("splits", "give either category_id or splits, not both");
    }
    if raw.len() == 1 {
        v.add(
            "splits",
            "a split needs two or more categories; use category_id for one",
        );
    }
    if raw.len() > 50 {
        v.add("splits", "at most 50 splits");
    }
    let mut splits = Vec::with_capacity(raw.len());
    let mut sum: i64 = 0;
    for (i, s) in raw.iter().enumerate() {
        let id = v.check(
            &format!("splits[{i}].category_id"),
            domain::id(&s.category_id),
        );
        let value = v.check(
            &format!("splits[{i}].amount_minor"),
            domain::nonzero_amount(s.amount_minor),
        );
        if let Some(value) = value {
            if amount != 0 && value.signum() != amount.signum() {
                v.add(
                    format!("splits[{i}].amount_minor"),
                    "must have the sign of the amount",
                );
            }
            sum += value;
        }
        if let (Some(category_id), Some(amount_minor)) = (id, value) {
            if splits
                .iter()
                .any(|s: &SplitRecord| s.category_id == category_id)
            {
                v.add(format!("splits[{i}].category_id"), "appears twice");
            }
            splits.push(SplitRecord {
                category_id,
                amount_minor,
            });
        }
    }
    if splits.len() == raw.len() && sum != amount {
        v.add(
            "splits",
            format!("split amounts add up to {sum}, not to the amount {amount}"),
        );
    }
    splits
}

fn account_kind(v: &mut FieldViolations, field: &str, raw: i32) -> Option<String> {
    match pb::AccountKind::try_from(raw)
        .ok()
        .and_then(convert::account_kind_name)
    {
        Some(name) => Some(name.to_owned()),
        None => {
            v.add(
                field,
                "must be a known account kind (CHECKING, SAVINGS, ...)",
            );
            None
        }
    }
}

/// The API's page size for lists of things with an id cursor.
#[derive(serde::Serialize, serde::Deserialize)]
struct IdCursor {
    after: Uuid,
    #[serde(default)]
    filters: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TxCursor {
    date: NaiveDate,
    id: Uuid,
    filters: String,
}

/// Units of the destination per unit of the source, as given.
fn exchange_rate(raw: &str, from: Currency, to: Currency) -> Result<Decimal, String> {
    if from == to {
        return match raw {
            "" => Ok(Decimal::ONE),
            _ => match Decimal::from_str(raw) {
                Ok(rate) if rate == Decimal::ONE => Ok(rate),
                _ => Err(format!("must be empty or 1 between two {from} accounts")),
            },
        };
    }
    if raw.is_empty() {
        return Err(format!("is required to move {from} to {to}"));
    }
    let rate = Decimal::from_str(raw).map_err(|_| format!("`{raw}` is not a decimal number"))?;
    if rate <= Decimal::ZERO || rate > Decimal::from(1_000_000_000) || rate.scale() > 12 {
        return Err("must be positive, at most 10^9, with at most 12 decimal places".into());
    }
    Ok(rate)
}

/// `amount` (source minor units) converted at `rate` to destination minor
/// units, rounded half away from zero.
fn convert_amount(amount: i64, rate: Decimal, from: Currency, to: Currency) -> Option<i64> {
    let shift = i64::from(to.exponent()) - i64::from(from.exponent());
    let scale = Decimal::from(10i64.checked_pow(u32::try_from(shift.unsigned_abs()).ok()?)?);
    let value = Decimal::from(amount).checked_mul(rate)?;
    let value = if shift >= 0 {
        value.checked_mul(scale)?
    } else {
        value.checked_div(scale)?
    };
    let rounded = value.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(rounded).ok()
}

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchTransactionsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", domain::request_id(&req.request_id));
        let input = req.account.clone().unwrap_or_default();
        let name = v.check("account.name", domain::text(&input.name, 100, true));
        let kind = account_kind(&mut v, "account.kind", input.kind);
        let opening = input.opening_balance.as_ref();
        let currency = v.check(
            "account.opening_balance.currency_code",
            opening
                .ok_or_else(|| "is required".to_owned())
                .and_then(|m| Currency::parse(&m.currency_code)),
        );
        let opening_minor = v.check(
            "account.opening_balance.amount_minor",
            domain::amount(opening.map_or(0, |m| m.amount_minor)),
        );
        v.into_result()?;
        let (Some(name), Some(kind), Some(currency), Some(opening_minor), Some(request_id)) =
            (name, kind, currency, opening_minor, request_id)
        else {
            return Err(Status::internal("validated fields missing"));
        };
        let now = store::now();
        let record = AccountRecord {
            id: Uuid::now_v7(),
            user_id,
            name,
            kind,
            currency: currency.code().to_owned(),
            opening_balance_minor: opening_minor,
            balance_minor: opening_minor,
            archived: false,
            create_time: now,
            update_time: now,
        };
        let response = pb::CreateAccountResponse {
            account: Some(convert::account(&record)),
        };
        let idem = idempotency("CreateAccount", request_id, &req, &response);
        let outcome = self
            .deps
            .store
            .create_account(&record, idem.as_ref())
            .await
            .map_err(LedgerError::from)?;
        Ok(Response::new(created(outcome, response)?))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("account_id", &request.get_ref().account_id)?;
        let account = self.account(user_id, id).await?;
        Ok(Response::new(pb::GetAccountResponse {
            account: Some(convert::account(&account)),
        }))
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let size = v.check("page_size", domain::page_size(req.page_size, 100));
        let filters = crate::page::fingerprint(&req.show_archived);
        let cursor = v.check("page_token", id_cursor(&req.page_token, &filters));
        v.into_result()?;
        let (Some(size), Some(cursor)) = (size, cursor) else {
            return Err(Status::internal("validated fields missing"));
        };
        let mut rows = self
            .deps
            .store
            .list_accounts(user_id, cursor, size + 1, req.show_archived)
            .await
            .map_err(LedgerError::from)?;
        let next = next_id_token(&mut rows, size, |a| a.id, &filters);
        Ok(Response::new(pb::ListAccountsResponse {
            accounts: rows.iter().map(convert::account).collect(),
            next_page_token: next,
        }))
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::UpdateAccountResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let paths = parse_mask(
            req.update_mask.as_ref(),
            &["name", "kind", "opening_balance"],
        )?;
        let input = req.account.unwrap_or_default();
        let id = parse_id("account.id", &input.id)?;
        let account = self.account(user_id, id).await?;
        let currency = stored_currency(&account.currency)?;
        let mut v = FieldViolations::new();
        let mut patch = AccountPatch {
            name: None,
            kind: None,
            opening_balance_minor: None,
        };
        for path in &paths {
            match path.as_str() {
                "name" => {
                    patch.name = v.check("account.name", domain::text(&input.name, 100, true))
                }
                "kind" => patch.kind = account_kind(&mut v, "account.kind", input.kind),
                _ => {
                    patch.opening_balance_minor = v.check(
                        "account.opening_balance",
                        domain::money_in(input.opening_balance.as_ref(), currency),
                    );
                }
            }
        }
        v.into_result()?;
        let updated = self
            .deps
            .store
            .update_account(user_id, id, &patch, store::now())
            .await
            .map_err(|e| match e {
                StoreError::BalanceOutOfRange => LedgerError::field(
                    "account.opening_balance.amount_minor",
                    "would take the balance out of range",
                ),
                e => e.into(),
            })?;
        Ok(Response::new(pb::UpdateAccountResponse {
            account: Some(convert::account(&updated)),
        }))
    }

    async fn archive_account(
        &self,
        request: Request<pb::ArchiveAccountRequest>,
    ) -> Result<Response<pb::ArchiveAccountResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("account_id", &request.get_ref().account_id)?;
        let account = self
            .deps
            .store
            .archive_account(user_id, id, store::now())
            .await
            .map_err(LedgerError::from)?;
        Ok(Response::new(pb::ArchiveAccountResponse {
            account: Some(convert::account(&account)),
        }))
    }

    async fn get_balance_history(
        &self,
        request: Request<pb::GetBalanceHistoryRequest>,
    ) -> Result<Response<pb::GetBalanceHistoryResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = v.check("account_id", domain::id(&req.account_id));
        let start = v.check("start_date", domain::date(req.start_date.as_ref()));
        let end = v.check("end_date", domain::date(req.end_date.as_ref()));
        if let (Some(start), Some(end)) = (start, end) {
            let days = (end - start).num_days();
            if days < 0 {
                v.add("end_date", "must not be before start_date");
            } else if days >= MAX_HISTORY_DAYS {
                v.add(
                    "end_date",
                    format!("the range is at most {MAX_HISTORY_DAYS} days"),
                );
            }
        }
        v.into_result()?;
        let (Some(id), Some(start), Some(end)) = (id, start, end) else {
            return Err(Status::internal("validated fields missing"));
        };
        let account = self.account(user_id, id).await?;
        let (before, days) = self
            .deps
            .store
            .daily_sums(user_id, id, start, end)
            .await
            .map_err(LedgerError::from)?;
        let mut balance = account.opening_balance_minor + before;
        let mut sums = days.into_iter().peekable();
        let mut points = Vec::new();
        for day in start.iter_days().take_while(|d| *d <= end) {
            while let Some((_, sum)) = sums.next_if(|(d, _)| *d == day) {
                balance += sum;
            }
            points.push(pb::BalancePoint {
                date: Some(domain::to_date(day)),
                balance: Some(domain::money(&account.currency, balance)),
            });
        }
        Ok(Response::new(pb::GetBalanceHistoryResponse { points }))
    }

    async fn create_category(
        &self,
        request: Request<pb::CreateCategoryRequest>,
    ) -> Result<Response<pb::CreateCategoryResponse>, Status> {
        let user_id = self.user(&request).await?;
        let input = request.into_inner().category.unwrap_or_default();
        let mut v = FieldViolations::new();
        let name = v.check("category.name", domain::text(&input.name, 100, true));
        let kind = pb::CategoryKind::try_from(input.kind)
            .ok()
            .and_then(convert::category_kind_name);
        if kind.is_none() {
            v.add("category.kind", "must be INCOME or EXPENSE");
        }
        let parent = v.check("category.parent_id", domain::optional_id(&input.parent_id));
        v.into_result()?;
        let (Some(name), Some(kind), Some(parent_id)) = (name, kind, parent) else {
            return Err(Status::internal("validated fields missing"));
        };
        let record = CategoryRecord {
            id: Uuid::now_v7(),
            user_id,
            name,
            kind: kind.to_owned(),
            parent_id,
            create_time: store::now(),
        };
        self.deps
            .store
            .create_category(&record)
            .await
            .map_err(category_error)?;
        Ok(Response::new(pb::CreateCategoryResponse {
            category: Some(convert::category(&record)),
        }))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let user_id = self.user(&request).await?;
        let rows = self
            .deps
            .store
            .list_categories(user_id)
            .await
            .map_err(LedgerError::from)?;
        // Parents first, each followed by its children.
        let mut ordered: Vec<&CategoryRecord> = Vec::with_capacity(rows.len());
        for parent in rows.iter().filter(|c| c.parent_id.is_none()) {
            ordered.push(parent);
            ordered.extend(rows.iter().filter(|c| c.parent_id == Some(parent.id)));
        }
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: ordered.into_iter().map(convert::category).collect(),
        }))
    }

    async fn update_category(
        &self,
        request: Request<pb::UpdateCategoryRequest>,
    ) -> Result<Response<pb::UpdateCategoryResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let paths = parse_mask(req.update_mask.as_ref(), &["name", "parent_id"])?;
        let input = req.category.unwrap_or_default();
        let id = parse_id("category.id", &input.id)?;
        let rows = self
            .deps
            .store
            .list_categories(user_id)
            .await
            .map_err(LedgerError::from)?;
        let mut record = rows
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(LedgerError::NotFound("category"))?;
        let mut v = FieldViolations::new();
        for path in &paths {
            if path == "name" {
                if let Some(name) = v.check("category.name", domain::text(&input.name, 100, true)) {
                    record.name = name;
                }
            } else if let Some(parent) =
                v.check("category.parent_id", domain::optional_id(&input.parent_id))
            {
                record.parent_id = parent;
            }
        }
        v.into_result()?;
        self.deps
            .store
            .update_category(&record)
            .await
            .map_err(category_error)?;
        Ok(Response::new(pb::UpdateCategoryResponse {
            category: Some(convert::category(&record)),
        }))
    }

    async fn delete_category(
        &self,
        request: Request<pb::DeleteCategoryRequest>,
    ) -> Result<Response<pb::DeleteCategoryResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = v.check("category_id", domain::id(&req.category_id));
        let target = v.check(
            "reassign_to_category_id",
            domain::optional_id(&req.reassign_to_category_id),
        );
        v.into_result()?;
        let (Some(id), Some(target)) = (id, target) else {
            return Err(Status::internal("validated fields missing"));
        };
        let moved = self
            .deps
            .store
            .delete_category(user_id, id, target, store::now())
            .await
            .map_err(|e| match e {
                StoreError::UnknownCategory(t) => {
                    LedgerError::field("reassign_to_category_id", format!("no other category {t}"))
                }
                e => e.into(),
            })?;
        Ok(Response::new(pb::DeleteCategoryResponse {
            reassigned_transactions: i64::try_from(moved).unwrap_or(i64::MAX),
        }))
    }

    async fn create_transaction(
        &self,
        request: Request<pb::CreateTransactionRequest>,
    ) -> Result<Response<pb::CreateTransactionResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", domain::request_id(&req.request_id));
        let account_id = v.check("account_id", domain::id(&req.account_id));
        let date = v.check("date", domain::date(req.date.as_ref()));
        let description = v.check("description", domain::text(&req.description, 500, false));
        let merchant = v.check("merchant", domain::text(&req.merchant, 200, false));
        let notes = v.check("notes", domain::text(&req.notes, 2000, false));
        let category_id = v.check("category_id", domain::optional_id(&req.category_id));
        let tags = v.check("tags", domain::tags(&req.tags));
        let raw_amount = req.amount.as_ref().map_or(0, |m| m.amount_minor);
        let splits = check_splits(&mut v, raw_amount, category_id.flatten(), &req.splits);
        let account = match account_id {
            Some(id) if v.is_empty() => Some(self.account(user_id, id).await?),
            _ => None,
        };
        let amount = match &account {
            Some(a) => {
                let currency = stored_currency(&a.currency)?;
                let amount = v.check("amount", domain::money_in(req.amount.as_ref(), currency));
                amount.and_then(|a| v.check("amount.amount_minor", domain::nonzero_amount(a)))
            }
            None => {
                if req.amount.is_none() {
                    v.add("amount", "is required");
                }
                None
            }
        };
        v.into_result()?;
        let (
            Some(account),
            Some(amount),
            Some(date),
            Some(description),
            Some(merchant),
            Some(notes),
            Some(category_id),
            Some(tags),
            Some(request_id),
        ) = (
            account,
            amount,
            date,
            description,
            merchant,
            notes,
            category_id,
            tags,
            request_id,
        )
        else {
            return Err(Status::internal("validated fields missing"));
        };
        if account.archived {
            return Err(LedgerError::from(StoreError::AccountArchived).into());
        }
        let now = store::now();
        let record = TransactionRecord {
            id: Uuid::now_v7(),
            user_id,
            account_id: account.id,
            currency: account.currency,
            amount_minor: amount,
            date,
            description,
            merchant,
            category_id,
            splits,
            tags,
            notes,
            transfer_id: None,
            recurring: None,
            import_key: None,
            revision: 0,
            create_time: now,
            update_time: now,
        };
        let response = pb::CreateTransactionResponse {
            transaction: Some(convert::transaction(&record)),
        };
        let idem = idempotency("CreateTransaction", request_id, &req, &response);
        let outcome = self
            .deps
            .store
            .create_transaction(&record, idem.as_ref(), &outbox::build)
            .await
            .map_err(LedgerError::from)?;
        self.committed();
        Ok(Response::new(created(outcome, response)?))
    }

    async fn get_transaction(
        &self,
        request: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::GetTransactionResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("transaction_id", &request.get_ref().transaction_id)?;
        let t = self.transaction(user_id, id).await?;
        Ok(Response::new(pb::GetTransactionResponse {
            transaction: Some(convert::transaction(&t)),
        }))
    }

    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let size = v.check("page_size", domain::page_size(req.page_size, 50));
        let mut filter = TransactionFilter {
            account_id: v
                .check("account_id", domain::optional_id(&req.account_id))
                .flatten(),
            category_id: v
                .check("category_id", domain::optional_id(&req.category_id))
                .flatten(),
            start_date: v
                .check("start_date", domain::optional_date(req.start_date.as_ref()))
                .flatten(),
            end_date: v
                .check("end_date", domain::optional_date(req.end_date.as_ref()))
                .flatten(),
            min_amount_minor: req
                .min_amount_minor
                .and_then(|a| v.check("min_amount_minor", domain::amount(a))),
            max_amount_minor: req
                .max_amount_minor
                .and_then(|a| v.check("max_amount_minor", domain::amount(a))),
            text: None,
            tags: v.check("tags", domain::tags(&req.tags)).unwrap_or_default(),
        };
        if let Some(text) = v.check("text", domain::text(&req.text, 200, false)) {
            filter.text = (!text.is_empty()).then(|| text.to_lowercase());
        }
        if let (Some(s), Some(e)) = (filter.start_date, filter.end_date)
            && e < s
        {
            v.add("end_date", "must not be before start_date");
        }
        if let (Some(min), Some(max)) = (filter.min_amount_minor, filter.max_amount_minor)
            && max < min
        {
            v.add("max_amount_minor", "must not be below min_amount_minor");
        }
        let fingerprint = crate::page::fingerprint(&filter);
        let cursor = match crate::page::decode::<TxCursor>(&req.page_token) {
            Ok(Some(c)) if c.filters == fingerprint => Some(TransactionCursor {
                date: c.date,
                id: c.id,
            }),
            Ok(Some(_)) => {
                v.add(
                    "page_token",
                    "was issued for other filters; keep the filters the same",
                );
                None
            }
            Ok(None) => None,
            Err(e) => {
                v.add("page_token", e);
                None
            }
        };
        v.into_result()?;
        let size = size.unwrap_or(50);
        let mut rows = self
            .deps
            .store
            .list_transactions(user_id, &filter, cursor, size + 1)
            .await
            .map_err(LedgerError::from)?;
        let next_page_token = if rows.len() > size as usize {
            rows.truncate(size as usize);
            rows.last()
                .map(|t| {
                    crate::page::encode(&TxCursor {
                        date: t.date,
                        id: t.id,
                        filters: fingerprint.clone(),
                    })
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListTransactionsResponse {
            transactions: rows.iter().map(convert::transaction).collect(),
            next_page_token,
        }))
    }

    async fn update_transaction(
        &self,
        request: Request<pb::UpdateTransactionRequest>,
    ) -> Result<Response<pb::UpdateTransactionResponse>, Status> {
        const PATHS: [&str; 8] = [
            "amount",
            "date",
            "description",
            "merchant",
            "category_id",
            "splits",
            "tags",
            "notes",
        ];
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let paths = parse_mask(req.update_mask.as_ref(), &PATHS)?;
        let input = req.transaction.unwrap_or_default();
        let id = parse_id("transaction.id", &input.id)?;
        // A concurrent update makes the store refuse ours; apply it again
        // on the fresh row.
        for _attempt in 0..3 {
            let before = self.transaction(user_id, id).await?;
            let after = apply_patch(&before, &input, &paths)?;
            match self
                .deps
                .store
                .update_transaction(&before, &after, &outbox::build)
                .await
            {
                Ok(()) => {
                    self.committed();
                    return Ok(Response::new(pb::UpdateTransactionResponse {
                        transaction: Some(convert::transaction(&after)),
                    }));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(LedgerError::from(e).into()),
            }
        }
        Err(LedgerError::Aborted.into())
    }

    async fn delete_transaction(
        &self,
        request: Request<pb::DeleteTransactionRequest>,
    ) -> Result<Response<pb::DeleteTransactionResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("transaction_id", &request.get_ref().transaction_id)?;
        self.deps
            .store
            .delete_transaction(user_id, id, &outbox::build)
            .await
            .map_err(LedgerError::from)?;
        self.committed();
        Ok(Response::new(pb::DeleteTransactionResponse {}))
    }

    async fn create_transfer(
        &self,
        request: Request<pb::CreateTransferRequest>,
    ) -> Result<Response<pb::CreateTransferResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", domain::request_id(&req.request_id));
        let from_id = v.check("from_account_id", domain::id(&req.from_account_id));
        let to_id = v.check("to_account_id", domain::id(&req.to_account_id));
        if from_id.is_some() && from_id == to_id {
            v.add("to_account_id", "must differ from from_account_id");
        }
        let date = v.check("date", domain::date(req.date.as_ref()));
        let description = v.check("description", domain::text(&req.description, 500, false));
        if req.amount.is_none() {
            v.add("amount", "is required");
        }
        v.into_result()?;
        let (Some(from_id), Some(to_id), Some(date), Some(description), Some(request_id)) =
            (from_id, to_id, date, description, request_id)
        else {
            return Err(Status::internal("validated fields missing"));
        };
        let from = self.account(user_id, from_id).await?;
        let to = self.account(user_id, to_id).await?;
        let from_currency = stored_currency(&from.currency)?;
        let to_currency = stored_currency(&to.currency)?;
        let mut v = FieldViolations::new();
        let amount = v
            .check(
                "amount",
                domain::money_in(req.amount.as_ref(), from_currency),
            )
            .and_then(|a| {
                if a > 0 {
                    Some(a)
                } else {
                    v.add("amount.amount_minor", "must be positive");
                    None
                }
            });
        let rate = v.check(
            "exchange_rate",
            exchange_rate(req.exchange_rate.trim(), from_currency, to_currency),
        );
        let received = match (amount, rate) {
            (Some(amount), Some(rate)) => {
                match convert_amount(amount, rate, from_currency, to_currency)
                    .filter(|r| (1..=MAX_AMOUNT_MINOR).contains(r))
                {
                    Some(r) => Some(r),
                    None => {
                        v.add(
                            "exchange_rate",
                            format!(
                                "converts the amount to nothing or to more than {MAX_AMOUNT_MINOR} minor units"
                            ),
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        v.into_result()?;
        let (Some(amount), Some(received)) = (amount, received) else {
            return Err(Status::internal("validated fields missing"));
        };
        let now = store::now();
        let transfer_id = Uuid::now_v7();
        let leg = |account: &AccountRecord, amount_minor: i64| TransactionRecord {
            id: Uuid::now_v7(),
            user_id,
            account_id: account.id,
            currency: account.currency.clone(),
            amount_minor,
            date,
            description: description.clone(),
            merchant: String::new(),
            category_id: None,
            splits: Vec::new(),
            tags: Vec::new(),
            notes: String::new(),
            transfer_id: Some(transfer_id),
            recurring: None,
            import_key: None,
            revision: 0,
            create_time: now,
            update_time: now,
        };
        let record = TransferRecord {
            id: transfer_id,
            user_id,
            exchange_rate: if from_currency == to_currency {
                "1".to_owned()
            } else {
                req.exchange_rate.trim().to_owned()
            },
            description: description.clone(),
            create_time: now,
            from: leg(&from, -amount),
            to: leg(&to, received),
        };
        let response = pb::CreateTransferResponse {
            transfer: Some(convert::transfer(&record)),
        };
        let idem = idempotency("CreateTransfer", request_id, &req, &response);
        let outcome = self
            .deps
            .store
            .create_transfer(&record, idem.as_ref(), &outbox::build)
            .await
            .map_err(LedgerError::from)?;
        self.committed();
        Ok(Response::new(created(outcome, response)?))
    }

    async fn get_transfer(
        &self,
        request: Request<pb::GetTransferRequest>,
    ) -> Result<Response<pb::GetTransferResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("transfer_id", &request.get_ref().transfer_id)?;
        let transfer = self
            .deps
            .store
            .get_transfer(user_id, id)
            .await
            .map_err(LedgerError::from)?
            .ok_or(LedgerError::NotFound("transfer"))?;
        Ok(Response::new(pb::GetTransferResponse {
            transfer: Some(convert::transfer(&transfer)),
        }))
    }

    async fn delete_transfer(
        &self,
        request: Request<pb::DeleteTransferRequest>,
    ) -> Result<Response<pb::DeleteTransferResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("transfer_id", &request.get_ref().transfer_id)?;
        self.deps
            .store
            .delete_transfer(user_id, id, &outbox::build)
            .await
            .map_err(LedgerError::from)?;
        self.committed();
        Ok(Response::new(pb::DeleteTransferResponse {}))
    }

    async fn create_recurring_rule(
        &self,
        request: Request<pb::CreateRecurringRuleRequest>,
    ) -> Result<Response<pb::CreateRecurringRuleResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let input = req.rule.clone().unwrap_or_default();
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", domain::request_id(&req.request_id));
        let account_id = v.check("rule.account_id", domain::id(&input.account_id));
        let description = v.check(
            "rule.description",
            domain::text(&input.description, 500, false),
        );
        let merchant = v.check("rule.merchant", domain::text(&input.merchant, 200, false));
        let category_id = v.check("rule.category_id", domain::optional_id(&input.category_id));
        let tags = v.check("rule.tags", domain::tags(&input.tags));
        let frequency = match pb::Frequency::try_from(input.frequency) {
            Ok(pb::Frequency::Daily) => Some(Frequency::Daily),
            Ok(pb::Frequency::Weekly) => Some(Frequency::Weekly),
            Ok(pb::Frequency::Monthly) => Some(Frequency::Monthly),
            Ok(pb::Frequency::Yearly) => Some(Frequency::Yearly),
            _ => {
                v.add("rule.frequency", "must be DAILY, WEEKLY, MONTHLY or YEARLY");
                None
            }
        };
        let interval = match input.interval {
            0 => Some(1),
            1..=1000 => Some(input.interval.unsigned_abs()),
            _ => {
                v.add("rule.interval", "must be 1 to 1000 (0 means 1)");
                None
            }
        };
        let start = v.check("rule.start_date", domain::date(input.start_date.as_ref()));
        let end = v.check(
            "rule.end_date",
            domain::optional_date(input.end_date.as_ref()),
        );
        if let (Some(start), Some(Some(end))) = (start, end)
            && end < start
        {
            v.add("rule.end_date", "must not be before start_date");
        }
        if input.amount.is_none() {
            v.add("rule.amount", "is required");
        }
        v.into_result()?;
        let (
            Some(account_id),
            Some(description),
            Some(merchant),
            Some(category_id),
            Some(tags),
            Some(frequency),
            Some(interval),
            Some(start),
            Some(end),
            Some(request_id),
        ) = (
            account_id,
            description,
            merchant,
            category_id,
            tags,
            frequency,
            interval,
            start,
            end,
            request_id,
        )
        else {
            return Err(Status::internal("validated fields missing"));
        };
        let account = self.account(user_id, account_id).await?;
        let currency = stored_currency(&account.currency)?;
        let amount = domain::money_in(input.amount.as_ref(), currency)
            .and_then(domain::nonzero_amount)
            .map_err(|e| LedgerError::field("rule.amount", e))?;
        let schedule = Schedule {
            frequency,
            interval,
            start,
            end,
        };
        let record = RuleRecord {
            id: Uuid::now_v7(),
            user_id,
            account_id,
            currency: account.currency,
            amount_minor: amount,
            description,
            merchant,
            category_id,
            tags,
            schedule,
            next_index: 0,
            next_date: schedule.occurrence(0),
            create_time: store::now(),
        };
        let response = pb::CreateRecurringRuleResponse {
            rule: Some(convert::rule(&record)),
        };
        let idem = idempotency("CreateRecurringRule", request_id, &req, &response);
        let outcome = self
            .deps
            .store
            .create_rule(&record, idem.as_ref())
            .await
            .map_err(|e| match e {
                StoreError::UnknownCategory(id) => {
                    LedgerError::field("rule.category_id", format!("no category {id}"))
                }
                e => e.into(),
            })?;
        Ok(Response::new(created(outcome, response)?))
    }

    async fn get_recurring_rule(
        &self,
        request: Request<pb::GetRecurringRuleRequest>,
    ) -> Result<Response<pb::GetRecurringRuleResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("rule_id", &request.get_ref().rule_id)?;
        let rule = self
            .deps
            .store
            .get_rule(user_id, id)
            .await
            .map_err(LedgerError::from)?
            .ok_or(LedgerError::NotFound("recurring rule"))?;
        Ok(Response::new(pb::GetRecurringRuleResponse {
            rule: Some(convert::rule(&rule)),
        }))
    }

    async fn list_recurring_rules(
        &self,
        request: Request<pb::ListRecurringRulesRequest>,
    ) -> Result<Response<pb::ListRecurringRulesResponse>, Status> {
        let user_id = self.user(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let size = v.check("page_size", domain::page_size(req.page_size, 100));
        let cursor = v.check("page_token", id_cursor(&req.page_token, ""));
        v.into_result()?;
        let (Some(size), Some(cursor)) = (size, cursor) else {
            return Err(Status::internal("validated fields missing"));
        };
        let mut rows = self
            .deps
            .store
            .list_rules(user_id, cursor, size + 1)
            .await
            .map_err(LedgerError::from)?;
        let next = next_id_token(&mut rows, size, |r| r.id, "");
        Ok(Response::new(pb::ListRecurringRulesResponse {
            rules: rows.iter().map(convert::rule).collect(),
            next_page_token: next,
        }))
    }

    async fn delete_recurring_rule(
        &self,
        request: Request<pb::DeleteRecurringRuleRequest>,
    ) -> Result<Response<pb::DeleteRecurringRuleResponse>, Status> {
        let user_id = self.user(&request).await?;
        let id = parse_id("rule_id", &request.get_ref().rule_id)?;
        self.deps
            .store
            .delete_rule(user_id, id)
            .await
            .map_err(LedgerError::from)?;
        Ok(Response::new(pb::DeleteRecurringRuleResponse {}))
    }

    async fn import_transactions(
        &self,
        request: Request<Streaming<pb::ImportTransactionsRequest>>,
    ) -> Result<Response<pb::ImportTransactionsResponse>, Status> {
        use pb::import_transactions_request::Part;
        let user_id = self.user(&request).await?;
        let mut stream = request.into_inner();
        let options = match stream.message().await? {
            Some(pb::ImportTransactionsRequest {
                part: Some(Part::Options(options)),
            }) => options,
            _ => {
                return Err(LedgerError::field(
                    "options",
                    "the first message must carry the import options",
                )
                .into());
            }
        };
        let mut data = Vec::new();
        while let Some(message) = stream.message().await? {
            match message.part {
                Some(Part::Chunk(chunk)) => {
                    if data.len() + chunk.len() > MAX_IMPORT_BYTES {
                        return Err(LedgerError::field(
                            "chunk",
                            format!("the file is larger than {} MiB", MAX_IMPORT_BYTES >> 20),
                        )
                        .into());
                    }
                    data.extend_from_slice(&chunk);
                }
                _ => {
                    return Err(LedgerError::field(
                        "options",
                        "only the first message carries options; the rest carry chunks",
                    )
                    .into());
                }
            }
        }
        let response = self.import(user_id, &options, &data).await?;
        Ok(Response::new(response))
    }

    type WatchTransactionsStream = WatchStream;

    async fn watch_transactions(
        &self,
        request: Request<pb::WatchTransactionsRequest>,
    ) -> Result<Response<Self::WatchTransactionsStream>, Status> {
        let user_id = self.user(&request).await?;
        let account = domain::optional_id(&request.get_ref().account_id)
            .map_err(|e| LedgerError::field("account_id", e))?;
        if let Some(account) = account {
            self.account(user_id, account).await?;
        }
        let mut events = self.deps.bus.subscribe(outbox::STREAM);
        let shutdown = self.deps.shutdown.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let user = user_id.to_string();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    r = events.recv() => r,
                    () = shutdown.wait() => {
                        let _ = tx.send(Err(Status::unavailable("the server is shutting down; watch again"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                };
                let event = match received {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        let _ = tx
                            .send(Err(Status::aborted(format!(
                                "the watch fell {missed} events behind; list again and watch again"
                            ))))
                            .await;
                        return;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if event.user_id != user {
                    continue;
                }
                let Ok(decoded) = pb::LedgerEvent::decode(event.payload.as_ref()) else {
                    tracing::warn!(event_id = %event.id, "undecodable ledger event");
                    continue;
                };
                if account.is_some_and(|a| !touches_account(&decoded, &a.to_string())) {
                    continue;
                }
                let message = pb::WatchTransactionsResponse {
                    event: Some(decoded),
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

impl LedgerApi {
    async fn import(
        &self,
        user_id: Uuid,
        options: &pb::ImportOptions,
        data: &[u8],
    ) -> Result<pb::ImportTransactionsResponse> {
        let mut v = FieldViolations::new();
        let account_id = v.check("options.account_id", domain::id(&options.account_id));
        let category_id = v.check(
            "options.category_id",
            domain::optional_id(&options.category_id),
        );
        let format = match import::ImportFormat::parse(&import::RawOptions {
            has_header: options.has_header,
            delimiter: &options.delimiter,
            date_column: &options.date_column,
            date_format: &options.date_format,
            amount_column: &options.amount_column,
            debit_column: &options.debit_column,
            credit_column: &options.credit_column,
            decimal_separator: &options.decimal_separator,
            thousands_separator: &options.thousands_separator,
            description_column: &options.description_column,
            merchant_column: &options.merchant_column,
        }) {
            Ok(format) => Some(format),
            Err(problems) => {
                for (field, message) in problems {
                    v.add(field, message);
                }
                None
            }
        };
        if !v.is_empty() {
            return Err(v.into());
        }
        let (Some(account_id), Some(category_id), Some(format)) = (account_id, category_id, format)
        else {
            return Err(LedgerError::Unexpected(anyhow::anyhow!(
                "validated fields missing"
            )));
        };
        let account = self.account(user_id, account_id).await?;
        if account.archived {
            return Err(StoreError::AccountArchived.into());
        }
        let currency = stored_currency(&account.currency)?;
        let parsed = import::parse(&format, currency.exponent(), data).map_err(|e| {
            let field = match &e {
                import::FileError::MissingColumn { option, .. } => *option,
                _ => "chunk",
            };
            LedgerError::field(field, e.to_string())
        })?;
        let now = store::now();
        let records: Vec<TransactionRecord> = parsed
            .lines
            .iter()
            .map(|line| TransactionRecord {
                id: Uuid::now_v7(),
                user_id,
                account_id,
                currency: account.currency.clone(),
                amount_minor: line.amount_minor,
                date: line.date,
                description: line.description.clone(),
                merchant: line.merchant.clone(),
                category_id,
                splits: Vec::new(),
                tags: Vec::new(),
                notes: String::new(),
                transfer_id: None,
                recurring: None,
                import_key: Some(line.fingerprint.to_vec()),
                revision: 0,
                create_time: now,
                update_time: now,
            })
            .collect();
        let mut response = pb::ImportTransactionsResponse {
            imported: 0,
            skipped_duplicates: 0,
            errors: parsed
                .errors
                .into_iter()
                .map(|e| pb::ImportLineError {
                    line: i64::try_from(e.line).unwrap_or(i64::MAX),
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        };
        for batch in records.chunks(IMPORT_BATCH) {
            let counts = self
                .deps
                .store
                .import_transactions(batch, &outbox::build)
                .await
                .map_err(|e| match e {
                    StoreError::UnknownCategory(id) => {
                        LedgerError::field("options.category_id", format!("no category {id}"))
                    }
                    e => e.into(),
                })?;
            self.committed();
            response.imported += i64::try_from(counts.imported).unwrap_or(i64::MAX);
            response.skipped_duplicates += i64::try_from(counts.skipped).unwrap_or(i64::MAX);
        }
        if response.imported >= ANALYZE_AFTER_IMPORTED {
            // A large import can outgrow the planner's row estimates until
            // autovacuum catches up; stale ones make listings scan instead
            // of walking the date index.
            if let Err(e) = self.deps.store.refresh_statistics().await {
                tracing::warn!(error = ?e, "refreshing statistics after an import failed");
            }
        }
        Ok(response)
    }
}

/// Applies the masked fields of `input` to `before`.
fn apply_patch(
    before: &TransactionRecord,
    input: &pb::Transaction,
    paths: &[String],
) -> Result<TransactionRecord> {
    let mut after = before.clone();
    let mut v = FieldViolations::new();
    let has = |p: &str| paths.iter().any(|x| x == p);
    if before.transfer_id.is_some() && (has("amount") || has("date")) {
        return Err(LedgerError::FailedPrecondition(
            "a transfer leg's amount and date change only with its transfer; delete the transfer and create it again"
                .into(),
        ));
    }
    if has("amount") {
        let currency = stored_currency(&before.currency)?;
        if let Some(a) = v.check(
            "transaction.amount",
            domain::money_in(input.amount.as_ref(), currency).and_then(domain::nonzero_amount),
        ) {
            after.amount_minor = a;
        }
    }
    if has("date")
        && let Some(d) = v.check("transaction.date", domain::date(input.date.as_ref()))
    {
        after.date = d;
    }
    if has("description")
        && let Some(t) = v.check(
            "transaction.description",
            domain::text(&input.description, 500, false),
        )
    {
        after.description = t;
    }
    if has("merchant")
        && let Some(t) = v.check(
            "transaction.merchant",
            domain::text(&input.merchant, 200, false),
        )
    {
        after.merchant = t;
    }
    if has("notes")
        && let Some(t) = v.check("transaction.notes", domain::text(&input.notes, 2000, false))
    {
        after.notes = t;
    }
    if has("tags")
        && let Some(t) = v.check("transaction.tags", domain::tags(&input.tags))
    {
        after.tags = t;
    }
    if has("category_id")
        && let Some(c) = v.check(
            "transaction.category_id",
            domain::optional_id(&input.category_id),
        )
    {
        after.category_id = c;
        if c.is_some() {
            after.splits.clear();
        }
    }
    if has("splits") {
        let mut split_v = FieldViolations::new();
        let splits = check_splits(&mut split_v, after.amount_minor, None, &input.splits);
        for (field, why) in split_v.iter() {
            v.add(format!("transaction.{field}"), why.clone());
        }
        if !splits.is_empty() {
            after.category_id = None;
        }
        after.splits = splits;
        if has("category_id") && after.category_id.is_some() && !input.splits.is_empty() {
            v.add(
                "transaction.splits",
                "give either category_id or splits, not both",
            );
        }
    } else if !after.splits.is_empty() {
        let sum: i64 = after.splits.iter().map(|s| s.amount_minor).sum();
        if sum != after.amount_minor {
            v.add(
                "transaction.splits",
                "no longer add up to the amount; update amount and splits together",
            );
        }
    }
    if !v.is_empty() {
        return Err(v.into());
    }
    after.revision = before.revision + 1;
    after.update_time = store::now();
    Ok(after)
}

fn touches_account(event: &pb::LedgerEvent, account: &str) -> bool {
    use pb::ledger_event::Change as C;
    let on = |t: &Option<pb::Transaction>| t.as_ref().is_some_and(|t| t.account_id == account);
    match &event.change {
        Some(C::TransactionCreated(e)) => on(&e.transaction),
        Some(C::TransactionUpdated(e)) => on(&e.after) || on(&e.before),
        Some(C::TransactionDeleted(e)) => on(&e.transaction),
        Some(C::TransferCreated(e)) => on(&e.from_transaction) || on(&e.to_transaction),
        Some(C::TransferDeleted(e)) => on(&e.from_transaction) || on(&e.to_transaction),
        None => false,
    }
}

fn category_error(e: StoreError) -> LedgerError {
    match e {
        StoreError::UnknownCategory(id) => {
            LedgerError::field("category.parent_id", format!("no category {id}"))
        }
        StoreError::Precondition(why) => LedgerError::field("category.parent_id", why),
        e => e.into(),
    }
}

fn id_cursor(token: &str, filters: &str) -> std::result::Result<Option<Uuid>, String> {
    match crate::page::decode::<IdCursor>(token)? {
        Some(c) if c.filters == filters => Ok(Some(c.after)),
        Some(_) => Err("was issued for other filters; keep the filters the same".into()),
        None => Ok(None),
    }
}

fn next_id_token<T>(
    rows: &mut Vec<T>,
    size: u32,
    id: impl Fn(&T) -> Uuid,
    filters: &str,
) -> String {
    if rows.len() <= size as usize {
        return String::new();
    }
    rows.truncate(size as usize);
    rows.last()
        .map(|last| {
            crate::page::encode(&IdCursor {
                after: id(last),
                filters: filters.to_owned(),
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).expect("currency")
    }

    #[test]
    fn conversion_shifts_exponents_and_rounds_half_away() {
        let rate = |s: &str| Decimal::from_str(s).expect("rate");
        // 10.00 USD at 150.5 JPY/USD = 1505 JPY.
        assert_eq!(
            convert_amount(1000, rate("150.5"), c("USD"), c("JPY")),
            Some(1505)
        );
        // 1505 JPY at 0.0066 = 9.933 USD -> 9.93.
        assert_eq!(
            convert_amount(1505, rate("0.0066"), c("JPY"), c("USD")),
            Some(993)
        );
        // 0.05 USD * 0.5 = 0.025 EUR -> 0.03 (half away from zero).
        assert_eq!(convert_amount(5, rate("0.5"), c("USD"), c("EUR")), Some(3));
        // 1.000 BHD to USD at 2.65 = 2.65 USD.
        assert_eq!(
            convert_amount(1000, rate("2.65"), c("BHD"), c("USD")),
            Some(265)
        );
        assert_eq!(
            convert_amount(i64::MAX, rate("1000000000"), c("USD"), c("JPY")),
            None
        );
    }

    #[test]
    fn rates_are_checked() {
        assert_eq!(exchange_rate("", c("USD"), c("USD")), Ok(Decimal::ONE));
        assert!(exchange_rate("1.5", c("USD"), c("USD")).is_err());
        assert!(exchange_rate("", c("USD"), c("EUR")).is_err());
        assert!(exchange_rate("-1", c("USD"), c("EUR")).is_err());
        assert!(exchange_rate("abc", c("USD"), c("EUR")).is_err());
        assert!(exchange_rate("0.9212", c("USD"), c("EUR")).is_ok());
    }

    #[test]
    fn splits_must_add_up_and_match_the_sign() {
        let a = Uuid::now_v7().to_string();
        let b = Uuid::now_v7().to_string();
        let split = |id: &str, amount| pb::Split {
            category_id: id.to_owned(),
            amount_minor: amount,
        };
        let mut v = FieldViolations::new();
        let ok = check_splits(&mut v, -300, None, &[split(&a, -100), split(&b, -200)]);
        assert!(v.is_empty() && ok.len() == 2);
        let mut v = FieldViolations::new();
        check_splits(&mut v, -300, None, &[split(&a, -100), split(&b, -100)]);
        assert!(v.iter().any(|(f, _)| f == "splits"));
        let mut v = FieldViolations::new();
        check_splits(&mut v, -300, None, &[split(&a, 100), split(&b, -400)]);
        assert!(v.iter().any(|(f, _)| f == "splits[0].amount_minor"));
        let mut v = FieldViolations::new();
        check_splits(&mut v, -300, None, &[split(&a, -300)]);
        assert!(!v.is_empty());
        let mut v = FieldViolations::new();
        check_splits(&mut v, -300, None, &[split(&a, -100), split(&a, -200)]);
        assert!(v.iter().any(|(f, _)| f == "splits[1].category_id"));
    }

    #[test]
    fn default_tree_nests_one_level() {
        let user = Uuid::now_v7();
        let tree = default_categories(user, store::now());
        assert!(tree.len() > 20);
        for c in &tree {
            if let Some(parent) = c.parent_id {
                let p = tree
                    .iter()
                    .find(|p| p.id == parent)
                    .expect("parent present");
                assert!(p.parent_id.is_none());
                assert_eq!(p.kind, c.kind);
            }
        }
    }
}
