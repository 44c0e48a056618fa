//! Starting one worker process: `python -m dspex_bridge.worker`, on an OS-assigned port,
//! with a readiness handshake on stdout, and connecting to it. Its output goes to
//! `tracing`, tagged with its id.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use dspex_core::{Error, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tonic::transport::Channel;

use super::client::Token;
use super::pb::worker_client::WorkerClient;
use super::slot::Live;
use crate::bridge::{BridgeEndpoint, MAX_MESSAGE_BYTES_ENV};

/// The line a worker prints once it serves.
const READY: &str = "DSPEX_WORKER_READY ";

/// Everything needed to start a worker: the interpreter, the bridge it serves, and the
/// token its clients send.
pub(crate) struct Spawner {
    pub(crate) python: PathBuf,
    pub(crate) bridge: BridgeEndpoint,
    pub(crate) token: Token,
    pub(crate) start_timeout: Duration,
    /// The largest message either way, as the bridge's (the worker gets it too).
    pub(crate) max_message_size: usize,
}

/// The largest header block a worker's answer may have. A status travels in headers, and
/// a worker that quotes too much in one must still be read as its answer, not as a broken
/// connection: this is far above what any status needs (the worker bounds its own).
const MAX_WORKER_HEADER_BYTES: u32 = 1024 * 1024;

impl Spawner {
    /// Starts the worker of `slot` and connects to it. The returned [`Live`]'s `exited`
    /// never fires: the supervisor, which owns the child, replaces it.
    pub(crate) async fn start(&self, slot: usize, generation: u64) -> Result<(Child, Live)> {
        let spawned = spawn(self, slot).await?;
        let python_error = |message: String| Error::Python { message };
        let channel = Channel::from_shared(format!("http://127.0.0.1:{}", spawned.port))
            .map_err(|e| python_error(format!("bad worker address: {e}")))?
            .tcp_nodelay(true)
            .http2_max_header_list_size(MAX_WORKER_HEADER_BYTES)
            .connect()
            .await
            .map_err(|e| python_error(format!("could not connect to worker {slot}: {e}")))?;
        let client = WorkerClient::with_interceptor(channel, self.token.clone())
            .max_decoding_message_size(self.max_message_size)
            .max_encoding_message_size(self.max_message_size);
        let (_, never) = watch::channel(false);
        let live = Live {
            generation,
            client,
            pid: spawned.pid,
            exited: never,
        };
        Ok((spawned.child, live))
    }
}

/// A started worker process.
struct Spawned {
    child: Child,
    port: u16,
    pid: u32,
}

/// Starts a worker and waits for its readiness line (at most the start timeout).
async fn spawn(spawner: &Spawner, worker_id: usize) -> Result<Spawned> {
    let Spawner {
        python,
        bridge,
        start_timeout: timeout,
        max_message_size,
        ..
    } = spawner;
    let timeout = *timeout;
    let mut child = Command::new(python)
        .args(["-m", "dspex_bridge.worker", "--worker-id"])
        .arg(worker_id.to_string())
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .env("DSPEX_BRIDGE_ADDRESS", &bridge.address)
        .env("DSPEX_BRIDGE_TOKEN", &bridge.token)
        .env(MAX_MESSAGE_BYTES_ENV, max_message_size.to_string())
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
