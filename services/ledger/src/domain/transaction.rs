use chrono::NaiveDate;
use freedumb_kit::{FieldViolations, UpdateMask};
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{
    AmountMinor, Currency, Description, IdempotencyKey, Merchant, MoneyInput, Notes, PageSize,
    RequestId, SearchText, Splits, Tags, merge_violations, optional_date, optional_id,
    required_date, required_id, validated, violation,
};
use crate::store::{TransactionCursor, TransactionFilter, TransactionRecord};
use freedumb_kit::page;

/// Transactions per page unless the client asks otherwise.
const DEFAULT_PAGE_SIZE: u32 = 50;

/// The fields `UpdateTransaction` may change.
const UPDATABLE: [&str; 8] = [
    "amount",
    "date",
    "description",
    "merchant",
    "category_id",
    "splits",
    "tags",
    "notes",
];

/// A validated `CreateTransactionRequest`. The amount is checked against
/// the account's currency once the account is read
/// ([`NewTransaction::amount_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    /// The client's idempotency key, if it sent one.
    pub key: Option<IdempotencyKey>,
    /// The account.
    pub account_id: Uuid,
    /// The amount as sent.
    pub amount: MoneyInput,
    /// Booking date.
    pub date: NaiveDate,
    /// Description.
    pub description: Description,
    /// Merchant.
    pub merchant: Merchant,
    /// Notes.
    pub notes: Notes,
    /// The one category of the whole amount (never with splits).
    pub category_id: Option<Uuid>,
    /// Shares of the amount by category, adding up to it.
    pub splits: Splits,
    /// Tags.
    pub tags: Tags,
}

impl TryFrom<pb::CreateTransactionRequest> for NewTransaction {
    type Error = FieldViolations;

    fn try_from(req: pb::CreateTransactionRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", RequestId::parse(&req.request_id));
        let account_id = v.check("account_id", required_id(&req.account_id));
        let date = v.check("date", required_date(req.date.as_ref()));
        let description = v.check("description", Description::parse(&req.description));
        let merchant = v.check("merchant", Merchant::parse(&req.merchant));
        let notes = v.check("notes", Notes::parse(&req.notes));
        let category_id = v.check("category_id", optional_id(&req.category_id));
        let tags = v.check("tags", Tags::parse(&req.tags));
        if category_id.flatten().is_some() && !req.splits.is_empty() {
            v.add("splits", "give either category_id or splits, not both");
        }
        // Split signs and sums are checked against the amount as sent; a
        // wrong currency is reported on `amount` once the account is known.
        let raw_amount = req.amount.as_ref().map_or(0, |m| m.amount_minor);
        let splits = Splits::parse_against(&req.splits, raw_amount)
            .map_err(|e| merge_violations(&mut v, "", &e))
            .ok();
        let amount = v.check("amount", MoneyInput::required(req.amount.as_ref()));
        validated(v, || {
            Some(Self {
                key: request_id?.map(|id| id.for_request(&req)),
                account_id: account_id?,
                amount: amount?,
                date: date?,
                description: description?,
                merchant: merchant?,
                notes: notes?,
                category_id: category_id?,
                splits: splits?,
                tags: tags?,
            })
        })
    }
}

impl NewTransaction {
    /// The amount in the account's `currency`, which must not be zero.
    pub fn amount_in(&self, currency: Currency) -> Result<AmountMinor, FieldViolations> {
        let amount = self
            .amount
            .in_currency(currency)
            .map_err(|e| violation("amount", e))?;
        AmountMinor::nonzero(amount.get()).map_err(|e| violation("amount.amount_minor", e))
    }
}

/// A validated `UpdateTransactionRequest`: the masked fields' new values
/// (`None` where the mask leaves a field alone). Rules that need the
/// stored transaction (its currency, whether it is a transfer leg, whether
/// splits still add up) apply when the patch is applied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionPatch {
    /// The transaction.
    pub id: Uuid,
    /// New amount, as sent.
    pub amount: Option<MoneyInput>,
    /// New booking date.
    pub date: Option<NaiveDate>,
    /// New description.
    pub description: Option<Description>,
    /// New merchant.
    pub merchant: Option<Merchant>,
    /// New notes.
    pub notes: Option<Notes>,
    /// New tags.
    pub tags: Option<Tags>,
    /// New category: `Some(None)` removes it.
    pub category_id: Option<Option<Uuid>>,
    /// New splits (empty removes them).
    pub splits: Option<Splits>,
}

impl TryFrom<pb::UpdateTransactionRequest> for TransactionPatch {
    type Error = FieldViolations;

