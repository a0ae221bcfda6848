//! Statement imports as operations. Every entry point ends in [`Job::run`]:
//!
//! - `CreateImport` (unary: gRPC, gRPC-web, and REST with the file as the
//!   body) checks the request, works out how to read the file (the format,
//!   and for CSV the layout, detected from its start where not given),
//!   tries the first entry so a file it cannot read at all is refused
//!   before anything is written, spools the file to an unnamed temporary
//!   file, and answers with the operation while the job runs on;
//! - `ImportTransactions` (client streaming, native gRPC) spools the chunks
//!   as they arrive, then runs the same job and waits for it.
//!
//! A job reads the spooled file on a blocking thread (memory holds a
//! batch, not the file) and hands batches to the writer, which records
//! each batch and the import's counts in one database transaction, then
//! reports progress and learns whether the operation was cancelled.

use std::io::{Read, Seek, SeekFrom, Write as _};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use freedumb_kit::operations::{OperationRecord, Outcome};
use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::import_transactions_request::Part;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};
use uuid::Uuid;

use super::{LedgerApi, Result, stored_currency};
use crate::domain::{ImportOptions, ImportRequest};
use crate::error::LedgerError;
use crate::import::{
    self as statement, Batch, FileError, Kind, Plan, Planned, Target, TextEncoding,
};
use crate::outbox;
use crate::store::{
    AccountRecord, ImportBatch, ImportErrorRecord, ImportRecord, MAX_STORED_ERRORS, StoreError,
    TransactionRecord,
};

/// The operation kind of imports.
const KIND: &str = "import";

/// Imports of at least this many rows refresh the planner's statistics.
const ANALYZE_AFTER_IMPORTED: u64 = 10_000;

/// How much of a file format detection and CSV layout detection look at.
const SAMPLE_BYTES: usize = 64 * 1024;

/// Entries shown by `PreviewImport`.
const PREVIEW_ENTRIES: usize = 20;

/// Import limits (`[ledger]` settings).
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    /// The largest file taken, in bytes.
    pub max_bytes: u64,
    /// Entries per batch (per database transaction).
    pub batch_lines: usize,
}

/// A file received and written to an unnamed temporary file (removed by
/// the system when closed, crash or not).
pub(super) struct Spooled {
    file: std::fs::File,
    bytes: u64,
}

impl Spooled {
    /// Writes `data` to a new temporary file.
    async fn of(data: Bytes) -> Result<Self> {
        let bytes = data.len() as u64;
        let file = blocking(move || {
            let mut file = tempfile::tempfile()?;
            file.write_all(&data)?;
            Ok::<_, std::io::Error>(file)
        })
        .await?
        .map_err(|e| {
            LedgerError::Unexpected(anyhow::Error::from(e).context("spooling an upload"))
        })?;
        Ok(Self { file, bytes })
    }

    /// A reader from the start of the file (readers share the position:
    /// use one at a time).
    fn reader(&self) -> std::io::Result<impl Read + Send + 'static> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }
}

/// A received `ImportTransactions` upload: the options message and the file.
pub(super) struct Upload {
    /// The first message's options, not yet validated.
    pub options: pb::ImportOptions,
    /// The file.
    pub file: Spooled,
}

