//! Net worth over time: each ledger account's balance at the end of each
//! period (its balance now, less what changed after that day, from the
//! read model), with the accounts that hold a portfolio counted at the
//! portfolio's market value instead (read from the investment service as
//! the caller). One series per currency.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{date, money, optional_date, required_date};
use freedumb_kit::peer::{Credentials, PeerError, all_pages, failed};
use freedumb_proto::analytics as pb;
use freedumb_proto::investment as ipb;
use freedumb_proto::investment::investment_service_client::InvestmentServiceClient;
use tonic::transport::Channel;
use uuid::Uuid;

use super::figures::{cut, range};
use super::{AnalyticsApi, Result};
use crate::domain::{Interval, Span};
use crate::error::AnalyticsError;

/// The investment service, as logs and messages name it.
const PEER: &str = "the investment service";

/// A client of the investment service.
#[derive(Clone)]
pub struct InvestmentPeer {
    client: InvestmentServiceClient<Channel>,
}

/// A portfolio's value per day, with its currency.
struct PortfolioValues {
    account_id: Option<Uuid>,
    currency: String,
    /// (day, minor units), oldest first.
    values: Vec<(NaiveDate, i64)>,
}

impl InvestmentPeer {
    /// A client of the investment service at `url` (connected on first
    /// use).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: InvestmentServiceClient::new(freedumb_kit::peer::channel(url)?),
        })
    }

    /// The caller's portfolios with their daily values over `span`.
    async fn values(
        &self,
        credentials: &Credentials,
        span: Span,
    ) -> Result<Vec<PortfolioValues>, PeerError> {
        let portfolios = all_pages(PEER, |page_token| {
            let mut client = self.client.clone();
            let request = credentials.request(ipb::ListPortfoliosRequest {
                page_size: 1000,
                page_token,
            });
            async move {
                let page = client.list_portfolios(request).await?.into_inner();
                Ok((page.portfolios, page.next_page_token))
            }
        })
        .await?;
        let days = (span.end - span.start).num_days();
        let interval = if days < 20_000 {
            ipb::ValueInterval::Day
        } else {
            ipb::ValueInterval::Month
        };
        let mut out = Vec::with_capacity(portfolios.len());
        for p in portfolios {
            let request = credentials.request(ipb::ListPortfolioValuesRequest {
                portfolio_id: p.id.clone(),
                start_date: Some(date(span.start)),
                end_date: Some(date(span.end)),
                interval: interval.into(),
            });
            let values = self
                .client
                .clone()
                .list_portfolio_values(request)
                .await
                .map_err(|s| failed(PEER, s))?
                .into_inner();
            out.push(PortfolioValues {
                account_id: Uuid::try_parse(&p.account_id).ok(),
                currency: p.base_currency_code,
                values: values
                    .values
                    .iter()
                    .filter_map(|v| {
                        let day = required_date(v.date.as_ref()).ok()?;
                        Some((day, v.market_value.as_ref()?.amount_minor))
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}

/// The latest value on or before `day`.
fn at(values: &[(NaiveDate, i64)], day: NaiveDate) -> i64 {
    let n = values.partition_point(|(d, _)| *d <= day);
    n.checked_sub(1).map_or(0, |i| values[i].1)
}

impl AnalyticsApi {
    pub(super) async fn net_worth(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        req: &pb::GetNetWorthRequest,
    ) -> Result<pb::GetNetWorthResponse> {
        let mut v = FieldViolations::new();
        let end = v
            .check("end_date", optional_date(req.end_date.as_ref()))
            .map(|e| e.unwrap_or_else(|| freedumb_kit::time::now().date_naive()));
        let end = end.map(date);
        let span = range(&mut v, req.start_date.as_ref(), end.as_ref());
        let interval = v.check("interval", Interval::from_proto(req.interval));
        let (Some(span), Some(interval)) = (span, interval) else {
            return Err(AnalyticsError::InvalidArgument(v));
        };
        let days: Vec<NaiveDate> = cut(span, interval)?.iter().map(|p| p.end).collect();

        let accounts = self.deps.ledger.accounts(credentials).await?;
        let (portfolios, problem) = match self.deps.investment.values(credentials, span).await {
            Ok(p) => (p, String::new()),
            Err(e) => {
                tracing::warn!(error = %e, "net worth without investments");
                (
                    Vec::new(),
                    "the investment service could not be reached; portfolios are left out"
                        .to_owned(),
                )
            }
        };
        let linked: HashSet<Uuid> = portfolios.iter().filter_map(|p| p.account_id).collect();
        let before = span.start.pred_opt().unwrap_or(span.start);
        let changes = self
            .deps
            .store
            .list_account_days_after(user_id, before)
            .await?;
        let mut by_account: HashMap<Uuid, Vec<(NaiveDate, i64)>> = HashMap::new();
        for c in changes {
            by_account
                .entry(c.account_id)
                .or_default()
                .push((c.day, c.net_minor));
        }
        // currency → per point: (accounts, investments)
        let mut series: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for a in accounts.iter().filter(|a| !a.archived) {
            let (Ok(id), Some(balance)) = (Uuid::try_parse(&a.id), a.balance.as_ref()) else {
                continue;
            };
            if linked.contains(&id) {
                continue;
            }
            let flows = by_account.get(&id).map(Vec::as_slice).unwrap_or_default();
            let total_after: Vec<i64> = {
                // What changed after each day: the flows' sum from the end.
                let mut suffix = vec![0; flows.len() + 1];
                for i in (0..flows.len()).rev() {
                    suffix[i] = suffix[i + 1] + flows[i].1;
                }
                days.iter()
                    .map(|d| suffix[flows.partition_point(|(day, _)| day <= d)])
                    .collect()
            };
            let points = series
                .entry(balance.currency_code.clone())
                .or_insert_with(|| vec![(0, 0); days.len()]);
            for (point, after) in points.iter_mut().zip(total_after) {
                point.0 += balance.amount_minor - after;
            }
        }
        for p in &portfolios {
            let points = series
                .entry(p.currency.clone())
                .or_insert_with(|| vec![(0, 0); days.len()]);
            for (point, d) in points.iter_mut().zip(&days) {
                point.1 += at(&p.values, *d);
            }
        }
        Ok(pb::GetNetWorthResponse {
            series: series
                .into_iter()
                .map(|(code, points)| pb::NetWorthSeries {
                    points: days
                        .iter()
                        .zip(points)
                        .map(|(d, (accounts, investments))| pb::NetWorthPoint {
                            date: Some(date(*d)),
                            total: Some(money(&code, accounts + investments)),
                            accounts: Some(money(&code, accounts)),
                            investments: Some(money(&code, investments)),
                        })
                        .collect(),
                    currency_code: code,
                })
                .collect(),
            investments_problem: problem,
        })
    }
}
