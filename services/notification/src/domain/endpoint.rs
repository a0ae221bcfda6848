use freedumb_kit::FieldViolations;
use freedumb_kit::domain::Text;
use freedumb_proto::notification as pb;
use reqwest::Url;

use super::Kind;
use super::webhook::AddressPolicy;

/// A validated `CreateWebhookEndpointRequest` (the address resolved and
/// checked too).
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Where to post.
    pub url: Url,
    /// What it is for.
    pub description: Text<200>,
    /// The kinds it receives (empty: all).
    pub kinds: Vec<Kind>,
}

impl NewEndpoint {
    /// Checks the request's endpoint, resolving its host.
    pub async fn parse(
        endpoint: &pb::WebhookEndpoint,
        policy: &AddressPolicy,
    ) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let url = v.check("endpoint.url", policy.check_url(&endpoint.url));
        let description = v.check("endpoint.description", Text::parse(&endpoint.description));
        let mut kinds = Vec::new();
        for (i, raw) in endpoint.kinds.iter().enumerate() {
            match Kind::parse(*raw) {
                Ok(kind) if kinds.contains(&kind) => {
                    v.add(format!("endpoint.kinds[{i}]"), "is listed twice")
                }
                Ok(kind) => kinds.push(kind),
                Err(e) => v.add(format!("endpoint.kinds[{i}]"), e),
            }
        }
        if let Some(url) = &url
            && let Err(e) = policy.check_resolved(url).await
        {
            v.add("endpoint.url", e);
        }
        match (url, description) {
            (Some(url), Some(description)) if v.is_empty() => Ok(Self {
                url,
                description,
                kinds,
            }),
            _ => Err(v),
        }
    }
}
