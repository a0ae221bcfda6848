//! The event consumer: the ledger's and the budget's events, read as the
//! consumer group `notification`, become notifications and their
//! deliveries, by each user's preferences, recorded once per event. New
//! feed entries are told to watchers through the bus; the worker is woken
//! for new deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use freedumb_kit::events::{Event, EventBus, Handler};
use freedumb_kit::inbox::Pruning;
use freedumb_kit::time;
use freedumb_proto::auth as auth_pb;
use freedumb_proto::budget as budget_pb;
use freedumb_proto::ledger as ledger_pb;
use prost::Message as _;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::clock::next_local;
use crate::domain::{Kind, Preferences};
use crate::render::{self, money};
use crate::store::{
    Channel, DeliveryRecord, DeliveryState, InboxStore, Made, NotificationRecord, Recipient,
    StoreError,
};

/// The consumer group name on every stream it reads.
pub const GROUP: &str = "notification";
/// The live stream of new feed entries, for watchers.
pub const FEED: &str = "freedumb.notification.v1.feed";

/// Which stream a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `freedumb.ledger.v1.events`.
    Ledger,
    /// `freedumb.budget.v1.events`.
    Budget,
    /// `freedumb.auth.v1.events`.
    Auth,
}

impl Source {
    /// The consumer's name in logs, metrics and task failures.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ledger => "notification consumer of ledger events",
            Self::Budget => "notification consumer of budget events",
            Self::Auth => "notification consumer of auth events",
        }
    }

    /// The stream.
    pub fn stream(self) -> &'static str {
        match self {
            Self::Ledger => "freedumb.ledger.v1.events",
            Self::Budget => "freedumb.budget.v1.events",
            Self::Auth => "freedumb.auth.v1.events",
        }
    }
}

/// What an event is about, when it may notify.
#[derive(Debug, Clone)]
enum About {
    Threshold(budget_pb::ThresholdCrossed),
    Goal(budget_pb::GoalReached),
    Transaction(Box<ledger_pb::Transaction>),
    SignIn(auth_pb::SignInFromNewClient),
    Registration(auth_pb::RegistrationRequested),
}

/// An event that may notify.
#[derive(Debug, Clone)]
struct Incoming {
    event_id: Uuid,
    user_id: Uuid,
    about: About,
}

/// Makes notifications from one stream's events.
pub struct Consumer {
    source: Source,
    store: Arc<dyn InboxStore>,
    bus: Arc<dyn EventBus>,
    wake_worker: Arc<Notify>,
    email_enabled: bool,
    pruning: Pruning,
}

impl Consumer {
    /// A consumer of `source` writing to `store`.
    pub fn new(
        source: Source,
        store: Arc<dyn InboxStore>,
        bus: Arc<dyn EventBus>,
        wake_worker: Arc<Notify>,
        email_enabled: bool,
    ) -> Self {
        Self {
            source,
            store,
            bus,
            wake_worker,
            email_enabled,
            pruning: Pruning::default(),
        }
    }

    fn decode(&self, event: &Event) -> Option<Incoming> {
        let decoded = match self.source {
            Source::Ledger if event.kind == "transaction_created" => {
                ledger_pb::LedgerEvent::decode(event.payload.as_ref()).map(|e| {
                    let about = match e.change {
                        Some(ledger_pb::ledger_event::Change::TransactionCreated(c)) => {
                            c.transaction.map(|t| About::Transaction(Box::new(t)))
                        }
                        _ => None,
                    };
                    (e.event_id, e.user_id, about)
                })
            }
            Source::Budget
                if matches!(event.kind.as_str(), "threshold_crossed" | "goal_reached") =>
            {
                budget_pb::BudgetEvent::decode(event.payload.as_ref()).map(|e| {
                    use budget_pb::budget_event::Change;
                    let about = match e.change {
                        Some(Change::ThresholdCrossed(c)) => Some(About::Threshold(c)),
                        Some(Change::GoalReached(g)) => Some(About::Goal(g)),
                        None => None,
                    };
                    (e.event_id, e.user_id, about)
                })
            }
            Source::Auth
                if matches!(
                    event.kind.as_str(),
                    "sign_in_from_new_client" | "registration_requested"
                ) =>
            {
                auth_pb::AuthEvent::decode(event.payload.as_ref()).map(|e| {
                    use auth_pb::auth_event::Change;
                    let about = match e.change {
                        Some(Change::SignInFromNewClient(s)) => Some(About::SignIn(s)),
                        Some(Change::RegistrationRequested(r)) => Some(About::Registration(r)),
                        None => None,
                    };
                    (e.event_id, e.user_id, about)
                })
            }
            // Kinds that never notify.
            _ => return None,
        };
        match decoded {
            Ok((event_id, user_id, Some(about))) => {
                match (Uuid::try_parse(&event_id), Uuid::try_parse(&user_id)) {
                    (Ok(event_id), Ok(user_id)) => Some(Incoming {
                        event_id,
                        user_id,
                        about,
                    }),
                    _ => {
                        tracing::warn!(event = %event.id, "skipping an event without valid ids");
                        None
                    }
                }
            }
            Ok(_) => None,
            Err(error) => {
                metrics::counter!("notification_events_skipped_total").increment(1);
                tracing::warn!(event = %event.id, error = %error, "skipping an undecodable event");
                None
            }
        }
    }
}

