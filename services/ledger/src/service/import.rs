//! `ImportTransactions`: a bank statement (CSV) streamed in chunks after
//! its options, parsed off the runtime threads, and recorded in batches;
//! lines imported before are skipped by fingerprint.

use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::import_transactions_request::Part;
use tonic::{Status, Streaming};
use uuid::Uuid;

use super::{LedgerApi, Result, stored_currency};
use crate::domain::ImportOptions;
use crate::error::LedgerError;
use crate::import::{self as statement, FileError};
use crate::outbox;
use crate::store::{StoreError, TransactionRecord};

/// The largest statement `ImportTransactions` takes.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// Transactions written per database transaction during an import.
const IMPORT_BATCH: usize = 1000;

/// Imports of at least this many rows refresh the planner's statistics.
const ANALYZE_AFTER_IMPORTED: i64 = 10_000;

/// A received upload: the options message and the file's bytes.
pub(super) struct Upload {
    /// The first message's options, not yet validated.
    pub options: pb::ImportOptions,
    /// The file, at most [`MAX_IMPORT_BYTES`].
    pub data: Vec<u8>,
}

impl Upload {
    /// Reads the request stream: options first, then chunks. Part of the
    /// transport, so it answers in `Status` (the stream's own errors are).
    pub(super) async fn receive(
        mut stream: Streaming<pb::ImportTransactionsRequest>,
    ) -> Result<Self, Status> {
        let options = match stream.message().await? {
            Some(pb::ImportTransactionsRequest {
                part: Some(Part::Options(options)),
            }) => options,
            _ => {
                return Err(LedgerError::field(
                    "options",
                    "the first message must carry the import options",
                )
                .into());
            }
        };
        let mut data = Vec::new();
        while let Some(message) = stream.message().await? {
            match message.part {
                Some(Part::Chunk(chunk)) => {
                    if data.len() + chunk.len() > MAX_IMPORT_BYTES {
                        return Err(LedgerError::field(
                            "chunk",
                            format!("the file is larger than {} MiB", MAX_IMPORT_BYTES >> 20),
                        )
                        .into());
                    }
                    data.extend_from_slice(&chunk);
                }
                _ => {
                    return Err(LedgerError::field(
                        "options",
                        "only the first message carries options; the rest carry chunks",
                    )
                    .into());
                }
            }
        }
        Ok(Self { options, data })
    }
}

impl LedgerApi {
    pub(super) async fn import_transactions(
        &self,
        user_id: Uuid,
        options: ImportOptions,
        data: Vec<u8>,
    ) -> Result<pb::ImportTransactionsResponse> {
        let account = self.account(user_id, options.account_id).await?;
        if account.archived {
            return Err(StoreError::AccountArchived.into());
        }
        let exponent = stored_currency(&account.currency)?.exponent();
        let format = options.format;
        // Parsing up to 64 MiB of CSV takes long enough to stall every
        // other request on this runtime thread.
        let parsed =
            tokio::task::spawn_blocking(move || statement::parse(&format, exponent, &data))
                .await
                .map_err(|e| {
                    LedgerError::Unexpected(anyhow::Error::from(e).context("parsing a statement"))
                })?
                .map_err(|e| {
                    let field = match &e {
                        FileError::MissingColumn { option, .. } => *option,
                        _ => "chunk",
                    };
                    LedgerError::field(field, e.to_string())
                })?;
        let now = time::now();
        let records: Vec<TransactionRecord> = parsed
            .lines
            .into_iter()
            .map(|line| TransactionRecord {
                id: Uuid::now_v7(),
                user_id,
                account_id: account.id,
                currency: account.currency.clone(),
                amount_minor: line.amount_minor,
                date: line.date,
                description: line.description,
                merchant: line.merchant,
                category_id: options.category_id,
                splits: Vec::new(),
                tags: Vec::new(),
                notes: String::new(),
                transfer_id: None,
                recurring: None,
                import_key: Some(line.fingerprint.to_vec()),
                ai_categorized: false,
                revision: 0,
                create_time: now,
                update_time: now,
            })
            .collect();
        let mut response = pb::ImportTransactionsResponse {
            imported: 0,
            skipped_duplicates: 0,
            errors: parsed
                .errors
                .into_iter()
                .map(|e| pb::ImportLineError {
                    line: i64::try_from(e.line).unwrap_or(i64::MAX),
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        };
        for batch in records.chunks(IMPORT_BATCH) {
            let counts = self
                .deps
                .store
                .import_transactions(batch, &outbox::build)
                .await
                .map_err(LedgerError::unknown_category_on("options.category_id"))?;
            self.committed();
            response.imported += i64::try_from(counts.imported).unwrap_or(i64::MAX);
            response.skipped_duplicates += i64::try_from(counts.skipped).unwrap_or(i64::MAX);
        }
        if response.imported >= ANALYZE_AFTER_IMPORTED {
            // A large import can outgrow the planner's row estimates until
            // autovacuum catches up; stale ones make listings scan instead
            // of walking the date index.
            if let Err(e) = self.deps.system.refresh_statistics().await {
                tracing::warn!(error = ?e, "refreshing statistics after an import failed");
            }
        }
        Ok(response)
    }
}
