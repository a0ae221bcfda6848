//! The default benchmark: GetMe and Login on `freedumb serve` against GetMe
//! on the bare tonic server, then the cost of one JWT verification.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use freedumb_proto::auth::auth_service_client::AuthServiceClient;
use freedumb_proto::auth::{GetMeRequest, LoginRequest, RegisterRequest};

use crate::runner::{authed, measure, ms};
use crate::server::{Server, freedumb_serve};
use crate::{Args, PASSWORD, jwt};

pub async fn run(args: Args, freedumb: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let data = tempfile::tempdir()?;
    let (_freedumb, freedumb_addr) =
        Server::spawn(freedumb_serve(freedumb, data.path())).context("starting freedumb serve")?;
    let mut bare = Command::new(&exe);
    bare.arg("--bare-server");
    let (_bare, bare_addr) = Server::spawn(bare).context("starting the bare server")?;

    let mut setup = AuthServiceClient::connect(format!("http://{freedumb_addr}")).await?;
    // One account per client, as real sign-ins are: concurrent attempts on
    // one account from one address are throttled as guessing.
    let mut emails = Vec::new();
    let mut token = String::new();
    for _ in 0..args.clients.iter().copied().max().unwrap_or(1) {
        let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
        let registered = setup
            .register(RegisterRequest {
                email: email.clone(),
                password: PASSWORD.into(),
            })
            .await?
            .into_inner();
        token = registered.tokens.context("tokens")?.access_token;
        emails.push(email);
    }
    let emails = std::sync::Arc::new(emails);

    println!("| scenario | clients | calls/s | p50 ms | p95 ms | p99 ms | errors | vs bare |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &clients in &args.clients {
        let bare = measure(bare_addr, clients, args.seconds, |_, ch| async move {
            let mut c = AuthServiceClient::new(ch);
            c.get_me(GetMeRequest {}).await.map(|_| ())
        })
        .await?;
        let get_me = {
            let token = token.clone();
            measure(freedumb_addr, clients, args.seconds, move |_, ch| {
                let request = authed(GetMeRequest {}, &token);
                let mut c = AuthServiceClient::new(ch);
                async move { c.get_me(request?).await.map(|_| ()) }
            })
            .await?
        };
        let login = {
            let emails = emails.clone();
            measure(freedumb_addr, clients, args.seconds, move |index, ch| {
                let mut c = AuthServiceClient::new(ch);
                // One account per client, as real sign-ins are: concurrent
                // attempts on one account are throttled as guessing.
                let email = emails[index].clone();
                async move {
                    c.login(LoginRequest {
                        email,
                        password: PASSWORD.into(),
                    })
                    .await
                    .map(|_| ())
                }
            })
            .await?
        };
        let ceiling = bare.throughput();
        for (name, s) in [
            ("bare tonic GetMe", &bare),
            ("GetMe", &get_me),
            ("Login", &login),
        ] {
            println!(
                "| {name} | {clients} | {:.0} | {} | {} | {} | {} | {:.2} |",
                s.throughput(),
                ms(s.percentile(0.50)),
                ms(s.percentile(0.95)),
                ms(s.percentile(0.99)),
                s.errors,
                s.throughput() / ceiling,
            );
        }
    }
    jwt::verify_cost()?;
    Ok(())
}