#[async_trait]
impl Handler for Consumer {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let incoming: Vec<Incoming> = events.iter().filter_map(|e| self.decode(e)).collect();
        if incoming.is_empty() {
            return Ok(());
        }
        let mut users: Vec<Uuid> = incoming.iter().map(|i| i.user_id).collect();
        users.sort_unstable();
        users.dedup();
        let recipients = self
            .store
            .recipients(&users)
            .await
            .map_err(StoreError::into_failure)?;
        let now = time::now();
        let made: Vec<Made> = incoming
            .iter()
            .map(|i| make(i, recipients.get(&i.user_id), now, self.email_enabled))
            .collect();
        let deliveries: usize = made.iter().map(|m| m.deliveries.len()).sum();
        let feed = self
            .store
            .record(&made, now.timestamp_millis())
            .await
            .map_err(StoreError::into_failure)?;
        metrics::counter!("notifications_total").increment(feed.len() as u64);
        if deliveries > 0 {
            self.wake_worker.notify_one();
        }
        publish_feed(self.bus.as_ref(), &feed).await;
        if let Some(before) = self.pruning.due(now.timestamp_millis()) {
            self.store.prune_handled_events(before).await?;
        }
        Ok(())
    }
}

/// Tells watchers about new feed entries (not durable: a watcher that is
/// not connected sees them by listing).
async fn publish_feed(bus: &dyn EventBus, feed: &[NotificationRecord]) {
    if feed.is_empty() {
        return;
    }
    let events: Vec<Event> = feed
        .iter()
        .map(|n| Event {
            id: n.id.to_string(),
            kind: "notification".to_owned(),
            user_id: n.user_id.to_string(),
            payload: crate::convert::notification(n).encode_to_vec().into(),
        })
        .collect();
    if let Err(error) = bus.publish(FEED, &events).await {
        tracing::warn!(error = ?error, "telling notification watchers failed");
    }
}

/// The notification and deliveries one event makes for its user.
fn make(
    incoming: &Incoming,
    recipient: Option<&Recipient>,
    now: DateTime<Utc>,
    email_enabled: bool,
) -> Made {
    if let About::Registration(r) = &incoming.about {
        return registration(incoming, r, now, email_enabled);
    }
    let default = Recipient::default();
    let recipient = recipient.unwrap_or(&default);
    let prefs = &recipient.preferences;
    let mut made = Made {
        event_id: incoming.event_id,
        ..Made::default()
    };
    let Some((kind, title, body, attributes)) = content(&incoming.about, prefs) else {
        return made;
    };
    let notification = notification_of(incoming, kind, (title, body, attributes), now);
    let channels = prefs.channels(kind);
    if channels.email
        && email_enabled
        && let Some(to) = &prefs.email
    {
        match email_payload(&notification, to, channels.email_template.as_deref()) {
            Ok(payload) => {
                let zone = prefs.zone();
                let due = if prefs.daily_digest {
                    next_local(zone, prefs.digest_at(), now)
                } else {
                    prefs.quiet().map_or(now, |q| q.release(zone, now))
                };
                made.deliveries.push(pending_delivery(
                    &notification,
                    Channel::Email,
                    payload,
                    prefs.daily_digest,
                    due,
                ));
            }
            Err(error) => {
                tracing::warn!(error = ?error, user = %incoming.user_id, "rendering an email failed")
            }
        }
    }
    if channels.webhook {
        let body = render::webhook_body(&notification);
        for endpoint in recipient.endpoints.iter().filter(|e| e.receives(kind)) {
            made.deliveries.push(pending_delivery(
                &notification,
                Channel::Webhook(endpoint.id),
                body.clone(),
                false,
                now,
            ));
        }
    }
    made.in_feed = channels.in_app;
    if made.in_feed || !made.deliveries.is_empty() {
        made.notification = Some(notification);
    }
    made
}

