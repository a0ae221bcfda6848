//! The ledger, called as the caller: a domain that needs the caller's
//! categories, accounts or transactions asks the ledger's gRPC API with the
//! caller's own access token, so the ledger scopes every answer to them. No
//! domain reads the ledger's tables.

use std::collections::HashSet;

use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

use crate::FieldViolations;
use crate::error;

/// What a call to the ledger fails with.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The request names what the caller does not have, field by field.
    #[error("invalid request")]
    InvalidArgument(FieldViolations),
    /// The ledger could not be reached; retrying may pass.
    #[error("the ledger is unavailable")]
    Unavailable,
    /// The peer refused the caller's token: the session ended meanwhile.
    #[error("the session has ended")]
    SessionEnded,
    /// Anything unexpected: logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// UNAUTHENTICATED: the caller's session ended while the call went on (a
/// peer refused the token it passed on).
pub fn session_ended() -> tonic::Status {
    error::status(
        tonic::Code::Unauthenticated,
        freedumb_proto::common::ErrorReason::InvalidToken,
        "the session has ended; sign in again",
    )
}

impl From<PeerError> for tonic::Status {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::InvalidArgument(v) => error::invalid_argument(v),
            PeerError::Unavailable => error::peer_unavailable("the ledger"),
            PeerError::SessionEnded => session_ended(),
            PeerError::Unexpected(cause) => error::internal(&cause),
        }
    }
}

/// Transactions per page when reading a user's history.
const PAGE: i32 = 1000;

/// The caller's bearer credentials, passed on to the ledger.
#[derive(Debug, Clone)]
pub struct Credentials(AsciiMetadataValue);

impl Credentials {
    /// The `authorization` metadata of the caller's request (present: the
    /// request was authenticated with it).
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, PeerError> {
        request
            .metadata()
            .get("authorization")
            .cloned()
            .map(Self)
            .ok_or_else(|| {
                PeerError::Unexpected(anyhow::anyhow!("an authenticated call without credentials"))
            })
    }
}

impl Credentials {
    /// `message` as a request carrying these credentials, for a call to
    /// another service as the caller.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        request
    }
}

/// A client of the ledger.
#[derive(Clone)]
pub struct LedgerPeer {
    client: LedgerServiceClient<Channel>,
}

/// A channel to the peer service at `url`, connected on first use.
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect_lazy())
}

impl LedgerPeer {
    /// A client of the ledger at `url` (connected on first use).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: LedgerServiceClient::new(channel(url)?),
        })
    }

    fn request<T>(message: T, credentials: &Credentials) -> tonic::Request<T> {
        credentials.request(message)
    }

    /// The caller's categories.
    pub async fn categories(
        &self,
        credentials: &Credentials,
    ) -> Result<Vec<pb::Category>, PeerError> {
        let request = Self::request(pb::ListCategoriesRequest {}, credentials);
        Ok(self
            .client
            .clone()
            .list_categories(request)
            .await
            .map_err(ledger_failed)?
            .into_inner()
            .categories)
    }

    /// The positions in `ids` of the categories the caller does not have.
    async fn unknown_categories(
        &self,
        credentials: &Credentials,
        ids: &[Uuid],
    ) -> Result<Vec<usize>, PeerError> {
        let categories = self.categories(credentials).await?;
        let known: HashSet<&str> = categories.iter().map(|c| c.id.as_str()).collect();
        Ok(ids
            .iter()
            .enumerate()
            .filter(|(_, id)| !known.contains(id.to_string().as_str()))
            .map(|(i, _)| i)
            .collect())
    }

    /// Refuses, field by field, the ids of `ids` that are not the caller's
    /// categories; `field(i)` names the request field of `ids[i]`.
    pub async fn require_categories(
        &self,
        credentials: &Credentials,
        ids: &[Uuid],
        field: impl Fn(usize) -> String,
    ) -> Result<(), PeerError> {
        let unknown = self.unknown_categories(credentials, ids).await?;
        if unknown.is_empty() {
            return Ok(());
        }
        let mut v = FieldViolations::new();
        for i in unknown {
            v.add(field(i), format!("no category {}", ids[i]));
        }
        Err(PeerError::InvalidArgument(v))
    }

    /// One of the caller's accounts, or `None` if they have no such account.
    pub async fn account(
        &self,
        credentials: &Credentials,
        id: Uuid,
    ) -> Result<Option<pb::Account>, PeerError> {
        let request = Self::request(
            pb::GetAccountRequest {
                account_id: id.to_string(),
            },
            credentials,
        );
        match self.client.clone().get_account(request).await {
            Ok(response) => Ok(response.into_inner().account),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(ledger_failed(status)),
        }
    }

    /// The caller's open accounts, page by page.
    pub async fn accounts(&self, credentials: &Credentials) -> Result<Vec<pb::Account>, PeerError> {
        all_pages("the ledger", |page_token| {
            let mut client = self.client.clone();
            let request = Self::request(
                pb::ListAccountsRequest {
                    page_size: PAGE,
                    page_token,
                    show_archived: false,
                },
                credentials,
            );
            async move {
                let page = client.list_accounts(request).await?.into_inner();
                Ok((page.accounts, page.next_page_token))
            }
        })
        .await
    }

    /// Every transaction of the caller, page by page.
    pub async fn transactions(
        &self,
        credentials: &Credentials,
    ) -> Result<Vec<pb::Transaction>, PeerError> {
        self.transactions_since(credentials, None).await
    }

    /// The caller's transactions booked on or after `start` (all of them
    /// without it), page by page.
    pub async fn transactions_since(
        &self,
        credentials: &Credentials,
        start: Option<chrono::NaiveDate>,
    ) -> Result<Vec<pb::Transaction>, PeerError> {
        all_pages("the ledger", |page_token| {
            let mut client = self.client.clone();
            let request = Self::request(
                pb::ListTransactionsRequest {
                    page_size: PAGE,
                    page_token,
                    start_date: start_bound(start),
                    ..pb::ListTransactionsRequest::default()
                },
                credentials,
            );
            async move {
                let page = client.list_transactions(request).await?.into_inner();
                Ok((page.transactions, page.next_page_token))
            }
        })
        .await
    }
}

