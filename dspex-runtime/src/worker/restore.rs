//! What the pool re-creates on a (re)started worker: the LM of each session and every live
//! module, with its bindings. The pool records them as calls succeed; the supervisor
//! replays them on each new worker before it serves.

use std::collections::{BTreeMap, HashMap};

use dspex_core::Result;
use parking_lot::Mutex;

use super::client::{Client, worker_error};
use super::pb;

/// The LMs and modules the workers must hold.
#[derive(Default)]
pub(crate) struct RestoreRegistry {
    recorded: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    /// The LM of each session.
    lms: HashMap<String, pb::LmSpec>,
    /// Every live module: the slot it is pinned to and how to create it again.
    modules: BTreeMap<String, (usize, pb::CreateModuleRequest)>,
}

impl RestoreRegistry {
    /// Records the LM of a session (every worker holds every session's LM).
    pub(crate) fn record_lm(&self, session: &str, lm: pb::LmSpec) {
        self.recorded.lock().lms.insert(session.to_owned(), lm);
    }

    /// Records a module pinned to `slot`.
    pub(crate) fn record_module(&self, slot: usize, req: pb::CreateModuleRequest) {
        self.recorded
            .lock()
            .modules
            .insert(req.module_id.clone(), (slot, req));
    }

    /// Forgets a module (dropped, or never created).
    pub(crate) fn forget_module(&self, module_id: &str) {
        self.recorded.lock().modules.remove(module_id);
    }

    /// Adds (or replaces) a binding of a recorded module.
    pub(crate) fn record_binding(&self, module_id: &str, binding: pb::Binding) {
        if let Some((_, spec)) = self.recorded.lock().modules.get_mut(module_id) {
            spec.bindings.retain(|b| b.setting != binding.setting);
            spec.bindings.push(binding);
        }
    }

    /// Records the learned state of a module (a restart loads it again).
    pub(crate) fn record_state(&self, module_id: &str, state_json: String) {
        if let Some((_, spec)) = self.recorded.lock().modules.get_mut(module_id) {
            spec.state_json = Some(state_json);
        }
    }

    /// The slot a live module is pinned to and the request that re-creates it.
    pub(crate) fn module(&self, module_id: &str) -> Option<(usize, pb::CreateModuleRequest)> {
        self.recorded.lock().modules.get(module_id).cloned()
    }

    /// Re-creates the LMs and the modules pinned to `slot` on a (re)started worker.
    pub(crate) async fn restore(&self, slot: usize, client: &Client) -> Result<()> {
        let (lms, modules) = {
            let recorded = self.recorded.lock();
            let lms: Vec<_> = recorded
                .lms
                .iter()
                .map(|(s, l)| (s.clone(), l.clone()))
                .collect();
            let modules: Vec<_> = recorded
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
