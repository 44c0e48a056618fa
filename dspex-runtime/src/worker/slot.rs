//! One place in the pool: where its worker stands (starting, serving, given up), shared
//! by the callers that wait for it and the supervisor that keeps it alive.

use std::sync::Arc;

use dspex_core::Error;
use tokio::sync::{Notify, watch};

use super::call_socket::CallSocket;
use super::client::Client;

/// A worker that serves, as callers see it.
pub(crate) struct Live {
    pub(crate) generation: u64,
    pub(crate) client: Client,
    /// Its call socket, where module calls go first (`None`: gRPC only).
    pub(crate) calls: Option<Arc<CallSocket>>,
    pub(crate) pid: u32,
    /// Becomes true when the process has exited.
    pub(crate) exited: watch::Receiver<bool>,
}

/// Where a slot stands.
#[derive(Clone)]
pub(crate) enum SlotState {
    Starting,
    Ready(Arc<Live>),
    /// The supervisor stopped restarting this slot's worker; the error
    /// ([`Error::WorkerUnavailable`]) says why, and every later call gets it.
    GaveUp(Error),
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
            self.mark_starting(generation);
            self.restart.notify_one();
        }
    }

    /// Moves a slot whose worker `generation` is lost back to `Starting` (unless a newer
    /// worker already replaced it).
    pub(crate) fn mark_starting(&self, generation: u64) {
        self.state.send_if_modified(|s| match s {
            SlotState::Ready(live) if live.generation == generation => {
                *s = SlotState::Starting;
                true
            }
            _ => false,
        });
    }

    /// Whether the supervisor has stopped restarting this slot's worker.
    pub(crate) fn gave_up(&self) -> bool {
        matches!(&*self.state.borrow(), SlotState::GaveUp(_))
    }

    /// The pid of the worker that serves now, if one does.
    pub(crate) fn pid(&self) -> Option<u32> {
        match &*self.state.borrow() {
            SlotState::Ready(live) => Some(live.pid),
            _ => None,
        }
    }
}
