//! One supervisor per worker slot: start, restore, health-check, restart with backoff, and
//! give up after too many failed starts in a row.
//!
//! It is handed what it needs — the slot, a [`Spawner`], the [`RestoreRegistry`] — and
//! knows nothing of the pool that calls the workers.

use std::sync::Arc;
use std::time::Duration;

use dspex_core::Error;
use tokio::sync::watch;

use super::pb;
use super::process::{Spawner, WorkerProcess};
use super::restore::RestoreRegistry;
use super::slot::{Live, Slot, SlotState};

/// How a supervisor runs its slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) health_interval: Duration,
    /// How many starts in a row may fail before the slot is given up (at least 1).
    pub(crate) restart_budget: u32,
}

/// Runs on the library runtime until it gives up: keeps `slot`'s worker alive.
pub(crate) async fn supervise(
    slot: Arc<Slot>,
    spawner: Arc<Spawner>,
    registry: Arc<RestoreRegistry>,
    policy: Policy,
) {
    let mut generation = 0u64;
    let mut failures = 0u32;
    // Workers in a row that died soon after they served.
    let mut short_lived = 0u32;
    loop {
        generation += 1;
        let started = start(&spawner, &registry, &slot, generation).await;
        let (mut child, live) = match started {
            Ok(ok) => {
                failures = 0;
                ok
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(worker = slot.id, attempt = failures, error = %e, "worker failed to start");
                if failures >= policy.restart_budget.max(1) {
                    tracing::error!(
                        worker = slot.id,
                        attempts = failures,
                        "giving up on the worker"
                    );
                    slot.state
                        .send_replace(SlotState::GaveUp(Error::WorkerUnavailable {
                            worker: slot.id,
                            attempts: failures,
                            reason: e.to_string(),
                        }));
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

        let served_since = tokio::time::Instant::now();
        let reason = watch_worker(policy, &slot, &live, &mut child).await;
        // The worker is being replaced (it may be gone already): the next generation starts
        // once it has exited, or once a kill took too long to be confirmed (a forked worker's
        // exit is reported by its fork server, which may itself be stuck).
        child.start_kill();
        if tokio::time::timeout(KILL_CONFIRMED_WITHIN, child.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                worker = slot.id,
                pid = live.pid,
                "the worker's exit was not confirmed"
            );
        }
        if let Some(calls) = &live.calls {
            calls.remove_leftovers();
        }
        // Callers waiting for this worker's exit may all be gone; nothing to tell then.
        let _ = exited_tx.send(true);
        slot.mark_starting(generation);
        tracing::warn!(worker = slot.id, pid = live.pid, %reason, "worker lost; restarting");
        // A lost worker is replaced at once (a forked one serves again in tens of
        // milliseconds); one whose predecessor, too, died as soon as it served is not
        // restarted in a tight loop.
        if served_since.elapsed() < SERVED_LONG_ENOUGH {
            short_lived += 1;
        } else {
            short_lived = 0;
        }
        if short_lived > 1 {
            tokio::time::sleep(backoff(short_lived - 1)).await;
        }
    }
}

/// How long the supervisor waits for a killed worker's exit before it starts the next one.
const KILL_CONFIRMED_WITHIN: Duration = Duration::from_secs(5);

/// How long a worker must have served not to count as dying as soon as it serves.
const SERVED_LONG_ENOUGH: Duration = Duration::from_secs(1);

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64 << failures.min(6)).min(Duration::from_secs(5))
}

/// Waits until the worker exits, fails a health check, or a call reports it dead.
async fn watch_worker(
    policy: Policy,
    slot: &Slot,
    live: &Live,
    child: &mut WorkerProcess,
) -> String {
    let mut tick = tokio::time::interval(policy.health_interval);
    tick.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => return format!("exited ({status})"),
            () = slot.restart.notified() => {
                if *slot.failed_generation.lock() >= live.generation {
                    return "a call saw it fail".into();
                }
            }
            _ = tick.tick() => {
                let mut client = live.client.clone();
                let health = tokio::time::timeout(
                    policy.health_interval.max(Duration::from_secs(1)) * 2,
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
    spawner: &Spawner,
    registry: &RestoreRegistry,
    slot: &Slot,
    generation: u64,
) -> dspex_core::Result<(WorkerProcess, Live)> {
    let (child, live) = spawner.start(slot.id, generation).await?;
    // A worker that cannot hold its modules does not serve; dropping `child` kills it.
    registry.restore(slot.id, &live.client).await?;
    Ok((child, live))
}
