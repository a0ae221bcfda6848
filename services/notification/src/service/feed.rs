//! The feed (list, watch), marking read, and preferences.

use std::pin::Pin;

use freedumb_kit::UpdateMask;
use freedumb_proto::notification as pb;
use futures::Stream;
use prost::Message as _;
use tonic::Status;
use uuid::Uuid;

use super::{NotificationApi, Result};
use crate::domain::{Preferences, merge};
use crate::error::NotificationError;

/// Ids one `MarkRead` may name.
const MAX_MARK: usize = 1000;

/// The stream `WatchNotifications` answers with.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchNotificationsResponse, Status>> + Send>>;

/// The ids of a `MarkRead`: 1 to 1000 valid ids.
pub fn notification_ids(raw: &[String]) -> Result<Vec<Uuid>> {
    let mut v = freedumb_kit::FieldViolations::new();
    if raw.is_empty() || raw.len() > MAX_MARK {
        v.add(
            "notification_ids",
            format!("must name 1 to {MAX_MARK} notifications"),
        );
    }
    let ids: Vec<Uuid> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            v.check(
                &format!("notification_ids[{i}]"),
                freedumb_kit::domain::required_id(id),
            )
        })
        .collect();
    if v.is_empty() {
        Ok(ids)
    } else {
        Err(NotificationError::InvalidArgument(v))
    }
}

impl NotificationApi {
    pub(super) async fn list(
        &self,
        user_id: Uuid,
        listing: &crate::domain::NotificationListing,
    ) -> Result<pb::ListNotificationsResponse> {
        let mut rows = self
            .deps
            .store
            .list_notifications(
                user_id,
                listing.page.after,
                listing.unread_only,
                listing.page.size.fetch_limit(),
            )
            .await?;
        let next_page_token = listing.page.next_page_token(&mut rows, |n| n.id);
        Ok(pb::ListNotificationsResponse {
            notifications: rows.iter().map(crate::convert::notification).collect(),
            next_page_token,
        })
    }

    pub(super) fn watch(&self, user_id: Uuid) -> WatchStream {
        freedumb_kit::events::watch_user(
            self.deps.bus.as_ref(),
            crate::consumer::FEED,
            user_id,
            self.deps.shutdown.clone(),
            |event| {
                let Ok(notification) = pb::Notification::decode(event.payload.as_ref()) else {
                    tracing::warn!(id = %event.id, "undecodable notification on the feed");
                    return None;
                };
                Some(pb::WatchNotificationsResponse {
                    notification: Some(notification),
                })
            },
        )
    }

    pub(super) async fn preferences(&self, user_id: Uuid) -> Result<Preferences> {
        Ok(self
            .deps
            .store
            .get_preferences(user_id)
            .await?
            .unwrap_or_default())
    }

    pub(super) async fn update_preferences(
        &self,
        user_id: Uuid,
        patch: &pb::Preferences,
        mask: &UpdateMask,
    ) -> Result<pb::UpdatePreferencesResponse> {
        let current = self.preferences(user_id).await?;
        let merged = merge(&current.to_pb(), patch, mask);
        let preferences = Preferences::parse(&merged)?;
        self.deps
            .store
            .put_preferences(user_id, &preferences, freedumb_kit::time::now())
            .await?;
        Ok(pb::UpdatePreferencesResponse {
            preferences: Some(preferences.to_pb()),
        })
    }
}