impl Upload {
    /// Reads the request stream: options first, then chunks, written to a
    /// temporary file as they arrive. Part of the transport, so it answers
    /// in `Status` (the stream's own errors are).
    pub(super) async fn receive(
        mut stream: Streaming<pb::ImportTransactionsRequest>,
        max_bytes: u64,
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
        let unexpected =
            |e: std::io::Error| LedgerError::Unexpected(anyhow::Error::from(e).context("spooling"));
        let std_file = tempfile::tempfile().map_err(unexpected)?;
        let mut file = tokio::fs::File::from_std(std_file);
        let mut bytes = 0u64;
        while let Some(message) = stream.message().await? {
            match message.part {
                Some(Part::Chunk(chunk)) => {
                    bytes += chunk.len() as u64;
                    if bytes > max_bytes {
                        return Err(LedgerError::field("chunk", too_large(max_bytes)).into());
                    }
                    tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                        .await
                        .map_err(unexpected)?;
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
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(unexpected)?;
        Ok(Self {
            options,
            file: Spooled {
                file: file.into_std().await,
                bytes,
            },
        })
    }
}

/// "the file is larger than 64 MiB".
fn too_large(max_bytes: u64) -> String {
    if max_bytes >= 1 << 20 && max_bytes.is_multiple_of(1 << 20) {
        format!("the file is larger than {} MiB", max_bytes >> 20)
    } else {
        format!("the file is larger than {max_bytes} bytes")
    }
}

/// Runs blocking work off the runtime threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| LedgerError::Unexpected(anyhow::Error::from(e).context("blocking work")))
}

/// A file error as the request field it is about.
fn file_error(field: &str, e: FileError) -> LedgerError {
    match &e {
        FileError::MissingColumn { option, .. } => LedgerError::field(option, e.to_string()),
        _ => LedgerError::field(field, e.to_string()),
    }
}

/// One import being run.
struct Job {
    operation_id: Uuid,
    user_id: Uuid,
    account: AccountRecord,
    category_id: Option<Uuid>,
    plan: Plan,
    target: Target,
    file: Spooled,
}

impl LedgerApi {
    /// The account an import writes to: the caller's, not archived, and
    /// its currency's terms.
    async fn import_target(&self, user_id: Uuid, id: Uuid) -> Result<(AccountRecord, Target)> {
        let account = self.account(user_id, id).await?;
        if account.archived {
            return Err(StoreError::AccountArchived.into());
        }
        let target = Target {
            currency: account.currency.clone(),
            exponent: stored_currency(&account.currency)?.exponent(),
        };
        Ok((account, target))
    }

    /// How to read a file that starts with `sample`, from the request's
    /// hints.
    async fn plan(
        &self,
        request: &ImportRequest,
        sample: Bytes,
        complete: bool,
    ) -> Result<Planned> {
        let kind = request.format;
        let csv = request.csv.clone();
        let content_type = request.content_type.clone();
        blocking(move || statement::plan(kind, &csv, &sample, complete, &content_type))
            .await?
            .map_err(|(field, message)| LedgerError::field(&field, message))
    }

    /// Reads the file up to its first entry: a file that cannot be read
    /// at all (a missing column, a refused XML declaration, no data) is
    /// refused before anything is written.
    async fn precheck(&self, plan: &Plan, target: &Target, file: &Spooled) -> Result<()> {
        let (plan, target) = (plan.clone(), target.clone());
        let reader = file
            .reader()
            .map_err(|e| LedgerError::Unexpected(e.into()))?;
        blocking(move || statement::run(&plan, &target, reader, 1, &mut |_| ControlFlow::Break(())))
            .await?
            .map_err(|e| file_error("file", e))
    }

    /// `CreateImport`.
    pub(super) async fn create_import(
        &self,
        user_id: Uuid,
        request: ImportRequest,
        data: Bytes,
    ) -> Result<pb::CreateImportResponse> {
        if let Some(request_id) = &request.request_id
            && let Some(id) = self.deps.store.find_import(user_id, request_id).await?
        {
            let (operation, import) = self.import_operation(user_id, id).await?;
            return Ok(pb::CreateImportResponse {
                operation: Some(operation),
                import: Some(import),
            });
        }
        if data.len() as u64 > self.deps.imports.max_bytes {
            return Err(LedgerError::field(
                "file.data",
                too_large(self.deps.imports.max_bytes),
            ));
        }
        let (account, target) = self.import_target(user_id, request.account_id).await?;
        if let Some(category) = request.category_id
            && !self
                .deps
                .store
                .list_categories(user_id)
                .await?
                .iter()
                .any(|c| c.id == category)
        {
            return Err(LedgerError::field(
                "category_id",
                format!("no category {category}"),
            ));
        }
        let sample = data.slice(..data.len().min(SAMPLE_BYTES));
        let complete = sample.len() == data.len();
        let plan = self.plan(&request, sample, complete).await?.plan;
        let file = Spooled::of(data).await?;
        self.precheck(&plan, &target, &file).await?;
        let job = self
            .start_job(user_id, account, target, plan, file, &request)
            .await?;
        let operation_id = job.operation_id;
        let api = self.clone();
        tokio::spawn(async move { api.finish_job(job).await });
        let (operation, import) = self.import_operation(user_id, operation_id).await?;
        Ok(pb::CreateImportResponse {
            operation: Some(operation),
            import: Some(import),
        })
    }

    /// Records the import and its operation.
    async fn start_job(
        &self,
        user_id: Uuid,
        account: AccountRecord,
        target: Target,
        plan: Plan,
        file: Spooled,
        request: &ImportRequest,
    ) -> Result<Job> {
        let op = OperationRecord::start(user_id, KIND, "reading the file");
        let record = ImportRecord {
            operation_id: op.id,
            user_id,
            account_id: account.id,
            format: plan.kind().as_str().to_owned(),
            file_bytes: file.bytes,
            request_id: request.request_id.clone(),
            lines_read: 0,
            imported: 0,
            skipped_duplicates: 0,
            skipped_pending: 0,
            error_count: 0,
            errors: Vec::new(),
        };
        self.deps.store.create_import(&record).await?;
        self.deps.operations.create(&op).await?;
        metrics::counter!("ledger_imports_total", "format" => plan.kind().as_str()).increment(1);
        Ok(Job {
            operation_id: op.id,
            user_id,
            account,
            category_id: request.category_id,
            plan,
            target,
            file,
        })
    }

    /// Runs a job to its end and records how it ended.
    async fn finish_job(&self, job: Job) {
        let id = job.operation_id;
        let outcome = match self.run_job(job).await {
            Ok(true) => Some(Outcome::Succeeded),
            // Cancelled: it stays cancelled.
            Ok(false) => None,
            Err(Stop::File(e)) => Some(Outcome::Failed("UNREADABLE_FILE".into(), e.to_string())),
            Err(Stop::Failed(e)) => Some(match e {
                LedgerError::FailedPrecondition(why) => {
                    Outcome::Failed("FAILED_PRECONDITION".into(), why)
                }
                LedgerError::InvalidArgument(v) => Outcome::Failed(
                    "INVALID_ARGUMENT".into(),
                    v.iter()
                        .map(|(field, why)| format!("{field}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                LedgerError::NotFound(what) => {
                    Outcome::Failed("NOT_FOUND".into(), format!("the {what} is gone"))
                }
                e => {
                    let trace = freedumb_kit::trace::current_trace_id();
                    tracing::error!(operation = %id, error = ?e, trace_id = %trace, "import failed");
                    Outcome::Failed(
                        "INTERNAL".into(),
                        format!(
                            "the import stopped (trace {trace}); import the same file again to finish it"
                        ),
                    )
                }
            }),
        };
        if let Some(outcome) = outcome
            && let Err(e) = self.deps.operations.finish(id, outcome).await
        {
            tracing::warn!(operation = %id, error = %e, "ending an import failed");
        }
    }

    /// Reads and writes the whole file; `Ok(false)` when it was cancelled.
    async fn run_job(&self, job: Job) -> Result<bool, Stop> {
        let Job {
            operation_id,
            user_id,
            account,
            category_id,
            plan,
            target,
            file,
        } = job;
        let position = Arc::new(AtomicU64::new(0));
        let reader = Counted {
            inner: file
                .reader()
                .map_err(|e| Stop::Failed(LedgerError::Unexpected(e.into())))?,
            read: position.clone(),
        };
        let (tx, mut rx) = mpsc::channel::<Batch>(2);
        let batch_lines = self.deps.imports.batch_lines;
        let reading = tokio::task::spawn_blocking(move || {
            statement::run(&plan, &target, reader, batch_lines, &mut |batch| match tx
                .blocking_send(batch)
            {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            })
        });
        let mut totals = Totals::default();
        let mut running = true;
        while let Some(batch) = rx.recv().await {
            self.write_batch(
                operation_id,
                user_id,
                &account,
                category_id,
                batch,
                &mut totals,
            )
            .await?;
            let read = position.load(Ordering::Relaxed);
            let percent = read
                .saturating_mul(100)
                .checked_div(file.bytes)
                .map_or(99, |p| p.min(99));
            let message = totals.message();
            running = self
                .deps
                .operations
                .progress(operation_id, i32::try_from(percent).unwrap_or(99), &message)
                .await
                .map_err(|e| Stop::Failed(e.into()))?;
            if !running {
                break;
            }
        }
        drop(rx);
        let read = reading.await.map_err(|e| {
            Stop::Failed(LedgerError::Unexpected(
                anyhow::Error::from(e).context("reading a statement"),
            ))
        })?;
        if totals.imported >= ANALYZE_AFTER_IMPORTED {
            // A large import can outgrow the planner's row estimates until
            // autovacuum catches up; stale ones make listings scan instead
            // of walking the date index.
            if let Err(e) = self.deps.system.refresh_statistics().await {
                tracing::warn!(error = ?e, "refreshing statistics after an import failed");
            }
        }
        read.map_err(Stop::File)?;
        if running {
            let _ = self
                .deps
                .operations
                .progress(operation_id, 100, &totals.message())
                .await;
        }
        Ok(running)
    }

    /// Records one batch and what it read.
    async fn write_batch(
        &self,
        operation_id: Uuid,
        user_id: Uuid,
        account: &AccountRecord,
        category_id: Option<Uuid>,
        batch: Batch,
        totals: &mut Totals,
    ) -> Result<(), Stop> {
        let now = time::now();
        let records: Vec<TransactionRecord> = batch
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
                category_id,
                splits: Vec::new(),
                tags: Vec::new(),
                notes: String::new(),
                transfer_id: None,
                recurring: None,
                import_key: Some(line.key.to_vec()),
                ai_categorized: false,
                revision: 0,
                create_time: now,
                update_time: now,
            })
            .collect();
        let room = MAX_STORED_ERRORS.saturating_sub(totals.errors);
        let kept: Vec<ImportErrorRecord> = batch
            .errors
            .iter()
            .take(usize::try_from(room).unwrap_or(usize::MAX))
            .map(|e| ImportErrorRecord {
                line: e.line,
                field: e.field.clone(),
                message: e.message.clone(),
            })
            .collect();
        let error_count = batch.errors.len() as u64;
        let counts = self
            .deps
            .store
            .import_transactions(
                &records,
                &outbox::build,
                Some(&ImportBatch {
                    operation_id,
                    read: batch.read,
                    pending: batch.pending,
                    error_count,
                    errors: &kept,
                    first_error_seq: totals.errors.min(MAX_STORED_ERRORS),
                }),
            )
            .await
            .map_err(|e| Stop::Failed(e.into()))?;
        self.committed();
        totals.read += batch.read;
        totals.imported += counts.imported;
        totals.duplicates += counts.skipped;
        totals.errors += error_count;
        Ok(())
    }

    /// An import's operation and progress, as the caller may see them.
    pub(super) async fn import_operation(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<(freedumb_proto::common::Operation, pb::ImportProgress)> {
        let op = self
            .deps
            .operations
            .get(user_id, id)
            .await?
            .ok_or(LedgerError::NotFound("operation"))?;
        Ok((op.to_proto(), self.import_progress(user_id, id).await?))
    }

    /// An import's progress (or result).
    pub(super) async fn import_progress(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<pb::ImportProgress> {
        let import = self
            .deps
            .store
            .get_import(user_id, id)
            .await?
            .ok_or(LedgerError::NotFound("operation"))?;
        Ok(progress(&import))
    }

    /// `ImportTransactions`: the options and the streamed file, imported by
    /// the same job as `CreateImport`, waited for.
    pub(super) async fn import_transactions(
        &self,
        user_id: Uuid,
        options: ImportOptions,
        file: Spooled,
    ) -> Result<pb::ImportTransactionsResponse> {
        let (account, target) = self.import_target(user_id, options.account_id).await?;
        let plan = Plan::Csv {
            encoding: TextEncoding::Utf8,
            format: options.format,
        };
        self.precheck(&plan, &target, &file)
            .await
            .map_err(|e| match e {
                LedgerError::InvalidArgument(v) => {
                    // The streamed form names the file `chunk`.
                    let mut renamed = freedumb_kit::FieldViolations::new();
                    for (field, why) in v.iter() {
                        renamed.add(if field == "file" { "chunk" } else { field }, why);
                    }
                    LedgerError::InvalidArgument(renamed)
                }
                e => e,
            })?;
        let request = ImportRequest {
            account_id: account.id,
            format: Some(Kind::Csv),
            csv: statement::CsvHints::default(),
            category_id: options.category_id,
            request_id: None,
            content_type: String::new(),
        };
        let job = self
            .start_job(user_id, account, target, plan, file, &request)
            .await?;
        let id = job.operation_id;
        // The job runs on its own: a client that goes away does not stop
        // it half way.
        let api = self.clone();
        tokio::spawn(async move { api.finish_job(job).await })
            .await
            .map_err(|e| LedgerError::Unexpected(anyhow::Error::from(e).context("import job")))?;
        let (operation, import) = self.import_operation(user_id, id).await?;
        if let Some(error) = operation.error {
            return Err(match error.reason.as_str() {
                "UNREADABLE_FILE" => LedgerError::field("chunk", error.message),
                "FAILED_PRECONDITION" => LedgerError::FailedPrecondition(error.message),
                "INVALID_ARGUMENT" => LedgerError::field("options", error.message),
                _ => LedgerError::Unexpected(anyhow::anyhow!("import {id}: {}", error.message)),
            });
        }
        Ok(pb::ImportTransactionsResponse {
            imported: import.imported,
            skipped_duplicates: import.skipped_duplicates,
            errors: import.errors,
        })
    }

    /// `PreviewImport`: the first entries as an import would read them.
    pub(super) async fn preview_import(
        &self,
        user_id: Uuid,
        request: ImportRequest,
        data: Bytes,
    ) -> Result<pb::PreviewImportResponse> {
        let (_, target) = self.import_target(user_id, request.account_id).await?;
        let sample = data.slice(..data.len().min(SAMPLE_BYTES));
        let complete = sample.len() == data.len();
        let planned = self.plan(&request, sample.clone(), complete).await?;
        let plan = planned.plan.clone();
        let currency = target.currency.clone();
        let preview = blocking(move || {
            statement::preview(&plan, &target, &sample, complete, PREVIEW_ENTRIES)
        })
        .await?
        .map_err(|e| file_error("file", e))?;
        Ok(crate::convert::preview(&planned, &preview, &currency))
    }
}

/// Why a job stopped early.
enum Stop {
    /// The file could not be read on (nothing after the error was written).
    File(FileError),
    /// Writing failed.
    Failed(LedgerError),
}

/// What a job has done so far.
#[derive(Default)]
struct Totals {
    read: u64,
    imported: u64,
    duplicates: u64,
    errors: u64,
}

impl Totals {
    fn message(&self) -> String {
        format!(
            "read {} entries: {} imported, {} duplicates, {} errors",
            self.read, self.imported, self.duplicates, self.errors
        )
    }
}

/// A reader that counts what it read.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The API form of an import record.
fn progress(import: &ImportRecord) -> pb::ImportProgress {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    pb::ImportProgress {
        account_id: import.account_id.to_string(),
        format: crate::convert::statement_format(Kind::parse(&import.format)).into(),
        file_bytes: count(import.file_bytes),
        lines_read: count(import.lines_read),
        imported: count(import.imported),
        skipped_duplicates: count(import.skipped_duplicates),
        skipped_pending: count(import.skipped_pending),
        error_count: count(import.error_count),
        errors: import
            .errors
            .iter()
            .map(|e| pb::ImportLineError {
                line: count(e.line),
                field: e.field.clone(),
                message: e.message.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_said_in_mebibytes_when_round() {
        assert_eq!(too_large(64 << 20), "the file is larger than 64 MiB");
        assert_eq!(too_large(1000), "the file is larger than 1000 bytes");
    }

    #[tokio::test]
    async fn a_spooled_file_reads_back_from_the_start_each_time() {
        let file = Spooled::of(Bytes::from_static(b"a,b\n1,2\n"))
            .await
            .expect("spooled");
        for _ in 0..2 {
            let mut text = String::new();
            file.reader()
                .expect("a reader")
                .read_to_string(&mut text)
                .expect("read");
            assert_eq!(text, "a,b\n1,2\n");
        }
        assert_eq!(file.bytes, 8);
    }
}
