//! Starting one worker process: `python -m dspex_bridge.worker`, on an OS-assigned port,
//! with a readiness handshake on stdout. Its output goes to `tracing`, tagged with its id.

use std::process::Stdio;
use std::time::Duration;

use dspex_core::{Error, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::bridge::BridgeEndpoint;

/// The line a worker prints once it serves.
const READY: &str = "DSPEX_WORKER_READY ";

/// A started worker process.
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) pid: u32,
}

/// Starts a worker and waits for its readiness line (at most `timeout`).
pub(crate) async fn spawn(
    python: &std::path::Path,
    worker_id: usize,
    bridge: &BridgeEndpoint,
    timeout: Duration,
) -> Result<Spawned> {
    let mut child = Command::new(python)
        .args(["-m", "dspex_bridge.worker", "--worker-id"])
        .arg(worker_id.to_string())
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .env("DSPEX_BRIDGE_ADDRESS", &bridge.address)
        .env("DSPEX_BRIDGE_TOKEN", &bridge.token)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Python {
            message: format!(
                "could not start worker {worker_id} with {}: {e}",
                python.display()
            ),
        })?;
    let pid = child.id().unwrap_or_default();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Python {
            message: format!("worker {worker_id}: no stdout/stderr pipes"),
        });
    };
    forward_lines(stderr, worker_id, "stderr");
    let mut lines = BufReader::new(stdout).lines();
    let ready = async {
        while let Some(line) = lines.next_line().await.ok().flatten() {
            if let Some(json) = line.strip_prefix(READY) {
                return port_of(json);
            }
            tracing::info!(worker = worker_id, stream = "stdout", "{line}");
        }
        None
    };
    let port = match tokio::time::timeout(timeout, ready).await {
        Ok(Some(port)) => port,
        Ok(None) => {
            let status = child.wait().await.ok();
            return Err(Error::Python {
                message: format!(
                    "worker {worker_id} exited before it was ready ({status:?}); its stderr is in \
                     the logs (tracing target dspex_runtime::worker)"
                ),
            });
        }
        Err(_) => {
            return Err(Error::Python {
                message: format!("worker {worker_id} was not ready within {timeout:?}"),
            });
        }
    };
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(worker = worker_id, stream = "stdout", "{line}");
        }
    });
    Ok(Spawned { child, port, pid })
}

fn port_of(json: &str) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("port")?.as_u64().and_then(|p| u16::try_from(p).ok())
}

fn forward_lines(stream: tokio::process::ChildStderr, worker_id: usize, name: &'static str) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(worker = worker_id, stream = name, "{line}");
        }
    });
}
