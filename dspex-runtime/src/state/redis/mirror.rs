//! The read cache: this process's copy of the namespace's variables, kept current by the
//! namespace's event stream (see `listener.rs`) and by this process's own writes and fresh
//! reads. Every change to an entry is monotonic: an entry only ever moves to a higher
//! version, so a cached read never goes back past a value this process wrote or saw.
//!
//! It also publishes the stream's writes to the Context's watchers, under its write lock,
//! so that a watcher subscribing under the read lock (with its initial values) can never
//! fall between a write and its publication.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dspex_core::{Error, Metadata, Result, Schema, Value, Variable};
use parking_lot::RwLock;

use super::codec::Record;
use crate::watch::{
    Current, Snapshot, UpdateSource, VariableUpdate, WatchHub, Watcher, current, watched_names,
};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One cached variable and its compiled definition.
struct Cached {
    record: Record,
    schema: Arc<Schema>,
}

#[derive(Default)]
struct MirrorState {
    /// By name.
    entries: FastMap<String, Cached>,
    /// Id → name (a name never contains `-`, an id always does).
    ids: FastMap<String, String>,
}

impl MirrorState {
    fn find(&self, key: &str) -> Option<&Cached> {
        if key.contains('-') {
            self.entries.get(self.ids.get(key)?)
        } else {
            self.entries.get(key)
        }
    }
}

/// A variable's definition, as a write needs it: its name, its id and its rules.
#[derive(Clone)]
pub(crate) struct Definition {
    pub name: String,
    pub id: String,
    pub schema: Arc<Schema>,
}

/// The cached variables of one Redis Context, and the hub its watchers subscribe to.
#[derive(Default)]
pub(crate) struct Mirror {
    state: RwLock<MirrorState>,
    hub: WatchHub,
}

impl Mirror {
    pub fn hub(&self) -> &WatchHub {
        &self.hub
    }

    /// The cached value.
    #[inline]
    pub fn get(&self, key: &str) -> Option<Value> {
        self.state
            .read()
            .find(key)
            .map(|c| c.record.var.value.clone())
    }

    /// The cached variable.
    pub fn variable(&self, key: &str) -> Option<Variable> {
        self.state.read().find(key).map(|c| c.record.var.clone())
    }

    /// The definition of a cached variable.
    pub fn definition(&self, key: &str) -> Option<Definition> {
        self.state.read().find(key).map(|c| Definition {
            name: c.record.var.name.clone(),
            id: c.record.var.id.clone(),
            schema: c.schema.clone(),
        })
    }

    /// The cached version and value.
    pub fn current(&self, key: &str) -> Option<(u64, Value)> {
        let state = self.state.read();
        let c = state.find(key)?;
        Some((c.record.var.version, c.record.var.value.clone()))
    }

    /// The compiled definition cached for `name`, with its id (to reuse when the same
    /// definition is read again).
    pub fn schema_of(&self, name: &str) -> Option<(String, Arc<Schema>)> {
        let state = self.state.read();
        let c = state.entries.get(name)?;
        Some((c.record.var.id.clone(), c.schema.clone()))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.state.read().find(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.state.read().entries.len()
    }

    /// Adds or refreshes a whole variable. A newer version replaces the entry; so does
    /// another id under the same name (the namespace was cleared and the name defined
    /// again). Returns whether the entry changed.
    pub fn insert(&self, record: Record, schema: Arc<Schema>) -> bool {
        let mut state = self.state.write();
        Self::insert_locked(&mut state, record, schema)
    }

    fn insert_locked(state: &mut MirrorState, record: Record, schema: Arc<Schema>) -> bool {
        let name = record.var.name.clone();
        if let Some(c) = state.entries.get(&name)
            && c.record.var.id == record.var.id
            && c.record.var.version >= record.var.version
        {
            return false;
        }
        if let Some(old) = state.entries.get(&name)
            && old.record.var.id != record.var.id
        {
            let old_id = old.record.var.id.clone();
            state.ids.remove(&old_id);
        }
        state.ids.insert(record.var.id.clone(), name.clone());
        state.entries.insert(name, Cached { record, schema });
        true
    }

    /// Forgets a variable whose name now belongs to another definition.
    pub fn forget(&self, name: &str) {
        let mut state = self.state.write();
        if let Some(c) = state.entries.remove(name) {
            state.ids.remove(&c.record.var.id);
        }
    }

    /// Records a write this process made or read: the entry moves to `version` only if it
    /// is newer. `metadata: None` keeps the cached metadata (a read that did not carry it
    /// cannot be newer than what it missed, so the caller passes it whenever it has it).
    pub fn observe(&self, name: &str, version: u64, value: Value, write: WriteInfo) {
        let mut state = self.state.write();
        Self::observe_locked(&mut state, name, version, value, write);
    }

    fn observe_locked(
        state: &mut MirrorState,
        name: &str,
        version: u64,
        value: Value,
        write: WriteInfo,
    ) {
        let Some(c) = state.entries.get_mut(name) else {
            return;
        };
        if version <= c.record.var.version {
            return;
        }
        let var = &mut c.record.var;
        var.value = value;
        var.version = version;
        var.updated_at_ms = write.updated_at_ms;
        var.metadata = write.metadata;
        c.record.source = write.source;
    }

    /// Applies a write read from the stream and publishes it to the watchers, in one step.
    pub fn deliver(&self, update: VariableUpdate, updated_at_ms: u64) {
        let mut state = self.state.write();
        let write = WriteInfo {
            metadata: update.metadata.clone(),
            updated_at_ms,
            source: update.source,
        };
        Self::observe_locked(
            &mut state,
            &update.name,
            update.version,
            update.value.clone(),
            write,
        );
        self.hub.publish_update(update);
    }

    /// Every cached variable, in definition order.
    pub fn list(&self) -> Vec<Variable> {
        let state = self.state.read();
        let mut entries: Vec<&Cached> = state.entries.values().collect();
        entries.sort_by_key(|c| c.record.seq);
        entries.into_iter().map(|c| c.record.var.clone()).collect()
    }

    /// The cached variables among `names` (all when `None`), for a watcher.
    pub fn snapshot(&self, names: Option<&HashSet<String>>) -> Vec<Current> {
        currents(&self.state.read(), names)
    }

    /// Watches cached variables (every key must be cached); the subscription and the
    /// initial values are taken under one lock.
    pub fn watch(
        &self,
        keys: &[&str],
        include_initial: bool,
        snapshot: Snapshot,
        timed: bool,
    ) -> Result<Watcher> {
        let state = self.state.read();
        let names = watched_names(keys, |k| {
            state
                .find(k)
                .map(|c| c.record.var.name.clone())
                .ok_or_else(|| Error::variable_not_found(k))
        })?;
        let current = currents(&state, names.as_ref());
        let subscription = self.hub.subscribe(names, timed);
        drop(state);
        Ok(Watcher::new(
            subscription,
            snapshot,
            current,
            include_initial,
        ))
    }
}

fn currents(state: &MirrorState, names: Option<&HashSet<String>>) -> Vec<Current> {
    let mut entries: Vec<&Cached> = state
        .entries
        .values()
        .filter(|c| names.is_none_or(|n| n.contains(&c.record.var.name)))
        .collect();
    entries.sort_by_key(|c| c.record.seq);
    entries
        .into_iter()
        .map(|c| current(&c.record.var, c.record.source))
        .collect()
}

/// What a write changed besides the value.
pub(crate) struct WriteInfo {
    pub metadata: Metadata,
    pub updated_at_ms: u64,
    pub source: UpdateSource,
}
