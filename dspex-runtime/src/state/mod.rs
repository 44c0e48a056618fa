//! Where a Context keeps its variables: the `StateProvider` trait and its backends.
//!
//! `LocalState` keeps them in-process; `BridgedState` keeps them in the process-wide
//! session store that the gRPC bridge serves to Python. Both store their variables in a
//! `VariableTable`, so validation and atomicity are the same code for both. Only what
//! `Context::backend` reports ([`BackendInfo`], [`BackendKind`]) is public: a Context
//! chooses and switches its backend itself.

mod bridged;
#[cfg(test)]
mod compliance;
mod local;
mod table;

use std::collections::HashMap;

use dspex_core::{Metadata, Result, Value, VarId, VarOptions, VarType, Variable, VariableDef};

pub(crate) use bridged::BridgedState;
pub(crate) use local::LocalState;
pub(crate) use table::{VariableTable, WriteOptions};

/// Which backend a Context uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// In-process; nothing leaves the process.
    Local,
    /// In the process-wide session store, served to Python workers by the bridge.
    Bridged,
}

/// What [`Context::backend`](crate::Context::backend) reports: where the Context's
/// variables live now, and whether the one-way Local → Bridged switch has happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend in use.
    pub kind: BackendKind,
    /// Whether the backend needs the bridge (true once bridged).
    pub requires_bridge: bool,
    /// How many Local → Bridged switches this Context made (0 or 1).
    pub switches: u32,
}

/// A store of typed, constrained variables. Every method is atomic with respect to every
/// other; a failed write changes nothing (value, version, metadata).
pub(crate) trait StateProvider: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Whether it needs the bridge to serve its variables.
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
    ) -> Result<VarId>;

    /// Defines several variables, all or nothing.
    fn register_many(&self, defs: Vec<VariableDef>) -> Result<Vec<VarId>>;

    /// The current value of a variable, by name or id.
    fn get(&self, key: &str) -> Result<Value>;

    /// A snapshot of a variable, by name or id.
    fn variable(&self, key: &str) -> Result<Variable>;

    /// Whether a name or id is defined.
    fn exists(&self, key: &str) -> bool;

    /// Writes a value (optionally merging metadata, optionally only at an expected
    /// version); returns the new version.
    fn set(&self, key: &str, value: Value, opts: WriteOptions) -> Result<u64>;

    /// Atomic read-modify-write; returns the new version.
    fn update(&self, key: &str, f: &mut dyn FnMut(&Value) -> Result<Value>) -> Result<u64>;

    /// The values of several variables, keyed as asked; unknown keys are omitted.
    fn get_many(&self, keys: &[&str]) -> HashMap<String, Value>;

    /// Writes several variables, all or nothing.
    fn update_many(&self, updates: Vec<(String, Value)>, metadata: Option<&Metadata>)
    -> Result<()>;

    /// Every variable, in registration order.
    fn list(&self) -> Vec<Variable>;

    /// Adds whole variables (ids and versions kept), all or nothing.
    fn import(&self, vars: Vec<Variable>) -> Result<()>;

    /// The table behind this backend (used by the switch to freeze writes while copying).
    fn table(&self) -> &VariableTable;
}

/// Implements [`StateProvider`]'s variable operations by forwarding to `self.table()`:
/// one copy of the forwarding, shared by every backend.
macro_rules! forward_to_table {
    () => {
        fn register(
            &self,
            name: &str,
            var_type: dspex_core::VarType,
            initial: dspex_core::Value,
            opts: dspex_core::VarOptions,
        ) -> dspex_core::Result<dspex_core::VarId> {
            self.table().register(
                name,
                var_type,
                initial,
                opts,
                $crate::watch::UpdateSource::Rust,
            )
        }
        fn register_many(
            &self,
            defs: Vec<dspex_core::VariableDef>,
        ) -> dspex_core::Result<Vec<dspex_core::VarId>> {
            self.table().register_many(defs)
        }
        fn get(&self, key: &str) -> dspex_core::Result<dspex_core::Value> {
            self.table().get(key)
        }
        fn variable(&self, key: &str) -> dspex_core::Result<dspex_core::Variable> {
            self.table().variable(key)
        }
        fn exists(&self, key: &str) -> bool {
            self.table().exists(key)
        }
        fn set(
            &self,
            key: &str,
            value: dspex_core::Value,
            opts: $crate::state::WriteOptions,
        ) -> dspex_core::Result<u64> {
            self.table().set(key, value, opts)
        }
        fn update(
            &self,
            key: &str,
            f: &mut dyn FnMut(&dspex_core::Value) -> dspex_core::Result<dspex_core::Value>,
        ) -> dspex_core::Result<u64> {
            self.table()
                .update(key, f, $crate::watch::UpdateSource::Rust)
        }
        fn get_many(&self, keys: &[&str]) -> std::collections::HashMap<String, dspex_core::Value> {
            self.table().get_many(keys)
        }
        fn update_many(
            &self,
            updates: Vec<(String, dspex_core::Value)>,
            metadata: Option<&dspex_core::Metadata>,
        ) -> dspex_core::Result<()> {
            self.table()
                .update_many(updates, metadata, $crate::watch::UpdateSource::Rust)
        }
        fn list(&self) -> Vec<dspex_core::Variable> {
            self.table().list()
        }
        fn import(&self, vars: Vec<dspex_core::Variable>) -> dspex_core::Result<()> {
            self.table().import(vars)
        }
    };
}
pub(crate) use forward_to_table;
