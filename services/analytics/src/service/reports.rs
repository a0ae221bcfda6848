//! Reports as long-running operations: `CreateReport` checks the request,
//! records the operation and the file it makes, and starts the work in the
//! background; the work writes the file in chunks, reporting progress and
//! stopping when cancelled; `DownloadReport` streams the chunks.
//!
//! A CSV report is written a year of periods at a time (memory bounded by
//! that, not by the range); a PDF holds only aggregates (a few hundred
//! categories, at most 60 chart periods).

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;

use chrono::Datelike as _;
use freedumb_kit::domain::Currency;
use freedumb_kit::operations::{OperationRecord, Outcome, State};
use freedumb_kit::peer::Credentials;
use freedumb_proto::analytics as pb;
use freedumb_proto::google::api::HttpBody;
use futures::Stream;
use tonic::Status;
use uuid::Uuid;

use super::figures::{Sums, bucket, cut, parsed};
use super::{AnalyticsApi, Result};
use crate::domain::{Interval, Span};
use crate::error::AnalyticsError;
use crate::report::pdf::{ReportData, render_pdf};
use crate::store::ReportFile;

/// Bytes per stored chunk (and per streamed message).
const CHUNK: usize = 256 * 1024;
/// Periods of a CSV report summed per read of the model.
const PERIODS_PER_READ: usize = 366;
/// Most periods a PDF chart shows.
const CHART_PERIODS: usize = 60;

/// A report's checked request.
#[derive(Debug, Clone)]
struct Spec {
    format: pb::ReportFormat,
    span: Span,
    interval: Interval,
    currency: Currency,
    periods: Vec<Span>,
}

