//! The fork server: one `python -m dspex_bridge.worker.forkserver` process that has
//! imported DSPy once and forks a worker per request, so that a worker serves about 20 ms
//! after it is asked for instead of after a whole `import dspy` (0.5–1 s, twice over for a
//! pool of four on two cores).
//!
//! It talks in lines (the protocol is described in the Python module): requests on its
//! stdin, events on its stdout — its own readiness, each worker's readiness and each
//! worker's exit, which it reaps on SIGCHLD. Workers are its children, not ours: a worker's
//! exit reaches us as an event, and a kill goes through it, so that a pid the system reused
//! is never signalled. When it dies, its workers die with it (their parent-death signal),
//! and the next start starts a new one.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dspex_core::{Error, Result};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};

use super::lines::{READY, WorkerReady, forward_stderr};

const SERVER_READY: &str = "DSPEX_FORK_SERVER_READY ";
const EXITED: &str = "DSPEX_WORKER_EXITED ";

/// `SIGKILL`: what a worker being replaced gets.
const SIGKILL: i32 = 9;

/// A worker's readiness, as the fork server relays it: the worker's, and which start it answers.
#[derive(Deserialize)]
struct Ready {
    #[serde(flatten)]
    worker: WorkerReady,
    start: u64,
}

/// A worker's exit.
#[derive(Deserialize)]
struct Exited {
    pid: Option<u32>,
    start: Option<u64>,
    status: String,
}

/// A forked worker that serves: its readiness, and how it will have exited.
type Forked = (WorkerReady, watch::Receiver<Option<String>>);

/// A running fork server.
pub(crate) struct ForkServer {
    /// Request lines, written in order by one task.
    requests: mpsc::UnboundedSender<String>,
    /// Starts waiting for their worker's readiness, by start id.
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Forked, String>>>>,
    /// Workers that serve, by pid: told how they exited.
    exits: Mutex<HashMap<u32, watch::Sender<Option<String>>>>,
    next_start: AtomicU64,
    dead: AtomicBool,
    /// Killed when the last handle goes (its workers die with it).
    _process: Mutex<Child>,
}

/// A worker forked by the fork server.
pub(crate) struct ForkedWorker {
    pid: u32,
    exited: watch::Receiver<Option<String>>,
    server: Arc<ForkServer>,
}

impl ForkedWorker {
    /// Waits until the worker has exited (or its fork server is gone), and says how.
    pub(crate) async fn wait(&mut self) -> String {
        match self.exited.wait_for(Option::is_some).await {
            Ok(status) => status.clone().unwrap_or_default(),
            Err(_) => "its fork server exited".into(),
        }
    }

    /// Asks the fork server to SIGKILL the worker (nothing to do when it has exited).
    pub(crate) fn start_kill(&self) {
        if self.exited.borrow().is_none() {
            self.server
                .request(format!("{{\"kill\": {}, \"signal\": {SIGKILL}}}", self.pid));
        }
    }
}

impl Drop for ForkedWorker {
    /// As a `Child` with `kill_on_drop`: a worker nobody holds is stopped.
    fn drop(&mut self) {
        self.start_kill();
    }
}

