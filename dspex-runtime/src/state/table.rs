//! `VariableTable`: the variables of one context, behind one lock. Both backends and every
//! bridge session store their variables in one of these, so every write from Rust or
//! Python goes through the same code and the same validation ([`dspex_core::Schema`]).

use std::collections::HashMap;
use std::sync::Arc;

use dspex_core::{
    Error, Metadata, Result, Schema, Value, VarId, VarOptions, VarType, Variable, VariableDef,
};
use parking_lot::RwLock;

use super::definition::{check_merged_metadata, check_value, checked_import, checked_new, now_ms};
use crate::watch::{Current, Snapshot, UpdateSource, WatchHub, Watcher, current, watched_names};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One variable, its compiled definition, and who last wrote it (or defined it): a
/// watcher that resynchronises reports that writer.
struct Entry {
    var: Variable,
    /// Shared, so that a costly check can run outside the table's lock (a definition never
    /// changes once registered).
    schema: Arc<Schema>,
    source: UpdateSource,
}

#[derive(Default)]
struct TableState {
    entries: Vec<Entry>,
    /// Names and ids both map to the entry's index: a name never contains `-` and an id
    /// always does, so one lookup serves both.
    index: FastMap<String, usize>,
}

impl TableState {
    fn find(&self, key: &str) -> Result<usize> {
        self.index
            .get(key)
            .copied()
            .ok_or_else(|| Error::variable_not_found(key))
    }
}

/// How a single write is made.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOptions {
    /// Keys to merge into the variable's metadata.
    pub metadata: Option<Metadata>,
    /// Refuse the write with `VersionConflict` unless the variable is at this version.
    pub expected_version: Option<u64>,
    /// Who is writing (for watchers).
    pub source: UpdateSource,
}

/// The variables of one context.
pub(crate) struct VariableTable {
    state: RwLock<TableState>,
    hub: WatchHub,
}

impl Default for VariableTable {
    fn default() -> Self {
        Self::new(WatchHub::default())
    }
}

impl VariableTable {
    /// An empty table that publishes writes to `hub`.
    pub fn new(hub: WatchHub) -> Self {
        Self {
            state: RwLock::new(TableState::default()),
            hub,
        }
    }

    /// The hub this table publishes its writes to.
    pub fn hub(&self) -> &WatchHub {
        &self.hub
    }

    /// Defines a variable; the initial value is coerced and checked against the constraints.
    /// `source` is who defines it.
    pub fn register(
        &self,
        name: &str,
        var_type: VarType,
        initial: Value,
        opts: VarOptions,
        source: UpdateSource,
    ) -> Result<VarId> {
        let entry = new_entry(
            VariableDef {
                name: name.to_owned(),
                var_type,
                initial,
                opts,
            },
            source,
        )?;
        let id = entry.var.id.clone();
        self.insert_all(vec![entry])?;
        Ok(id)
    }

    /// Defines several variables, all or nothing: every definition is checked (and every
    /// name, against the table and the batch) before any is added.
    pub fn register_many(
        &self,
        defs: Vec<VariableDef>,
        source: UpdateSource,
    ) -> Result<Vec<VarId>> {
        let entries = defs
            .into_iter()
            .map(|def| new_entry(def, source))
            .collect::<Result<Vec<_>>>()?;
        let ids = entries.iter().map(|e| e.var.id.clone()).collect();
        self.insert_all(entries)?;
        Ok(ids)
    }

    /// The current value.
    pub fn get(&self, key: &str) -> Result<Value> {
        let state = self.state.read();
        let i = state.find(key)?;
        Ok(state.entries[i].var.value.clone())
    }

    /// Calls `f` with the variable's current value, under the read lock (no clone).
    pub fn with_value<R>(&self, key: &str, f: impl FnOnce(&Variable) -> R) -> Result<R> {
        let state = self.state.read();
        let i = state.find(key)?;
        Ok(f(&state.entries[i].var))
    }

    /// A snapshot of the whole variable.
    pub fn variable(&self, key: &str) -> Result<Variable> {
        self.with_value(key, Variable::clone)
    }

