//! Where a Context keeps its variables: the `StateProvider` trait and its backends.
//!
//! `LocalState` keeps them in-process; `BridgedState` keeps the same in-process table and
//! publishes it in the process-wide session store that the gRPC bridge serves to Python;
//! `RedisState` (feature `redis`) keeps them in a Redis namespace shared by every process
//! connected to it. Every backend validates with the same code ([`dspex_core::Schema`])
//! before anything is written. Only what `Context::backend` reports ([`BackendInfo`],
//! [`BackendKind`]) is public: a Context chooses and switches its backend itself.

#[cfg(feature = "python")]
mod bridged;
#[cfg(test)]
mod compliance;
pub(crate) mod definition;
mod local;
#[cfg(feature = "redis")]
pub(crate) mod redis;
mod table;

use std::collections::{HashMap, HashSet};
#[cfg(feature = "python")]
use std::sync::Arc;

use dspex_core::{Metadata, Result, Value, VarId, VarOptions, VarType, Variable, VariableDef};

#[cfg(feature = "python")]
pub(crate) use bridged::BridgedState;
pub(crate) use local::LocalState;
pub(crate) use table::{VariableTable, WriteOptions};

use crate::watch::{Current, Snapshot, UpdateSource, Watcher};

/// Which backend a Context uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// In-process; nothing leaves the process.
    Local,
    /// In the process-wide session store, served to Python workers by the bridge.
    Bridged,
    /// In a Redis namespace, shared by every process connected to it
    /// ([`Context::connect`](crate::Context), feature `redis`).
    Redis,
}

/// What [`Context::backend`](crate::Context::backend) reports: where the Context's
/// variables live now, and whether the one-way Local → Bridged switch has happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend in use.
    pub kind: BackendKind,
    /// Whether the bridge serves the Context's variables (true once bridged; for a Redis
    /// Context, once Python modules were created on it).
    pub requires_bridge: bool,
    /// How many Local → Bridged switches this Context made (0 or 1).
    pub switches: u32,
}

/// A store of typed, constrained variables. Every method is atomic with respect to every
/// other; a failed write changes nothing (value, version, metadata). `source` says who
/// writes (Rust code or Python through the bridge), for watchers.
pub(crate) trait StateProvider: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Whether the bridge serves its variables.
    fn requires_bridge(&self) -> bool {
        self.kind() == BackendKind::Bridged
    }

    /// Defines a variable (the initial value is coerced and checked).
    fn register(
        &self,
        name: &str,
        var_type: VarType,
        initial: Value,
        opts: VarOptions,
        source: UpdateSource,
    ) -> Result<VarId>;

    /// Defines several variables, all or nothing.
    fn register_many(&self, defs: Vec<VariableDef>, source: UpdateSource) -> Result<Vec<VarId>>;

    /// The current value of a variable, by name or id (from a backend's read cache, if
    /// it has one).
    fn get(&self, key: &str) -> Result<Value>;

    /// The current value, read from where the variables live (past any read cache).
    fn get_fresh(&self, key: &str) -> Result<Value> {
        self.get(key)
    }

    /// A snapshot of a variable, by name or id.
    fn variable(&self, key: &str) -> Result<Variable>;

    /// Whether a name or id is defined.
    fn exists(&self, key: &str) -> bool;

    /// Writes a value (optionally merging metadata, optionally only at an expected
    /// version); returns the new version.
    fn set(&self, key: &str, value: Value, opts: WriteOptions) -> Result<u64>;

    /// Atomic read-modify-write; returns the new version. A backend shared between
    /// processes may call `f` again when another write landed first.
    fn update(
        &self,
        key: &str,
        f: &mut dyn FnMut(&Value) -> Result<Value>,
        source: UpdateSource,
    ) -> Result<u64>;

    /// The values of several variables, keyed as asked; unknown keys are omitted.
    fn get_many(&self, keys: &[&str]) -> Result<HashMap<String, Value>>;

    /// Writes several variables, all or nothing.
    fn update_many(
        &self,
        updates: Vec<(String, Value)>,
        metadata: Option<&Metadata>,
        source: UpdateSource,
    ) -> Result<()>;

    /// Every variable, in registration order.
    fn list(&self) -> Vec<Variable>;

    /// How many variables there are.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    fn len(&self) -> usize;

    /// Adds whole variables (ids and versions kept), all or nothing.
    fn import(&self, vars: Vec<Variable>) -> Result<()>;

    /// Watches variables by name or id (none: all, including later ones). `snapshot`
    /// reads the current values when the watcher must resynchronise; `timed` has the
    /// watcher know when each write was published ([`Watcher::next_timed`]).
    fn watch(
        &self,
        keys: &[&str],
        include_initial: bool,
        snapshot: Snapshot,
        timed: bool,
    ) -> Result<Watcher>;

    /// The current values of the variables among `names` (all when `None`), for a watcher
    /// that resynchronises.
    fn snapshot(&self, names: Option<&HashSet<String>>) -> Vec<Current>;

    /// How many watchers are subscribed.
    fn watcher_count(&self) -> usize;

    /// The last handle is gone: end every watcher and release what the backend holds.
    fn close(&self);

    /// Has the bridge serve these variables under `session_id`; returns the backend the
    /// Context uses from then on (a new one, or itself when nothing changes).
    #[cfg(feature = "python")]
    fn serve(
        self: Arc<Self>,
        store: &crate::store::SessionStore,
        session_id: &str,
    ) -> Result<Arc<dyn StateProvider>>;
}