/// Why a report stopped.
enum Stop {
    Cancelled,
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Stop {
    fn from(e: E) -> Self {
        Self::Failed(e.into())
    }
}

/// `minor` units as a plain decimal ("-1234.50").
fn decimal(minor: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10_i128.pow(exponent);
    let m = i128::from(minor);
    let sign = if m < 0 { "-" } else { "" };
    let (units, cents) = (m.abs() / scale, m.abs() % scale);
    format!("{sign}{units}.{cents:0width$}", width = exponent as usize)
}

/// A text cell a spreadsheet would not run as a formula: one starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`
/// (OWASP's advice for CSV injection).
pub fn neutralized(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// Appends `rows` to `out` as RFC 4180 CSV.
fn write_rows<const N: usize>(
    out: &mut Vec<u8>,
    rows: impl IntoIterator<Item = [String; N]>,
) -> csv::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for row in rows {
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}

impl AnalyticsApi {
    /// The caller's category names by id.
    async fn category_names(&self, credentials: &Credentials) -> Result<HashMap<Uuid, String>> {
        Ok(self
            .deps
            .ledger
            .categories(credentials)
            .await?
            .into_iter()
            .filter_map(|c| Some((Uuid::try_parse(&c.id).ok()?, c.name)))
            .collect())
    }

    pub(super) async fn create_report(
        &self,
        user_id: Uuid,
        credentials: Credentials,
        req: &pb::CreateReportRequest,
    ) -> Result<pb::CreateReportResponse> {
        let format = match pb::ReportFormat::try_from(req.format) {
            Ok(f @ (pb::ReportFormat::Csv | pb::ReportFormat::Pdf)) => Ok(f),
            _ => Err(AnalyticsError::field("format", "must be CSV or PDF")),
        };
        let parsed = parsed(
            req.start_date.as_ref(),
            req.end_date.as_ref(),
            Some(req.interval),
            &req.currency_code,
        );
        let (format, (span, interval, currency)) = match (format, parsed) {
            (Ok(f), Ok(p)) => (f, p),
            (
                Err(AnalyticsError::InvalidArgument(mut v)),
                Err(AnalyticsError::InvalidArgument(more)),
            ) => {
                v.extend(more);
                return Err(AnalyticsError::InvalidArgument(v));
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let periods = cut(span, interval)?;
        let names = self.category_names(&credentials).await?;
        let spec = Spec {
            format,
            span,
            interval,
            currency,
            periods,
        };
        let op = OperationRecord::start(user_id, "report", "starting");
        let (content_type, extension) = match format {
            pb::ReportFormat::Pdf => ("application/pdf", "pdf"),
            _ => ("text/csv; charset=utf-8", "csv"),
        };
        self.deps.operations.create(&op).await?;
        self.deps
            .reports
            .create_report_file(&ReportFile {
                operation_id: op.id,
                user_id,
                content_type: content_type.to_owned(),
                file_name: format!("freedumb-report-{}-{}.{extension}", span.start, span.end),
            })
            .await?;
        let api = self.clone();
        let id = op.id;
        tokio::spawn(async move {
            let outcome = match api.run(id, user_id, &credentials, &spec, &names).await {
                Ok(()) => Some(Outcome::Succeeded),
                Err(Stop::Cancelled) => None,
                Err(Stop::Failed(e)) => {
                    let trace = freedumb_kit::trace::current_trace_id();
                    tracing::error!(operation = %id, error = ?e, trace_id = %trace, "report failed");
                    Some(Outcome::Failed(
                        "INTERNAL".into(),
                        format!("the report could not be made (trace {trace})"),
                    ))
                }
            };
            if outcome.as_ref().is_none_or(|o| *o != Outcome::Succeeded)
                && let Err(e) = api.deps.reports.delete_report_chunks(id).await
            {
                tracing::warn!(operation = %id, error = %e, "dropping a report's chunks failed");
            }
            if let Some(outcome) = outcome
                && let Err(e) = api.deps.operations.finish(id, outcome).await
            {
                tracing::warn!(operation = %id, error = %e, "ending a report failed");
            }
        });
        metrics::counter!("analytics_reports_total", "format" => format.as_str_name()).increment(1);
        Ok(pb::CreateReportResponse {
            operation: Some(op.to_proto()),
        })
    }

    /// Reports progress; `Cancelled` once the operation was cancelled.
    async fn progress(&self, id: Uuid, percent: usize, message: String) -> Result<(), Stop> {
        let percent = i32::try_from(percent.min(99)).unwrap_or(99);
        if self.deps.operations.progress(id, percent, &message).await? {
            Ok(())
        } else {
            Err(Stop::Cancelled)
        }
    }

    async fn run(
        &self,
        id: Uuid,
        user_id: Uuid,
        credentials: &Credentials,
        spec: &Spec,
        names: &HashMap<Uuid, String>,
    ) -> Result<(), Stop> {
        let bytes = match spec.format {
            pb::ReportFormat::Pdf => self.pdf(id, user_id, credentials, spec, names).await?,
            _ => return self.csv(id, user_id, spec, names).await,
        };
        for (seq, chunk) in bytes.chunks(CHUNK).enumerate() {
            self.deps
                .reports
                .append_report_chunk(id, i32::try_from(seq)?, chunk.to_vec())
                .await?;
        }
        Ok(())
    }

    /// Writes the CSV report: a header, then one row per period and
    /// category (largest outflow first), a year of periods per read.
    async fn csv(
        &self,
        id: Uuid,
        user_id: Uuid,
        spec: &Spec,
        names: &HashMap<Uuid, String>,
    ) -> Result<(), Stop> {
        let exponent = spec.currency.exponent();
        let code = spec.currency.code();
        let mut out = Vec::with_capacity(CHUNK);
        write_rows(
            &mut out,
            [[
                "period_start",
                "period_end",
                "category_id",
                "category",
                "currency",
                "outflow",
                "inflow",
                "net",
                "count",
            ]
            .map(str::to_owned)],
        )?;
        let mut seq = 0;
        let total = spec.periods.len();
        for (n, group) in spec.periods.chunks(PERIODS_PER_READ).enumerate() {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let rows = self
                .deps
                .store
                .list_category_days(
                    user_id,
                    code,
                    Span {
                        start: first.start,
                        end: last.end,
                    },
                )
                .await?;
            for (period, sums) in group.iter().zip(bucket(group, &rows)) {
                let mut sums: Vec<_> = sums.into_iter().collect();
                sums.sort_by(|a, b| b.1.outflow.cmp(&a.1.outflow).then(a.0.cmp(&b.0)));
                let rows = sums.into_iter().map(|(category, s)| {
                    let name = match category {
                        None => "Uncategorized".to_owned(),
                        Some(c) => names
                            .get(&c)
                            .cloned()
                            .unwrap_or_else(|| "(deleted category)".into()),
                    };
                    [
                        period.start.to_string(),
                        period.end.to_string(),
                        category.map(|c| c.to_string()).unwrap_or_default(),
                        neutralized(&name),
                        code.to_owned(),
                        decimal(s.outflow, exponent),
                        decimal(s.inflow, exponent),
                        decimal(s.inflow - s.outflow, exponent),
                        s.count.to_string(),
                    ]
                });
                write_rows(&mut out, rows)?;
                if out.len() >= CHUNK {
                    let data = std::mem::take(&mut out);
                    self.deps.reports.append_report_chunk(id, seq, data).await?;
                    seq += 1;
                }
            }
            let done = (n * PERIODS_PER_READ + group.len()) * 100 / total.max(1);
            self.progress(id, done, format!("summed through {}", last.end))
                .await?;
        }
        if !out.is_empty() || seq == 0 {
            self.deps.reports.append_report_chunk(id, seq, out).await?;
        }
        Ok(())
    }

    /// Renders the PDF report.
    async fn pdf(
        &self,
        id: Uuid,
        user_id: Uuid,
        credentials: &Credentials,
        spec: &Spec,
        names: &HashMap<Uuid, String>,
    ) -> Result<Vec<u8>, Stop> {
        let code = spec.currency.code();
        let rows = self
            .deps
            .store
            .list_category_days(user_id, code, spec.span)
            .await?;
        self.progress(id, 20, "summing".into()).await?;
        let mut by_category: BTreeMap<Option<Uuid>, Sums> = BTreeMap::new();
        for r in &rows {
            by_category.entry(r.category_id).or_default().add(r);
        }
        let income: i64 = by_category.values().map(|s| s.inflow).sum();
        let spending: i64 = by_category.values().map(|s| s.outflow).sum();
        let mut categories: Vec<(String, i64)> = by_category
            .iter()
            .filter(|(_, s)| s.outflow > 0)
            .map(|(c, s)| {
                let name = c
                    .and_then(|c| names.get(&c).cloned())
                    .unwrap_or_else(|| "Uncategorized".into());
                (name, s.outflow)
            })
            .collect();
        categories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // At most 60 bars: the request's periods, or months, or years.
        let chart_interval = if spec.periods.len() <= CHART_PERIODS {
            spec.interval
        } else if cut(spec.span, Interval::Month).is_ok_and(|p| p.len() <= CHART_PERIODS) {
            Interval::Month
        } else {
            Interval::Year
        };
        let chart_periods = cut(spec.span, chart_interval).map_err(|e| anyhow::anyhow!("{e}"))?;
        let cash_flow = chart_periods
            .iter()
            .zip(bucket(&chart_periods, &rows))
            .map(|(p, sums)| {
                let label = match chart_interval {
                    Interval::Year => p.start.year().to_string(),
                    Interval::Month => p.start.format("%Y-%m").to_string(),
                    _ => p.start.to_string(),
                };
                (
                    label,
                    sums.values().map(|s| s.inflow).sum(),
                    sums.values().map(|s| s.outflow).sum(),
                )
            })
            .collect();
        self.progress(id, 50, "valuing net worth".into()).await?;
        let worth = self
            .net_worth(
                user_id,
                credentials,
                &pb::GetNetWorthRequest {
                    start_date: Some(freedumb_kit::domain::date(spec.span.start)),
                    end_date: Some(freedumb_kit::domain::date(spec.span.end)),
                    interval: match chart_interval {
                        Interval::Day => pb::Interval::Day,
                        Interval::Week => pb::Interval::Week,
                        Interval::Month => pb::Interval::Month,
                        Interval::Year => pb::Interval::Year,
                    }
                    .into(),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("net worth: {e}"))?;
        let net_worth = worth
            .series
            .iter()
            .filter(|s| s.currency_code == code)
            .flat_map(|s| &s.points)
            .filter_map(|p| {
                let day = freedumb_kit::domain::required_date(p.date.as_ref()).ok()?;
                Some((day, p.total.as_ref()?.amount_minor))
            })
            .collect();
        let data = ReportData {
            title: "Spending and income report".into(),
            start: spec.span.start,
            end: spec.span.end,
            currency: code.to_owned(),
            exponent: spec.currency.exponent(),
            generated: freedumb_kit::time::now(),
            income_minor: income,
            spending_minor: spending,
            savings_rate: (income > 0).then(|| (income - spending) as f64 / income as f64),
            by_category: categories,
            cash_flow,
            net_worth,
        };
        self.progress(id, 80, "drawing".into()).await?;
        Ok(tokio::task::spawn_blocking(move || render_pdf(&data)).await??)
    }

    pub(super) async fn download(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<(ReportFile, DownloadStream)> {
        let op = self
            .deps
            .operations
            .get(user_id, id)
            .await?
            .ok_or(AnalyticsError::NotFound("report"))?;
        if op.state != State::Succeeded {
            return Err(AnalyticsError::FailedPrecondition(format!(
                "the report is not ready: it is {} ({}%)",
                op.to_proto().state().as_str_name(),
                op.percent
            )));
        }
        let file = self
            .deps
            .reports
            .get_report_file(user_id, id)
            .await?
            .ok_or(AnalyticsError::NotFound("report"))?;
        let reports = self.deps.reports.clone();
        let content_type = file.content_type.clone();
        let stream = futures::stream::unfold(Some(0_i32), move |seq| {
            let (reports, content_type) = (reports.clone(), content_type.clone());
            async move {
                let seq = seq?;
                match reports.get_report_chunk(id, seq).await {
                    Ok(Some(data)) => Some((
                        Ok(HttpBody {
                            content_type: if seq == 0 {
                                content_type
                            } else {
                                String::new()
                            },
                            data,
                            extensions: Vec::new(),
                        }),
                        seq.checked_add(1),
                    )),
                    Ok(None) => None,
                    Err(e) => Some((Err(Status::from(AnalyticsError::from(e))), None)),
                }
            }
        });
        Ok((file, Box::pin(stream)))
    }
}

/// A report's chunks, streamed.
pub type DownloadStream = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_plain_decimals() {
        assert_eq!(decimal(-123_450, 2), "-1234.50");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(1500, 0), "1500");
        assert_eq!(decimal(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralized() {
        for formula in ["=SUM(A1)", "+1", "-2+3", "@cmd", "\tx", "\rx"] {
            assert!(neutralized(formula).starts_with('\''), "{formula:?}");
        }
        assert_eq!(neutralized("Groceries"), "Groceries");
        assert_eq!(neutralized("Café (Paris)"), "Café (Paris)");
    }
}