    fn try_from(req: pb::UpdateTransactionRequest) -> Result<Self, Self::Error> {
        let mask = UpdateMask::parse(req.update_mask.as_ref(), &UPDATABLE)?;
        let input = req.transaction.unwrap_or_default();
        let id = required_id(&input.id).map_err(|e| violation("transaction.id", e))?;
        let mut v = FieldViolations::new();
        let has = |path: &str| mask.contains(path);
        let mut patch = Self {
            id,
            amount: None,
            date: None,
            description: None,
            merchant: None,
            notes: None,
            tags: None,
            category_id: None,
            splits: None,
        };
        if has("amount") {
            patch.amount = v.check(
                "transaction.amount",
                MoneyInput::required(input.amount.as_ref()),
            );
        }
        if has("date") {
            patch.date = v.check("transaction.date", required_date(input.date.as_ref()));
        }
        if has("description") {
            patch.description = v.check(
                "transaction.description",
                Description::parse(&input.description),
            );
        }
        if has("merchant") {
            patch.merchant = v.check("transaction.merchant", Merchant::parse(&input.merchant));
        }
        if has("notes") {
            patch.notes = v.check("transaction.notes", Notes::parse(&input.notes));
        }
        if has("tags") {
            patch.tags = v.check("transaction.tags", Tags::parse(&input.tags));
        }
        if has("category_id") {
            patch.category_id = v.check("transaction.category_id", optional_id(&input.category_id));
        }
        if has("splits") {
            match Splits::parse(&input.splits) {
                Ok(splits) => patch.splits = Some(splits),
                Err(e) => merge_violations(&mut v, "transaction.", &e),
            }
        }
        if v.is_empty() { Ok(patch) } else { Err(v) }
    }
}

/// A validated `ListTransactionsRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionQuery {
    /// What to list.
    pub filter: TransactionFilter,
    /// Transactions per page.
    pub page_size: PageSize,
    /// The last transaction of the previous page.
    pub cursor: Option<TransactionCursor>,
    /// The fingerprint of the filter, for the next page's token.
    filters: String,
}

impl TryFrom<pb::ListTransactionsRequest> for TransactionQuery {
    type Error = FieldViolations;

    fn try_from(req: pb::ListTransactionsRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let page_size = v.check(
            "page_size",
            PageSize::parse(req.page_size, DEFAULT_PAGE_SIZE),
        );
        let mut filter = TransactionFilter {
            account_id: v
                .check("account_id", optional_id(&req.account_id))
                .flatten(),
            category_id: v
                .check("category_id", optional_id(&req.category_id))
                .flatten(),
            start_date: v
                .check("start_date", optional_date(req.start_date.as_ref()))
                .flatten(),
            end_date: v
                .check("end_date", optional_date(req.end_date.as_ref()))
                .flatten(),
            min_amount_minor: req
                .min_amount_minor
                .and_then(|a| v.check("min_amount_minor", AmountMinor::parse(a)))
                .map(AmountMinor::get),
            max_amount_minor: req
                .max_amount_minor
                .and_then(|a| v.check("max_amount_minor", AmountMinor::parse(a)))
                .map(AmountMinor::get),
            text: None,
            tags: v
                .check("tags", Tags::parse(&req.tags))
                .map(Tags::into_vec)
                .unwrap_or_default(),
        };
        if let Some(text) = v.check("text", SearchText::parse(&req.text)) {
            // The store matches case-insensitively on a lower-case needle.
            filter.text = (!text.as_str().is_empty()).then(|| text.as_str().to_lowercase());
        }
        if let (Some(s), Some(e)) = (filter.start_date, filter.end_date)
            && e < s
        {
            v.add("end_date", "must not be before start_date");
        }
        if let (Some(min), Some(max)) = (filter.min_amount_minor, filter.max_amount_minor)
            && max < min
        {
            v.add("max_amount_minor", "must not be below min_amount_minor");
        }
        let filters = fingerprint(&filter);
        let cursor = v.check(
            "page_token",
            page::resume::<(NaiveDate, Uuid)>(&req.page_token, &filters),
        );
        validated(v, || {
            Some(Self {
                filter,
                page_size: page_size?,
                cursor: cursor?.map(|(date, id)| TransactionCursor { date, id }),
                filters,
            })
        })
    }
}

impl TransactionQuery {
    /// Cuts `rows` (fetched with [`PageSize::fetch_limit`]) to the page and
    /// returns the next page's token (empty on the last page).
    pub fn next_page_token(&self, rows: &mut Vec<TransactionRecord>) -> String {
        page::next_token(rows, self.page_size, |t| (t.date, t.id), &self.filters)
    }
}

/// The fingerprint of a transaction filter: every field, in declaration
/// order (destructured, so a new filter field does not compile until it
/// is added here).
fn fingerprint(filter: &TransactionFilter) -> String {
    let TransactionFilter {
        account_id,
        category_id,
        start_date,
        end_date,
        min_amount_minor,
        max_amount_minor,
        text,
        tags,
    } = filter;
    page::Filters::new("transactions")
        .id(*account_id)
        .id(*category_id)
        .date(*start_date)
        .date(*end_date)
        .amount(*min_amount_minor)
        .amount(*max_amount_minor)
        .text(text.as_deref())
        .texts(tags)
        .fingerprint()
}

