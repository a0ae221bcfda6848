//! The `freedumb` binary's library: the module registry, the wiring modules
//! build a process with, start-up and shutdown.
#![forbid(unsafe_code)]

pub mod app;
pub mod gateway;
pub mod healthcheck;
pub mod registry;
pub mod wiring;
