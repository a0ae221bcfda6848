//! FREEDUMB contracts: the Rust code generated from `proto/` and the file
//! descriptor set that server reflection and the gateway read at run time.
#![forbid(unsafe_code)]
#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

pub mod codec;

/// The gRPC methods callable without an access token (auth answers them;
/// the OpenAPI document marks their routes `security: []`).
pub const PUBLIC_METHODS: [&str; 5] = [
    "/freedumb.auth.v1.AuthService/Register",
    "/freedumb.auth.v1.AuthService/ConfirmRegistration",
    "/freedumb.auth.v1.AuthService/Login",
    "/freedumb.auth.v1.AuthService/Refresh",
    "/freedumb.auth.v1.AuthService/GetJwks",
];

/// The encoded `google.protobuf.FileDescriptorSet` of every contract,
/// including imports and source comments.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/freedumb_descriptor.bin"));

/// FREEDUMB's own packages.
pub mod freedumb {
    /// Types every domain shares.
    pub mod common {
        /// `freedumb.common.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.common.v1");
        }
    }
    /// Where the money went: totals, cash flow, merchants, net worth.
    pub mod analytics {
        /// `freedumb.analytics.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.analytics.v1");
        }
    }
    /// Categorization from rules and the user's own history.
    pub mod ai {
        /// `freedumb.ai.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.ai.v1");
        }
    }
    /// Accounts, credentials and sessions.
    pub mod auth {
        /// `freedumb.auth.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.auth.v1");
        }
    }
    /// Accounts, categories, transactions, transfers and recurring rules.
    pub mod ledger {
        /// `freedumb.ledger.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.ledger.v1");
        }
    }
    /// Budgets, their status per period and alerts.
    pub mod budget {
        /// `freedumb.budget.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.budget.v1");
        }
    }
    /// Portfolios, instruments, activities, holdings and performance.
    pub mod investment {
        /// `freedumb.investment.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.investment.v1");
        }
    }
    /// The in-app feed, preferences, email and webhooks.
    pub mod notification {
        /// `freedumb.notification.v1`
        pub mod v1 {
            tonic::include_proto!("freedumb.notification.v1");
        }
    }
}

/// Vendored Google API packages the contracts use.
pub mod google {
    /// `google.api`: HTTP annotations and field behaviour.
    pub mod api {
        tonic::include_proto!("google.api");
    }
    /// `google.rpc`: status, codes and error details.
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
    /// `google.type`: calendar dates.
    pub mod r#type {
        include!(concat!(env!("OUT_DIR"), "/google.r#type.rs"));
    }
}

pub use freedumb::{
    ai::v1 as ai, analytics::v1 as analytics, auth::v1 as auth, budget::v1 as budget,
    common::v1 as common, investment::v1 as investment, ledger::v1 as ledger,
    notification::v1 as notification,
};

impl common::ErrorReason {
    /// The `ErrorInfo.reason` string: the value name without its prefix.
    pub fn reason(self) -> &'static str {
        self.as_str_name().trim_start_matches("ERROR_REASON_")
    }
}
