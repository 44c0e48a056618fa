//! What worker processes print: the readiness line, and stderr, which goes to `tracing`.

use tokio::io::{AsyncBufReadExt, BufReader};

/// The line a worker prints once it serves.
pub(super) const READY: &str = "DSPEX_WORKER_READY ";

/// Forwards a worker's stderr to `tracing`: that of `worker_id`, or (`None`) that of the fork
/// server, which its workers share (each of their lines is tagged `[dspex-worker N]`).
pub(super) fn forward_stderr(stream: tokio::process::ChildStderr, worker_id: Option<usize>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match worker_id {
                Some(worker) => tracing::info!(worker, stream = "stderr", "{line}"),
                None => tracing::info!(stream = "stderr", "{line}"),
            }
        }
    });
}
