//! The module registry, in the spirit of Grafana Mimir/Loki's module
//! manager: one table of everything a `freedumb` process can run, each
//! module with its dependencies, the configuration section it owns and how
//! it starts. `--target` names targets; the process runs them and, first,
//! everything they depend on.
//!
//! Declaration order is start-up order: every module is declared after the
//! modules it depends on (a test checks it), and `verifier` after `auth`,
//! whose keys it uses when auth runs in the same process.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use freedumb_kit::auth::{GrpcKeySource, KeySource, TokenVerifier};
use freedumb_kit::config::Section;
use freedumb_kit::events::EventBus;
use freedumb_kit::{Config, Migrations};
use futures::future::BoxFuture;

use crate::wiring::Wiring;

/// Starts a module: adds its services, readiness checks and tasks to the
/// process being built.
pub type Init = for<'a> fn(&'a mut Wiring) -> BoxFuture<'a, anyhow::Result<()>>;

/// What a module is, for `--list-targets` and for deciding what a process
/// hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A gRPC service.
    Service,
    /// A background worker.
    Worker,
    /// The REST/gRPC-web edge.
    Edge,
    /// A part other modules share; not a target of its own.
    Internal,
}

/// One entry of the registry.
pub struct Module {
    /// The kebab-case name `--target` takes.
    pub name: &'static str,
    /// One line for `--list-targets`.
    pub about: &'static str,
    /// What it is.
    pub kind: Kind,
    /// Modules that must start before it.
    pub deps: &'static [&'static str],
    /// The configuration section it owns, if any.
    pub config: Option<SectionCheck>,
    /// The database it keeps its data in (its service name and
    /// migrations), for `freedumb migrate`.
    pub database: Option<fn() -> (&'static str, Migrations)>,
    /// How it starts.
    pub init: Init,
}

/// A configuration section a module owns, and how to validate it.
pub struct SectionCheck {
    /// The section's key (`ledger` for `[ledger]` and `FREEDUMB_LEDGER__*`).
    pub name: &'static str,
    /// Its problems in a configuration.
    pub problems: fn(&Config) -> Vec<String>,
}

/// The check of section `S`.
const fn section<S: Section>() -> SectionCheck {
    SectionCheck {
        name: S::NAME,
        problems: problems::<S>,
    }
}

fn problems<S: Section>(config: &Config) -> Vec<String> {
    config.section::<S>().err().map(|e| e.0).unwrap_or_default()
}

