//! `Context`: the handle user code holds. Cheap to clone; clones share one state.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use dspex_core::{
    Error, FromValue, Metadata, Result, Value, VarId, VarOptions, VarType, Variable, VariableDef,
};
use parking_lot::RwLock;

#[cfg(feature = "python")]
use crate::bridge::BridgeEndpoint;
use crate::state::{BackendInfo, LocalState, StateProvider, WriteOptions};
#[cfg(feature = "python")]
use crate::store::SessionStore;
use crate::watch::{UpdateSource, WatchHub, Watcher};

/// A set of typed, constrained variables, and the handle Python modules are created on.
///
/// A new Context is Local: reads and writes stay in-process. The first Python module
/// created on it upgrades it, once, to the Bridged backend; the same code keeps working.
///
/// ```
/// use dspex::{Constraints, Context, VarOptions, VarType};
///
/// let ctx = Context::new();
/// ctx.defvariable(
///     "temperature",
///     VarType::Float,
///     0.7,
///     VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0)),
/// )?;
/// assert_eq!(ctx.get::<f64>("temperature")?, 0.7);
/// assert_eq!(ctx.set("temperature", 1)?, 1); // integers widen to floats; version 1
/// assert_eq!(ctx.get::<f64>("temperature")?, 1.0);
/// assert!(ctx.set("temperature", 2.5).is_err()); // above max: nothing changes
/// # Ok::<(), dspex::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

pub(crate) struct ContextInner {
    pub(crate) id: String,
    /// The current backend. Every operation holds a read guard for its duration; the switch
    /// takes the write guard, so no operation runs half on one backend and half on another.
    pub(crate) backend: RwLock<Arc<dyn StateProvider>>,
    pub(crate) switches: AtomicU32,
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        // No clone is left to write these variables: end the watchers waiting on them.
        self.backend.get_mut().close();
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.inner.id)
            .field("backend", &self.backend())
            .finish()
    }
}

impl Context {
    /// A new, empty Context on the Local backend, with an id unique in the process.
    pub fn new() -> Context {
        Context::with_backend_state(Arc::new(LocalState::with_hub(WatchHub::default())))
    }

