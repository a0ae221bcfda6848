use freedumb_kit::FieldViolations;
use freedumb_kit::page::{Filters, Page};
use freedumb_proto::budget as pb;
use uuid::Uuid;

/// Budgets per page when the request does not say.
const DEFAULT_PAGE_SIZE: u32 = 50;

/// A validated `ListBudgetsRequest`: oldest first, by id.
pub type BudgetListing = Page<Uuid>;

/// Parses a `ListBudgetsRequest`.
pub fn budget_listing(req: &pb::ListBudgetsRequest) -> Result<BudgetListing, FieldViolations> {
    Page::of(
        req.page_size,
        DEFAULT_PAGE_SIZE,
        &req.page_token,
        &Filters::new("budgets"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_and_token_are_checked() {
        let ok = budget_listing(&pb::ListBudgetsRequest::default()).expect("valid");
        assert_eq!(ok.size.get(), 50);
        let bad = budget_listing(&pb::ListBudgetsRequest {
            page_size: -1,
            page_token: "garbage".into(),
        })
        .expect_err("invalid");
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["page_size", "page_token"]);
    }
}