    /// Writes a value; returns the new version.
    pub fn set(&self, key: &str, value: Value, opts: WriteOptions) -> Result<u64> {
        // Ok: checked already (outside the lock); Err: still to check.
        let pending = if is_costly(&value) {
            let mut checked = self.check_unlocked(vec![(key.to_owned(), value)])?;
            Ok(checked
                .pop()
                .ok_or_else(|| Error::variable_not_found(key))?
                .1)
        } else {
            Err(value)
        };
        let mut state = self.state.write();
        let i = state.find(key)?;
        let entry = &mut state.entries[i];
        if let Some(expected) = opts.expected_version
            && expected != entry.var.version
        {
            return Err(Error::VersionConflict {
                name: entry.var.name.clone(),
                expected,
                actual: entry.var.version,
            });
        }
        let value = match pending {
            Ok(value) => value,
            Err(value) => check_value(&entry.schema, &entry.var.name, value)?,
        };
        if let Some(md) = &opts.metadata {
            check_merged_metadata(&entry.var, md)?;
        }
        Ok(self.apply(entry, value, opts.metadata.as_ref(), opts.source))
    }

    /// Read-modify-write under the write lock: no concurrent write can slip in between.
    /// `f` must not call back into the same context.
    pub fn update(
        &self,
        key: &str,
        f: &mut dyn FnMut(&Value) -> Result<Value>,
        source: UpdateSource,
    ) -> Result<u64> {
        let mut state = self.state.write();
        let i = state.find(key)?;
        let entry = &mut state.entries[i];
        let next = f(&entry.var.value)?;
        let value = check_value(&entry.schema, &entry.var.name, next)?;
        Ok(self.apply(entry, value, None, source))
    }

    /// The values of the given names or ids, keyed as asked; unknown keys are omitted.
    pub fn get_many(&self, keys: &[&str]) -> HashMap<String, Value> {
        let state = self.state.read();
        keys.iter()
            .filter_map(|key| {
                let i = state.index.get(*key)?;
                Some(((*key).to_owned(), state.entries[*i].var.value.clone()))
            })
            .collect()
    }

    /// Writes several variables atomically: every value is checked first, and one bad value
    /// (or unknown name) leaves every variable as it was.
    pub fn update_many(
        &self,
        updates: Vec<(String, Value)>,
        metadata: Option<&Metadata>,
        source: UpdateSource,
    ) -> Result<()> {
        let checked = self.check_unlocked(updates)?;
        let mut state = self.state.write();
        let mut found = Vec::with_capacity(checked.len());
        for (id, value) in checked {
            let i = state.find(&id)?;
            if let Some(md) = metadata {
                check_merged_metadata(&state.entries[i].var, md)?;
            }
            found.push((i, value));
        }
        for (i, value) in found {
            self.apply(&mut state.entries[i], value, metadata, source);
        }
        Ok(())
    }

    /// Coerces and checks values without holding the table's lock, so that checking a
    /// long string against a pattern never stalls the table's readers and writers. Returns
    /// each value with the id of the variable it was checked for: a definition never
    /// changes, so the value stays valid for it.
    fn check_unlocked(&self, updates: Vec<(String, Value)>) -> Result<Vec<(VarId, Value)>> {
        let schemas = {
            let state = self.state.read();
            updates
                .iter()
                .map(|(key, _)| {
                    let entry = &state.entries[state.find(key)?];
                    Ok((
                        entry.var.id.clone(),
                        entry.var.name.clone(),
                        entry.schema.clone(),
                    ))
                })
                .collect::<Result<Vec<_>>>()?
        };
        schemas
            .into_iter()
            .zip(updates)
            .map(|((id, name, schema), (_, value))| {
                let value = schema
                    .check(value)
                    .map_err(|v| Error::from_violation(&name, v))?;
                Ok((id, value))
            })
            .collect()
    }

    /// Every variable, in registration order.
    pub fn list(&self) -> Vec<Variable> {
        self.state
            .read()
            .entries
            .iter()
            .map(|e| e.var.clone())
            .collect()
    }

    /// Whether a name or id is defined.
    pub fn exists(&self, key: &str) -> bool {
        self.state.read().index.contains_key(key)
    }