/// Every item of a listing: `page(token)` fetches one page (its items and
/// the next token, empty on the last), from the empty token on.
pub async fn all_pages<T, F, Fut>(peer: &str, mut page: F) -> Result<Vec<T>, PeerError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let (items, next) = page(token).await.map_err(|s| failed(peer, s))?;
        all.extend(items);
        if next.is_empty() {
            return Ok(all);
        }
        token = next;
    }
}

/// A failed ledger call: UNAVAILABLE when it may pass on retry, an
/// internal error otherwise (logged, not shown).
fn ledger_failed(status: tonic::Status) -> PeerError {
    failed("the ledger", status)
}

/// A failed call to the peer service `peer` ("the ledger"): unavailable
/// when retrying may pass, unexpected otherwise.
pub fn failed(peer: &str, status: tonic::Status) -> PeerError {
    use tonic::Code;
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted => {
            tracing::warn!(peer, code = ?status.code(), message = status.message(), "a peer is unavailable");
            PeerError::Unavailable
        }
        // The caller's token, passed on, was refused: its session ended
        // during the call (a logout racing it). The caller's problem.
        Code::Unauthenticated => PeerError::SessionEnded,
        _ => PeerError::Unexpected(anyhow::anyhow!(
            "{peer} answered {:?}: {}",
            status.code(),
            status.message()
        )),
    }
}

/// The `start_date` of a listing from `start`: the ledger keeps dates from
/// 0001-01-01 and refuses earlier bounds, so a start before its first day
/// (a look back from a date early in year 1) is no bound at all.
fn start_bound(start: Option<chrono::NaiveDate>) -> Option<freedumb_proto::google::r#type::Date> {
    use chrono::Datelike as _;
    start.filter(|d| d.year() >= 1).map(crate::domain::date)
}

#[cfg(test)]
mod start_bound_tests {
    use chrono::NaiveDate;

    use super::start_bound;

    #[test]
    fn a_start_before_year_one_is_no_bound() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a date");
        assert_eq!(start_bound(None), None);
        assert_eq!(start_bound(Some(day(0, 12, 30))), None);
        assert_eq!(start_bound(Some(day(-1, 1, 1))), None);
        let first = start_bound(Some(day(1, 1, 1))).expect("a bound");
        assert_eq!((first.year, first.month, first.day), (1, 1, 1));
        let later = start_bound(Some(day(2025, 11, 2))).expect("a bound");
        assert_eq!((later.year, later.month, later.day), (2025, 11, 2));
    }
}
