//! What notifications say: their title, body and attributes from the
//! events that make them, the webhook body, and the email (plain text and
//! HTML, rendered with MiniJinja; a user's custom template runs with a
//! bounded amount of work).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use freedumb_kit::domain::Currency;
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use crate::store::NotificationRecord;

/// Work a custom template may do before it is cut off.
const TEMPLATE_FUEL: u64 = 50_000;

/// An amount as people read it: `-12.50 EUR`.
pub fn money(currency: &str, minor: i64) -> String {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent());
    if exponent == 0 {
        return format!("{minor} {currency}");
    }
    let scale = 10_i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let (whole, fraction) = (
        minor.unsigned_abs() / scale as u64,
        minor.unsigned_abs() % scale as u64,
    );
    format!(
        "{sign}{whole}.{fraction:0width$} {currency}",
        width = exponent as usize
    )
}

/// The JSON body of a webhook (the Standard Webhooks payload shape:
/// `type`, `timestamp`, `data`).
pub fn webhook_body(n: &NotificationRecord) -> String {
    let body = serde_json::json!({
        "type": n.kind.as_str(),
        "timestamp": n.create_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "notification_id": n.id.to_string(),
            "user_id": n.user_id.to_string(),
            "title": n.title,
            "body": n.body,
            "attributes": n.attributes,
        },
    });
    body.to_string()
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

const TEXT: &str = "{{ body }}\n\n{% for key, value in attributes|items %}{{ key }}: {{ value }}\n{% endfor %}\n-- \nFREEDUMB. Change what you receive in your notification preferences.\n";
const HTML: &str = "<!doctype html>\n<html><body>\n<h1>{{ title }}</h1>\n<p>{{ body }}</p>\n{% if attributes %}<ul>{% for key, value in attributes|items %}<li>{{ key }}: {{ value }}</li>{% endfor %}</ul>{% endif %}\n<p><small>FREEDUMB. Change what you receive in your notification preferences.</small></p>\n</body></html>\n";
const DIGEST_TEXT: &str = "{% for n in notifications %}* {{ n.title }}\n  {{ n.body }}\n\n{% endfor %}-- \nFREEDUMB daily digest. Change what you receive in your notification preferences.\n";
const DIGEST_HTML: &str = "<!doctype html>\n<html><body>\n<h1>{{ subject }}</h1>\n<ul>{% for n in notifications %}<li><strong>{{ n.title }}</strong><br>{{ n.body }}</li>{% endfor %}</ul>\n<p><small>FREEDUMB daily digest.</small></p>\n</body></html>\n";

/// The email of one notification to `to`, with the user's custom text
/// template if any (the HTML part is always the standard one, escaped).
pub fn email(n: &NotificationRecord, to: &str, custom: Option<&str>) -> anyhow::Result<Email> {
    let values = context! { title => &n.title, body => &n.body, attributes => &n.attributes };
    let text = match custom {
        Some(template) => render_custom(template, &values)?,
        None => render(TEXT, &values, false)?,
    };
    Ok(Email {
        to: to.to_owned(),
        subject: n.title.clone(),
        text,
        html: render(HTML, &values, true)?,
    })
}

const ACCOUNT_TEXT: &str = "{{ body }}\n\n-- \nFREEDUMB. This message went to the address given at registration; it is not a notification you can turn off.\n";
const ACCOUNT_HTML: &str = "<!doctype html>\n<html><body>\n<h1>{{ title }}</h1>\n<p>{{ body }}</p>\n{% if link %}<p><a href=\"{{ link }}\">{{ link }}</a></p>{% endif %}\n<p><small>FREEDUMB. This message went to the address given at registration.</small></p>\n</body></html>\n";

/// An account email (a registration's confirmation): the standard text,
/// with the `link` attribute as a link in the HTML part; no custom
/// template and no preferences footer.
pub fn account_email(n: &NotificationRecord, to: &str) -> anyhow::Result<Email> {
    let link = n
        .attributes
        .get("link")
        .map(String::as_str)
        .unwrap_or_default();
    let values = context! { title => &n.title, body => &n.body, link => link };
    Ok(Email {
        to: to.to_owned(),
        subject: n.title.clone(),
        text: render(ACCOUNT_TEXT, &values, false)?,
        html: render(ACCOUNT_HTML, &values, true)?,
    })
}

/// One email gathering several (a digest) to the same recipient.
pub fn digest(emails: &[Email], at: DateTime<Utc>) -> anyhow::Result<Option<Email>> {
    let Some(first) = emails.first() else {
        return Ok(None);
    };
    let subject = format!(
        "Your FREEDUMB digest: {} notification{} ({})",
        emails.len(),
        if emails.len() == 1 { "" } else { "s" },
        at.format("%Y-%m-%d")
    );
    let items: Vec<BTreeMap<&str, &str>> = emails
        .iter()
        .map(|e| BTreeMap::from([("title", e.subject.as_str()), ("body", first_line(&e.text))]))
        .collect();
    let values = context! { subject => &subject, notifications => items };
    Ok(Some(Email {
        to: first.to.clone(),
        subject: subject.clone(),
        text: render(DIGEST_TEXT, &values, false)?,
        html: render(DIGEST_HTML, &values, true)?,
    }))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn render(template: &str, values: &minijinja::Value, html: bool) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(move |_| {
        if html {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    Ok(env.render_str(template, values)?)
}

fn render_custom(template: &str, values: &minijinja::Value) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    Ok(env.render_str(template, values)?)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::Kind;

    fn notification() -> NotificationRecord {
        NotificationRecord {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            kind: Kind::BudgetThreshold,
            title: "Budget <Food> reached 80%".into(),
            body: "You have spent 320.00 EUR of 400.00 EUR.".into(),
            attributes: BTreeMap::from([("budget_id".into(), "b1".into())]),
            event_id: Uuid::now_v7(),
            create_time: Utc::now(),
            read_time: None,
        }
    }

    #[test]
    fn amounts_use_the_currency_minor_units() {
        assert_eq!(money("EUR", -1250), "-12.50 EUR");
        assert_eq!(money("JPY", 500), "500 JPY");
        assert_eq!(money("BHD", 1), "0.001 BHD");
    }

    #[test]
    fn emails_have_a_text_and_an_escaped_html_part() {
        let email = email(&notification(), "ada@example.com", None).expect("render");
        assert!(email.text.contains("320.00 EUR") && email.text.contains("budget_id: b1"));
        assert!(email.html.contains("&lt;Food&gt;"), "{}", email.html);
        let custom = super::email(
            &notification(),
            "ada@example.com",
            Some("Hey! {{ title }} ({{ attributes.budget_id }})"),
        )
        .expect("custom");
        assert_eq!(custom.text, "Hey! Budget <Food> reached 80% (b1)");
    }

    #[test]
    fn a_runaway_custom_template_is_cut_off() {
        let looping =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        assert!(email(&notification(), "a@example.com", Some(looping)).is_err());
    }

    #[test]
    fn the_webhook_body_names_the_type_and_the_notification() {
        let n = notification();
        let body: serde_json::Value = serde_json::from_str(&webhook_body(&n)).expect("json");
        assert_eq!(body["type"], "budget.threshold_crossed");
        assert_eq!(body["data"]["notification_id"], n.id.to_string());
    }
}
