//! A process never keeps serving half a mesh: when a supervised part (the
//! gateway, the outbox relay, a worker) fails or stops on its own, health
//! turns NOT_SERVING, the process drains and `run` fails naming the part
//! (so `freedumb serve` exits non-zero).

use std::time::Duration;

use freedumb_kit::{Config, Shutdown};
use freedumb_mesh::app::App;
use freedumb_mesh::registry::{self, Kind, Module};
use freedumb_mesh::wiring::Wiring;
use futures::future::BoxFuture;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn failing_worker(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        w.task("worker-doomed", async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            anyhow::bail!("lost its database for good")
        });
        Ok(())
    })
}

fn quitting_worker(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        w.task("worker-quitter", async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        });
        Ok(())
    })
}

fn panicking_worker(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        w.background("worker-panicky", |_stop| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            panic!("a bug");
        });
        Ok(())
    })
}

fn module(name: &'static str, init: registry::Init) -> Module {
    Module {
        name,
        about: "a worker that fails",
        kind: Kind::Worker,
        deps: &[],
        config: None,
        database: None,
        init,
    }
}

/// Runs `auth` (a real service, so health has something to report) plus
/// `worker`, and returns `run`'s error and the health statuses seen.
async fn run_with(worker: Module) -> (String, Vec<ServingStatus>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        data_dir: dir.path().to_owned(),
        grpc_addr: ([127, 0, 0, 1], 0).into(),
        admin_addr: ([127, 0, 0, 1], 0).into(),
        // Long enough to watch health turn NOT_SERVING before the drain.
        shutdown_delay_secs: 1,
        ..Config::default()
    };
    let targets = registry::parse("auth").expect("target");
    let mut modules = targets.resolve();
    modules.push(&*Box::leak(Box::new(worker)));
    let prometheus = freedumb_kit::metrics::install().expect("metrics");
    let app = App::build(config, &modules, prometheus, Shutdown::new())
        .await
        .expect("built");
    let addr = app.grpc_addr().expect("addr");
    let running = tokio::spawn(app.run());

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel);
    let mut seen = Vec::new();
    for _ in 0..100 {
        let status = health
            .check(HealthCheckRequest::default())
            .await
            .map(|r| r.into_inner().status())
            .unwrap_or(ServingStatus::Unknown);
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status == ServingStatus::NotServing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the process stops by itself")
        .expect("run does not panic");
    let error = result.expect_err("a failed part fails the process");
    (format!("{error:#}"), seen)
}

#[tokio::test]
async fn a_failing_worker_stops_the_process_with_not_serving_and_an_error_naming_it() {
    let (error, health) = run_with(module("worker-doomed", failing_worker)).await;
    assert!(error.contains("worker-doomed"), "{error}");
    assert!(error.contains("lost its database for good"), "{error}");
    assert_eq!(health, [ServingStatus::Serving, ServingStatus::NotServing]);
}

#[tokio::test]
async fn a_worker_that_stops_on_its_own_stops_the_process() {
    let (error, health) = run_with(module("worker-quitter", quitting_worker)).await;
    assert!(
        error.contains("`worker-quitter` stopped unexpectedly"),
        "{error}"
    );
    assert_eq!(health.last(), Some(&ServingStatus::NotServing));
}

#[tokio::test]
async fn a_panicking_worker_stops_the_process() {
    let (error, health) = run_with(module("worker-panicky", panicking_worker)).await;
    assert!(error.contains("worker-panicky"), "{error}");
    assert!(error.contains("panicked"), "{error}");
    assert_eq!(health.last(), Some(&ServingStatus::NotServing));
}
