//! End-to-end tests: the real `freedumb` binary, driven by tonic clients,
//! grpcurl and raw HTTP.

mod ai;
mod ai_llm;
mod analytics;
mod analytics_reports;
mod auth_flow;
mod bad_input;
mod browser;
mod budget;
mod budget_backends;
mod envoy;
mod gateway;
mod grpcurl;
mod helpers;
mod investment;
mod key_encryption;
mod ledger;
mod ledger_backends;
mod ledger_support;
mod mtls;
mod notification;
mod notification_backends;
mod notification_support;
mod ops;
mod redis_down;
mod shared_backends;
mod token_attacks;
