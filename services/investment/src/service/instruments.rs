//! Instruments: create (one per symbol), list by symbol, change.

use freedumb_kit::UpdateMask;
use freedumb_kit::page::{Filters, Page};
use freedumb_kit::time;
use freedumb_proto::investment as pb;
use uuid::Uuid;

use super::{DEFAULT_PAGE_SIZE, InvestmentApi, Result};
use crate::convert;
use crate::domain::InstrumentSpec;
use crate::domain::instrument::merge_instrument;
use crate::error::InvestmentError;
use crate::store::{InstrumentRecord, StoreError};

impl InvestmentApi {
    pub(super) async fn instrument(&self, user_id: Uuid, id: Uuid) -> Result<InstrumentRecord> {
        self.deps
            .store
            .get_instrument(user_id, id)
            .await?
            .ok_or(InvestmentError::NotFound("instrument"))
    }

    pub(super) async fn create_instrument_for(
        &self,
        user_id: Uuid,
        instrument: &pb::Instrument,
    ) -> Result<pb::CreateInstrumentResponse> {
        let spec = InstrumentSpec::parse(instrument)?;
        let record = InstrumentRecord {
            id: Uuid::now_v7(),
            user_id,
            symbol: spec.symbol.to_string(),
            isin: spec.isin.map(|i| i.as_str().to_owned()),
            name: spec.name.into_string(),
            kind: spec.kind,
            currency: spec.currency,
            create_time: time::now(),
        };
        match self.deps.store.create_instrument(&record).await {
            Err(StoreError::Duplicate(_)) => Err(InvestmentError::AlreadyExists(format!(
                "you have an instrument with the symbol {}",
                record.symbol
            ))),
            other => other.map_err(InvestmentError::from),
        }?;
        Ok(pb::CreateInstrumentResponse {
            instrument: Some(convert::instrument(&record)),
        })
    }

    pub(super) async fn list_instruments_for(
        &self,
        user_id: Uuid,
        req: &pb::ListInstrumentsRequest,
    ) -> Result<pb::ListInstrumentsResponse> {
        let page: Page<String> = Page::of(
            req.page_size,
            DEFAULT_PAGE_SIZE,
            &req.page_token,
            &Filters::new("instruments"),
        )?;
        let mut rows = self
            .deps
            .store
            .list_instruments(user_id, page.after.clone(), page.size.fetch_limit())
            .await?;
        let next_page_token = page.next_page_token(&mut rows, |i| i.symbol.clone());
        Ok(pb::ListInstrumentsResponse {
            instruments: rows.iter().map(convert::instrument).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_instrument_for(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &pb::Instrument,
        mask: &UpdateMask,
    ) -> Result<pb::UpdateInstrumentResponse> {
        let current = self.instrument(user_id, id).await?;
        let merged = merge_instrument(&convert::instrument(&current), patch, mask);
        let spec = InstrumentSpec::parse(&merged)?;
        let record = InstrumentRecord {
            isin: spec.isin.map(|i| i.as_str().to_owned()),
            name: spec.name.into_string(),
            kind: spec.kind,
            ..current
        };
        self.deps.store.update_instrument(&record).await?;
        Ok(pb::UpdateInstrumentResponse {
            instrument: Some(convert::instrument(&record)),
        })
    }
}