/// A registration's message: by email only, to the address registered
/// (the only channel that proves the mailbox), now, whatever the
/// preferences; never in the feed or to webhooks (it may carry the
/// confirmation token).
fn registration(
    incoming: &Incoming,
    r: &auth_pb::RegistrationRequested,
    now: DateTime<Utc>,
    email_enabled: bool,
) -> Made {
    let mut made = Made {
        event_id: incoming.event_id,
        ..Made::default()
    };
    if !email_enabled {
        metrics::counter!("notification_registration_emails_unsent_total").increment(1);
        tracing::error!(
            event = %incoming.event_id,
            "a registration's confirmation email cannot be sent: email is off \
             (notification.smtp_url); nobody can finish registering"
        );
        return made;
    }
    let notification = notification_of(incoming, Kind::Registration, registration_content(r), now);
    let payload = render::account_email(&notification, &r.email)
        .and_then(|email| Ok(serde_json::to_string(&email)?));
    match payload {
        Ok(payload) => made.deliveries.push(pending_delivery(
            &notification,
            Channel::Email,
            payload,
            false,
            now,
        )),
        Err(error) => {
            tracing::warn!(error = ?error, event = %incoming.event_id, "rendering a registration email failed");
            return made;
        }
    }
    made.notification = Some(notification);
    made
}

/// A first attempt at sending `notification` on `channel`, due at `due`
/// (made when the notification is).
fn pending_delivery(
    notification: &NotificationRecord,
    channel: Channel,
    payload: String,
    digest: bool,
    due: DateTime<Utc>,
) -> DeliveryRecord {
    DeliveryRecord {
        id: Uuid::now_v7(),
        user_id: notification.user_id,
        channel,
        notification_id: notification.id,
        kind: notification.kind,
        payload,
        digest,
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_ms: due.timestamp_millis(),
        last_status: 0,
        last_error: String::new(),
        create_time: notification.create_time,
        deliver_time: None,
    }
}

/// The unread notification `incoming` makes, with its title, body and
/// attributes.
fn notification_of(
    incoming: &Incoming,
    kind: Kind,
    (title, body, attributes): (String, String, BTreeMap<String, String>),
    now: DateTime<Utc>,
) -> NotificationRecord {
    NotificationRecord {
        id: Uuid::now_v7(),
        user_id: incoming.user_id,
        kind,
        title,
        body,
        attributes,
        event_id: incoming.event_id,
        create_time: now,
        read_time: None,
    }
}

/// What a registration's message says.
fn registration_content(
    r: &auth_pb::RegistrationRequested,
) -> (String, String, BTreeMap<String, String>) {
    let from = client_text(&r.user_agent, &r.client_address);
    if r.account_exists {
        return (
            "Someone tried to register your address at FREEDUMB".to_owned(),
            format!(
                "Someone tried to open a FREEDUMB account with this address from {from}. \
                 This address has an account already: if it was you, sign in with it (your \
                 password is unchanged). If it was not you, ignore this message; nothing \
                 was changed."
            ),
            BTreeMap::new(),
        );
    }
    let until = r
        .expire_time
        .as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let how = if r.link.is_empty() {
        format!(
            "To confirm it, enter this code in the app (or send it to \
             POST /v1/auth:confirmRegistration): {}",
            r.token
        )
    } else {
        format!("To confirm it, open this link: {}", r.link)
    };
    let mut attributes = BTreeMap::new();
    if !r.link.is_empty() {
        attributes.insert("link".to_owned(), r.link.clone());
    }
    (
        "Confirm your FREEDUMB registration".to_owned(),
        format!(
            "Someone, hopefully you, asked to open a FREEDUMB account with this address \
             from {from}. {how} It works until {until}, once. If it was not you, ignore \
             this message: no account is made."
        ),
        attributes,
    )
}

