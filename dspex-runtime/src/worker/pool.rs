//! The pool: its slots, round-robin placement, and calls to workers — which wait for a
//! starting worker, resend a request only when it provably never left this process, and
//! tell a crash from a worker's own answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dspex_core::{Error, Result};
use tokio::sync::OnceCell;
use tonic::metadata::MetadataValue;

use super::call_socket::Outcome;
use super::client::{Client, Token, worker_error};
use super::pb;
use super::process::Spawner;
use super::restore::RestoreRegistry;
use super::slot::{Live, Slot, SlotState};
use super::supervisor::{Policy, supervise};
use super::{PoolConfig, config};

static POOL: OnceCell<Arc<Pool>> = OnceCell::const_new();

/// The process's pool, started (lazily, every worker concurrently) on first use.
pub(crate) async fn pool() -> Result<Arc<Pool>> {
    POOL.get_or_try_init(start).await.cloned()
}

/// Whether the pool was started.
pub(crate) fn started() -> bool {
    POOL.initialized()
}

/// The pool, if started.
pub(crate) fn running() -> Option<Arc<Pool>> {
    POOL.get().cloned()
}

async fn start() -> Result<Arc<Pool>> {
    let bridge = (*crate::bridge::ensure_started()?).clone();
    let python = tokio::task::spawn_blocking(crate::python_interpreter)
        .await
        .map_err(|e| Error::Python {
            message: format!("could not look for Python: {e}"),
        })??;
    let token = MetadataValue::try_from(bridge.token.as_str()).map_err(|e| Error::Bridge {
        message: format!("bridge token is not ASCII: {e}"),
    })?;
    let config = config();
    let spawner = Arc::new(Spawner {
        python,
        bridge,
        token: Token(token),
        start_timeout: config.start_timeout,
        max_message_size: crate::bridge::max_message_size(),
        fork: super::process::fork_workers(),
        fork_server: tokio::sync::Mutex::new(None),
    });
    let policy = Policy {
        health_interval: config.health_interval,
        restart_budget: config.restart_budget,
    };
    let pool = Arc::new(Pool {
        slots: (0..config.size).map(|id| Arc::new(Slot::new(id))).collect(),
        next: AtomicUsize::new(0),
        registry: Arc::new(RestoreRegistry::default()),
        config,
    });
    let handle = crate::runtime::handle()?;
    for slot in &pool.slots {
        handle.spawn(supervise(
            slot.clone(),
            spawner.clone(),
            pool.registry.clone(),
            policy,
        ));
    }
    tracing::info!(size = pool.slots.len(), "worker pool starting");
    Ok(pool)
}

/// The worker pool.
pub(crate) struct Pool {
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
    registry: Arc<RestoreRegistry>,
    config: PoolConfig,
}

impl Pool {
    /// The slot for a new module (round robin).
    pub(crate) fn place(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()
    }

