//! The `freedumb` binary's library: targets, start-up and shutdown.
#![forbid(unsafe_code)]

pub mod app;
pub mod healthcheck;
pub mod targets;
