//! Transfers: money moved between two of the user's accounts, recorded as
//! two legs (a negative one and a positive one, converted at the given rate
//! across currencies) in one database transaction.

use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{LedgerApi, Result, created, stored_currency};
use crate::convert;
use crate::domain::NewTransfer;
use crate::error::LedgerError;
use crate::outbox;
use crate::store::TransferRecord;

impl LedgerApi {
    pub(super) async fn create_transfer(
        &self,
        user_id: Uuid,
        new: NewTransfer,
    ) -> Result<pb::CreateTransferResponse> {
        let from = self.account(user_id, new.from_account_id).await?;
        let to = self.account(user_id, new.to_account_id).await?;
        let amounts = new.amounts(
            stored_currency(&from.currency)?,
            stored_currency(&to.currency)?,
        )?;
        let record = TransferRecord::between(
            Uuid::now_v7(),
            (&from, amounts.sent.get()),
            (&to, amounts.received.get()),
            amounts.rate.as_str().to_owned(),
            new.date,
            new.description.into_string(),
            time::now(),
        );
        let response = pb::CreateTransferResponse {
            transfer: Some(convert::transfer(&record)),
        };
        let idempotency = new.key.map(|key| key.record("CreateTransfer", &response));
        let outcome = self
            .deps
            .store
            .create_transfer(&record, idempotency.as_ref(), &outbox::build)
            .await?;
        self.committed();
        created(outcome, response)
    }

    pub(super) async fn get_transfer(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::GetTransferResponse> {
        let transfer = self
            .deps
            .store
            .get_transfer(user_id, id)
            .await?
            .ok_or(LedgerError::NotFound("transfer"))?;
        Ok(pb::GetTransferResponse {
            transfer: Some(convert::transfer(&transfer)),
        })
    }

    pub(super) async fn delete_transfer(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::DeleteTransferResponse> {
        self.deps
            .store
            .delete_transfer(user_id, id, &outbox::build)
            .await?;
        self.committed();
        Ok(pb::DeleteTransferResponse {})
    }
}
