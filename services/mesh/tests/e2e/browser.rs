//! A real browser (Debian's headless Chromium, driven by playwright-core)
//! loads a page served by the gateway that calls Register, Login and GetMe
//! over gRPC-web with a generated Connect client (`gateway-rest/web`,
//! built by `npm run build` there), then imports a bank statement: as a
//! file uploaded over REST, followed to its end over the NDJSON watch, and
//! again over gRPC-web (all duplicates). Required in CI.

use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::{Backends, spawn_app_with};

fn web_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../gateway-rest/web"
    ))
}

#[tokio::test]
async fn a_browser_registers_reads_me_and_imports_a_statement_over_rest_and_grpc_web() {
    let web = web_dir();
    let built = web.join("dist/main.js").is_file() && web.join("node_modules").is_dir();
    let chromium = std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !built || !chromium.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must build gateway-rest/web (npm ci && npm run build) and install chromium"
        );
        eprintln!("skipping: gateway-rest/web is not built or chromium is missing");
        return;
    }
    let dist = web.join("dist").display().to_string();
    let app = spawn_app_with(
        Backends::default(),
        &[("FREEDUMB_GATEWAY__STATIC_DIR", dist.as_str())],
    )
    .await;
    let gw = app.gateway_addr.expect("gateway");
    let url = format!("http://{gw}/app/index.html");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(web_dir().join("run.mjs"))
            .arg(url)
            .env("CHROMIUM_PATH", chromium)
            .output()
    })
    .await
    .expect("join")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser run failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("the page's JSON result");
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["meEmail"], result["email"], "{result}");
    assert_eq!(result["meUserId"], result["registeredUserId"], "{result}");
    assert_eq!(result["loginHasTokens"], true);
    assert_eq!(result["restState"], "OPERATION_STATE_SUCCEEDED", "{result}");
    assert_eq!(result["restImported"], 3, "{result}");
    assert_eq!(result["grpcWebSucceeded"], true, "{result}");
    assert_eq!(result["grpcWebDuplicates"], 3, "{result}");
}