/// Every module, in start-up order.
pub const REGISTRY: &[Module] = &[
    Module {
        name: "event-bus",
        about: "the event stream (Redis Streams with REDIS_URL, in-process otherwise)",
        kind: Kind::Internal,
        deps: &[],
        config: None,
        database: None,
        init: init_event_bus,
    },
    Module {
        name: "auth",
        about: "accounts, sessions and token signing (freedumb.auth.v1)",
        kind: Kind::Service,
        deps: &["event-bus"],
        config: Some(section::<freedumb_auth::AuthConfig>()),
        database: Some(|| (freedumb_auth::NAME, freedumb_auth::MIGRATIONS)),
        init: init_auth,
    },
    Module {
        name: "ledger-core",
        about: "the ledger's store and its outbox relay",
        kind: Kind::Internal,
        deps: &["event-bus"],
        config: Some(section::<freedumb_ledger::LedgerConfig>()),
        database: Some(|| (freedumb_ledger::NAME, freedumb_ledger::MIGRATIONS)),
        init: init_ledger_core,
    },
    Module {
        name: "ledger",
        about: "accounts, categories, transactions, transfers, recurring rules, import, events (freedumb.ledger.v1); applies the ai service's proposed categories",
        kind: Kind::Service,
        deps: &["ledger-core"],
        config: None,
        database: None,
        init: init_ledger,
    },
    Module {
        name: "worker-recurring",
        about: "records due occurrences of recurring rules (needs the ledger database)",
        kind: Kind::Worker,
        deps: &["ledger-core"],
        config: None,
        database: None,
        init: init_worker_recurring,
    },
    Module {
        name: "budget-core",
        about: "the budget's store, its spending projection of ledger events and its outbox relay",
        kind: Kind::Internal,
        deps: &["event-bus"],
        config: Some(section::<freedumb_budget::BudgetConfig>()),
        database: Some(|| (freedumb_budget::NAME, freedumb_budget::MIGRATIONS)),
        init: init_budget_core,
    },
    Module {
        name: "budget",
        about: "budgets per category and period, their status and threshold alerts (freedumb.budget.v1)",
        kind: Kind::Service,
        deps: &["budget-core"],
        config: None,
        database: None,
        init: init_budget,
    },
    Module {
        name: "notification-core",
        about: "the notification store",
        kind: Kind::Internal,
        deps: &["event-bus"],
        config: Some(section::<freedumb_notification::NotificationConfig>()),
        database: Some(|| {
            (
                freedumb_notification::NAME,
                freedumb_notification::MIGRATIONS,
            )
        }),
        init: init_notification_core,
    },
    Module {
        name: "notification",
        about: "the in-app feed, preferences and webhook endpoints (freedumb.notification.v1), made from ledger and budget events",
        kind: Kind::Service,
        deps: &["notification-core"],
        config: None,
        database: None,
        init: init_notification,
    },
    Module {
        name: "worker-notification",
        about: "delivers email and signed webhooks, with retries (needs the notification database)",
        kind: Kind::Worker,
        deps: &["notification-core"],
        config: None,
        database: None,
        init: init_worker_notification,
    },
    Module {
        name: "ai-core",
        about: "the ai store, its learner of the ledger's events (merchant history, auto-categorization) and its outbox relay",
        kind: Kind::Internal,
        deps: &["event-bus"],
        config: Some(section::<freedumb_ai::AiConfig>()),
        database: Some(|| (freedumb_ai::NAME, freedumb_ai::MIGRATIONS)),
        init: init_ai_core,
    },
    Module {
        name: "ai",
        about: "categorization (the user's rules, history, the global model), insights and answers (freedumb.ai.v1)",
        kind: Kind::Service,
        deps: &["ai-core"],
        config: None,
        database: None,
        init: init_ai,
    },
    Module {
        name: "investment-core",
        about: "the investment store and its outbox relay",
        kind: Kind::Internal,
        deps: &["event-bus"],
        config: Some(section::<freedumb_investment::InvestmentConfig>()),
        database: Some(|| (freedumb_investment::NAME, freedumb_investment::MIGRATIONS)),
        init: init_investment_core,
    },
    Module {
        name: "investment",
        about: "portfolios, instruments, activities, holdings and performance (freedumb.investment.v1)",
        kind: Kind::Service,
        deps: &["investment-core"],
        config: None,
        database: None,
        init: init_investment,
    },
    Module {
        name: "worker-investment-price",
        about: "fetches daily closes and exchange rates from the price provider (needs the investment database)",
        kind: Kind::Worker,
        deps: &["investment-core"],
        config: None,
        database: None,
        init: init_worker_investment_price,
    },
    Module {
        name: "analytics-core",
        about: "the analytics store and its read model of the ledger's events",
        kind: Kind::Internal,
        deps: &["event-bus"],
        config: Some(section::<freedumb_analytics::AnalyticsConfig>()),
        database: Some(|| (freedumb_analytics::NAME, freedumb_analytics::MIGRATIONS)),
        init: init_analytics_core,
    },
    Module {
        name: "analytics",
        about: "totals per category and period, cash flow, top merchants, net worth (freedumb.analytics.v1)",
        kind: Kind::Service,
        deps: &["analytics-core"],
        config: None,
        database: None,
        init: init_analytics,
    },
    Module {
        name: "verifier",
        about: "access-token verification (auth's keys in process, or its JWKS via FREEDUMB_AUTH_URL)",
        kind: Kind::Internal,
        deps: &[],
        config: None,
        database: None,
        init: init_verifier,
    },
    Module {
        name: "gateway",
        about: "REST+JSON transcoding of every annotated RPC, on FREEDUMB_GATEWAY_ADDR",
        kind: Kind::Edge,
        deps: &["verifier"],
        config: Some(section::<freedumb_gateway::GatewayConfig>()),
        database: None,
        init: crate::gateway::init,
    },
];