    /// The pids of the workers that serve now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.slots.iter().filter_map(|s| s.pid()).collect()
    }

    /// Waits until `slot`'s worker serves; `WorkerUnavailable` once the pool gave up on it.
    pub(crate) async fn ready(&self, slot: usize) -> Result<Arc<Live>> {
        let slot = self.slot(slot)?;
        let mut rx = slot.state.subscribe();
        let wait = rx.wait_for(|s| !matches!(s, SlotState::Starting));
        let state = tokio::time::timeout(self.config.start_timeout * 2, wait)
            .await
            .map_err(|_| Error::Python {
                message: format!("worker {} did not become ready in time", slot.id),
            })?
            .map_err(|_| Error::Python {
                message: format!("worker {} supervisor stopped", slot.id),
            })?
            .clone();
        match state {
            SlotState::Ready(live) => Ok(live),
            SlotState::GaveUp(error) => Err(error),
            SlotState::Starting => Err(Error::Python {
                message: format!("worker {} is still starting", slot.id),
            }),
        }
    }

    fn slot(&self, slot: usize) -> Result<&Arc<Slot>> {
        self.slots.get(slot).ok_or_else(|| Error::InvalidArgument {
            message: format!("no worker slot {slot}"),
        })
    }

    /// The error for a call to `module` that `slot`'s worker died serving: whether a next
    /// call can be served depends on whether the supervisor is still restarting it.
    fn crashed(&self, slot: usize, module: &str) -> Error {
        Error::WorkerCrashed {
            worker: slot,
            module: module.to_owned(),
            restarting: self.slot(slot).is_ok_and(|s| !s.gave_up()),
        }
    }

    /// Runs one RPC on `slot`'s worker. A failure that comes with the worker's death is
    /// `WorkerCrashed` (and the supervisor restarts it); others are the worker's answer.
    ///
    /// A call is sent at most once to a worker that may have seen it: it is sent again (to
    /// the restarted worker, once) only when it provably never reached one — the worker was
    /// known to have exited before it was sent, or its connection could not be opened, so
    /// that not a byte of it was written. A call that failed in any other way may have run
    /// (a tool may have had its effect), so it is never repeated.
    pub(crate) async fn rpc<T, F, Fut>(&self, slot: usize, module: &str, f: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut resent = false;
        loop {
            match self.rpc_once(slot, module, &f).await {
                Err(Attempt::NeverSent) if !resent => resent = true,
                Err(Attempt::NeverSent) => return Err(self.crashed(slot, module)),
                Err(Attempt::Failed(e)) => return Err(e),
                Ok(v) => return Ok(v),
            }
        }
    }

    async fn rpc_once<T, F, Fut>(
        &self,
        slot: usize,
        module: &str,
        f: &F,
    ) -> std::result::Result<T, Attempt>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut live = self.ready(slot).await?;
        if *live.exited.borrow() {
            // Reaped since it was handed out: wait for its successor rather than send.
            self.slot(slot)?.report_failure(live.generation);
            live = self.ready(slot).await?;
        }
        let result = tokio::time::timeout(self.config.call_timeout, f(live.client.clone())).await;
        let status = match result {
            Ok(Ok(response)) => return Ok(response.into_inner()),
            Ok(Err(status)) => status,
            Err(_) => return Err(Attempt::Failed(self.timed_out(module))),
        };
        if never_sent(&status) {
            // The worker's port refuses connections: it is gone, and the call never left.
            self.slot(slot)?.report_failure(live.generation);
            return Err(Attempt::NeverSent);
        }
        if died(&live, &status).await {
            return Err(Attempt::Failed(self.died_serving(slot, module, &live)));
        }
        Err(Attempt::Failed(worker_error(status)))
    }

    /// The error for a call to `module` that `live`, `slot`'s worker, died serving: its
    /// supervisor is asked to replace it.
    fn died_serving(&self, slot: usize, module: &str, live: &Live) -> Error {
        if let Ok(s) = self.slot(slot) {
            s.report_failure(live.generation);
        }
        self.crashed(slot, module)
    }

    fn timed_out(&self, module: &str) -> Error {
        Error::Python {
            message: format!(
                "call to module `{module}` timed out after {:?}",
                self.config.call_timeout
            ),
        }
    }

    /// Calls a module: on its worker's call socket when it has one, else by gRPC
    /// ([`rpc`](Self::rpc)). A call the socket provably did not deliver goes by
    /// gRPC (which tells a worker that is gone, and sends again as `rpc` does); one whose
    /// answer did not come is never sent again.
    pub(crate) async fn call_module(
        &self,
        slot: usize,
        module: &str,
        req: &pb::CallModuleRequest,
    ) -> Result<pb::CallModuleResponse> {
        let live = self.ready(slot).await?;
        let exited = *live.exited.borrow();
        if let (false, Some(calls)) = (exited, &live.calls) {
            let outcome =
                tokio::time::timeout(self.config.call_timeout, calls.call(req, &live.client))
                    .await
                    .map_err(|_| self.timed_out(module))??;
            match outcome {
                Outcome::Answered(response) => return Ok(response),
                Outcome::Refused(status) => return Err(worker_error(status)),
                Outcome::Lost(error) => return Err(self.lost(slot, module, &live, &error).await),
                Outcome::NotSent(error) => {
                    tracing::debug!(worker = slot, %error, "the call socket did not take a call: by gRPC");
                }
            }
        }
        self.rpc(slot, module, |mut c| {
            let req = req.clone();
            async move { c.call_module(req).await }
        })
        .await
    }

    /// The error for a call to `module` written to `live`'s call socket whose answer did not
    /// come: a crash (and a restart) when the worker exits meanwhile, else the broken
    /// connection (the worker lives on; the call may have run).
    async fn lost(&self, slot: usize, module: &str, live: &Live, error: &std::io::Error) -> Error {
        if exits_within(live, LOST_CALL_EXIT_WAIT).await {
            return self.died_serving(slot, module, live);
        }
        Error::Python {
            message: format!(
                "the call to module `{module}` lost its connection to worker {slot}, which still \
                 runs (the call may have run): {error}"
            ),
        }
    }

    /// The error for a stream from `slot`'s worker that failed after it opened: a crash
    /// (and a restart) when the worker serving it died, else the worker's own answer.
    pub(crate) async fn stream_error(
        &self,
        slot: usize,
        module: &str,
        status: tonic::Status,
    ) -> Error {
        let live = match self.slot(slot).map(|s| s.state.borrow().clone()) {
            Ok(SlotState::Ready(live)) => live,
            // Already being restarted, or given up: the worker that served the stream is gone.
            Ok(_) => return self.crashed(slot, module),
            Err(error) => return error,
        };
        if died(&live, &status).await {
            return self.died_serving(slot, module, &live);
        }
        worker_error(status)
    }

    /// Records the LM of a session and sends it to every worker that serves.
    pub(crate) async fn configure_lm(&self, session: &str, lm: pb::LmSpec) -> Result<()> {
        self.registry.record_lm(session, lm.clone());
        for slot in 0..self.slots.len() {
            let req = pb::ConfigureLmRequest {
                session_id: session.to_owned(),
                lm: Some(lm.clone()),
            };
            self.rpc(slot, "(configure_lm)", |mut c| {
                let req = req.clone();
                async move { c.configure_lm(req).await }
            })
            .await?;
        }
        Ok(())
    }

    /// Creates a module on `slot` and records it for restarts.
    pub(crate) async fn create_module(
        &self,
        slot: usize,
        req: pb::CreateModuleRequest,
    ) -> Result<pb::CreateModuleResponse> {
        let id = req.module_id.clone();
        self.registry.record_module(slot, req.clone());
        let created = self
            .rpc(slot, &id, |mut c| {
                let req = req.clone();
                async move { c.create_module(req).await }
            })
            .await;
        if created.is_err() {
            self.registry.forget_module(&id);
        }
        created
    }

    /// Adds a binding to a recorded module (so a restart keeps it) and to the worker.
    pub(crate) async fn bind(
        &self,
        slot: usize,
        module_id: &str,
        binding: pb::Binding,
    ) -> Result<()> {
        let req = pb::BindRequest {
            module_id: module_id.to_owned(),
            binding: Some(binding.clone()),
        };
        self.rpc(slot, module_id, |mut c| {
            let req = req.clone();
            async move { c.bind(req).await }
        })
        .await?;
        self.registry.record_binding(module_id, binding);
        Ok(())
    }

    /// A module's learned state (DSPy's `dump_state()`, as JSON text), and the version of
    /// DSPy its worker runs.
    pub(crate) async fn dump_state(
        &self,
        slot: usize,
        module_id: &str,
    ) -> Result<pb::DumpStateResponse> {
        let req = pb::DumpStateRequest {
            module_id: module_id.to_owned(),
        };
        self.rpc(slot, module_id, |mut c| {
            let req = req.clone();
            async move { c.dump_state(req).await }
        })
        .await
    }

    /// Loads a learned state into a module, and records it so that a restart keeps it.
    pub(crate) async fn load_state(
        &self,
        slot: usize,
        module_id: &str,
        state_json: String,
    ) -> Result<()> {
        let req = pb::LoadStateRequest {
            module_id: module_id.to_owned(),
            state_json,
        };
        self.rpc(slot, module_id, |mut c| {
            let req = req.clone();
            async move { c.load_state(req).await }
        })
        .await?;
        self.registry.record_state(module_id, req.state_json);
        Ok(())
    }

    /// The slot of a live module and the request that re-creates it.
    pub(crate) fn module_spec(&self, module_id: &str) -> Option<(usize, pb::CreateModuleRequest)> {
        self.registry.module(module_id)
    }

    /// Creates a live module again from its recorded request (and state): what a module
    /// made from a `module` variable does once the variable names another class.
    pub(crate) async fn recreate_module(
        &self,
        module_id: &str,
    ) -> Result<pb::CreateModuleResponse> {
        let (slot, req) = self.module_spec(module_id).ok_or_else(|| Error::NotFound {
            what: "module",
            name: module_id.to_owned(),
        })?;
        self.create_module(slot, req).await
    }

    /// Forgets a module and drops it from its worker (best effort).
    pub(crate) fn drop_module(self: &Arc<Self>, slot: usize, module_id: String) {
        self.registry.forget_module(&module_id);
        let pool = self.clone();
        if let Ok(handle) = crate::runtime::handle() {
            handle.spawn(async move {
                let req = pb::DropModuleRequest {
                    module_id: module_id.clone(),
                };
                if let Err(e) = pool
                    .rpc(slot, &module_id, |mut c| {
                        let req = req.clone();
                        async move { c.drop_module(req).await }
                    })
                    .await
                {
                    tracing::debug!(module = %module_id, error = %e, "could not drop module");
                }
            });
        }
    }
}

