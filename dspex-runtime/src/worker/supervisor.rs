//! One supervisor per worker slot: start, restore, health-check, restart with backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::pb;
use super::pb::worker_client::WorkerClient;
use super::pool::Pool;
use super::process;

/// Adds the bridge token to every call to a worker.
#[derive(Clone)]
pub(crate) struct Token(pub(crate) MetadataValue<Ascii>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut()
            .insert(crate::bridge::TOKEN_KEY, self.0.clone());
        Ok(req)
    }
}

/// A gRPC client to one worker.
pub(crate) type Client = WorkerClient<InterceptedService<Channel, Token>>;

/// A worker that serves, as callers see it.
pub(crate) struct Live {
    pub(crate) generation: u64,
    pub(crate) client: Client,
    pub(crate) pid: u32,
    /// Becomes true when the process has exited.
    pub(crate) exited: watch::Receiver<bool>,
}

/// Where a slot stands.
#[derive(Clone)]
pub(crate) enum SlotState {
    Starting,
    Ready(Arc<Live>),
    Failed(String),
}

/// One place in the pool.
pub(crate) struct Slot {
    pub(crate) id: usize,
    pub(crate) state: watch::Sender<SlotState>,
    /// Wakes the supervisor to restart the worker of a given generation.
    pub(crate) restart: Notify,
    pub(crate) failed_generation: parking_lot::Mutex<u64>,
}

impl Slot {
    pub(crate) fn new(id: usize) -> Self {
        Self {
            id,
            state: watch::Sender::new(SlotState::Starting),
            restart: Notify::new(),
            failed_generation: parking_lot::Mutex::new(0),
        }
    }

    /// Asks for a restart of `generation` (a call saw it die); ignored if already replaced.
    pub(crate) fn report_failure(&self, generation: u64) {
        let mut failed = self.failed_generation.lock();
        if *failed < generation {
            *failed = generation;
            self.state.send_if_modified(|s| match s {
                SlotState::Ready(live) if live.generation == generation => {
                    *s = SlotState::Starting;
                    true
                }
                _ => false,
            });
            self.restart.notify_one();
        }
    }
}

const MAX_START_ATTEMPTS: u32 = 5;

/// Runs forever on the library runtime: keeps `slot`'s worker alive.
pub(crate) async fn supervise(pool: Arc<Pool>, slot: Arc<Slot>) {
    let mut generation = 0u64;
    let mut failures = 0u32;
    loop {
        generation += 1;
        let started = start(&pool, &slot, generation).await;
        let (mut child, live) = match started {
            Ok(ok) => {
                failures = 0;
                ok
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(worker = slot.id, attempt = failures, error = %e, "worker failed to start");
                if failures >= MAX_START_ATTEMPTS {
                    slot.state.send_replace(SlotState::Failed(e.to_string()));
                    return;
                }
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        let (exited_tx, exited_rx) = watch::channel(false);
        let live = Arc::new(Live {
            exited: exited_rx,
            ..live
        });
        slot.state.send_replace(SlotState::Ready(live.clone()));
        tracing::info!(worker = slot.id, pid = live.pid, generation, "worker ready");

        let reason = watch_worker(&pool, &slot, &live, &mut child).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        let _ = exited_tx.send(true);
        slot.state.send_if_modified(|s| match s {
            SlotState::Ready(l) if l.generation == generation => {
                *s = SlotState::Starting;
                true
            }
            _ => false,
        });
        tracing::warn!(worker = slot.id, pid = live.pid, %reason, "worker lost; restarting");
        tokio::time::sleep(backoff(1)).await;
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64 << failures.min(6)).min(Duration::from_secs(5))
}

/// Waits until the worker exits, fails a health check, or a call reports it dead.
async fn watch_worker(
    pool: &Pool,
    slot: &Slot,
    live: &Live,
    child: &mut tokio::process::Child,
) -> String {
    let mut tick = tokio::time::interval(pool.config.health_interval);
    tick.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => return format!("exited ({status:?})"),
            () = slot.restart.notified() => {
                if *slot.failed_generation.lock() >= live.generation {
                    return "a call saw it fail".into();
                }
            }
            _ = tick.tick() => {
                let mut client = live.client.clone();
                let health = tokio::time::timeout(
                    pool.config.health_interval.max(Duration::from_secs(1)) * 2,
                    client.health(pb::HealthRequest {}),
                ).await;
                match health {
                    Ok(Ok(_)) => {}
                    Ok(Err(status)) => return format!("health check failed: {status}"),
                    Err(_) => return "health check timed out".into(),
                }
            }
        }
    }
}

/// Starts the process, connects, and restores the LMs and modules it must hold.
async fn start(
    pool: &Arc<Pool>,
    slot: &Slot,
    generation: u64,
) -> dspex_core::Result<(tokio::process::Child, Live)> {
    let spawned = process::spawn(
        &pool.python,
        slot.id,
        &pool.bridge,
        pool.config.start_timeout,
    )
    .await?;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{}", spawned.port))
        .map_err(|e| python_error(format!("bad worker address: {e}")))?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| python_error(format!("could not connect to worker {}: {e}", slot.id)))?;
    let client = WorkerClient::with_interceptor(channel, pool.token.clone())
        .max_decoding_message_size(64 * 1024 * 1024);
    let (_, never) = watch::channel(false);
    let live = Live {
        generation,
        client,
        pid: spawned.pid,
        exited: never,
    };
    pool.restore(slot.id, &live.client).await?;
    Ok((spawned.child, live))
}

fn python_error(message: String) -> dspex_core::Error {
    dspex_core::Error::Python { message }
}
