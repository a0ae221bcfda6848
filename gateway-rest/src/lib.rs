//! The FREEDUMB edge for browsers and mobile apps: REST+JSON transcoding
//! derived at run time from the `google.api.http` annotations of the
//! contracts (no per-RPC code: a new annotated RPC is served as soon as it
//! is in the descriptor set), forwarded to the services over gRPC.
//!
//! Requests and responses use the canonical proto3 JSON mapping; errors are
//! the `google.rpc.Status` as JSON (`{code, message, details}`) with the
//! HTTP status its gRPC code maps to. Server-streaming RPCs answer with
//! newline-delimited JSON, one message per line.
#![forbid(unsafe_code)]

mod body_limit;
mod codec;
mod config;
mod errors;
mod gateway;
pub mod limits;
pub mod openapi;
mod openapi_links;
pub mod percent;
mod proxy;
pub mod routes;
pub mod transcode;

#[cfg(test)]
mod tests;

use prost_reflect::DescriptorPool;

pub use self::config::GatewayConfig;
pub use self::errors::http_status;
pub use self::gateway::Gateway;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The OpenAPI document of the contracts, as served at `/openapi.json`.
pub fn openapi_document() -> anyhow::Result<String> {
    let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET)?;
    let routes = routes::from_descriptors(&pool).map_err(anyhow::Error::msg)?;
    Ok(openapi::render(&pool, &routes)?)
}