/// A client as a sentence names it.
fn client_text(user_agent: &str, address: &str) -> String {
    match (user_agent, address) {
        ("", "") => "an unknown client".to_owned(),
        ("", address) => format!("a client at {address}"),
        (agent, "") => agent.to_owned(),
        (agent, address) => format!("{agent} at {address}"),
    }
}

/// The email as the worker sends it; the user's template failing (too much
/// work) falls back to the standard one.
fn email_payload(
    n: &NotificationRecord,
    to: &str,
    template: Option<&str>,
) -> anyhow::Result<String> {
    let email = render::email(n, to, template).or_else(|error| {
        tracing::info!(error = %error, "a custom email template failed; using the standard one");
        render::email(n, to, None)
    })?;
    Ok(serde_json::to_string(&email)?)
}

type Content = (Kind, String, String, BTreeMap<String, String>);

/// What an event says, if it notifies this user.
fn content(about: &About, prefs: &Preferences) -> Option<Content> {
    match about {
        About::Threshold(t) => {
            let budgeted = t
                .budgeted
                .as_ref()
                .map(|m| money(&m.currency_code, m.amount_minor))
                .unwrap_or_default();
            let spent = t
                .spent
                .as_ref()
                .map(|m| money(&m.currency_code, m.amount_minor))
                .unwrap_or_default();
            let period = |d: &Option<freedumb_proto::google::r#type::Date>| {
                d.as_ref()
                    .map(|d| format!("{}-{:02}-{:02}", d.year, d.month, d.day))
                    .unwrap_or_default()
            };
            Some((
                Kind::BudgetThreshold,
                format!(
                    "Budget \u{201c}{}\u{201d} reached {}%",
                    t.budget_name, t.threshold_percent
                ),
                format!(
                    "You have spent {spent} of {budgeted} between {} and {}.",
                    period(&t.period_start),
                    period(&t.period_end)
                ),
                BTreeMap::from([
                    ("budget_id".to_owned(), t.budget_id.clone()),
                    (
                        "threshold_percent".to_owned(),
                        t.threshold_percent.to_string(),
                    ),
                ]),
            ))
        }
        About::Goal(g) => {
            let amount = |m: &Option<freedumb_proto::common::Money>| {
                m.as_ref()
                    .map(|m| money(&m.currency_code, m.amount_minor))
                    .unwrap_or_default()
            };
            let by = g
                .target_date
                .as_ref()
                .map(|d| format!(" (planned by {}-{:02}-{:02})", d.year, d.month, d.day))
                .unwrap_or_default();
            let mut attributes = BTreeMap::from([("goal_id".to_owned(), g.goal_id.clone())]);
            for (key, id) in [
                ("account_id", &g.account_id),
                ("category_id", &g.category_id),
            ] {
                if !id.is_empty() {
                    attributes.insert(key.to_owned(), id.clone());
                }
            }
            Some((
                Kind::GoalReached,
                format!("Goal \u{201c}{}\u{201d} reached", g.goal_name),
                format!(
                    "You have saved {} of your {} target{by}.",
                    amount(&g.saved),
                    amount(&g.target)
                ),
                attributes,
            ))
        }
        About::SignIn(s) => {
            let from = client_text(&s.user_agent, &s.client_address);
            Some((
                Kind::NewSignIn,
                "New sign-in to your account".to_owned(),
                format!(
                    "Someone signed in to your account from {from}, a client not seen before. \
                     If it was not you, change your password: that signs out every other session."
                ),
                BTreeMap::from([("session_id".to_owned(), s.session_id.clone())]),
            ))
        }
        // Made by `registration`, whatever the preferences.
        About::Registration(_) => None,
        About::Transaction(t) => {
            let m = t.amount.as_ref()?;
            let amount = money(&m.currency_code, m.amount_minor);
            let date = t
                .date
                .as_ref()
                .map(|d| format!("{}-{:02}-{:02}", d.year, d.month, d.day))
                .unwrap_or_default();
            let what = [&t.description, &t.merchant]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_else(|| "A transaction".to_owned());
            let mut attributes = BTreeMap::from([
                ("transaction_id".to_owned(), t.id.clone()),
                ("account_id".to_owned(), t.account_id.clone()),
            ]);
            if !t.recurring_rule_id.is_empty() {
                attributes.insert("rule_id".to_owned(), t.recurring_rule_id.clone());
                return Some((
                    Kind::RecurringRecorded,
                    format!("Recurring transaction recorded: {amount}"),
                    format!("{what} on {date}: {amount}."),
                    attributes,
                ));
            }
            if t.transfer_id.is_empty() && prefs.is_large(&m.currency_code, m.amount_minor) {
                return Some((
                    Kind::LargeTransaction,
                    format!("Large transaction: {amount}"),
                    format!("{what} on {date}: {amount}."),
                    attributes,
                ));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use freedumb_kit::domain::money as pb_money;

    use super::*;
    use crate::store::EndpointRecord;

    fn threshold() -> Incoming {
        Incoming {
            event_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            about: About::Threshold(budget_pb::ThresholdCrossed {
                budget_id: "b1".into(),
                budget_name: "Food".into(),
                threshold_percent: 80,
                budgeted: Some(pb_money("EUR", 40_000)),
                spent: Some(pb_money("EUR", 32_000)),
                period_start: Some(freedumb_kit::domain::date(
                    "2026-11-01".parse().expect("date"),
                )),
                period_end: Some(freedumb_kit::domain::date(
                    "2026-11-30".parse().expect("date"),
                )),
            }),
        }
    }

    fn endpoint(user: Uuid, kinds: Vec<Kind>) -> EndpointRecord {
        EndpointRecord {
            id: Uuid::now_v7(),
            user_id: user,
            url: "https://hooks.example.com/in".into(),
            description: String::new(),
            kinds,
            secret: crate::domain::webhook::new_secret(),
            create_time: Utc::now(),
        }
    }

    #[test]
    fn a_threshold_goes_to_the_feed_and_to_every_endpoint_that_wants_it() {
        let event = threshold();
        let recipient = Recipient {
            preferences: Preferences::default(),
            endpoints: vec![
                endpoint(event.user_id, vec![]),
                endpoint(event.user_id, vec![Kind::BudgetThreshold]),
                endpoint(event.user_id, vec![Kind::LargeTransaction]),
            ],
        };
        let made = make(&event, Some(&recipient), Utc::now(), true);
        let n = made.notification.expect("notifies");
        assert!(made.in_feed);
        assert_eq!(n.title, "Budget \u{201c}Food\u{201d} reached 80%");
        assert_eq!(
            n.body,
            "You have spent 320.00 EUR of 400.00 EUR between 2026-11-01 and 2026-11-30."
        );
        assert_eq!(
            made.deliveries.len(),
            2,
            "no email address, two endpoints want it"
        );
    }

    #[test]
    fn a_reached_goal_says_what_was_saved() {
        let event = Incoming {
            event_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            about: About::Goal(budget_pb::GoalReached {
                goal_id: "g1".into(),
                goal_name: "Holiday".into(),
                target: Some(pb_money("EUR", 150_000)),
                saved: Some(pb_money("EUR", 151_000)),
                target_date: Some(freedumb_kit::domain::date(
                    "2027-06-30".parse().expect("date"),
                )),
                account_id: "a1".into(),
                category_id: String::new(),
            }),
        };
        let made = make(&event, None, Utc::now(), true);
        let n = made.notification.expect("notifies");
        assert_eq!(n.kind, Kind::GoalReached);
        assert_eq!(n.title, "Goal \u{201c}Holiday\u{201d} reached");
        assert_eq!(
            n.body,
            "You have saved 1510.00 EUR of your 1500.00 EUR target (planned by 2027-06-30)."
        );
        assert_eq!(
            n.attributes.keys().collect::<Vec<_>>(),
            ["account_id", "goal_id"]
        );
    }

    #[test]
    fn small_transactions_do_not_notify_and_large_ones_do() {
        let user = Uuid::now_v7();
        let transaction = |minor: i64| Incoming {
            event_id: Uuid::now_v7(),
            user_id: user,
            about: About::Transaction(Box::new(ledger_pb::Transaction {
                id: Uuid::now_v7().to_string(),
                amount: Some(pb_money("EUR", minor)),
                description: "Rent".into(),
                ..Default::default()
            })),
        };
        let mut preferences = Preferences::default();
        let none = make(&transaction(-1_000_000), None, Utc::now(), true);
        assert!(none.notification.is_none(), "no threshold set");
        preferences.large_transaction = Some(("EUR".into(), 100_000));
        preferences.email = Some("ada@example.com".into());
        let recipient = Recipient {
            preferences,
            endpoints: vec![],
        };
        assert!(
            make(&transaction(-99_999), Some(&recipient), Utc::now(), true)
                .notification
                .is_none()
        );
        let large = make(&transaction(-100_000), Some(&recipient), Utc::now(), true);
        assert_eq!(
            large.notification.map(|n| n.kind),
            Some(Kind::LargeTransaction)
        );
        assert_eq!(large.deliveries.len(), 1, "one email");
        let without_smtp = make(&transaction(-100_000), Some(&recipient), Utc::now(), false);
        assert!(without_smtp.deliveries.is_empty());
    }

    fn registration_event(account_exists: bool) -> Incoming {
        Incoming {
            event_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            about: About::Registration(auth_pb::RegistrationRequested {
                email: "ada@example.com".into(),
                account_exists,
                token: if account_exists {
                    String::new()
                } else {
                    "fdc_secret".into()
                },
                link: String::new(),
                expire_time: Some(freedumb_kit::time::timestamp(
                    "2026-12-03T10:00:00Z".parse().expect("instant"),
                )),
                user_agent: "Firefox/140".into(),
                client_address: "203.0.113.7".into(),
            }),
        }
    }

    fn sent_email(made: &Made) -> crate::render::Email {
        assert_eq!(made.deliveries.len(), 1, "one email");
        let delivery = &made.deliveries[0];
        assert_eq!(delivery.channel, Channel::Email);
        assert!(!delivery.digest);
        serde_json::from_str(&delivery.payload).expect("email payload")
    }

    #[test]
    fn a_registration_emails_its_token_to_the_address_registered_whatever_the_preferences() {
        let event = registration_event(false);
        // A user who turned email off and has a webhook for every kind.
        let recipient = Recipient {
            preferences: Preferences::default(),
            endpoints: vec![endpoint(event.user_id, vec![])],
        };
        let made = make(&event, Some(&recipient), Utc::now(), true);
        assert!(!made.in_feed, "never in the feed");
        let n = made.notification.as_ref().expect("recorded");
        assert_eq!(n.kind, Kind::Registration);
        let email = sent_email(&made);
        assert_eq!(email.to, "ada@example.com");
        assert_eq!(email.subject, "Confirm your FREEDUMB registration");
        assert!(email.text.contains("fdc_secret"), "{}", email.text);
        assert!(email.text.contains("Firefox/140 at 203.0.113.7"));
        assert!(email.text.contains("2026-12-03 10:00 UTC"));
        assert!(
            !email.text.contains("preferences"),
            "not a configurable notification"
        );
    }

    #[test]
    fn a_registration_of_a_taken_address_says_so_and_carries_no_token() {
        let made = make(&registration_event(true), None, Utc::now(), true);
        let email = sent_email(&made);
        assert_eq!(
            email.subject,
            "Someone tried to register your address at FREEDUMB"
        );
        assert!(email.text.contains("has an account already"));
        assert!(!email.text.contains("fdc_"));
    }

    #[test]
    fn a_registration_link_is_a_link_in_the_html_part() {
        let mut event = registration_event(false);
        if let About::Registration(r) = &mut event.about {
            r.link = "https://app.example.com/confirm?token=fdc_secret&x=<y>".into();
        }
        let email = sent_email(&make(&event, None, Utc::now(), true));
        assert!(
            email
                .text
                .contains("open this link: https://app.example.com/confirm")
        );
        assert!(
            email.html.contains("<a href=\"https:")
                && email.html.contains("?token=fdc_secret&amp;x=&lt;y&gt;\">"),
            "escaped in an attribute: {}",
            email.html
        );
    }

    #[test]
    fn without_email_a_registration_sends_nothing() {
        let made = make(&registration_event(false), None, Utc::now(), false);
        assert!(made.notification.is_none() && made.deliveries.is_empty());
    }
}
