//! Webhook endpoints and their delivery log.

use freedumb_proto::notification as pb;
use uuid::Uuid;

use super::{NotificationApi, Result};
use crate::domain::{DeliveryListing, NewEndpoint, webhook};
use crate::store::EndpointRecord;

impl NotificationApi {
    pub(super) async fn create_endpoint(
        &self,
        user_id: Uuid,
        endpoint: &pb::WebhookEndpoint,
    ) -> Result<pb::CreateWebhookEndpointResponse> {
        let new = NewEndpoint::parse(endpoint, &self.deps.policy).await?;
        let record = EndpointRecord {
            id: Uuid::now_v7(),
            user_id,
            url: new.url.to_string(),
            description: new.description.to_string(),
            kinds: new.kinds,
            secret: webhook::new_secret(),
            create_time: freedumb_kit::time::now(),
        };
        self.deps.store.create_endpoint(&record).await?;
        Ok(pb::CreateWebhookEndpointResponse {
            endpoint: Some(crate::convert::endpoint(&record)),
            secret: record.secret,
        })
    }

    pub(super) async fn list_deliveries(
        &self,
        user_id: Uuid,
        listing: &DeliveryListing,
    ) -> Result<pb::ListWebhookDeliveriesResponse> {
        let mut rows = self
            .deps
            .store
            .list_deliveries(
                user_id,
                listing.endpoint_id,
                listing.page.after,
                listing.page.size.fetch_limit(),
            )
            .await?;
        let next_page_token = listing.page.next_page_token(&mut rows, |d| d.id);
        Ok(pb::ListWebhookDeliveriesResponse {
            deliveries: rows.iter().map(crate::convert::delivery).collect(),
            next_page_token,
        })
    }
}
