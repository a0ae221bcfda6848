use freedumb_kit::FieldViolations;
use freedumb_kit::domain::PageSize;
use freedumb_kit::page;
use freedumb_proto::budget as pb;
use uuid::Uuid;

/// Budgets per page when the request does not say.
const DEFAULT_PAGE_SIZE: u32 = 50;

/// A validated `ListBudgetsRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetListing {
    /// Rows per page.
    pub page_size: PageSize,
    /// The last budget of the previous page.
    pub after: Option<Uuid>,
    filters: String,
}

impl TryFrom<pb::ListBudgetsRequest> for BudgetListing {
    type Error = FieldViolations;

    fn try_from(req: pb::ListBudgetsRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let page_size = v.check(
            "page_size",
            PageSize::parse(req.page_size, DEFAULT_PAGE_SIZE),
        );
        let filters = page::Filters::new("budgets").fingerprint();
        let after = v.check("page_token", page::resume(&req.page_token, &filters));
        match (page_size, after) {
            (Some(page_size), Some(after)) if v.is_empty() => Ok(Self {
                page_size,
                after,
                filters,
            }),
            _ => Err(v),
        }
    }
}

impl BudgetListing {
    /// Cuts `rows` (fetched with [`PageSize::fetch_limit`]) to the page and
    /// returns the next page's token (empty on the last page).
    pub fn next_page_token<T>(&self, rows: &mut Vec<T>, id: impl Fn(&T) -> Uuid) -> String {
        page::next_token(rows, self.page_size, id, &self.filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_and_token_are_checked() {
        let ok = BudgetListing::try_from(pb::ListBudgetsRequest::default()).expect("valid");
        assert_eq!(ok.page_size.get(), 50);
        let bad = BudgetListing::try_from(pb::ListBudgetsRequest {
            page_size: -1,
            page_token: "garbage".into(),
        })
        .expect_err("invalid");
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["page_size", "page_token"]);
    }
}
