//! The served OpenAPI document: valid, and every route in it answers.

use crate::helpers::{rest, spawn_app, tool};

#[tokio::test]
async fn the_openapi_document_is_valid_and_every_route_in_it_answers() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let (status, _, document) = rest(gw, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );

    // The real validator (openapi-spec-validator from PyPI) on what is served.
    if let Some(validator) = tool("openapi-spec-validator") {
        let file = app.data_dir.path().join("openapi.json");
        std::fs::write(&file, document.to_string()).expect("write");
        let out = std::process::Command::new(validator)
            .arg(&file)
            .output()
            .expect("run openapi-spec-validator");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "auth and ledger routes are listed");
    for (path, operations) in paths {
        let concrete: String = {
            let mut out = String::new();
            let mut inside = false;
            for c in path.chars() {
                match c {
                    '{' => {
                        inside = true;
                        out.push_str("01a20850-5105-752d-9e23-83f386cfe71a");
                    }
                    '}' => inside = false,
                    _ if inside => {}
                    _ => out.push(c),
                }
            }
            out
        };
        for method in operations.as_object().expect("operations").keys() {
            let body = (method != "get" && method != "delete").then_some("{}");
            let (status, _, answer) = rest(gw, &method.to_uppercase(), &concrete, None, body).await;
            let routed = !(status == 405
                || (status == 404
                    && answer["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no route"))));
            assert!(routed, "{method} {path} is not routed: {status} {answer}");
        }
    }
}
