//! Statement imports as operations, from every client and in every format:
//! a CSV uploaded over REST with nothing but the file, followed to its end
//! over NDJSON; the same statement as CSV, OFX, QIF, CAMT.053 and MT940
//! imports the same transactions, and importing any of them again skips
//! every line; the preview reads without writing; bad files are refused
//! with the field at fault and nothing stored; imports are their owner's;
//! a cancelled import keeps its batches and finishes when sent again.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use freedumb_proto::common::OperationState;
use freedumb_proto::ledger as pb;
use tonic::Code;

use crate::helpers::{
    TestApp, authed, http1_sender, ndjson, spawn_app, spawn_app_with, violated_fields,
};
use crate::ledger_support::{Ledger, account, balance, list_all, open_account};

const CSV: &[u8] = include_bytes!("../statements/bank.csv");
const OFX: &[u8] = include_bytes!("../statements/bank.ofx");
const QIF: &[u8] = include_bytes!("../statements/bank.qif");
const CAMT: &[u8] = include_bytes!("../statements/camt053.xml");
const MT940: &[u8] = include_bytes!("../statements/mt940.sta");

/// What the sample statement holds, in every format: (date, minor, description, merchant).
fn expected() -> BTreeSet<(String, i64, String, String)> {
    [
        ("2026-01-02", -2345, "Einkauf", "REWE Markt"),
        ("2026-01-03", 250_000, "Gehalt Januar", "Arbeitgeber GmbH"),
        ("2026-01-05", -6120, "Strom", "Stadtwerke"),
    ]
    .into_iter()
    .map(|(d, a, desc, m)| (d.to_owned(), a, desc.to_owned(), m.to_owned()))
    .collect()
}

/// The account's transactions as (date, minor, description, merchant),
/// and how many there are.
async fn recorded(
    ledger: &mut Ledger,
    token: &str,
    account_id: &str,
) -> (BTreeSet<(String, i64, String, String)>, usize) {
    let all = list_all(
        ledger,
        token,
        pb::ListTransactionsRequest {
            account_id: account_id.into(),
            page_size: 1000,
            ..Default::default()
        },
    )
    .await;
    let set = all
        .iter()
        .map(|t| {
            let d = t.date.as_ref().expect("date");
            (
                format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
                t.amount.as_ref().expect("amount").amount_minor,
                t.description.clone(),
                t.merchant.clone(),
            )
        })
        .collect();
    (set, all.len())
}

fn file(content_type: &str, data: &[u8]) -> Option<freedumb_proto::google::api::HttpBody> {
    Some(freedumb_proto::google::api::HttpBody {
        content_type: content_type.into(),
        data: data.to_vec(),
        extensions: Vec::new(),
    })
}

/// Starts an import over gRPC.
async fn start(
    ledger: &mut Ledger,
    token: &str,
    request: pb::CreateImportRequest,
) -> Result<pb::CreateImportResponse, tonic::Status> {
    ledger
        .create_import(authed(request, token))
        .await
        .map(tonic::Response::into_inner)
}

