//! Signing keys sealed at rest under a key encryption key, and its
//! rotation, across restarts of the real binary on one data directory.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use freedumb_proto::auth::GetMeRequest;

use crate::helpers::{Backends, authed, spawn_app_with};

const KEK_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEK_B: &str = "HxwdHhobGBkWFxQVEhMQEQ4PDA0KCwgJBgcEBQIDAAE=";
const KEK_C: &str = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=";

/// Every byte auth's SQLite database holds (the file and its WAL).
fn stored_bytes(data_dir: &Path) -> Vec<u8> {
    ["auth.db", "auth.db-wal"]
        .iter()
        .filter_map(|f| std::fs::read(data_dir.join(f)).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn signing_keys_are_sealed_at_rest_and_survive_a_kek_rotation() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path().to_str().expect("utf-8 path").to_owned();
    let with = |keys: &[(&'static str, &str)]| {
        let mut env = vec![("FREEDUMB_DATA_DIR", dir.clone())];
        env.extend(keys.iter().map(|(k, v)| (*k, (*v).to_owned())));
        env
    };
    let spawn = |env: Vec<(&'static str, String)>| async move {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        spawn_app_with(Backends::default(), &env).await
    };

    // With KEK A the key is made and stored sealed: no PEM on disk.
    let app = spawn(with(&[("FREEDUMB_AUTH__KEY_ENCRYPTION_KEY", KEK_A)])).await;
    let token = app.token().await;
    drop(app);
    let stored = stored_bytes(data.path());
    assert!(contains(&stored, "fdkek1:"), "a sealed key is stored");
    assert!(!contains(&stored, "PRIVATE KEY"), "no PEM at rest");

    // Rotation: B current, A previous. The key is sealed again under B and
    // keeps signing; tokens it signed before still verify.
    let app = spawn(with(&[
        ("FREEDUMB_AUTH__KEY_ENCRYPTION_KEY", KEK_B),
        ("FREEDUMB_AUTH__PREVIOUS_KEY_ENCRYPTION_KEY", KEK_A),
    ]))
    .await;
    let mut auth = app.client().await;
    auth.get_me(authed(GetMeRequest {}, &token))
        .await
        .expect("a token of before the rotation");
    let fresh = app.token().await;
    drop(app);

    // A is gone: B alone opens everything.
    let kek_file = data.path().join("kek-b");
    std::fs::write(&kek_file, format!("{KEK_B}\n")).expect("write");
    let app = spawn(with(&[(
        "FREEDUMB_AUTH__KEY_ENCRYPTION_KEY_FILE",
        kek_file.to_str().expect("utf-8"),
    )]))
    .await;
    let mut auth = app.client().await;
    for token in [&token, &fresh] {
        auth.get_me(authed(GetMeRequest {}, token))
            .await
            .expect("verifies under B alone");
    }
    drop(app);

    // The wrong KEK stops the start, naming what to set.
    let output = Command::new(env!("CARGO_BIN_EXE_freedumb"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FREEDUMB_DATA_DIR", &dir)
        .env("FREEDUMB_GRPC_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_ADMIN_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_GATEWAY_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_AUTH__KEY_ENCRYPTION_KEY", KEK_C)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("FREEDUMB_AUTH__PREVIOUS_KEY_ENCRYPTION_KEY"),
        "{said}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
