use async_trait::async_trait;
use freedumb_proto::auth::auth_service_client::AuthServiceClient;
use freedumb_proto::auth::{GetJwksRequest, JsonWebKey};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::trace::TraceContextInjector;

/// Where a verifier gets the public keys of the auth service.
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// Every key that may have signed a currently valid token.
    async fn fetch_keys(&self) -> anyhow::Result<Vec<JsonWebKey>>;
}

/// Keys from a remote auth service's `GetJwks`.
#[derive(Clone)]
pub struct GrpcKeySource {
    client: AuthServiceClient<InterceptedService<Channel, TraceContextInjector>>,
}

impl GrpcKeySource {
    /// A source for the auth service at `url` (connected lazily).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(url.to_owned())?
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(5))
            .connect_lazy();
        Ok(Self {
            client: AuthServiceClient::with_interceptor(channel, TraceContextInjector),
        })
    }
}

#[async_trait]
impl KeySource for GrpcKeySource {
    async fn fetch_keys(&self) -> anyhow::Result<Vec<JsonWebKey>> {
        let response = self.client.clone().get_jwks(GetJwksRequest {}).await?;
        Ok(response.into_inner().keys)
    }
}
