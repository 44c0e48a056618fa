//! What worker processes print: the readiness line, and stderr, which goes to `tracing`.

use std::path::PathBuf;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The line a worker prints once it serves, before its JSON fields ([`WorkerReady`]).
pub(super) const READY: &str = "DSPEX_WORKER_READY ";

/// What a worker's readiness line says.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct WorkerReady {
    /// Its gRPC port (on 127.0.0.1).
    pub(super) port: u16,
    pub(super) pid: u32,
    /// Its call socket (absent: a worker without one, served by gRPC alone).
    #[serde(default)]
    pub(super) calls: Option<PathBuf>,
    /// How many calls its call socket serves at once.
    #[serde(default)]
    pub(super) call_threads: usize,
}

impl WorkerReady {
    /// The fields of a readiness line (what follows [`READY`]).
    pub(super) fn parse(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }
}

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
