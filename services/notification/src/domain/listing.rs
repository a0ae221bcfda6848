use freedumb_kit::FieldViolations;
use freedumb_kit::domain::required_id;
use freedumb_kit::page::{Filters, Page};
use freedumb_proto::notification as pb;
use uuid::Uuid;

/// Rows per page when the request does not say.
const DEFAULT_PAGE_SIZE: u32 = 50;

/// A validated `ListNotificationsRequest`: newest first, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationListing {
    /// The page (its cursor: the last id of the previous page).
    pub page: Page<Uuid>,
    /// Only unread ones.
    pub unread_only: bool,
}

impl TryFrom<&pb::ListNotificationsRequest> for NotificationListing {
    type Error = FieldViolations;

    fn try_from(req: &pb::ListNotificationsRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let filters = Filters::new("notifications").flag(req.unread_only);
        let page = Page::parse(
            &mut v,
            req.page_size,
            DEFAULT_PAGE_SIZE,
            &req.page_token,
            &filters,
        );
        match page {
            Some(page) if v.is_empty() => Ok(Self {
                page,
                unread_only: req.unread_only,
            }),
            _ => Err(v),
        }
    }
}

/// A validated `ListWebhookDeliveriesRequest`: newest first, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryListing {
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The page.
    pub page: Page<Uuid>,
}

impl TryFrom<&pb::ListWebhookDeliveriesRequest> for DeliveryListing {
    type Error = FieldViolations;

    fn try_from(req: &pb::ListWebhookDeliveriesRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let endpoint_id = v.check("endpoint_id", required_id(&req.endpoint_id));
        let filters = Filters::new("deliveries").id(endpoint_id);
        let page = Page::parse(
            &mut v,
            req.page_size,
            DEFAULT_PAGE_SIZE,
            &req.page_token,
            &filters,
        );
        match (endpoint_id, page) {
            (Some(endpoint_id), Some(page)) if v.is_empty() => Ok(Self { endpoint_id, page }),
            _ => Err(v),
        }
    }
}