#[cfg(test)]
mod tests {
    use freedumb_proto::common::Money;
    use freedumb_proto::google::r#type::Date;

    use super::*;

    fn fields(v: &FieldViolations) -> Vec<&str> {
        v.iter().map(|(f, _)| f.as_str()).collect()
    }

    fn create(amount: Option<i64>) -> pb::CreateTransactionRequest {
        pb::CreateTransactionRequest {
            account_id: Uuid::now_v7().to_string(),
            amount: amount.map(|minor| Money {
                currency_code: "USD".into(),
                amount_minor: minor,
            }),
            date: Some(Date {
                year: 2026,
                month: 1,
                day: 31,
            }),
            ..Default::default()
        }
    }

    fn split(amount: i64) -> pb::Split {
        pb::Split {
            category_id: Uuid::now_v7().to_string(),
            amount_minor: amount,
        }
    }

    #[test]
    fn a_new_transaction_checks_its_amount_against_the_account() {
        let usd = Currency::parse("USD").expect("usd");
        let eur = Currency::parse("EUR").expect("eur");
        let t = NewTransaction::try_from(create(Some(-5))).expect("valid");
        assert_eq!(t.amount_in(usd).map(AmountMinor::get), Ok(-5));
        assert_eq!(fields(&t.amount_in(eur).expect_err("currency")), ["amount"]);
        let zero = NewTransaction::try_from(create(Some(0))).expect("valid at the door");
        assert_eq!(
            fields(&zero.amount_in(usd).expect_err("zero")),
            ["amount.amount_minor"]
        );
        let err = NewTransaction::try_from(create(None)).expect_err("no amount");
        assert_eq!(fields(&err), ["amount"]);
    }

    #[test]
    fn splits_are_checked_against_the_amount_sent() {
        let mut req = create(Some(-300));
        req.splits = vec![split(-100), split(-200)];
        assert!(NewTransaction::try_from(req.clone()).is_ok());
        req.splits[1].amount_minor = -100;
        assert_eq!(
            fields(&NewTransaction::try_from(req.clone()).expect_err("sum")),
            ["splits"]
        );
        req.splits[1].amount_minor = -200;
        req.category_id = Uuid::now_v7().to_string();
        assert_eq!(
            fields(&NewTransaction::try_from(req).expect_err("both")),
            ["splits"]
        );
    }

    #[test]
    fn a_patch_prefixes_split_fields_with_transaction() {
        let err = TransactionPatch::try_from(pb::UpdateTransactionRequest {
            transaction: Some(pb::Transaction {
                id: Uuid::now_v7().to_string(),
                splits: vec![split(-1)],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["splits".into(), "date".into()],
            }),
        })
        .expect_err("one split, no date");
        assert_eq!(fields(&err), ["transaction.date", "transaction.splits"]);
    }

    #[test]
    fn a_listing_checks_ranges_and_resumes_only_its_own_filters() {
        let err = TransactionQuery::try_from(pb::ListTransactionsRequest {
            min_amount_minor: Some(10),
            max_amount_minor: Some(5),
            ..Default::default()
        })
        .expect_err("range");
        assert_eq!(fields(&err), ["max_amount_minor"]);

        let query = TransactionQuery::try_from(pb::ListTransactionsRequest {
            page_size: 1,
            text: " Coffee ".into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(query.filter.text.as_deref(), Some("coffee"));
        let record = |id| TransactionRecord {
            id,
            ..crate::domain::fixtures::transaction_record()
        };
        let mut rows = vec![record(Uuid::now_v7()), record(Uuid::now_v7())];
        let token = query.next_page_token(&mut rows);
        assert_eq!(rows.len(), 1);
        let next = TransactionQuery::try_from(pb::ListTransactionsRequest {
            page_size: 1,
            text: "coffee".into(),
            page_token: token.clone(),
            ..Default::default()
        })
        .expect("same filters");
        assert_eq!(next.cursor.map(|c| c.id), Some(rows[0].id));
        let err = TransactionQuery::try_from(pb::ListTransactionsRequest {
            page_token: token,
            ..Default::default()
        })
        .expect_err("other filters");
        assert_eq!(fields(&err), ["page_token"]);
    }

    /// Pins the fingerprint of a transaction filter: if this fails, tokens
    /// already handed out would no longer resume (see `page::VERSION`).
    #[test]
    fn the_filter_fingerprint_is_pinned() {
        let filter = TransactionFilter {
            account_id: Some(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            category_id: None,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 31),
            end_date: None,
            min_amount_minor: Some(-5),
            max_amount_minor: None,
            text: Some("coffee".into()),
            tags: vec!["food".into(), "trip".into()],
        };
        assert_eq!(fingerprint(&filter), "E9FcE-t8CQyo");
        assert_ne!(
            fingerprint(&filter),
            fingerprint(&TransactionFilter::default())
        );
    }
}
