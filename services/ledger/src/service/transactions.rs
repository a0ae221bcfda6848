//! Transactions: record, read, list, change (with optimistic concurrency)
//! and delete. Every change writes its event to the outbox in the same
//! database transaction and wakes the relay.

use freedumb_kit::{FieldViolations, time};
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{LedgerApi, Result, created, stored_currency};
use crate::convert;
use crate::domain::{
    AmountMinor, NewTransaction, TransactionPatch, TransactionQuery, merge_violations,
};
use crate::error::LedgerError;
use crate::outbox;
use crate::store::{StoreError, TransactionRecord};

/// How often an update is applied again on a fresh row after losing a race
/// with a concurrent update.
const UPDATE_ATTEMPTS: usize = 3;

impl LedgerApi {
    pub(super) async fn create_transaction(
        &self,
        user_id: Uuid,
        new: NewTransaction,
    ) -> Result<pb::CreateTransactionResponse> {
        let account = self.account(user_id, new.account_id).await?;
        let amount = new.amount_in(stored_currency(&account.currency)?)?;
        if account.archived {
            return Err(StoreError::AccountArchived.into());
        }
        let now = time::now();
        let record = TransactionRecord {
            id: Uuid::now_v7(),
            user_id,
            account_id: account.id,
            currency: account.currency,
            amount_minor: amount.get(),
            date: new.date,
            description: new.description.into_string(),
            merchant: new.merchant.into_string(),
            category_id: new.category_id,
            splits: new.splits.into_records(),
            tags: new.tags.into_vec(),
            notes: new.notes.into_string(),
            transfer_id: None,
            recurring: None,
            import_key: None,
            ai_categorized: false,
            revision: 0,
            create_time: now,
            update_time: now,
        };
        let response = pb::CreateTransactionResponse {
            transaction: Some(convert::transaction(&record)),
        };
        let idempotency = new
            .key
            .map(|key| key.record("CreateTransaction", &response));
        let outcome = self
            .deps
            .store
            .create_transaction(&record, idempotency.as_ref(), &outbox::build)
            .await?;
        self.committed();
        created(outcome, response)
    }