/// Waits for an import to end; its operation and result.
async fn finished(
    ledger: &mut Ledger,
    token: &str,
    operation_id: &str,
) -> (freedumb_proto::common::Operation, pb::ImportProgress) {
    for _ in 0..600 {
        let got = ledger
            .get_operation(authed(
                pb::GetOperationRequest {
                    operation_id: operation_id.into(),
                },
                token,
            ))
            .await
            .expect("get operation")
            .into_inner();
        let op = got.operation.expect("operation");
        if op.state() != OperationState::Running {
            return (op, got.import.expect("import"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import {operation_id} did not end within 60 s");
}

/// Imports `data` and waits for the end; the result.
async fn import_file(
    ledger: &mut Ledger,
    token: &str,
    account_id: &str,
    data: &[u8],
) -> pb::ImportProgress {
    let started = start(
        ledger,
        token,
        pb::CreateImportRequest {
            account_id: account_id.into(),
            file: file("", data),
            ..Default::default()
        },
    )
    .await
    .expect("import starts");
    let id = started.operation.expect("operation").id;
    let (op, import) = finished(ledger, token, &id).await;
    assert_eq!(op.state(), OperationState::Succeeded, "{op:?}");
    assert_eq!(op.percent, 100);
    import
}

/// A raw POST of `body` to the gateway: (status, JSON).
async fn post_file(
    addr: SocketAddr,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt as _;
    let mut sender = http1_sender(addr).await;
    let request = http::Request::post(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::CONTENT_TYPE, content_type)
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .expect("request");
    let response = sender.send_request(request).await.expect("send");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_csv_uploaded_over_rest_with_no_options_is_detected_and_followed_to_its_end() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let gateway = app.gateway_addr.expect("gateway");
    // A single-byte encoding, as German banks export: `ä` is one byte.
    let text = std::str::from_utf8(CSV).expect("utf-8");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);

    let (status, preview) = post_file(
        gateway,
        &format!("/v1/accounts/{}/imports:preview", acc.id),
        &token,
        "text/csv",
        bytes.to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["format"], "STATEMENT_FORMAT_CSV");
    assert_eq!(preview["csv"]["delimiter"], ";");
    assert_eq!(preview["csv"]["dateFormat"], "%d.%m.%Y");
    // No byte of 0x80-0x9F: read as ISO-8859-1 (which agrees with
    // Windows-1252 on every byte it has).
    assert_eq!(preview["csv"]["encoding"], "ISO-8859-1");
    assert_eq!(preview["csv"]["merchantColumn"], "Empfänger");
    assert_eq!(preview["entries"][1]["amount"]["amountMinor"], "250000");
    assert_eq!(
        recorded(&mut ledger, &token, &acc.id).await.1,
        0,
        "a preview writes nothing"
    );

    let (status, started) = post_file(
        gateway,
        &format!("/v1/accounts/{}/imports", acc.id),
        &token,
        "text/csv",
        bytes.to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let id = started["operation"]["id"].as_str().expect("id").to_owned();
    assert_eq!(started["operation"]["kind"], "import");
    let mut watch = ndjson(
        gateway,
        &format!("/v1/ledger/operations/{id}:watch"),
        &token,
    )
    .await;
    let last = loop {
        let line = watch.next_line().await;
        if line["operation"]["state"] != "OPERATION_STATE_RUNNING" {
            break line;
        }
    };
    assert_eq!(
        last["operation"]["state"], "OPERATION_STATE_SUCCEEDED",
        "{last}"
    );
    assert_eq!(last["import"]["imported"], "4");
    assert_eq!(last["import"]["linesRead"], "4");
    assert_eq!(last["import"]["format"], "STATEMENT_FORMAT_CSV");
    let (set, n) = recorded(&mut ledger, &token, &acc.id).await;
    assert_eq!((set, n), (expected(), 4));
    assert_eq!(
        balance(&account(&mut ledger, &token, &acc.id).await),
        -2345 + 250_000 - 6120 * 2
    );

    // A multipart form, as a browser's file input sends it: all duplicates.
    let mut form = b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"jan.csv\"\r\nContent-Type: text/csv\r\n\r\n".to_vec();
    form.extend_from_slice(&bytes);
    form.extend_from_slice(b"\r\n--b0undary--\r\n");
    let (status, again) = post_file(
        gateway,
        &format!("/v1/accounts/{}/imports", acc.id),
        &token,
        "multipart/form-data; boundary=b0undary",
        form,
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let id = again["operation"]["id"].as_str().expect("id").to_owned();
    let (_, import) = finished(&mut ledger, &token, &id).await;
    assert_eq!((import.imported, import.skipped_duplicates), (0, 4));
}

#[tokio::test]
async fn every_format_of_the_same_statement_imports_the_same_transactions_once() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    for (name, data, pending) in [
        ("csv", CSV, 0),
        ("ofx", OFX, 0),
        ("qif", QIF, 0),
        ("camt", CAMT, 1),
        ("mt940", MT940, 0),
    ] {
        let acc = open_account(&mut ledger, &token, "EUR", 0).await;
        let first = import_file(&mut ledger, &token, &acc.id, data).await;
        assert_eq!(
            (first.imported, first.skipped_pending, first.error_count),
            (4, pending, 0),
            "{name}: {first:?}"
        );
        let (set, n) = recorded(&mut ledger, &token, &acc.id).await;
        assert_eq!((set, n), (expected(), 4), "{name}");
        let again = import_file(&mut ledger, &token, &acc.id, data).await;
        assert_eq!(
            (again.imported, again.skipped_duplicates),
            (0, 4),
            "{name} again"
        );
        assert_eq!(recorded(&mut ledger, &token, &acc.id).await.1, 4, "{name}");
    }
}

/// Sends only the head of an upload declaring `length` bytes; the answer.
async fn declare_upload(addr: SocketAddr, path: &str, token: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    String::from_utf8_lossy(answer.get(..n).unwrap_or_default()).into_owned()
}

/// A file that must be refused: what it is, its bytes, the format and CSV
/// options sent with it, and the field the refusal names.
type BadFile<'a> = (
    &'a str,
    Vec<u8>,
    pb::StatementFormat,
    Option<pb::CsvOptions>,
    &'a str,
);

/// Whether `status` is INVALID_ARGUMENT naming `field`.
fn refused_on(status: &tonic::Status, field: &str) -> bool {
    status.code() == Code::InvalidArgument && violated_fields(status).iter().any(|f| f == field)
}

#[tokio::test]
async fn bad_files_are_refused_with_the_field_and_nothing_is_stored() {
    let app = spawn_app_with(
        Default::default(),
        &[
            ("FREEDUMB_LEDGER__IMPORT_MAX_BYTES", "12000000"),
            ("FREEDUMB_GATEWAY__UPLOAD_MAX_BYTES", "12000000"),
        ],
    )
    .await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><x>&lol3;</x></Document>"#;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let wide = ",".repeat(10_000_000).into_bytes();
    let too_large = vec![b'x'; 12_000_001];
    let cases: Vec<BadFile<'_>> = vec![
        (
            "a PNG",
            png.to_vec(),
            pb::StatementFormat::Unspecified,
            None,
            "file",
        ),
        (
            "an XML bomb",
            bomb.to_vec(),
            pb::StatementFormat::Unspecified,
            None,
            "file",
        ),
        (
            "XML that is no statement",
            b"<?xml version=\"1.0\"?><html><body/></html>".to_vec(),
            pb::StatementFormat::Unspecified,
            None,
            "file",
        ),
        (
            "a CSV of ten million columns",
            wide.clone(),
            pb::StatementFormat::Unspecified,
            None,
            "csv.delimiter",
        ),
        (
            "a CSV of ten million columns, its layout given",
            wide,
            pb::StatementFormat::Csv,
            Some(pb::CsvOptions {
                has_header: Some(false),
                date_column: "1".into(),
                amount_column: "2".into(),
                ..Default::default()
            }),
            "file",
        ),
        (
            "OFX that is cut off",
            OFX[..OFX.len() / 2].to_vec(),
            pb::StatementFormat::Unspecified,
            None,
            "file",
        ),
        (
            "a file over the limit",
            too_large,
            pb::StatementFormat::Unspecified,
            None,
            "file.data",
        ),
    ];
    for (what, data, format, csv, field) in cases {
        let err = start(
            &mut ledger,
            &token,
            pb::CreateImportRequest {
                account_id: acc.id.clone(),
                file: file("application/octet-stream", &data),
                format: format.into(),
                csv,
                ..Default::default()
            },
        )
        .await
        .expect_err(what);
        assert!(refused_on(&err, field), "{what}: {err:?}");
    }
    let err = start(
        &mut ledger,
        &token,
        pb::CreateImportRequest {
            account_id: acc.id.clone(),
            file: file("", CSV),
            format: 99,
            csv: Some(pb::CsvOptions {
                encoding: "ebcdic".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect_err("bad fields");
    assert!(
        refused_on(&err, "format") && refused_on(&err, "csv.encoding"),
        "{err:?}"
    );
    let err = ledger
        .preview_import(authed(
            pb::PreviewImportRequest {
                account_id: "not an id".into(),
                file: file("", CSV),
                format: 99,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("a bad preview");
    assert!(
        refused_on(&err, "account_id") && refused_on(&err, "format"),
        "{err:?}"
    );
    let err = ledger
        .get_operation(authed(
            pb::GetOperationRequest {
                operation_id: "42".into(),
            },
            &token,
        ))
        .await
        .expect_err("a bad operation id");
    assert!(refused_on(&err, "operation_id"), "{err:?}");

    // Over REST the limit is the gateway's 413, answered on the declared
    // length before the body is read.
    let answer = declare_upload(
        app.gateway_addr.expect("gateway"),
        &format!("/v1/accounts/{}/imports", acc.id),
        &token,
        12_000_001,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("12000000"), "{answer}");

    // Nothing stored, nothing started, and the process answers.
    assert_eq!(recorded(&mut ledger, &token, &acc.id).await.1, 0);
    let listed = ledger
        .list_operations(authed(pb::ListOperationsRequest::default(), &token))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.operations.is_empty(), "{listed:?}");
    assert_eq!(
        import_file(&mut ledger, &token, &acc.id, CSV)
            .await
            .imported,
        4
    );
}

#[tokio::test]
async fn imports_are_their_owners() {
    let app = spawn_app().await;
    let (alice, bob) = (app.token().await, app.token().await);
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &alice, "EUR", 0).await;
    let started = start(
        &mut ledger,
        &alice,
        pb::CreateImportRequest {
            account_id: acc.id.clone(),
            file: file("text/csv", CSV),
            ..Default::default()
        },
    )
    .await
    .expect("alice imports");
    let id = started.operation.expect("operation").id;

    let into_alices = start(
        &mut ledger,
        &bob,
        pb::CreateImportRequest {
            account_id: acc.id.clone(),
            file: file("text/csv", CSV),
            ..Default::default()
        },
    )
    .await
    .expect_err("bob cannot import into alice's account");
    assert_eq!(into_alices.code(), Code::NotFound);
    let get = ledger
        .get_operation(authed(
            pb::GetOperationRequest {
                operation_id: id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("bob cannot follow it");
    assert_eq!(get.code(), Code::NotFound);
    let watch = ledger
        .watch_operation(authed(
            pb::WatchOperationRequest {
                operation_id: id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("nor watch it");
    assert_eq!(watch.code(), Code::NotFound);
    let cancel = ledger
        .cancel_operation(authed(
            pb::CancelOperationRequest {
                operation_id: id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("nor cancel it");
    assert_eq!(cancel.code(), Code::NotFound);
    let (op, import) = finished(&mut ledger, &alice, &id).await;
    assert_eq!(op.state(), OperationState::Succeeded);
    assert_eq!(import.imported, 4);
    let bobs = ledger
        .list_operations(authed(pb::ListOperationsRequest::default(), &bob))
        .await
        .expect("list")
        .into_inner();
    assert!(bobs.operations.is_empty());
}

/// A CSV of `n` distinct lines.
fn many_lines(n: usize) -> Vec<u8> {
    let mut csv = String::from("Date,Amount,Description\n");
    for i in 0..n {
        csv.push_str(&format!(
            "2025-{:02}-{:02},-{}.{:02},Line {i}\n",
            i % 12 + 1,
            i % 28 + 1,
            i % 90 + 1,
            i % 100
        ));
    }
    csv.into_bytes()
}

#[tokio::test]
async fn a_cancelled_import_keeps_its_batches_and_the_same_file_finishes_it() {
    let app = spawn_app_with(
        Default::default(),
        &[("FREEDUMB_LEDGER__IMPORT_BATCH_LINES", "500")],
    )
    .await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let data = many_lines(60_000);
    let started = start(
        &mut ledger,
        &token,
        pb::CreateImportRequest {
            account_id: acc.id.clone(),
            file: file("text/csv", &data),
            request_id: "jan-statement".into(),
            ..Default::default()
        },
    )
    .await
    .expect("starts");
    let id = started.operation.expect("operation").id;
    // The same request id answers with the same operation.
    let replay = start(
        &mut ledger,
        &token,
        pb::CreateImportRequest {
            account_id: acc.id.clone(),
            file: file("text/csv", &data),
            request_id: "jan-statement".into(),
            ..Default::default()
        },
    )
    .await
    .expect("replays");
    assert_eq!(replay.operation.expect("operation").id, id);
    let cancelled = ledger
        .cancel_operation(authed(
            pb::CancelOperationRequest {
                operation_id: id.clone(),
            },
            &token,
        ))
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(
        cancelled.operation.expect("operation").state(),
        OperationState::Cancelled
    );
    // The job stops after the batch it is writing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, kept) = finished(&mut ledger, &token, &id).await;
    let (_, n) = recorded(&mut ledger, &token, &acc.id).await;
    assert_eq!(n as i64, kept.imported, "the counts match what is stored");
    assert!(kept.imported < 60_000, "stopped early: {kept:?}");
    assert_eq!(kept.imported % 500, 0, "whole batches: {kept:?}");

    let rest = import_file(&mut ledger, &token, &acc.id, &data).await;
    assert_eq!(rest.imported + rest.skipped_duplicates, 60_000);
    assert_eq!(rest.skipped_duplicates, kept.imported);
    assert_eq!(recorded(&mut ledger, &token, &acc.id).await.1, 60_000);
}

/// Kept for the kill drill: the app and a user with an account.
async fn user_with_account(app: &TestApp) -> (String, String) {
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    (token, acc.id)
}

/// The kill drill's file: 200,000 lines in CI; the full drill is
/// `IMPORT_DRILL_LINES=1000000 cargo test -p freedumb-mesh --test e2e kill_9_in_the_middle`.
fn drill_lines() -> usize {
    std::env::var("IMPORT_DRILL_LINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}

#[tokio::test]
async fn kill_9_in_the_middle_of_an_import_then_the_same_file_records_every_line_once() {
    let Some(backends) = crate::helpers::production_backends().await else {
        return;
    };
    let lines = drill_lines();
    let data = many_lines(lines);
    let mut app = spawn_app_with(backends.clone(), &[]).await;
    let (token, account_id) = user_with_account(&app).await;
    let mut ledger = app.ledger().await;
    let started = start(
        &mut ledger,
        &token,
        pb::CreateImportRequest {
            account_id: account_id.clone(),
            file: file("text/csv", &data),
            ..Default::default()
        },
    )
    .await
    .expect("starts");
    let id = started.operation.expect("operation").id;
    // Kill it once some batches are in and before the end.
    loop {
        let got = ledger
            .get_operation(authed(
                pb::GetOperationRequest {
                    operation_id: id.clone(),
                },
                &token,
            ))
            .await
            .expect("get")
            .into_inner();
        let import = got.import.expect("import");
        assert_eq!(
            got.operation.expect("operation").state(),
            OperationState::Running,
            "the import ended before the kill; make the file larger"
        );
        if import.imported >= 20_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.kill9();

    let app = spawn_app_with(backends, &[]).await;
    let mut ledger = app.ledger().await;
    // The killed import's counts were written with its batches: they are
    // what survived, and the ledger holds exactly that many.
    let killed = ledger
        .get_operation(authed(
            pb::GetOperationRequest {
                operation_id: id.clone(),
            },
            &token,
        ))
        .await
        .expect("the killed import")
        .into_inner()
        .import
        .expect("import");
    let before = usize::try_from(killed.imported).expect("a count");
    assert!(
        before > 0 && before < lines,
        "{before} lines survived the kill"
    );
    assert_eq!(recorded(&mut ledger, &token, &account_id).await.1, before);
    let rest = import_file(&mut ledger, &token, &account_id, &data).await;
    assert_eq!(rest.skipped_duplicates as usize, before);
    assert_eq!(rest.imported as usize, lines - before);
    let (_, after) = recorded(&mut ledger, &token, &account_id).await;
    assert_eq!(after, lines, "every line exactly once");
    let total: i64 = many_lines_total(lines);
    assert_eq!(
        balance(&account(&mut ledger, &token, &account_id).await),
        total
    );
}

/// The sum of [`many_lines`] in minor units.
fn many_lines_total(n: usize) -> i64 {
    (0..n)
        .map(|i| -((i % 90 + 1) as i64 * 100 + (i % 100) as i64))
        .sum()
}
