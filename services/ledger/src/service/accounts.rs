//! Accounts: open, read, list, change, archive, and the daily balance
//! history.

use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{LedgerApi, Result, created, stored_currency};
use crate::domain::{AccountListing, AccountUpdate, BalanceHistoryQuery, Name, NewAccount};
use crate::error::LedgerError;
use crate::store::{AccountPatch, AccountRecord, StoreError};
use crate::{convert, outbox};

impl LedgerApi {
    pub(super) async fn create_account(
        &self,
        user_id: Uuid,
        new: NewAccount,
    ) -> Result<pb::CreateAccountResponse> {
        let now = time::now();
        let opening = new.opening_balance.get();
        let record = AccountRecord {
            id: Uuid::now_v7(),
            user_id,
            name: new.name.into_string(),
            kind: new.kind.as_str().to_owned(),
            currency: new.currency.code().to_owned(),
            opening_balance_minor: opening,
            balance_minor: opening,
            archived: false,
            create_time: now,
            update_time: now,
        };
        let response = pb::CreateAccountResponse {
            account: Some(convert::account(&record)),
        };
        let idempotency = new.key.map(|key| key.record("CreateAccount", &response));
        let outcome = self
            .deps
            .store
            .create_account(&record, idempotency.as_ref())
            .await?;
        created(outcome, response)
    }

    pub(super) async fn get_account(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::GetAccountResponse> {
        let account = self.account(user_id, id).await?;
        Ok(pb::GetAccountResponse {
            account: Some(convert::account(&account)),
        })
    }

    pub(super) async fn list_accounts(
        &self,
        user_id: Uuid,
        listing: AccountListing,
    ) -> Result<pb::ListAccountsResponse> {
        let mut rows = self
            .deps
            .store
            .list_accounts(
                user_id,
                listing.after,
                listing.page_size.fetch_limit(),
                listing.show_archived,
            )
            .await?;
        let next_page_token = listing.next_page_token(&mut rows);
        Ok(pb::ListAccountsResponse {
            accounts: rows.iter().map(convert::account).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_account(
        &self,
        user_id: Uuid,
        update: AccountUpdate,
    ) -> Result<pb::UpdateAccountResponse> {
        let account = self.account(user_id, update.id).await?;
        let opening_balance_minor = match &update.opening_balance {
            Some(money) => {
                let currency = stored_currency(&account.currency)?;
                let amount = money
                    .in_currency(currency)
                    .map_err(|e| LedgerError::field("account.opening_balance", e))?;
                Some(amount.get())
            }
            None => None,
        };
        let patch = AccountPatch {
            name: update.name.map(Name::into_string),
            kind: update.kind.map(|k| k.as_str().to_owned()),
            opening_balance_minor,
        };
        let updated = self
            .deps
            .store
            .update_account(user_id, update.id, &patch, time::now(), &outbox::build)
            .await
            .map_err(|e| match e {
                StoreError::BalanceOutOfRange => LedgerError::field(
                    "account.opening_balance.amount_minor",
                    "would take the balance out of range",
                ),
                e => e.into(),
            })?;
        self.committed();
        Ok(pb::UpdateAccountResponse {
            account: Some(convert::account(&updated)),
        })
    }

    pub(super) async fn archive_account(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::ArchiveAccountResponse> {
        let account = self
            .deps
            .store
            .archive_account(user_id, id, time::now())
            .await?;
        Ok(pb::ArchiveAccountResponse {
            account: Some(convert::account(&account)),
        })
    }

    pub(super) async fn get_balance_history(
        &self,
        user_id: Uuid,
        query: BalanceHistoryQuery,
    ) -> Result<pb::GetBalanceHistoryResponse> {
        let BalanceHistoryQuery {
            account_id,
            start,
            end,
        } = query;
        let account = self.account(user_id, account_id).await?;
        let (before, days) = self
            .deps
            .store
            .list_daily_sums(user_id, account_id, start, end)
            .await?;
        let mut balance = account.opening_balance_minor + before;
        let mut sums = days.into_iter().peekable();
        let mut points = Vec::new();
        for day in start.iter_days().take_while(|d| *d <= end) {
            while let Some((_, sum)) = sums.next_if(|(d, _)| *d == day) {
                balance += sum;
            }
            points.push(pb::BalancePoint {
                date: Some(convert::date(day)),
                balance: Some(convert::money(&account.currency, balance)),
            });
        }
        Ok(pb::GetBalanceHistoryResponse { points })
    }
}
