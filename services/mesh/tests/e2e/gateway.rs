//! The REST gateway of `--target all`, driven like curl, one file per topic:
//! REST+JSON routes, JSON errors, the OpenAPI document, rate limits,
//! gRPC-web and server streaming. The `rest` helper is in `helpers`.

mod errors;
mod grpc_web;
mod limits;
mod openapi;
mod routes;
mod streaming;

// `envoy` finds its tool here.
pub use crate::helpers::tool;