    pub(super) async fn get_transaction(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::GetTransactionResponse> {
        let t = self.transaction(user_id, id).await?;
        Ok(pb::GetTransactionResponse {
            transaction: Some(convert::transaction(&t)),
        })
    }

    pub(super) async fn list_transactions(
        &self,
        user_id: Uuid,
        query: TransactionQuery,
    ) -> Result<pb::ListTransactionsResponse> {
        let mut rows = self
            .deps
            .store
            .list_transactions(
                user_id,
                &query.filter,
                query.cursor,
                query.page_size.fetch_limit(),
            )
            .await?;
        let next_page_token = query.next_page_token(&mut rows);
        Ok(pb::ListTransactionsResponse {
            transactions: rows.iter().map(convert::transaction).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_transaction(
        &self,
        user_id: Uuid,
        patch: TransactionPatch,
    ) -> Result<pb::UpdateTransactionResponse> {
        // A concurrent update makes the store refuse ours; apply it again
        // on the fresh row.
        for _attempt in 0..UPDATE_ATTEMPTS {
            let before = self.transaction(user_id, patch.id).await?;
            let after = apply(&patch, &before)?;
            match self
                .deps
                .store
                .update_transaction(&before, &after, &outbox::build)
                .await
            {
                Ok(()) => {
                    self.committed();
                    return Ok(pb::UpdateTransactionResponse {
                        transaction: Some(convert::transaction(&after)),
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LedgerError::Aborted)
    }

    pub(super) async fn delete_transaction(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::DeleteTransactionResponse> {
        self.deps
            .store
            .delete_transaction(user_id, id, &outbox::build)
            .await?;
        self.committed();
        Ok(pb::DeleteTransactionResponse {})
    }
}

/// `before` with `patch` applied: the rules that need the stored row (its
/// currency, whether it is a transfer leg, whether its splits still add up).
fn apply(patch: &TransactionPatch, before: &TransactionRecord) -> Result<TransactionRecord> {
    if before.transfer_id.is_some() && (patch.amount.is_some() || patch.date.is_some()) {
        return Err(LedgerError::FailedPrecondition(
            "a transfer leg's amount and date change only with its transfer; delete the transfer and create it again"
                .into(),
        ));
    }
    let mut after = before.clone();
    let mut v = FieldViolations::new();
    if let Some(amount) = &patch.amount {
        let currency = stored_currency(&before.currency)?;
        if let Some(a) = v.check(
            "transaction.amount",
            amount
                .in_currency(currency)
                .and_then(|a| AmountMinor::nonzero(a.get())),
        ) {
            after.amount_minor = a.get();
        }
    }
    if let Some(date) = patch.date {
        after.date = date;
    }
    if let Some(description) = &patch.description {
        after.description = description.as_str().to_owned();
    }
    if let Some(merchant) = &patch.merchant {
        after.merchant = merchant.as_str().to_owned();
    }
    if let Some(notes) = &patch.notes {
        after.notes = notes.as_str().to_owned();
    }
    if let Some(tags) = &patch.tags {
        after.tags = tags.as_slice().to_vec();
    }
    if let Some(category_id) = patch.category_id {
        after.category_id = category_id;
        if category_id.is_some() {
            after.splits.clear();
        }
    }
    if let Some(splits) = &patch.splits {
        if let Err(e) = splits.check_against(after.amount_minor) {
            merge_violations(&mut v, "transaction.", &e);
        }
        // Splits replace the category.
        if !splits.is_empty() {
            after.category_id = None;
        }
        after.splits = splits.clone().into_records();
    } else if !after.splits.is_empty() {
        let sum: i64 = after.splits.iter().map(|s| s.amount_minor).sum();
        if sum != after.amount_minor {
            v.add(
                "transaction.splits",
                "no longer add up to the amount; update amount and splits together",
            );
        }
    }
    if !v.is_empty() {
        return Err(v.into());
    }
    // The user chose the category now.
    if patch.category_id.is_some() || patch.splits.is_some() {
        after.ai_categorized = false;
    }
    after.revision = before.revision + 1;
    after.update_time = time::now();
    Ok(after)
}

#[cfg(test)]
mod tests {
    use freedumb_proto::common::Money;

    use super::*;
    use crate::store::SplitRecord;

    fn record() -> TransactionRecord {
        crate::domain::fixtures::transaction_record()
    }

    fn patch(paths: &[&str], transaction: pb::Transaction) -> TransactionPatch {
        TransactionPatch::try_from(pb::UpdateTransactionRequest {
            transaction: Some(pb::Transaction {
                id: Uuid::now_v7().to_string(),
                ..transaction
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
        .expect("valid patch")
    }

    fn fields(e: LedgerError) -> Vec<String> {
        match e {
            LedgerError::InvalidArgument(v) => v.iter().map(|(f, _)| f.clone()).collect(),
            other => panic!("not a violation: {other:?}"),
        }
    }

    fn usd(minor: i64) -> Option<Money> {
        Some(Money {
            currency_code: "USD".into(),
            amount_minor: minor,
        })
    }

    #[test]
    fn a_patch_bumps_the_revision_and_changes_only_masked_fields() {
        let before = record();
        let p = patch(
            &["notes"],
            pb::Transaction {
                notes: " hi ".into(),
                description: "ignored".into(),
                ..Default::default()
            },
        );
        let after = apply(&p, &before).expect("applied");
        assert_eq!(after.notes, "hi");
        assert_eq!(after.description, "");
        assert_eq!(after.revision, 5);
    }

    #[test]
    fn a_transfer_leg_keeps_its_amount_and_date() {
        let mut before = record();
        before.transfer_id = Some(Uuid::now_v7());
        let p = patch(
            &["amount"],
            pb::Transaction {
                amount: usd(-5),
                ..Default::default()
            },
        );
        assert!(matches!(
            apply(&p, &before),
            Err(LedgerError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn stored_splits_must_still_add_up_after_an_amount_change() {
        let mut before = record();
        before.splits = vec![
            SplitRecord {
                category_id: Uuid::now_v7(),
                amount_minor: -100,
            },
            SplitRecord {
                category_id: Uuid::now_v7(),
                amount_minor: -200,
            },
        ];
        let p = patch(
            &["amount"],
            pb::Transaction {
                amount: usd(-400),
                ..Default::default()
            },
        );
        let err = apply(&p, &before).expect_err("no longer adds up");
        assert_eq!(fields(err), ["transaction.splits"]);
    }

    #[test]
    fn new_splits_are_checked_against_the_new_amount_and_replace_the_category() {
        let mut before = record();
        before.category_id = Some(Uuid::now_v7());
        let split = |amount_minor| pb::Split {
            category_id: Uuid::now_v7().to_string(),
            amount_minor,
        };
        let p = patch(
            &["amount", "splits"],
            pb::Transaction {
                amount: usd(-500),
                splits: vec![split(-200), split(-300)],
                ..Default::default()
            },
        );
        let after = apply(&p, &before).expect("applied");
        assert_eq!((after.amount_minor, after.category_id), (-500, None));
        assert_eq!(after.splits.len(), 2);
        let wrong = patch(
            &["splits"],
            pb::Transaction {
                splits: vec![split(-200), split(-200)],
                ..Default::default()
            },
        );
        assert_eq!(
            fields(apply(&wrong, &before).expect_err("sum")),
            ["transaction.splits"]
        );
    }

    #[test]
    fn an_amount_in_another_currency_is_refused() {
        let p = patch(
            &["amount"],
            pb::Transaction {
                amount: Some(Money {
                    currency_code: "EUR".into(),
                    amount_minor: -5,
                }),
                ..Default::default()
            },
        );
        assert_eq!(
            fields(apply(&p, &record()).expect_err("currency")),
            ["transaction.amount"]
        );
    }
}
