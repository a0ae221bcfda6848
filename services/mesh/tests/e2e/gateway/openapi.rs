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

/// Each update's `updateMask` in the document lists exactly the fields the
/// service updates: a PATCH without a mask is refused by the service with
/// the list of its updatable fields, which must be the document's (in the
/// FieldMask's JSON names).
#[tokio::test]
async fn every_update_mask_in_the_document_is_what_the_service_updates() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let token = app.token().await;
    let (_, _, document) = rest(gw, "GET", "/openapi.json", None, None).await;
    let mut updates = 0;
    for (path, operations) in document["paths"].as_object().expect("paths") {
        let Some(patch) = operations.get("patch") else {
            continue;
        };
        let Some(mask) = patch["parameters"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "updateMask"))
        else {
            continue;
        };
        updates += 1;
        assert_eq!(mask["required"], true, "{path}");
        // `^(a|b)(,(a|b))*$`
        let pattern = mask["schema"]["pattern"].as_str().expect("pattern");
        let one = pattern
            .strip_prefix("^(")
            .and_then(|p| p.split_once(')'))
            .expect("^(paths)…")
            .0;
        assert_eq!(pattern, format!("^({one})(,({one}))*$"), "{path}");
        let documented: Vec<String> = one.split('|').map(snake_case).collect();
        let concrete = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "01a20850-5105-752d-9e23-83f386cfe71a"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let (status, _, refused) = rest(gw, "PATCH", &concrete, Some(&token), Some("{}")).await;
        assert_eq!(status, 400, "{path}: {refused}");
        let description = refused["details"][1]["fieldViolations"][0]["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let updatable: Vec<String> = description
            .split_once("updatable fields: ")
            .unwrap_or_else(|| panic!("{path}: {refused}"))
            .1
            .split(", ")
            .map(str::to_owned)
            .collect();
        let (mut documented, mut updatable) = (documented, updatable);
        documented.sort();
        updatable.sort();
        assert_eq!(documented, updatable, "{path}");
    }
    assert!(updates >= 9, "{updates} updates");
}

fn snake_case(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
