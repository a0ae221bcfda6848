//! The ceiling: a tonic server whose GetMe returns a constant (no auth, no
//! storage), run in a child process (`freedumb-bench --bare-server`).

use freedumb_proto::auth::auth_service_server::{AuthService, AuthServiceServer};
use freedumb_proto::auth::*;
use tonic::{Request, Response, Status};

struct Bare;

#[tonic::async_trait]
impl AuthService for Bare {
    async fn register(
        &self,
        _: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn confirm_registration(
        &self,
        _: Request<ConfirmRegistrationRequest>,
    ) -> Result<Response<ConfirmRegistrationResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn login(&self, _: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn refresh(
        &self,
        _: Request<RefreshRequest>,
    ) -> Result<Response<RefreshResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn logout(&self, _: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn logout_all(
        &self,
        _: Request<LogoutAllRequest>,
    ) -> Result<Response<LogoutAllResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn get_me(&self, _: Request<GetMeRequest>) -> Result<Response<GetMeResponse>, Status> {
        Ok(Response::new(GetMeResponse {
            user: Some(User {
                id: "01a207c5-df92-7666-8681-fc61e2a39282".into(),
                email: "bench@example.com".into(),
                create_time: Some(prost_types::Timestamp {
                    seconds: 1_795_426_738,
                    nanos: 66_228_739,
                }),
            }),
        }))
    }
    async fn change_password(
        &self,
        _: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn get_jwks(
        &self,
        _: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
}

/// Serves [`Bare`] on a free port and reports it as `freedumb serve` does
/// (`{"message":"serving","grpc_addr":…}` on stdout).
pub async fn serve() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "{}",
        serde_json::json!({ "message": "serving", "grpc_addr": listener.local_addr()?.to_string() })
    );
    tonic::transport::Server::builder()
        .add_service(AuthServiceServer::new(Bare))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}
