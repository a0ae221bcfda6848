//! Reports as long-running operations: a CSV report whose totals equal the
//! ledger's (its formula-like category names neutralized) and a PDF with
//! the totals and three charts, read back with pdftotext and pypdf; both
//! followed with WatchOperation and downloaded over gRPC and as a file
//! over REST; another user's operation is NOT_FOUND; bad input is named.

use futures::StreamExt as _;

use freedumb_proto::analytics as apb;
use freedumb_proto::analytics::analytics_service_client::AnalyticsServiceClient;
use freedumb_proto::common::OperationState;
use freedumb_proto::ledger as pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{TestApp, authed, spawn_app, tool, violated_fields};
use crate::ledger_support::{Ledger, create, date, money, open_account};

type Analytics = AnalyticsServiceClient<Channel>;

async fn category(ledger: &mut Ledger, token: &str, name: &str) -> String {
    ledger
        .create_category(authed(
            pb::CreateCategoryRequest {
                category: Some(pb::Category {
                    name: name.into(),
                    kind: pb::CategoryKind::Expense.into(),
                    ..Default::default()
                }),
            },
            token,
        ))
        .await
        .expect("category")
        .into_inner()
        .category
        .expect("category")
        .id
}

/// A user with a quarter of spending; returns the token and the total
/// spent (minor units).
async fn seeded(app: &TestApp) -> (String, i64) {
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    let formula = category(&mut ledger, &token, "=HYPERLINK(\"http://x\")").await;
    let food = category(&mut ledger, &token, "Food, \"fresh\"").await;
    let mut spent = 0;
    for (n, (minor, cat)) in [
        (-12_345, &food),
        (-2_000, &formula),
        (-70_000, &food),
        (250_000, &String::new()),
        (-999, &String::new()),
    ]
    .into_iter()
    .enumerate()
    {
        create(
            &mut ledger,
            &token,
            pb::CreateTransactionRequest {
                account_id: account.id.clone(),
                amount: money("EUR", minor),
                date: date(2024, 1 + i32::try_from(n % 3).expect("small"), 10),
                description: format!("line {n}"),
                category_id: cat.clone(),
                ..Default::default()
            },
        )
        .await;
        if minor < 0 {
            spent -= minor;
        }
    }
    // The read model follows the ledger within moments.
    let mut an = AnalyticsServiceClient::connect(app.url())
        .await
        .expect("connect");
    for _ in 0..100 {
        let flow = an
            .get_cash_flow(authed(
                apb::GetCashFlowRequest {
                    start_date: date(2024, 1, 1),
                    end_date: date(2024, 3, 31),
                    interval: apb::Interval::Month.into(),
                    currency_code: "EUR".into(),
                },
                &token,
            ))
            .await
            .expect("cash flow")
            .into_inner();
        if flow.total.and_then(|t| t.spending) == money("EUR", spent) {
            return (token, spent);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the read model did not catch up");
}

/// Starts a report and watches it to its end; returns its id.
async fn report(an: &mut Analytics, token: &str, format: apb::ReportFormat) -> String {
    let op = an
        .create_report(authed(
            apb::CreateReportRequest {
                format: format.into(),
                start_date: date(2024, 1, 1),
                end_date: date(2024, 3, 31),
                interval: apb::Interval::Month.into(),
                currency_code: "EUR".into(),
            },
            token,
        ))
        .await
        .expect("create report")
        .into_inner()
        .operation
        .expect("operation");
    assert_eq!(op.kind, "report");
    let mut watch = an
        .watch_operation(authed(
            apb::WatchOperationRequest {
                operation_id: op.id.clone(),
            },
            token,
        ))
        .await
        .expect("watch")
        .into_inner();
    let mut last = None;
    while let Some(update) = watch.next().await {
        last = update.expect("update").operation;
    }
    let last = last.expect("a state");
    assert_eq!(last.state(), OperationState::Succeeded, "{last:?}");
    assert_eq!(last.percent, 100);
    op.id
}

async fn download(an: &mut Analytics, token: &str, id: &str) -> (String, Vec<u8>) {
    let mut stream = an
        .download_report(authed(
            apb::DownloadReportRequest {
                operation_id: id.to_owned(),
            },
            token,
        ))
        .await
        .expect("download")
        .into_inner();
    let (mut content_type, mut bytes) = (String::new(), Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        if content_type.is_empty() {
            content_type = chunk.content_type;
        }
        bytes.extend(chunk.data);
    }
    (content_type, bytes)
}

/// The file over REST: status, content type, disposition, body.
async fn rest_download(app: &TestApp, token: &str, id: &str) -> (u16, String, String, Vec<u8>) {
    let gw = app.gateway_addr.expect("gateway");
    let request = http::Request::get(format!("/v1/analytics/reports/{id}:download"))
        .header(http::header::HOST, gw.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .expect("request");
    let mut sender = crate::helpers::http1_sender(gw).await;
    let response = sender.send_request(request).await.expect("send");
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, content_type, disposition) = (
        response.status().as_u16(),
        header(http::header::CONTENT_TYPE),
        header(http::header::CONTENT_DISPOSITION),
    );
    use http_body_util::BodyExt as _;
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, content_type, disposition, body.to_vec())
}

#[tokio::test]
async fn a_csv_report_sums_to_the_ledger_and_downloads_as_a_file() {
    let app = spawn_app().await;
    let (token, spent) = seeded(&app).await;
    let mut an = AnalyticsServiceClient::connect(app.url())
        .await
        .expect("connect");
    let id = report(&mut an, &token, apb::ReportFormat::Csv).await;
    let (content_type, bytes) = download(&mut an, &token, &id).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers = reader.headers().expect("header").clone();
    assert_eq!(&headers[5], "outflow");
    let mut outflow = 0.0;
    let mut names = Vec::new();
    for row in reader.records() {
        let row = row.expect("RFC 4180 row");
        outflow += row[5].parse::<f64>().expect("amount");
        names.push(row[3].to_owned());
    }
    assert!(
        (outflow * 100.0 - spent as f64).abs() < 0.5,
        "{outflow} vs {spent}"
    );
    assert!(
        names.contains(&"'=HYPERLINK(\"http://x\")".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"Food, \"fresh\"".to_owned()), "{names:?}");

    let (status, rest_type, disposition, body) = rest_download(&app, &token, &id).await;
    assert_eq!(status, 200);
    assert_eq!(rest_type, "text/csv; charset=utf-8");
    assert_eq!(
        disposition,
        "attachment; filename=\"freedumb-report-2024-01-01-2024-03-31.csv\""
    );
    assert_eq!(body, bytes);
}

#[tokio::test]
async fn a_pdf_report_holds_the_totals_and_three_charts() {
    let app = spawn_app().await;
    let (token, spent) = seeded(&app).await;
    let mut an = AnalyticsServiceClient::connect(app.url())
        .await
        .expect("connect");
    let id = report(&mut an, &token, apb::ReportFormat::Pdf).await;
    let (content_type, bytes) = download(&mut an, &token, &id).await;
    assert_eq!(content_type, "application/pdf");
    assert!(bytes.starts_with(b"%PDF-"));
    let (status, rest_type, disposition, body) = rest_download(&app, &token, &id).await;
    assert_eq!((status, rest_type.as_str()), (200, "application/pdf"));
    assert!(disposition.ends_with(".pdf\""), "{disposition}");
    assert_eq!(body, bytes);

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, &bytes).expect("write");
    let Some(pdftotext) = tool("pdftotext") else {
        return;
    };
    let text = std::process::Command::new(pdftotext)
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&text.stdout);
    let spent_text = freedumb_analytics::report::pdf::format_money(spent, 2, "EUR");
    assert!(text.contains(&spent_text), "{spent_text} not in:\n{text}");
    assert!(text.contains("2,500.00 EUR"), "income not in:\n{text}");
    assert!(text.contains("Food, \"fresh\""), "{text}");
    let Some(python) = tool("python3") else {
        return;
    };
    let images = std::process::Command::new(python)
        .args([
            "-c",
            "import pypdf,sys; r=pypdf.PdfReader(sys.argv[1]); print(sum(len(p.images) for p in r.pages))",
        ])
        .arg(&file)
        .output()
        .expect("pypdf");
    assert_eq!(
        String::from_utf8_lossy(&images.stdout).trim(),
        "3",
        "{}",
        String::from_utf8_lossy(&images.stderr)
    );
}

