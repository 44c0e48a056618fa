//! The pool: its slots, and the registry of LMs and modules it re-creates after a restart.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dspex_core::{Error, Result};
use parking_lot::Mutex;
use tokio::sync::OnceCell;
use tonic::metadata::MetadataValue;

use super::pb;
use super::supervisor::{Client, Live, Slot, SlotState, Token, supervise};
use super::{PoolConfig, config};
use crate::bridge::BridgeEndpoint;

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
    let pool = Arc::new(Pool {
        slots: (0..config.size).map(|id| Arc::new(Slot::new(id))).collect(),
        next: AtomicUsize::new(0),
        registry: Mutex::new(Registry::default()),
        token: Token(token),
        bridge,
        python,
        config,
    });
    let handle = crate::runtime::handle()?;
    for slot in &pool.slots {
        handle.spawn(supervise(pool.clone(), slot.clone()));
    }
    tracing::info!(size = pool.slots.len(), "worker pool starting");
    Ok(pool)
}

/// What the pool re-creates on a restarted worker.
#[derive(Default)]
struct Registry {
    /// The LM of each session.
    lms: HashMap<String, pb::LmSpec>,
    /// Every live module: the slot it is pinned to and how to create it again.
    modules: BTreeMap<String, (usize, pb::CreateModuleRequest)>,
}

/// The worker pool.
pub(crate) struct Pool {
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
    registry: Mutex<Registry>,
    pub(crate) token: Token,
    pub(crate) bridge: BridgeEndpoint,
    pub(crate) python: PathBuf,
    pub(crate) config: PoolConfig,
}

impl Pool {
    /// The slot for a new module (round robin).
    pub(crate) fn place(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()
    }