/// Modules every process runs: the gRPC server always verifies tokens.
const ALWAYS: &[&str] = &["verifier"];

/// A resolved set of modules: the targets asked for and their
/// dependencies, in start-up order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    asked: BTreeSet<&'static str>,
}

impl Targets {
    /// Every target.
    pub fn all() -> Self {
        Self {
            asked: REGISTRY
                .iter()
                .filter(|m| m.kind != Kind::Internal)
                .map(|m| m.name)
                .collect(),
        }
    }

    /// Whether `name` was asked for.
    pub fn contains(&self, name: &str) -> bool {
        self.asked.contains(name)
    }

    /// The names asked for, for logs.
    pub fn names(&self) -> Vec<&'static str> {
        self.asked.iter().copied().collect()
    }

    /// The OpenTelemetry `service.name` of a process running these targets:
    /// `freedumb` for all of them, else `freedumb-` and the targets
    /// (`freedumb-ledger`, `freedumb-auth+gateway`), so a trace viewer tells
    /// the processes of a split deployment apart.
    pub fn service_name(&self) -> String {
        if self.asked == Self::all().asked {
            "freedumb".to_owned()
        } else {
            format!("freedumb-{}", self.names().join("+"))
        }
    }

    /// The modules to start, dependencies first.
    pub fn resolve(&self) -> Vec<&'static Module> {
        let mut needed: BTreeSet<&str> = self.asked.iter().copied().collect();
        needed.extend(ALWAYS);
        // The registry is in dependency order, so one pass from the end
        // sees every dependant before its dependencies.
        for module in REGISTRY.iter().rev() {
            if needed.contains(module.name) {
                needed.extend(module.deps);
            }
        }
        REGISTRY
            .iter()
            .filter(|m| needed.contains(m.name))
            .collect()
    }
}

/// Parses `all` or a comma-separated list of target names.
pub fn parse(raw: &str) -> Result<Targets, String> {
    let mut asked = BTreeSet::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "all" {
            asked.extend(Targets::all().asked);
            continue;
        }
        match REGISTRY
            .iter()
            .find(|m| m.name == name && m.kind != Kind::Internal)
        {
            Some(module) => {
                asked.insert(module.name);
            }
            None => {
                let known: Vec<&str> = Targets::all().names();
                return Err(format!(
                    "unknown target `{name}`; known: all, {}",
                    known.join(", ")
                ));
            }
        }
    }
    if asked.is_empty() {
        return Err("no target given".into());
    }
    Ok(Targets { asked })
}

/// The `--list-targets` text.
pub fn describe() -> String {
    let mut out = String::from("all\tevery target below, in one process\n");
    for module in REGISTRY.iter().filter(|m| m.kind != Kind::Internal) {
        let _ = writeln!(out, "{}\t{}", module.name, module.about);
    }
    out
}

/// Every configuration problem of the domains: each module's section
/// (whether or not it runs here, so a bad value is caught wherever the file
/// is used) and top-level keys nobody owns.
pub fn config_problems(config: &Config) -> Vec<String> {
    let sections: Vec<&SectionCheck> = REGISTRY.iter().filter_map(|m| m.config.as_ref()).collect();
    let mut problems: Vec<String> = sections.iter().flat_map(|s| (s.problems)(config)).collect();
    let names: Vec<&str> = sections.iter().map(|s| s.name).collect();
    problems.extend(config.unknown_sections(&names));
    problems
}

/// Problems of settings that only matter together, when the modules that
/// read them run in one process (apart, each service reports its side).
pub fn together_problems(config: &Config, modules: &[&Module]) -> Vec<String> {
    let runs = |name: &str| modules.iter().any(|m| m.name == name);
    let mut problems = Vec::new();
    if runs("auth") && runs("notification") {
        let confirms = config
            .section::<freedumb_auth::AuthConfig>()
            .is_ok_and(|a| a.confirm_registration_by_email);
        let emails = config
            .section::<freedumb_notification::NotificationConfig>()
            .is_ok_and(|n| n.smtp_url.is_some());
        if confirms && !emails {
            problems.push(freedumb_kit::config::setting(
                "auth",
                "confirm_registration_by_email",
                "needs email: set FREEDUMB_NOTIFICATION__SMTP_URL (notification.smtp_url), \
                 or nobody can finish registering",
            ));
        }
    }
    problems
}

