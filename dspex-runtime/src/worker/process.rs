//! Starting one worker process, on an OS-assigned port, with a readiness handshake, and
//! connecting to it. On Linux a worker is forked by the [fork server](super::fork_server),
//! which has imported DSPy already; elsewhere, or with `DSPEX_WORKER_FORK=0`, each worker is
//! its own `python -m dspex_bridge.worker`. Its output goes to `tracing`, tagged with its id.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use dspex_core::{Error, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tonic::transport::Channel;

use super::call_socket::CallSocket;
use super::client::Token;
use super::fork_server::{ForkServer, ForkedWorker};
use super::lines::{READY, WorkerReady, forward_stderr};
use super::pb::worker_client::WorkerClient;
use super::slot::Live;
use crate::bridge::{BridgeEndpoint, MAX_MESSAGE_BYTES_ENV};

/// `0` starts each worker as its own interpreter instead of forking it from the fork server.
pub(crate) const FORK_ENV: &str = "DSPEX_WORKER_FORK";

/// `0` sends every module call by gRPC, not on the workers' call sockets.
pub(crate) const CALL_SOCKET_ENV: &str = "DSPEX_CALL_SOCKET";

/// Whether module calls go on the workers' call sockets (unless `DSPEX_CALL_SOCKET=0`).
fn call_sockets() -> bool {
    std::env::var(CALL_SOCKET_ENV).map_or(true, |v| v.trim() != "0")
}

/// Whether workers are forked from a fork server: on Linux (where a worker dies with its
/// parent by a parent-death signal, and forking a process that imported DSPy is safe),
/// unless `DSPEX_WORKER_FORK=0`.
pub(crate) fn fork_workers() -> bool {
    cfg!(target_os = "linux") && std::env::var(FORK_ENV).map_or(true, |v| v.trim() != "0")
}

/// Everything needed to start a worker: the interpreter, the bridge it serves, and the
/// token its clients send.
pub(crate) struct Spawner {
    pub(crate) python: PathBuf,
    pub(crate) bridge: BridgeEndpoint,
    pub(crate) token: Token,
    pub(crate) start_timeout: Duration,
    /// The largest message either way, as the bridge's (the worker gets it too).
    pub(crate) max_message_size: usize,
    /// Whether workers are forked from the fork server (`fork_workers`).
    pub(crate) fork: bool,
    /// The fork server, started with the first worker and again after it dies.
    pub(crate) fork_server: tokio::sync::Mutex<Option<Arc<ForkServer>>>,
}

/// A worker process: a child of ours, or one the fork server forked.
pub(crate) enum WorkerProcess {
    Own(Child),
    Forked(ForkedWorker),
}

impl WorkerProcess {
    /// Waits until the process has exited, and says how.
    pub(crate) async fn wait(&mut self) -> String {
        match self {
            WorkerProcess::Own(child) => match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("cannot wait for it: {e}"),
            },
            WorkerProcess::Forked(worker) => worker.wait().await,
        }
    }

    /// Starts killing the process (SIGKILL); it may be gone already. Dropping a
    /// `WorkerProcess` kills it too.
    pub(crate) fn start_kill(&mut self) {
        match self {
            // It may have exited already: then there is nothing to kill.
            WorkerProcess::Own(child) => drop(child.start_kill()),
            WorkerProcess::Forked(worker) => worker.start_kill(),
        }
    }
}

/// A started worker, and what it said when it was ready.
struct Started {
    process: WorkerProcess,
    ready: WorkerReady,
}

/// The largest header block a worker's answer may have. A status travels in headers, and
/// a worker that quotes too much in one must still be read as its answer, not as a broken
/// connection: this is far above what any status needs (the worker bounds its own).
const MAX_WORKER_HEADER_BYTES: u32 = 1024 * 1024;

impl Spawner {
    /// Starts the worker of `slot` and connects to it. The returned [`Live`]'s `exited`
    /// never fires: the supervisor, which owns the child, replaces it.
    pub(crate) async fn start(
        &self,
        slot: usize,
        generation: u64,
    ) -> Result<(WorkerProcess, Live)> {
        let spawned = if self.fork {
            self.fork_worker(slot).await?
        } else {
            spawn(self, slot).await?
        };
        let python_error = |message: String| Error::Python { message };
        let channel = Channel::from_shared(format!("http://127.0.0.1:{}", spawned.ready.port))
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
        let ready = spawned.ready;
        let calls = ready.calls.filter(|_| call_sockets()).map(|path| {
            Arc::new(CallSocket::new(
                path,
                self.bridge.token.clone(),
                ready.call_threads,
                self.max_message_size,
            ))
        });
        let live = Live {
            generation,
            client,
            calls,
            pid: ready.pid,
            exited: never,
        };
        Ok((spawned.process, live))
    }

    /// Forks worker `slot` from the fork server, starting the server first when there is
    /// none (or it died). Concurrent starts wait for the one server being started.
    async fn fork_worker(&self, slot: usize) -> Result<Started> {
        let server = {
            let mut current = self.fork_server.lock().await;
            match current.as_ref() {
                Some(server) if !server.is_dead() => server.clone(),
                _ => {
                    let mut command = Command::new(&self.python);
                    command
                        .args(["-m", "dspex_bridge.worker.forkserver", "--parent-pid"])
                        .arg(std::process::id().to_string());
                    self.worker_environment(&mut command);
                    let server = ForkServer::start(command, self.start_timeout).await?;
                    *current = Some(server.clone());
                    server
                }
            }
        };
        let (worker, ready) = server.fork(slot, self.start_timeout).await?;
        Ok(Started {
            process: WorkerProcess::Forked(worker),
            ready,
        })
    }

    /// What a worker is told by its environment: the bridge, its token, the message limit.
    fn worker_environment(&self, command: &mut Command) {
        command
            .env("DSPEX_BRIDGE_ADDRESS", &self.bridge.address)
            .env("DSPEX_BRIDGE_TOKEN", &self.bridge.token)
            .env(MAX_MESSAGE_BYTES_ENV, self.max_message_size.to_string())
            .env("PYTHONUNBUFFERED", "1");
    }
}

/// Starts a worker as its own interpreter and waits for its readiness line (at most the
/// start timeout).
async fn spawn(spawner: &Spawner, worker_id: usize) -> Result<Started> {
    let Spawner {
        python,
        start_timeout: timeout,
        ..
    } = spawner;
    let timeout = *timeout;
    let mut command = Command::new(python);
    command
        .args(["-m", "dspex_bridge.worker", "--worker-id"])
        .arg(worker_id.to_string())
        .arg("--parent-pid")
        .arg(std::process::id().to_string());
    spawner.worker_environment(&mut command);
    let mut child = command
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
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Python {
            message: format!("worker {worker_id}: no stdout/stderr pipes"),
        });
    };
    forward_stderr(stderr, Some(worker_id));
    let mut lines = BufReader::new(stdout).lines();
    let ready = async {
        while let Some(line) = lines.next_line().await.ok().flatten() {
            if let Some(json) = line.strip_prefix(READY) {
                return WorkerReady::parse(json);
            }
            tracing::info!(worker = worker_id, stream = "stdout", "{line}");
        }
        None
    };
    let ready = match tokio::time::timeout(timeout, ready).await {
        Ok(Some(ready)) => ready,
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
    Ok(Started {
        process: WorkerProcess::Own(child),
        ready,
    })
}