/// Whether a failed call failed because the worker died.
async fn died(live: &Live, status: &tonic::Status) -> bool {
    // A status the worker sent (a Python exception, a refusal) has no source; one made
    // by the client from a broken connection carries the transport error. Only the
    // latter can mean a dead worker: the worker's own answer is returned at once, never
    // waits for an exit, never restarts the worker and is never sent again.
    if std::error::Error::source(status).is_none() {
        return false;
    }
    // The connection broke while the process has not been reaped yet: a killed process
    // closes its sockets a moment before its exit is seen, so give it that moment.
    exits_within(live, Duration::from_millis(500)).await
        || status.code() == tonic::Code::Unavailable
}

/// How long a call whose call-socket connection broke waits to see its worker exit: a
/// worker closes a connection during a call only when it dies (its own refusals come as
/// answers first), so this is only the time its exit takes to be seen.
const LOST_CALL_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Whether `live`'s worker has exited, or does within `wait`.
async fn exits_within(live: &Live, wait: Duration) -> bool {
    if *live.exited.borrow() {
        return true;
    }
    let mut exited = live.exited.clone();
    matches!(
        tokio::time::timeout(wait, exited.wait_for(|e| *e)).await,
        Ok(Ok(_))
    )
}

/// Whether a failed call provably never left this process: the channel had to open a new
/// connection for it and could not (the worker's port refused it), so no byte of the
/// request was written. Any other transport failure may come after the worker read it.
fn never_sent(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// How one attempt at an RPC ended, when it did not succeed.
enum Attempt {
    /// No byte of the request was written (or the worker was gone before it was sent):
    /// safe to send again.
    NeverSent,
    /// The final error.
    Failed(Error),
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Self {
        Attempt::Failed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tonic::transport::{Channel, Endpoint};

    use super::super::pb::worker_client::WorkerClient;

    fn client(port: u16) -> WorkerClient<Channel> {
        let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}")).expect("uri");
        WorkerClient::new(endpoint.connect_lazy())
    }

    #[tokio::test]
    async fn a_refused_connection_was_never_sent() {
        // A port nobody listens on any more: the connection is refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let status = client(port)
            .health(pb::HealthRequest {})
            .await
            .expect_err("nothing listens");
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(never_sent(&status), "{status:?}");
    }

    #[tokio::test]
    async fn a_connection_that_breaks_after_the_request_may_have_delivered_it() {
        // A peer that accepts the connection and reads from it, then closes it without an
        // answer: the request may have reached it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let peer = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 256];
            let read = socket.read(&mut buf).await.expect("read");
            assert!(read > 0);
        });
        let status = client(port)
            .health(pb::HealthRequest {})
            .await
            .expect_err("no answer");
        peer.await.expect("the peer");
        assert!(std::error::Error::source(&status).is_some(), "{status:?}");
        assert!(!never_sent(&status), "{status:?}");
    }
}