fn init_event_bus(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let bus = freedumb_kit::events::connect(&w.config).await?;
        w.provide(bus);
        Ok(())
    })
}

fn init_auth(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let db = w
            .database(freedumb_auth::NAME, freedumb_auth::MIGRATIONS)
            .await?;
        let bus: Arc<dyn EventBus> = w.get("auth")?;
        let auth = freedumb_auth::build(&w.config, &db, &w.state, bus).context("starting auth")?;
        let relay = auth.relay;
        w.background("auth outbox relay", |stop| relay.run(stop));
        // Signing keys sealed under the current key encryption key (a key
        // that does not open stops the start here, naming the setting).
        auth.keys
            .reseal()
            .await
            .context("sealing the signing keys under the current key encryption key")?;
        // Verifiers must not trust a revocation list that lost entries
        // (an in-process one starts empty with every restart).
        match auth.revocation_sync.restore().await {
            Ok(n) => tracing::info!(sessions = n, "revocation list restored"),
            Err(e) => {
                tracing::warn!(error = ?e, "revocation list not restored yet; retrying");
                auth.revocation_sync.wake();
            }
        }
        let sync = auth.revocation_sync;
        w.background("auth revocation sync", |stop| sync.run(stop));
        for method in freedumb_auth::PUBLIC_METHODS {
            w.server.allow_anonymous(method);
        }
        w.server.add_service(auth.server);
        let keys: Arc<dyn KeySource> = Arc::new(freedumb_auth::LocalKeySource(auth.keys));
        w.provide(keys);
        Ok(())
    })
}

fn init_ledger_core(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let db = w
            .database(freedumb_ledger::NAME, freedumb_ledger::MIGRATIONS)
            .await?;
        let bus: Arc<dyn EventBus> = w.get("ledger-core")?;
        let ledger = Arc::new(freedumb_ledger::Ledger::new(&w.config, &db, bus)?);
        let relay = ledger.relay();
        w.background("ledger outbox relay", |stop| relay.run(stop));
        let purger = freedumb_kit::idempotency::KeyPurger::new(
            db.clone(),
            freedumb_ledger::NAME,
            w.config.idempotency_retention(),
        );
        w.background("ledger idempotency-key expiry", |stop| purger.run(stop));
        w.provide(ledger);
        Ok(())
    })
}

/// Says that this process serves the ledger's gRPC API.
#[derive(Debug, Clone, Copy)]
struct LedgerServed;

fn init_ledger(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let ledger: Arc<freedumb_ledger::Ledger> = w.get("ledger")?;
        // The ai service's proposals: in process when it runs here, through
        // Redis otherwise (without either, none are ever made).
        let (reader, handler) = ledger.categorizer();
        w.background("ledger categorizer", move |stop| {
            freedumb_kit::events::run_group("ledger-categorizer", reader, handler, stop)
        });
        // The investment service's activities that move ledger money, the
        // same way.
        let (reader, handler) = ledger.investment_link();
        w.background("ledger investment link", move |stop| {
            freedumb_kit::events::run_group("ledger-investment-link", reader, handler, stop)
        });
        w.server.add_service(ledger.service(w.shutdown.clone()));
        w.provide(LedgerServed);
        Ok(())
    })
}