/// Implements [`StateProvider`]'s variable operations by forwarding to `self.table`, a
/// [`VariableTable`]: one copy of the forwarding, shared by the in-process backends.
macro_rules! forward_to_table {
    () => {
        fn register(
            &self,
            name: &str,
            var_type: dspex_core::VarType,
            initial: dspex_core::Value,
            opts: dspex_core::VarOptions,
            source: $crate::watch::UpdateSource,
        ) -> dspex_core::Result<dspex_core::VarId> {
            self.table.register(name, var_type, initial, opts, source)
        }
        fn register_many(
            &self,
            defs: Vec<dspex_core::VariableDef>,
            source: $crate::watch::UpdateSource,
        ) -> dspex_core::Result<Vec<dspex_core::VarId>> {
            self.table.register_many(defs, source)
        }
        #[inline]
        fn get(&self, key: &str) -> dspex_core::Result<dspex_core::Value> {
            self.table.get(key)
        }
        fn variable(&self, key: &str) -> dspex_core::Result<dspex_core::Variable> {
            self.table.variable(key)
        }
        fn exists(&self, key: &str) -> bool {
            self.table.exists(key)
        }
        fn set(
            &self,
            key: &str,
            value: dspex_core::Value,
            opts: $crate::state::WriteOptions,
        ) -> dspex_core::Result<u64> {
            self.table.set(key, value, opts)
        }
        fn update(
            &self,
            key: &str,
            f: &mut dyn FnMut(&dspex_core::Value) -> dspex_core::Result<dspex_core::Value>,
            source: $crate::watch::UpdateSource,
        ) -> dspex_core::Result<u64> {
            self.table.update(key, f, source)
        }
        fn get_many(
            &self,
            keys: &[&str],
        ) -> dspex_core::Result<std::collections::HashMap<String, dspex_core::Value>> {
            Ok(self.table.get_many(keys))
        }
        fn update_many(
            &self,
            updates: Vec<(String, dspex_core::Value)>,
            metadata: Option<&dspex_core::Metadata>,
            source: $crate::watch::UpdateSource,
        ) -> dspex_core::Result<()> {
            self.table.update_many(updates, metadata, source)
        }
        fn list(&self) -> Vec<dspex_core::Variable> {
            self.table.list()
        }
        fn len(&self) -> usize {
            self.table.len()
        }
        fn import(&self, vars: Vec<dspex_core::Variable>) -> dspex_core::Result<()> {
            self.table.import(vars)
        }
        fn watch(
            &self,
            keys: &[&str],
            include_initial: bool,
            snapshot: $crate::watch::Snapshot,
            timed: bool,
        ) -> dspex_core::Result<$crate::watch::Watcher> {
            self.table.watch(keys, include_initial, snapshot, timed)
        }
        fn snapshot(
            &self,
            names: Option<&std::collections::HashSet<String>>,
        ) -> Vec<$crate::watch::Current> {
            self.table.snapshot(names)
        }
        fn watcher_count(&self) -> usize {
            self.table.hub().watcher_count()
        }
        fn close(&self) {
            self.table.hub().close()
        }
    };
}
pub(crate) use forward_to_table;
