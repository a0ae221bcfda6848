//! Process-wide shutdown: SIGTERM or SIGINT cancels one token that every
//! server and worker watches.

use tokio_util::sync::CancellationToken;

/// A cloneable handle that resolves once shutdown has begun.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A handle that is triggered by [`Shutdown::trigger`] only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle that is also triggered by SIGTERM and SIGINT.
    pub fn on_signals() -> std::io::Result<Self> {
        let shutdown = Self::new();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let handle = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutting down"),
                () = handle.wait() => return,
            }
            handle.trigger();
        });
        Ok(shutdown)
    }

    /// Begins shutdown.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves when shutdown begins.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}