fn init_budget_core(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        // The projection reads the ledger's events: in process when the
        // ledger writes here, through Redis otherwise.
        let ledger_here = w.try_get::<Arc<freedumb_ledger::Ledger>>().is_some();
        anyhow::ensure!(
            ledger_here || w.config.redis_url.is_some(),
            "REDIS_URL is required when the ledger does not run in this process \
             (the budget reads the ledger's events through it)"
        );
        let db = w
            .database(freedumb_budget::NAME, freedumb_budget::MIGRATIONS)
            .await?;
        let bus: Arc<dyn EventBus> = w.get("budget-core")?;
        let budget = Arc::new(freedumb_budget::Budget::new(&w.config, &db, bus)?);
        let (reader, handler) = budget.projection();
        w.background("budget projection", move |stop| {
            freedumb_kit::events::run_group("budget", reader, handler, stop)
        });
        let relay = budget.relay();
        w.background("budget outbox relay", |stop| relay.run(stop));
        w.provide(budget);
        Ok(())
    })
}

fn init_budget(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let budget: Arc<freedumb_budget::Budget> = w.get("budget")?;
        let own = format!("http://{}", w.grpc_addr);
        if !budget.ledger_configured() {
            anyhow::ensure!(
                w.try_get::<LedgerServed>().is_some(),
                "FREEDUMB_BUDGET__LEDGER_URL is required when the ledger target does not run in this process"
            );
            anyhow::ensure!(
                w.config.tls.cert_file.is_none(),
                "with TLS on the gRPC listener (FREEDUMB_TLS__*), the budget needs FREEDUMB_BUDGET__LEDGER_URL"
            );
        }
        w.server
            .add_service(budget.service(&own, w.shutdown.clone())?);
        Ok(())
    })
}

fn init_ai_core(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        // The learner reads the ledger's events: in process when the
        // ledger writes here, through Redis otherwise.
        let ledger_here = w.try_get::<Arc<freedumb_ledger::Ledger>>().is_some();
        anyhow::ensure!(
            ledger_here || w.config.redis_url.is_some(),
            "REDIS_URL is required when the ledger does not run in this process \
             (the ai service learns from the ledger's events through it)"
        );
        let db = w
            .database(freedumb_ai::NAME, freedumb_ai::MIGRATIONS)
            .await?;
        let bus: Arc<dyn EventBus> = w.get("ai-core")?;
        let ai = Arc::new(freedumb_ai::Ai::new(&w.config, &db, bus)?);
        let (reader, handler) = ai.learner();
        w.background("ai learner", move |stop| {
            freedumb_kit::events::run_group("ai", reader, handler, stop)
        });
        let relay = ai.relay();
        w.background("ai outbox relay", |stop| relay.run(stop));
        w.provide(ai);
        Ok(())
    })
}

fn init_ai(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let ai: Arc<freedumb_ai::Ai> = w.get("ai")?;
        if !ai.ledger_configured() {
            anyhow::ensure!(
                w.try_get::<LedgerServed>().is_some(),
                "FREEDUMB_AI__LEDGER_URL is required when the ledger target does not run in this process"
            );
            anyhow::ensure!(
                w.config.tls.cert_file.is_none(),
                "with TLS on the gRPC listener (FREEDUMB_TLS__*), the ai service needs FREEDUMB_AI__LEDGER_URL"
            );
        }
        let own = format!("http://{}", w.grpc_addr);
        w.server.add_service(ai.service(&own)?);
        Ok(())
    })
}

fn init_worker_recurring(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let ledger: Arc<freedumb_ledger::Ledger> = w.get("worker-recurring")?;
        let worker = ledger.recurring_worker();
        w.background("worker-recurring", |stop| worker.run(stop));
        Ok(())
    })
}

fn init_investment_core(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let db = w
            .database(freedumb_investment::NAME, freedumb_investment::MIGRATIONS)
            .await?;
        let bus: Arc<dyn EventBus> = w.get("investment-core")?;
        let investment = Arc::new(freedumb_investment::Investment::new(&w.config, &db, bus)?);
        let relay = investment.relay();
        w.background("investment outbox relay", |stop| relay.run(stop));
        let purger = freedumb_kit::idempotency::KeyPurger::new(
            db.clone(),
            freedumb_investment::NAME,
            w.config.idempotency_retention(),
        );
        w.background("investment idempotency-key expiry", |stop| purger.run(stop));
        w.provide(investment);
        Ok(())
    })
}

