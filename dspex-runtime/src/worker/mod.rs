//! The Python worker pool: worker processes that run DSPy modules, forked by a fork server
//! that imported DSPy once (Linux), or each `python -m dspex_bridge.worker` (elsewhere, and
//! with `DSPEX_WORKER_FORK=0`).
//!
//! Started lazily with the first module, every worker concurrently. Each worker has a
//! supervisor task (on the library's runtime) that starts it, health-checks it, and on a
//! crash restarts it with backoff and re-creates the LMs and modules it held from their
//! specs: a crash costs only the calls in flight. Workers die with the Rust process, even
//! on SIGKILL (the worker arms a parent-death signal and watches its parent pid).
//!
//! A supervisor that sees [`PoolConfig::restart_budget`] starts fail in a row gives its
//! slot up: calls to that slot's modules then fail with `Error::WorkerUnavailable`.
//!
//! Dependencies go one way: `pool` (calls) and `supervisor` (lifecycle) both use `slot`
//! (shared state), `process` (starting a worker, forked by `fork_server` or not; both read
//! `lines`), `restore` (what a new worker must hold), `client` (the gRPC connection) and
//! `call_socket` (the leaner lane module calls take); the supervisor never sees the pool.

mod call_mux;
mod call_socket;
mod client;
mod fork_server;
mod lines;
mod pool;
mod process;
mod restore;
mod slot;
mod supervisor;

use std::time::Duration;

use dspex_core::{Error, Result};
use parking_lot::Mutex;

pub(crate) use pool::{Pool, pool};

/// Generated types of the worker protocol live beside the bridge's (`dspex.bridge.v1`).
pub(crate) use crate::bridge::pb;

/// How the worker pool runs. Set it with [`configure_workers`] before the first module.
///
/// ```
/// let config = dspex::PoolConfig::default();
/// assert_eq!(config.size, 2);
/// assert!(config.health_interval <= std::time::Duration::from_secs(5));
/// assert_eq!(config.restart_budget, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// How many workers (default 2; the environment variable `DSPEX_WORKERS` overrides it).
    pub size: usize,
    /// How often each worker is health-checked (default 2 s).
    pub health_interval: Duration,
    /// How long a worker may take to start (`import dspy` included; default 60 s).
    pub start_timeout: Duration,
    /// How long a call may take before it fails (default 10 min).
    pub call_timeout: Duration,
    /// How many times in a row a worker may fail to start — its first start or a restart
    /// after a crash — before the pool gives its slot up for the rest of the process
    /// (default 5; at least 1). A worker that starts resets the count.
    pub restart_budget: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let size = std::env::var("DSPEX_WORKERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(2);
        Self {
            size,
            health_interval: Duration::from_secs(2),
            start_timeout: Duration::from_secs(60),
            call_timeout: Duration::from_secs(600),
            restart_budget: 5,
        }
    }
}

static CONFIG: Mutex<Option<PoolConfig>> = Mutex::new(None);

/// Sets how the worker pool will run. Fails once the pool is started.
pub fn configure_workers(config: PoolConfig) -> Result<()> {
    if config.size == 0 {
        return Err(Error::InvalidArgument {
            message: "the worker pool needs at least one worker".into(),
        });
    }
    if config.restart_budget == 0 {
        return Err(Error::InvalidArgument {
            message: "restart_budget must be at least 1 (the first start is one attempt)".into(),
        });
    }
    if pool::started() {
        return Err(Error::Python {
            message: "the worker pool is already running; configure it before the first module"
                .into(),
        });
    }
    *CONFIG.lock() = Some(config);
    Ok(())
}

/// The pids of the workers that serve now (for tools and tests): empty before the first
/// module starts the pool, and without a worker that is being restarted or given up.
pub async fn worker_pids() -> Vec<u32> {
    match pool::running() {
        Some(pool) => pool.pids(),
        None => Vec::new(),
    }
}

fn config() -> PoolConfig {
    CONFIG.lock().clone().unwrap_or_default()
}
