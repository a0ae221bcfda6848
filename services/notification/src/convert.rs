//! Records to their API form.

use freedumb_kit::time::timestamp;
use freedumb_proto::notification as pb;

use crate::store::{Channel, DeliveryRecord, DeliveryState, EndpointRecord, NotificationRecord};

/// The API form of a notification.
pub fn notification(n: &NotificationRecord) -> pb::Notification {
    pb::Notification {
        id: n.id.to_string(),
        kind: n.kind.to_pb().into(),
        title: n.title.clone(),
        body: n.body.clone(),
        attributes: n.attributes.clone().into_iter().collect(),
        create_time: Some(timestamp(n.create_time)),
        read_time: n.read_time.map(timestamp),
    }
}

/// The API form of an endpoint (never its secret).
pub fn endpoint(e: &EndpointRecord) -> pb::WebhookEndpoint {
    pb::WebhookEndpoint {
        id: e.id.to_string(),
        url: e.url.clone(),
        description: e.description.clone(),
        kinds: e.kinds.iter().map(|k| k.to_pb().into()).collect(),
        create_time: Some(timestamp(e.create_time)),
    }
}

/// The API form of a webhook delivery.
pub fn delivery(d: &DeliveryRecord) -> pb::WebhookDelivery {
    let state = match d.state {
        DeliveryState::Pending => pb::DeliveryState::Pending,
        DeliveryState::Delivered => pb::DeliveryState::Delivered,
        DeliveryState::Dead => pb::DeliveryState::Dead,
    };
    let endpoint_id = match d.channel {
        Channel::Webhook(id) => id.to_string(),
        Channel::Email => String::new(),
    };
    let next = chrono::DateTime::from_timestamp_millis(d.next_attempt_ms)
        .filter(|_| d.state == DeliveryState::Pending);
    pb::WebhookDelivery {
        id: d.id.to_string(),
        endpoint_id,
        notification_id: d.notification_id.to_string(),
        kind: d.kind.to_pb().into(),
        state: state.into(),
        attempts: d.attempts,
        last_status_code: d.last_status,
        last_error: d.last_error.clone(),
        next_attempt_time: next.map(timestamp),
        create_time: Some(timestamp(d.create_time)),
        deliver_time: d.deliver_time.map(timestamp),
    }
}