fn init_investment(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let investment: Arc<freedumb_investment::Investment> = w.get("investment")?;
        if !investment.ledger_configured() {
            anyhow::ensure!(
                w.try_get::<LedgerServed>().is_some(),
                "FREEDUMB_INVESTMENT__LEDGER_URL is required when the ledger target does not run in this process"
            );
            anyhow::ensure!(
                w.config.tls.cert_file.is_none(),
                "with TLS on the gRPC listener (FREEDUMB_TLS__*), the investment service needs FREEDUMB_INVESTMENT__LEDGER_URL"
            );
        }
        let own = format!("http://{}", w.grpc_addr);
        w.server.add_service(investment.service(&own)?);
        Ok(())
    })
}

fn init_worker_investment_price(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let investment: Arc<freedumb_investment::Investment> = w.get("worker-investment-price")?;
        let worker = investment.price_worker()?;
        w.background("worker-investment-price", |stop| worker.run(stop));
        Ok(())
    })
}

fn init_analytics_core(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        // The read model reads the ledger's events: in process when the
        // ledger writes here, through Redis otherwise.
        let ledger_here = w.try_get::<Arc<freedumb_ledger::Ledger>>().is_some();
        anyhow::ensure!(
            ledger_here || w.config.redis_url.is_some(),
            "REDIS_URL is required when the ledger does not run in this process \
             (analytics reads the ledger's events through it)"
        );
        let db = w
            .database(freedumb_analytics::NAME, freedumb_analytics::MIGRATIONS)
            .await?;
        let bus: Arc<dyn EventBus> = w.get("analytics-core")?;
        let analytics = Arc::new(freedumb_analytics::Analytics::new(&w.config, &db, bus)?);
        let (reader, handler) = analytics.model();
        w.background("analytics read model", move |stop| {
            freedumb_kit::events::run_group("analytics", reader, handler, stop)
        });
        w.provide(analytics);
        Ok(())
    })
}

fn init_analytics(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let analytics: Arc<freedumb_analytics::Analytics> = w.get("analytics")?;
        if !analytics.ledger_configured() {
            anyhow::ensure!(
                w.try_get::<LedgerServed>().is_some(),
                "FREEDUMB_ANALYTICS__LEDGER_URL is required when the ledger target does not run in this process"
            );
            anyhow::ensure!(
                w.config.tls.cert_file.is_none(),
                "with TLS on the gRPC listener (FREEDUMB_TLS__*), analytics needs FREEDUMB_ANALYTICS__LEDGER_URL"
            );
        }
        let own = format!("http://{}", w.grpc_addr);
        w.server
            .add_service(analytics.service(&own, w.shutdown.clone())?);
        Ok(())
    })
}

fn init_notification_core(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let db = w
            .database(
                freedumb_notification::NAME,
                freedumb_notification::MIGRATIONS,
            )
            .await?;
        let bus: Arc<dyn EventBus> = w.get("notification-core")?;
        let notifications = freedumb_notification::Notifications::new(&w.config, &db, bus)?;
        w.provide(Arc::new(notifications));
        Ok(())
    })
}

fn init_notification(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        // Notifications are made from the ledger's, the budget's and auth's
        // events: in process when all three write here, through Redis
        // otherwise.
        let sources_here = w.try_get::<Arc<freedumb_ledger::Ledger>>().is_some()
            && w.try_get::<Arc<freedumb_budget::Budget>>().is_some()
            && w.try_get::<Arc<dyn KeySource>>().is_some();
        anyhow::ensure!(
            sources_here || w.config.redis_url.is_some(),
            "REDIS_URL is required when the ledger, the budget and auth do not all run in this \
             process (notifications are made from their events)"
        );
        let notifications: Arc<freedumb_notification::Notifications> = w.get("notification")?;
        for (name, reader, handler) in notifications.consumers() {
            w.background(name, move |stop| {
                freedumb_kit::events::run_group(name, reader, handler, stop)
            });
        }
        w.server
            .add_service(notifications.service(w.shutdown.clone()));
        Ok(())
    })
}

fn init_worker_notification(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let notifications: Arc<freedumb_notification::Notifications> =
            w.get("worker-notification")?;
        let worker = notifications.worker()?;
        w.background("worker-notification", |stop| worker.run(stop));
        Ok(())
    })
}