    /// Number of variables.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.state.read().entries.len()
    }

    /// Adds whole variables from Rust (ids, versions, metadata and timestamps kept), all or
    /// nothing: every definition and value is validated, and a name or id already taken is
    /// refused.
    pub fn import(&self, vars: Vec<Variable>) -> Result<()> {
        let entries = vars
            .into_iter()
            .map(|var| {
                let (var, schema) = checked_import(var)?;
                Ok(Entry {
                    var,
                    schema: Arc::new(schema),
                    source: UpdateSource::Rust,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.insert_all(entries)
    }

    /// Adds entries under one lock, all or nothing: no name or id may be taken, in the
    /// table or twice in the batch.
    fn insert_all(&self, entries: Vec<Entry>) -> Result<()> {
        let mut state = self.state.write();
        let mut seen = FastMap::default();
        for e in &entries {
            for key in [&e.var.name, &e.var.id] {
                if state.index.contains_key(key.as_str()) || seen.insert(key.as_str(), ()).is_some()
                {
                    return Err(Error::AlreadyExists { name: key.clone() });
                }
            }
        }
        for entry in entries {
            insert(&mut state, entry);
        }
        Ok(())
    }

    /// Watches variables by name or id (none: every variable, including later ones). The
    /// subscription and the initial values are taken under one lock: nothing falls between.
    pub(crate) fn watch(
        &self,
        keys: &[&str],
        include_initial: bool,
        snapshot: Snapshot,
        timed: bool,
    ) -> Result<Watcher> {
        let state = self.state.read();
        let names = watched_names(keys, |k| {
            state.find(k).map(|i| state.entries[i].var.name.clone())
        })?;
        let current = snapshot_of(&state, names.as_ref());
        let subscription = self.hub.subscribe(names, timed);
        drop(state);
        Ok(Watcher::new(
            subscription,
            snapshot,
            current,
            include_initial,
        ))
    }

    /// The variables among `names` (all when `None`), for resynchronising a watcher.
    pub(crate) fn snapshot(
        &self,
        names: Option<&std::collections::HashSet<String>>,
    ) -> Vec<Current> {
        snapshot_of(&self.state.read(), names)
    }

    /// Merges `metadata` into every variable, in one step (the backend switch marks the
    /// variables it publishes this way). Neither versions nor watchers are involved: it is
    /// not a write.
    #[cfg(feature = "python")]
    pub fn add_metadata(&self, metadata: &Metadata) {
        let mut state = self.state.write();
        for entry in &mut state.entries {
            entry
                .var
                .metadata
                .extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    fn apply(
        &self,
        entry: &mut Entry,
        value: Value,
        metadata: Option<&Metadata>,
        source: UpdateSource,
    ) -> u64 {
        entry.source = source;
        let var = &mut entry.var;
        let old = std::mem::replace(&mut var.value, value);
        var.version += 1;
        var.updated_at_ms = now_ms();
        if let Some(md) = metadata {
            var.metadata
                .extend(md.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        self.hub.publish(var, old, source);
        var.version
    }
}

/// A checked, new variable (name, definition, initial value), not yet in any table.
fn new_entry(def: VariableDef, source: UpdateSource) -> Result<Entry> {
    let (var, schema) = checked_new(def)?;
    Ok(Entry {
        var,
        schema: Arc::new(schema),
        source,
    })
}

/// Whether checking a value may cost enough to be done outside the lock: a string longer
/// than a few KiB (checking it against a pattern takes up to milliseconds).
fn is_costly(value: &Value) -> bool {
    const COSTLY_STRING_BYTES: usize = 4096;
    matches!(value, Value::String(s) if s.len() > COSTLY_STRING_BYTES)
}

fn snapshot_of(
    state: &TableState,
    names: Option<&std::collections::HashSet<String>>,
) -> Vec<Current> {
    state
        .entries
        .iter()
        .filter(|e| names.is_none_or(|n| n.contains(&e.var.name)))
        .map(|e| current(&e.var, e.source))
        .collect()
}

fn insert(state: &mut TableState, entry: Entry) {
    let i = state.entries.len();
    state.index.insert(entry.var.name.clone(), i);
    state.index.insert(entry.var.id.clone(), i);
    state.entries.push(entry);
}