#[tokio::test]
async fn another_users_operation_is_not_found_and_bad_requests_are_named() {
    let app = spawn_app().await;
    let (alice, _) = seeded(&app).await;
    let bob = app.token().await;
    let mut an = AnalyticsServiceClient::connect(app.url())
        .await
        .expect("connect");
    let id = report(&mut an, &alice, apb::ReportFormat::Csv).await;
    let get = an
        .get_operation(authed(
            apb::GetOperationRequest {
                operation_id: id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("get");
    assert_eq!(get.code(), Code::NotFound);
    let watch = an
        .watch_operation(authed(
            apb::WatchOperationRequest {
                operation_id: id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("watch");
    assert_eq!(watch.code(), Code::NotFound);
    let cancel = an
        .cancel_operation(authed(
            apb::CancelOperationRequest {
                operation_id: id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("cancel");
    assert_eq!(cancel.code(), Code::NotFound);
    let download = an
        .download_report(authed(
            apb::DownloadReportRequest {
                operation_id: id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("download");
    assert_eq!(download.code(), Code::NotFound);
    let (status, _, _, _) = rest_download(&app, &bob, &id).await;
    assert_eq!(status, 404);
    let listed = an
        .list_operations(authed(apb::ListOperationsRequest::default(), &bob))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.operations.is_empty());
    // Cancelling a finished report leaves it finished.
    let done = an
        .cancel_operation(authed(
            apb::CancelOperationRequest { operation_id: id },
            &alice,
        ))
        .await
        .expect("cancel")
        .into_inner()
        .operation
        .expect("operation");
    assert_eq!(done.state(), OperationState::Succeeded);

    let err = an
        .create_report(authed(
            apb::CreateReportRequest {
                format: 0,
                start_date: date(2024, 1, 1),
                end_date: date(2024, 3, 31),
                interval: 0,
                currency_code: "??".into(),
            },
            &alice,
        ))
        .await
        .expect_err("bad");
    assert_eq!(violated_fields(&err), ["format", "currency_code"]);
    // Thirty years of daily rows are refused, naming the interval.
    let err = an
        .create_report(authed(
            apb::CreateReportRequest {
                format: apb::ReportFormat::Csv.into(),
                start_date: date(1995, 1, 1),
                end_date: date(2024, 12, 31),
                interval: apb::Interval::Day.into(),
                currency_code: "EUR".into(),
            },
            &alice,
        ))
        .await
        .expect_err("too many rows");
    assert_eq!(violated_fields(&err), ["interval"]);
}
