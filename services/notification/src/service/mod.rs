//! The `freedumb.notification.v1.NotificationService` implementation: the
//! feed and preferences (`feed.rs`), webhook endpoints and deliveries
//! (`webhooks.rs`). This file is the thin tonic adapter: the user comes
//! from the access token, the request is parsed into its validated form,
//! and errors become a `Status` in one place.

mod feed;
mod webhooks;

use std::sync::Arc;

use freedumb_kit::domain::required_id;
use freedumb_kit::events::EventBus;
use freedumb_kit::{Shutdown, UpdateMask};
use freedumb_proto::notification as pb;
use freedumb_proto::notification::notification_service_server::NotificationService;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::webhook::AddressPolicy;
use crate::domain::{DeliveryListing, NotificationListing, UPDATABLE};
use crate::error::NotificationError;
use crate::store::NotificationStore;

type Result<T, E = NotificationError> = std::result::Result<T, E>;

/// What the service needs.
pub struct NotificationDeps {
    /// Persistence, scoped by the caller.
    pub store: Arc<dyn NotificationStore>,
    /// Where new feed entries are told, for watchers.
    pub bus: Arc<dyn EventBus>,
    /// Where endpoints may point.
    pub policy: AddressPolicy,
    /// Wakes the delivery worker after a redelivery.
    pub wake_worker: Arc<tokio::sync::Notify>,
    /// Ends watch streams on shutdown.
    pub shutdown: Shutdown,
}

/// The notification service.
#[derive(Clone)]
pub struct NotificationApi {
    deps: Arc<NotificationDeps>,
}

impl NotificationApi {
    /// A service over `deps`.
    pub fn new(deps: NotificationDeps) -> Self {
        Self {
            deps: Arc::new(deps),
        }
    }
}

fn caller<T>(request: &Request<T>) -> Result<Uuid, Status> {
    Ok(freedumb_kit::auth::caller(request)?.user_id)
}

fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    required_id(raw).map_err(|e| NotificationError::field(field, e))
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    #[tracing::instrument(skip_all)]
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let user_id = caller(&request)?;
        let listing =
            NotificationListing::try_from(request.get_ref()).map_err(NotificationError::from)?;
        Ok(Response::new(self.list(user_id, &listing).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn get_unread_count(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Result<Response<pb::GetUnreadCountResponse>, Status> {
        let user_id = caller(&request)?;
        let unread = self
            .deps
            .store
            .count_unread(user_id)
            .await
            .map_err(NotificationError::from)?;
        Ok(Response::new(pb::GetUnreadCountResponse { unread }))
    }

    #[tracing::instrument(skip_all)]
    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        let user_id = caller(&request)?;
        let ids = feed::notification_ids(&request.get_ref().notification_ids)?;
        let marked = self
            .deps
            .store
            .mark_read(user_id, &ids, freedumb_kit::time::now())
            .await
            .map_err(NotificationError::from)?;
        Ok(Response::new(pb::MarkReadResponse { marked }))
    }

    #[tracing::instrument(skip_all)]
    async fn mark_all_read(
        &self,
        request: Request<pb::MarkAllReadRequest>,
    ) -> Result<Response<pb::MarkAllReadResponse>, Status> {
        let user_id = caller(&request)?;
        let marked = self
            .deps
            .store
            .mark_all_read(user_id, freedumb_kit::time::now())
            .await
            .map_err(NotificationError::from)?;
        Ok(Response::new(pb::MarkAllReadResponse { marked }))
    }

    type WatchNotificationsStream = feed::WatchStream;

    #[tracing::instrument(skip_all)]
    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let user_id = caller(&request)?;
        Ok(Response::new(self.watch(user_id)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::GetPreferencesResponse>, Status> {
        let user_id = caller(&request)?;
        let preferences = self.preferences(user_id).await?;
        Ok(Response::new(pb::GetPreferencesResponse {
            preferences: Some(preferences.to_pb()),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::UpdatePreferencesResponse>, Status> {
        let user_id = caller(&request)?;
        let req = request.into_inner();
        let mask = UpdateMask::parse(req.update_mask.as_ref(), UPDATABLE)
            .map_err(NotificationError::from)?;
        let patch = req.preferences.unwrap_or_default();
        Ok(Response::new(
            self.update_preferences(user_id, &patch, &mask).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn create_webhook_endpoint(
        &self,
        request: Request<pb::CreateWebhookEndpointRequest>,
    ) -> Result<Response<pb::CreateWebhookEndpointResponse>, Status> {
        let user_id = caller(&request)?;
        let endpoint = request.into_inner().endpoint.unwrap_or_default();
        Ok(Response::new(
            self.create_endpoint(user_id, &endpoint).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_webhook_endpoints(
        &self,
        request: Request<pb::ListWebhookEndpointsRequest>,
    ) -> Result<Response<pb::ListWebhookEndpointsResponse>, Status> {
        let user_id = caller(&request)?;
        let endpoints = self
            .deps
            .store
            .list_endpoints(user_id)
            .await
            .map_err(NotificationError::from)?;
        Ok(Response::new(pb::ListWebhookEndpointsResponse {
            endpoints: endpoints.iter().map(crate::convert::endpoint).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_webhook_endpoint(
        &self,
        request: Request<pb::DeleteWebhookEndpointRequest>,
    ) -> Result<Response<pb::DeleteWebhookEndpointResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("endpoint_id", &request.get_ref().endpoint_id)?;
        self.deps
            .store
            .delete_endpoint(user_id, id)
            .await
            .map_err(NotificationError::from)?;
        Ok(Response::new(pb::DeleteWebhookEndpointResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let user_id = caller(&request)?;
        let listing =
            DeliveryListing::try_from(request.get_ref()).map_err(NotificationError::from)?;
        Ok(Response::new(
            self.list_deliveries(user_id, &listing).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn redeliver_webhook_delivery(
        &self,
        request: Request<pb::RedeliverWebhookDeliveryRequest>,
    ) -> Result<Response<pb::RedeliverWebhookDeliveryResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("delivery_id", &request.get_ref().delivery_id)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let delivery = self
            .deps
            .store
            .redeliver(user_id, id, now_ms)
            .await
            .map_err(NotificationError::from)?;
        self.deps.wake_worker.notify_one();
        Ok(Response::new(pb::RedeliverWebhookDeliveryResponse {
            delivery: Some(crate::convert::delivery(&delivery)),
        }))
    }
}