fn init_verifier(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let source: Arc<dyn KeySource> = match w.try_get::<Arc<dyn KeySource>>() {
            Some(local) => local,
            None => {
                let url = w.config.auth_url.as_deref().context(
                    "FREEDUMB_AUTH_URL is required when the auth target does not run in this process",
                )?;
                // Logouts reach other processes only through Redis.
                anyhow::ensure!(
                    w.config.redis_url.is_some(),
                    "REDIS_URL is required when the auth target runs in another process \
                     (session revocations are shared through it)"
                );
                Arc::new(GrpcKeySource::new(url)?)
            }
        };
        let verifier = Arc::new(TokenVerifier::new(
            &w.config.tokens,
            source,
            w.state.revocations.clone(),
        ));
        w.provide(verifier);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_are_named_after_their_targets_in_traces() {
        assert_eq!(Targets::all().service_name(), "freedumb");
        assert_eq!(parse("all").expect("all").service_name(), "freedumb");
        assert_eq!(
            parse("ledger").expect("ledger").service_name(),
            "freedumb-ledger"
        );
        assert_eq!(
            parse("gateway,auth").expect("two").service_name(),
            "freedumb-auth+gateway"
        );
    }

    #[test]
    fn modules_are_declared_after_their_dependencies() {
        for (i, module) in REGISTRY.iter().enumerate() {
            for dep in module.deps {
                let at = REGISTRY.iter().position(|m| m.name == *dep);
                assert!(
                    at.is_some_and(|at| at < i),
                    "{} depends on {dep}, which must be declared before it",
                    module.name
                );
            }
        }
        let auth = REGISTRY.iter().position(|m| m.name == "auth");
        let verifier = REGISTRY.iter().position(|m| m.name == "verifier");
        assert!(auth < verifier, "the verifier uses auth's keys in process");
    }

    #[test]
    fn targets_resolve_to_their_dependencies_in_start_up_order() {
        let names = |t: &Targets| t.resolve().iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(
            names(&parse("worker-recurring").expect("valid")),
            ["event-bus", "ledger-core", "worker-recurring", "verifier"]
        );
        assert_eq!(
            names(&parse("auth").expect("valid")),
            ["event-bus", "auth", "verifier"]
        );
        assert_eq!(names(&Targets::all()).len(), REGISTRY.len());
    }

    #[test]
    fn all_and_lists_parse_and_internal_modules_are_not_targets() {
        assert_eq!(parse("all"), Ok(Targets::all()));
        assert!(parse("auth, auth").expect("valid").contains("auth"));
        let err = parse("auth,ledgr").expect_err("invalid");
        assert!(err.contains("ledgr"), "{err}");
        assert!(parse(" , ").is_err());
        assert!(parse("ledger-core").is_err());
        assert!(!describe().contains("ledger-core"));
    }

    #[test]
    fn confirming_registrations_in_one_process_with_notification_needs_email() {
        let dir = tempfile::tempdir().expect("temp dir");
        let load = |toml: &str| {
            let file = dir.path().join("freedumb.toml");
            std::fs::write(&file, toml).expect("written");
            Config::load(Some(&file)).expect("valid")
        };
        let confirms = load("[auth]\nconfirm_registration_by_email = true\n");
        let problems = together_problems(&confirms, &Targets::all().resolve());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("FREEDUMB_NOTIFICATION__SMTP_URL"),
            "{problems:?}"
        );
        // Apart, the auth process cannot know the notification service's
        // settings: nothing to say.
        let auth_alone = parse("auth").expect("valid").resolve();
        assert!(together_problems(&confirms, &auth_alone).is_empty());
        let with_email = load(
            "[auth]\nconfirm_registration_by_email = true\n\
             [notification]\nsmtp_url = \"smtp://127.0.0.1:2525\"\n",
        );
        assert!(together_problems(&with_email, &Targets::all().resolve()).is_empty());
        assert!(together_problems(&load(""), &Targets::all().resolve()).is_empty());
    }
}