    /// A Context on `backend`, with an id unique in the process.
    pub(crate) fn with_backend_state(backend: Arc<dyn StateProvider>) -> Context {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = format!(
            "ctx-{:08x}-{}",
            crate::ids::process_nonce() as u32,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Context {
            inner: Arc::new(ContextInner {
                id,
                backend: RwLock::new(backend),
                switches: AtomicU32::new(0),
            }),
        }
    }

    /// The Context's id. Once bridged, it is also the session id Python addresses.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Which backend is in use, and how many switches were made.
    pub fn backend(&self) -> BackendInfo {
        let backend = self.inner.backend.read_recursive();
        BackendInfo {
            kind: backend.kind(),
            requires_bridge: backend.requires_bridge(),
            switches: self.inner.switches.load(Ordering::Acquire),
        }
    }

    /// Runs `f` on the current backend. The read guard is held for the whole operation.
    #[inline]
    fn with_backend<R>(&self, f: impl FnOnce(&dyn StateProvider) -> R) -> R {
        let backend = self.inner.backend.read_recursive();
        f(&**backend)
    }

    /// Defines a variable. The initial value is coerced to the type and checked against the
    /// constraints; the definition itself is checked too (min ≤ max, keys that apply to the
    /// type, non-empty choices, a pattern that compiles). Returns the variable's id.
    ///
    /// ```
    /// use dspex::{Constraints, Context, Error, VarOptions, VarType};
    /// let ctx = Context::new();
    /// let opts = VarOptions::new().constraints(Constraints::new().choices(["gpt-4", "claude-3"]));
    /// let id = ctx.defvariable("model", VarType::Choice, "gpt-4", opts)?;
    /// assert_eq!(ctx.get::<String>(&id)?, "gpt-4");
    /// let err = ctx.defvariable("model", VarType::Float, 0.1, VarOptions::new()).unwrap_err();
    /// assert!(matches!(err, Error::AlreadyExists { .. }));
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn defvariable(
        &self,
        name: &str,
        var_type: VarType,
        initial: impl Into<Value>,
        opts: VarOptions,
    ) -> Result<VarId> {
        let initial = initial.into();
        self.with_backend(|b| b.register(name, var_type, initial, opts, UpdateSource::Rust))
    }

    /// Defines several variables, all or nothing: if one definition (or name) is refused,
    /// none is added. Returns the ids, in order.
    ///
    /// ```
    /// use dspex::{Context, Error, VarOptions, VarType, VariableDef};
    /// let ctx = Context::new();
    /// let err = ctx.defvariables([
    ///     VariableDef::new("a", VarType::Integer, 1, VarOptions::new()),
    ///     VariableDef::new("b", VarType::Integer, "not a number", VarOptions::new()),
    /// ]).unwrap_err();
    /// assert!(matches!(err, Error::TypeMismatch { .. }));
    /// assert!(!ctx.exists("a")); // nothing was added
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn defvariables(&self, defs: impl IntoIterator<Item = VariableDef>) -> Result<Vec<VarId>> {
        let defs: Vec<VariableDef> = defs.into_iter().collect();
        self.with_backend(|b| b.register_many(defs, UpdateSource::Rust))
    }

    /// Reads a variable as `T` (`f64`, `i64`, `String`, `bool` or [`Value`]). Strict: `f64`
    /// reads only a float variable, `String` a string, choice or module variable, and so
    /// on; anything else is `TypeMismatch`.
    #[inline]
    pub fn get<T: FromValue>(&self, name_or_id: &str) -> Result<T> {
        let value = self.with_backend(|b| b.get(name_or_id))?;
        typed(name_or_id, value)
    }

    /// Reads a variable as `T`, like [`Context::get`], from where the variables live: on a
    /// Redis Context it reads through the read cache (one round trip) and so sees every
    /// write acknowledged to any process before it; elsewhere it is `get`.
    ///
    /// ```
    /// use dspex::{Context, VarOptions, VarType};
    /// let ctx = Context::new();
    /// ctx.defvariable("temperature", VarType::Float, 0.7, VarOptions::new())?;
    /// assert_eq!(ctx.get_fresh::<f64>("temperature")?, 0.7);
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn get_fresh<T: FromValue>(&self, name_or_id: &str) -> Result<T> {
        let value = self.with_backend(|b| b.get_fresh(name_or_id))?;
        typed(name_or_id, value)
    }

    /// Reads a variable's value, whatever its type.
    pub fn value(&self, name_or_id: &str) -> Result<Value> {
        self.with_backend(|b| b.get(name_or_id))
    }

    /// Writes a variable; returns the new version. A refused value changes nothing.
    pub fn set(&self, name_or_id: &str, value: impl Into<Value>) -> Result<u64> {
        let value = value.into();
        self.with_backend(|b| b.set(name_or_id, value, WriteOptions::default()))
    }

    /// Writes a variable and merges the given keys into its metadata, in one atomic step.
    pub fn set_with_metadata(
        &self,
        name_or_id: &str,
        value: impl Into<Value>,
        metadata: Metadata,
    ) -> Result<u64> {
        let value = value.into();
        let opts = WriteOptions {
            metadata: Some(metadata),
            ..WriteOptions::default()
        };
        self.with_backend(|b| b.set(name_or_id, value, opts))
    }

    /// Writes a variable only if it is still at `expected_version`; otherwise
    /// `VersionConflict` and nothing changes.
    ///
    /// ```
    /// use dspex::{Context, Error, VarOptions, VarType};
    /// let ctx = Context::new();
    /// ctx.defvariable("n", VarType::Integer, 0, VarOptions::new())?;
    /// assert_eq!(ctx.set_if_version("n", 1, 0)?, 1);
    /// assert!(matches!(ctx.set_if_version("n", 2, 0), Err(Error::VersionConflict { .. })));
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn set_if_version(
        &self,
        name_or_id: &str,
        value: impl Into<Value>,
        expected_version: u64,
    ) -> Result<u64> {
        let value = value.into();
        let opts = WriteOptions {
            expected_version: Some(expected_version),
            ..WriteOptions::default()
        };
        self.with_backend(|b| b.set(name_or_id, value, opts))
    }

    /// Atomic read-modify-write: no other write can land between the read and the write,
    /// so concurrent updates are never lost. Returns the new version. `f` must not use this
    /// Context: in-process it runs under the variable's lock. On a Redis Context the write
    /// is conditional on the version `f` read, and `f` runs again on the newer value when
    /// another process wrote first, so `f` should compute from its argument alone.
    ///
    /// ```
    /// use dspex::{Context, VarOptions, VarType};
    /// let ctx = Context::new();
    /// ctx.defvariable("count", VarType::Integer, 0, VarOptions::new())?;
    /// ctx.update("count", |n: i64| n + 1)?;
    /// assert_eq!(ctx.get::<i64>("count")?, 1);
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn update<T: FromValue + Into<Value>>(
        &self,
        name_or_id: &str,
        mut f: impl FnMut(T) -> T,
    ) -> Result<u64> {
        let mut apply = |current: &Value| -> Result<Value> {
            let current = typed::<T>(name_or_id, current.clone())?;
            Ok(f(current).into())
        };
        self.with_backend(|b| b.update(name_or_id, &mut apply, UpdateSource::Rust))
    }

    /// The values of several variables, keyed by the names (or ids) asked for; unknown
    /// names are omitted. One consistent snapshot.
    ///
    /// ```
    /// use dspex::{Context, VarOptions, VarType};
    /// let ctx = Context::new();
    /// ctx.defvariable("a", VarType::Integer, 1, VarOptions::new())?;
    /// let values = ctx.get_many(&["a", "unknown"])?;
    /// assert_eq!(values.len(), 1);
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn get_many(&self, names: &[&str]) -> Result<HashMap<String, Value>> {
        self.with_backend(|b| b.get_many(names))
    }

    /// Writes several variables, all or nothing: one bad value or unknown name and no
    /// variable changes (the error names the offending variable).
    ///
    /// ```
    /// use dspex::{Constraints, Context, VarOptions, VarType};
    /// let ctx = Context::new();
    /// ctx.defvariable("a", VarType::Integer, 1, VarOptions::new())?;
    /// ctx.defvariable("b", VarType::Integer, 1,
    ///     VarOptions::new().constraints(Constraints::new().max(10)))?;
    /// assert!(ctx.update_many([("a", 2), ("b", 99)]).is_err());
    /// assert_eq!(ctx.get::<i64>("a")?, 1); // untouched
    /// ctx.update_many([("a", 2), ("b", 3)])?;
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn update_many<K: AsRef<str>, V: Into<Value>>(
        &self,
        updates: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let updates: Vec<(String, Value)> = updates
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .collect();
        self.with_backend(|b| b.update_many(updates, None, UpdateSource::Rust))
    }

    /// Like [`Context::update_many`], merging `metadata` into every written variable.
    pub fn update_many_with_metadata<K: AsRef<str>, V: Into<Value>>(
        &self,
        updates: impl IntoIterator<Item = (K, V)>,
        metadata: &Metadata,
    ) -> Result<()> {
        let updates: Vec<(String, Value)> = updates
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .collect();
        self.with_backend(|b| b.update_many(updates, Some(metadata), UpdateSource::Rust))
    }

    /// Every variable, in registration order.
    pub fn list(&self) -> Vec<Variable> {
        self.with_backend(|b| b.list())
    }

    /// A snapshot of one variable (value, type, constraints, metadata, version, ...).
    pub fn variable(&self, name_or_id: &str) -> Result<Variable> {
        self.with_backend(|b| b.variable(name_or_id))
    }

    /// Whether a variable with this name or id exists.
    pub fn exists(&self, name_or_id: &str) -> bool {
        self.with_backend(|b| b.exists(name_or_id))
    }

    /// Watches variables (by name or id; an empty list watches every variable, including
    /// ones defined later): the [`Watcher`] yields one event per successful write, from Rust
    /// or Python, in version order, optionally starting with the current values. It keeps
    /// working across the Local → Bridged switch: nothing lost, nothing twice. The
    /// context's watchers share one log of its last [`WATCH_BUFFER`](crate::WATCH_BUFFER)
    /// writes; a watcher that falls further behind, losing updates of its variables, gets
    /// `Lagged { missed }` and then their current values. Writers never wait for it.
    ///
    /// The watcher does not keep the Context alive: once every clone is dropped, it yields
    /// what it had received and ends.
    pub fn watch(&self, names: &[&str], include_initial: bool) -> Result<Watcher> {
        let ctx = Arc::downgrade(&self.inner);
        let snapshot = Box::new(move |names: Option<&std::collections::HashSet<String>>| {
            let Some(inner) = ctx.upgrade() else {
                return Vec::new();
            };
            inner.backend.read_recursive().snapshot(names)
        });
        self.with_backend(|b| b.watch(names, include_initial, snapshot, false))
    }

    /// How many watchers are watching this Context (from Rust and, once bridged, Python).
    pub fn watcher_count(&self) -> usize {
        self.with_backend(|b| b.watcher_count())
    }

    /// Adds whole variables (ids, versions, metadata kept), all or nothing. With
    /// [`Context::list`], this moves variables between contexts.
    pub fn import(&self, vars: Vec<Variable>) -> Result<()> {
        self.with_backend(|b| b.import(vars))
    }

    /// Upgrades this Context to the Bridged backend, once: starts the process's bridge if
    /// none runs, creates this Context's session and imports every variable into it
    /// (value, type, constraints, description, metadata plus `migrated_from = "local"`,
    /// version, id) *before* the local state is released. If any step fails, the Context
    /// stays Local with all its variables and the error is returned. Calling it again is a
    /// no-op. Operations on other clones wait for the switch and are applied exactly once.
    ///
    /// On a Redis Context the variables stay in Redis: the bridge serves them from there
    /// (the kind stays `Redis`, `requires_bridge` becomes true).
    ///
    /// Call it from any tokio runtime: the bridge runs on the library's own runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use dspex::{BackendKind, Context, VarOptions, VarType};
    /// let ctx = Context::new();
    /// ctx.defvariable("temperature", VarType::Float, 0.7, VarOptions::new())?;
    /// ctx.ensure_bridged().await?;
    /// assert_eq!(ctx.backend().kind, BackendKind::Bridged);
    /// assert_eq!(ctx.get::<f64>("temperature")?, 0.7);
    /// assert_eq!(ctx.variable("temperature")?.metadata["migrated_from"], "local");
    /// let endpoint = ctx.bridge().expect("bridged");
    /// assert!(endpoint.address.starts_with("127.0.0.1:"));
    /// # Ok::<(), dspex::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "python")]
    pub async fn ensure_bridged(&self) -> Result<()> {
        if self.backend().requires_bridge {
            return Ok(());
        }
        crate::bridge::ensure_started()?;
        self.switch_to(SessionStore::global())
    }

    /// Steps 2 and 3 of the switch, with every operation on this Context held off: the
    /// backend publishes itself as this Context's session (a Local one becomes Bridged, a
    /// Redis one stays Redis), and the Context uses what it returns.
    #[cfg(feature = "python")]
    fn switch_to(&self, store: &SessionStore) -> Result<()> {
        let mut backend = self.inner.backend.write();
        if backend.requires_bridge() {
            return Ok(());
        }
        let before = backend.kind();
        let next = backend.clone().serve(store, &self.inner.id)?;
        if next.kind() != before {
            self.inner.switches.fetch_add(1, Ordering::AcqRel);
        }
        *backend = next;
        tracing::debug!(context = %self.inner.id, "context served by the bridge");
        Ok(())
    }

    /// The bridge this Context is served by, once bridged.
    #[cfg(feature = "python")]
    pub fn bridge(&self) -> Option<BridgeEndpoint> {
        if self.backend().requires_bridge {
            crate::bridge::bridge_endpoint()
        } else {
            None
        }
    }

    /// The variables as JSON (values, types, constraints, descriptions, metadata,
    /// versions), to restore later with [`Context::from_json`].
    ///
    /// ```
    /// use dspex::{Context, VarOptions, VarType};
    /// let ctx = Context::new();
    /// ctx.defvariable("temperature", VarType::Float, 0.7, VarOptions::new())?;
    /// ctx.set("temperature", 0.9)?;
    /// let saved = ctx.to_json()?;
    /// let restored = Context::from_json(&saved)?;
    /// assert_eq!(restored.get::<f64>("temperature")?, 0.9);
    /// assert_eq!(restored.variable("temperature")?.version, 1);
    /// # Ok::<(), dspex::Error>(())
    /// ```
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.list()).map_err(|e| Error::Serialization {
            message: format!("could not write the variables as JSON: {e}"),
        })
    }

    /// A new Local Context holding the variables saved by [`Context::to_json`]. Every
    /// definition and value is validated again.
    pub fn from_json(json: &str) -> Result<Context> {
        let vars: Vec<Variable> = serde_json::from_str(json).map_err(|e| Error::Serialization {
            message: format!("not a saved dspex context (a JSON list of variables): {e}"),
        })?;
        let ctx = Context::new();
        ctx.import(vars)?;
        Ok(ctx)
    }
}

/// Converts a read value to `T`, or explains the mismatch.
fn typed<T: FromValue>(name: &str, value: Value) -> Result<T> {
    T::from_value(value).map_err(|value| Error::TypeMismatch {
        name: name.to_owned(),
        expected: T::expected().to_owned(),
        found: value.describe(),
    })
}