impl ForkServer {
    /// Starts a fork server with `command` (`python -m dspex_bridge.worker.forkserver`,
    /// with the workers' environment) and waits until it can fork (its `import dspy`
    /// included, at most `timeout`).
    pub(crate) async fn start(mut command: Command, timeout: Duration) -> Result<Arc<ForkServer>> {
        let failed = |message: String| Error::Python { message };
        let python = command.as_std().get_program().to_owned();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                failed(format!(
                    "could not start the worker fork server with {}: {e}",
                    std::path::Path::new(&python).display()
                ))
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(failed("the worker fork server has no pipes".into()));
        };
        forward_stderr(stderr, None);
        let mut lines = BufReader::new(stdout).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await.ok().flatten() {
                if line.starts_with(SERVER_READY) {
                    return true;
                }
                tracing::info!(stream = "fork-server stdout", "{line}");
            }
            false
        };
        match tokio::time::timeout(timeout, ready).await {
            Ok(true) => {}
            Ok(false) => {
                let status = child.wait().await.ok();
                return Err(failed(format!(
                    "the worker fork server exited before it was ready ({status:?}); its stderr \
                     is in the logs (tracing target dspex_runtime::worker)"
                )));
            }
            Err(_) => {
                return Err(failed(format!(
                    "the worker fork server was not ready within {timeout:?}"
                )));
            }
        }
        let (requests, to_write) = mpsc::unbounded_channel();
        tokio::spawn(write_requests(stdin, to_write));
        let server = Arc::new(ForkServer {
            requests,
            pending: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
            next_start: AtomicU64::new(1),
            dead: AtomicBool::new(false),
            _process: Mutex::new(child),
        });
        // The reader holds the server weakly: the last `Arc` going kills the process, which
        // ends the reader.
        tokio::spawn(read_events(lines, Arc::downgrade(&server)));
        tracing::info!("worker fork server ready");
        Ok(server)
    }

    /// Whether the process is gone (a new one must be started).
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    fn request(&self, line: String) {
        // The writer is gone only with the process: the reader then reports everything.
        let _ = self.requests.send(line);
    }

    /// Forks worker `worker_id` and waits for its readiness (at most `timeout`): the worker,
    /// and its readiness.
    pub(crate) async fn fork(
        self: &Arc<Self>,
        worker_id: usize,
        timeout: Duration,
    ) -> Result<(ForkedWorker, WorkerReady)> {
        let failed = |message: String| Error::Python { message };
        let start = self.next_start.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(start, tx);
        if self.is_dead() {
            self.pending.lock().remove(&start);
            return Err(failed(format!(
                "worker {worker_id}: the worker fork server exited"
            )));
        }
        self.request(format!(
            "{{\"start\": {start}, \"worker_id\": {worker_id}}}"
        ));
        let answer = tokio::time::timeout(timeout, rx).await;
        let (ready, exited) = match answer {
            Ok(Ok(Ok(ready))) => ready,
            Ok(Ok(Err(status))) => {
                return Err(failed(format!(
                    "worker {worker_id} exited before it was ready ({status}); its stderr is in \
                     the logs (tracing target dspex_runtime::worker)"
                )));
            }
            Ok(Err(_)) => {
                return Err(failed(format!(
                    "worker {worker_id}: the worker fork server exited before the worker was ready"
                )));
            }
            Err(_) => {
                // A readiness that comes later finds no one waiting, and its worker is killed.
                self.pending.lock().remove(&start);
                return Err(failed(format!(
                    "worker {worker_id} was not ready within {timeout:?}"
                )));
            }
        };
        let worker = ForkedWorker {
            pid: ready.pid,
            exited,
            server: self.clone(),
        };
        Ok((worker, ready))
    }

    fn ready(
        &self,
        Ready {
            worker: ready,
            start,
        }: Ready,
    ) {
        let waiting = self.pending.lock().remove(&start);
        // Its exit watch is registered here, before its exit can be read: a worker writes
        // its readiness before it can exit, and the events are read in order.
        let (exit_tx, exited) = watch::channel(None);
        self.exits.lock().insert(ready.pid, exit_tx);
        let taken = waiting.is_some_and(|tx| tx.send(Ok((ready.clone(), exited))).is_ok());
        if !taken {
            self.exits.lock().remove(&ready.pid);
            tracing::warn!(
                pid = ready.pid,
                "a worker nobody waits for any more: killing it"
            );
            self.request(format!(
                "{{\"kill\": {}, \"signal\": {SIGKILL}}}",
                ready.pid
            ));
        }
    }

    fn exited(&self, exited: Exited) {
        if let Some(tx) = exited.start.and_then(|s| self.pending.lock().remove(&s)) {
            let _ = tx.send(Err(exited.status));
            return;
        }
        let watcher = exited.pid.and_then(|pid| self.exits.lock().remove(&pid));
        if let Some(tx) = watcher {
            tx.send_replace(Some(exited.status));
        }
    }

    /// The process is gone: every start waiting fails and every worker counts as exited.
    fn died(&self) {
        self.dead.store(true, Ordering::Release);
        self.pending.lock().clear();
        for (_, tx) in self.exits.lock().drain() {
            tx.send_replace(Some("its fork server exited".into()));
        }
    }
}

async fn write_requests(
    mut stdin: tokio::process::ChildStdin,
    mut requests: mpsc::UnboundedReceiver<String>,
) {
    while let Some(mut line) = requests.recv().await {
        line.push('\n');
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            tracing::warn!(error = %e, "the worker fork server does not take requests any more");
            return;
        }
    }
}

async fn read_events(
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    server: std::sync::Weak<ForkServer>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(server) = server.upgrade() else {
            return;
        };
        if let Some(json) = line.strip_prefix(READY) {
            match serde_json::from_str::<Ready>(json) {
                Ok(ready) => server.ready(ready),
                Err(e) => tracing::warn!(error = %e, "bad readiness line: {line}"),
            }
        } else if let Some(json) = line.strip_prefix(EXITED) {
            match serde_json::from_str::<Exited>(json) {
                Ok(exited) => server.exited(exited),
                Err(e) => tracing::warn!(error = %e, "bad exit line: {line}"),
            }
        } else {
            tracing::info!(stream = "fork-server stdout", "{line}");
        }
    }
    if let Some(server) = server.upgrade() {
        tracing::warn!("the worker fork server exited");
        server.died();
    }
}