    /// The pids of the workers that serve now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.slots
            .iter()
            .filter_map(|s| match &*s.state.borrow() {
                SlotState::Ready(live) => Some(live.pid),
                _ => None,
            })
            .collect()
    }

    /// Waits until `slot`'s worker serves.
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
            SlotState::Failed(message) => Err(Error::Python { message }),
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

    /// Runs one RPC on `slot`'s worker. A failure that comes with the worker's death is
    /// `WorkerCrashed` (and the supervisor restarts it); others are the worker's answer.
    /// A worker found dead before the request is sent, or that fails it at once (its
    /// connection was already gone: the request never reached a live worker), is restarted
    /// and the request sent again, once.
    pub(crate) async fn rpc<T, F, Fut>(&self, slot: usize, module: &str, f: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut resent = false;
        loop {
            match self.rpc_once(slot, module, &f).await {
                Err(Attempt::NeverReached) if !resent => resent = true,
                Err(Attempt::NeverReached) => {
                    return Err(Error::WorkerCrashed {
                        worker: slot,
                        module: module.to_owned(),
                    });
                }
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
        if !process_alive(live.pid) {
            // Killed since it was last seen: restart it before sending.
            self.slot(slot)?.report_failure(live.generation);
            live = self.ready(slot).await?;
        }
        let sent = std::time::Instant::now();
        let result = tokio::time::timeout(self.config.call_timeout, f(live.client.clone())).await;
        let status = match result {
            Ok(Ok(response)) => return Ok(response.into_inner()),
            Ok(Err(status)) => status,
            Err(_) => {
                return Err(Attempt::Failed(Error::Python {
                    message: format!(
                        "call to module `{module}` timed out after {:?}",
                        self.config.call_timeout
                    ),
                }));
            }
        };
        let failed_at_once = sent.elapsed() < NEVER_REACHED_WITHIN;
        if self.died(&live, &status).await {
            self.slot(slot)?.report_failure(live.generation);
            if failed_at_once {
                return Err(Attempt::NeverReached);
            }
            return Err(Attempt::Failed(Error::WorkerCrashed {
                worker: slot,
                module: module.to_owned(),
            }));
        }
        Err(Attempt::Failed(worker_error(status)))
    }

    /// Whether a failed call failed because the worker died.
    async fn died(&self, live: &Live, status: &tonic::Status) -> bool {
        // A status the worker sent (a Python exception, a refusal) has no source; one made
        // by the client from a broken connection carries the transport error. Only the
        // latter can mean a dead worker, so only it waits to see the process exit.
        if std::error::Error::source(status).is_none() {
            return false;
        }
        let mut exited = live.exited.clone();
        let gone = tokio::time::timeout(Duration::from_millis(500), exited.wait_for(|e| *e)).await;
        matches!(gone, Ok(Ok(_))) || status.code() == tonic::Code::Unavailable
    }

    /// Records the LM of a session and sends it to every worker that serves.
    pub(crate) async fn configure_lm(&self, session: &str, lm: pb::LmSpec) -> Result<()> {
        self.registry
            .lock()
            .lms
            .insert(session.to_owned(), lm.clone());
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
        self.registry
            .lock()
            .modules
            .insert(id.clone(), (slot, req.clone()));
        let created = self
            .rpc(slot, &id, |mut c| {
                let req = req.clone();
                async move { c.create_module(req).await }
            })
            .await;
        if created.is_err() {
            self.registry.lock().modules.remove(&id);
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
        if let Some((_, spec)) = self.registry.lock().modules.get_mut(module_id) {
            spec.bindings.retain(|b| b.setting != binding.setting);
            spec.bindings.push(binding);
        }
        Ok(())
    }

    /// Forgets a module and drops it from its worker (best effort).
    pub(crate) fn drop_module(self: &Arc<Self>, slot: usize, module_id: String) {
        self.registry.lock().modules.remove(&module_id);
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

    /// Re-creates the LMs and the modules pinned to `slot` on a (re)started worker.
    pub(crate) async fn restore(&self, slot: usize, client: &Client) -> Result<()> {
        let (lms, modules) = {
            let reg = self.registry.lock();
            let lms: Vec<_> = reg
                .lms
                .iter()
                .map(|(s, l)| (s.clone(), l.clone()))
                .collect();
            let modules: Vec<_> = reg
                .modules
                .values()
                .filter(|(s, _)| *s == slot)
                .map(|(_, req)| req.clone())
                .collect();
            (lms, modules)
        };
        for (session_id, lm) in lms {
            let req = pb::ConfigureLmRequest {
                session_id,
                lm: Some(lm),
            };
            client
                .clone()
                .configure_lm(req)
                .await
                .map_err(worker_error)?;
        }
        let count = modules.len();
        for req in modules {
            client
                .clone()
                .create_module(req)
                .await
                .map_err(worker_error)?;
        }
        if count > 0 {
            tracing::info!(
                worker = slot,
                modules = count,
                "modules re-created after restart"
            );
        }
        Ok(())
    }
}

/// A request that fails this fast on a dead worker's connection never reached a live
/// worker (a killed process drops its connection before any answer).
const NEVER_REACHED_WITHIN: Duration = Duration::from_millis(50);

/// How one attempt at an RPC ended, when it did not succeed.
enum Attempt {
    /// The worker was dead before the request got to it: safe to send again.
    NeverReached,
    /// The final error.
    Failed(Error),
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Self {
        Attempt::Failed(e)
    }
}

/// Whether a process runs: not a zombie, and no SIGKILL pending (a killed process may
/// take a few ms to die). Read from `/proc`; where there is none, the health checks and
/// call failures are the only signals.
fn process_alive(pid: u32) -> bool {
    const SIGKILL_BIT: u64 = 1 << (9 - 1);
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return !std::path::Path::new("/proc/self/status").exists();
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let dead = field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X'));
    let killed = ["SigPnd:", "ShdPnd:"].iter().any(|name| {
        field(name)
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .is_some_and(|mask| mask & SIGKILL_BIT != 0)
    });
    !(dead || killed)
}

/// A worker's refusal as an `Error`.
pub(crate) fn worker_error(status: tonic::Status) -> Error {
    use tonic::Code;
    let message = status.message().to_owned();
    match status.code() {
        Code::InvalidArgument => Error::InvalidArgument { message },
        // The worker names what it did not find (a module, a variable, a session).
        Code::NotFound => Error::Python {
            message: format!("not found in the worker: {message}"),
        },
        Code::FailedPrecondition => Error::Python {
            message: format!("{message} (configure one with ctx.configure_lm(Lm::...))"),
        },
        _ => Error::Python { message },
    }
}
