//! The Redis backend: a Context whose variables live in a Redis namespace, shared by every
//! process connected to the same namespace ([`Context::connect`](crate::Context)).
//!
//! **Layout.** Under `dspex:{<namespace>}:` a namespace has one hash per variable
//! (`v:<name>`: definition, value, version, metadata, timestamps), the definition order
//! (`names`, a list), the id index (`ids`), a format marker (`meta`) and its event stream
//! (`events`).
//!
//! **Writes.** Values are coerced and checked in this process, by the same
//! [`Schema`](dspex_core::Schema) as every other backend, before anything is sent. Each
//! write is then one Lua script (`scripts.rs`): atomic, one version increment, conditional
//! writes checked on the server — so two processes can never both win a `set_if_version`.
//! `update` is optimistic: it computes from the version it read and writes only if the
//! variable is still at that version, computing again from the newer value otherwise.
//! Definitions are stored with the variables: a process declaring a variable that another
//! defined gets the stored one if the type and constraints match, and
//! `Error::DefinitionConflict` if not.
//!
//! **Watching: Redis Streams**, not keyspace notifications or pub/sub. Every write
//! appends its event to the namespace's stream inside the same script, so the stream is
//! the exact, gap-free order of all writes from all processes; a reader that lost its
//! connection resumes from the last entry it read and misses nothing (pub/sub would drop
//! everything published while it was away, and keyspace notifications carry no values and
//! are off by default). The stream is capped (about 10,000 events); a reader that falls
//! further behind sees the versions skip, reloads the variables and reports `Lagged` to
//! its watchers, then the current values — the rule of in-process watchers.
//!
//! **Reads.** With the cache on (the default), reads come from this process's copy of the
//! namespace, kept current by the stream and by this process's own writes; it only moves
//! forward. `get_fresh` (and every read with the cache off) goes to Redis.
//!
//! **Faults.** Round trips fail with `Error::BackendUnavailable` when Redis cannot be
//! reached; connecting again is paced with backoff (`pool.rs`), and the stream follower
//! reconnects by itself and resynchronises (`listener.rs`).

mod codec;
mod keys;
mod listener;
mod mirror;
mod pool;
mod scripts;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dspex_core::{
    Error, Metadata, Result, Value, VarId, VarOptions, VarType, Variable, VariableDef,
};
use parking_lot::Mutex;

use self::codec::{
    Record, array, decode_metadata, decode_value, definition_args, encode_metadata, encode_source,
    encode_value, int, pairs, parse_record, text,
};
use self::keys::{Keys, check_namespace};
use self::mirror::{Definition, Mirror, WriteInfo};
use self::pool::Pool;
use self::scripts::{DEFINE_SCRIPT, READ_SCRIPT, SET_SCRIPT, UPDATE_MANY_SCRIPT};
use super::definition::{check_value, checked_import, checked_new, new_var_id, now_ms};
use super::{BackendKind, StateProvider, WriteOptions};
use crate::watch::{Current, Snapshot, UpdateSource, Watcher};

/// The stream keeps about this many events (`XADD MAXLEN ~`).
const STREAM_MAXLEN: u64 = 10_000;
/// How many times `update` computes again after losing the race to other writers.
const UPDATE_ATTEMPTS: usize = 10_000;

/// Asks the stream follower to stop; it checks between reads and wakes on `stop`.
#[derive(Default)]
pub(crate) struct Stop {
    stopped: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    async fn wait(&self) {
        while !self.stopped.load(Ordering::Acquire) {
            self.notify.notified().await;
        }
    }
}

/// What the Context's calls and its stream follower share.
pub(crate) struct Shared {
    namespace: String,
    keys: Keys,
    pool: Pool,
    mirror: Mirror,
    stop: Stop,
}

/// A Context's variables in a Redis namespace.
pub(crate) struct RedisState {
    shared: Arc<Shared>,
    cache: bool,
    /// The names this Context defined or adopted: defining one again is `AlreadyExists`.
    declared: Mutex<HashSet<String>>,
    /// The bridge session serving these variables to Python, once there is one.
    #[cfg(feature = "python")]
    served: Mutex<Option<Arc<crate::store::Session>>>,
}

/// The text of a URL with its password hidden, for messages about a URL that did not
/// parse (one that parsed is shown from its parts).
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl RedisState {
    /// Connects to `url`, checks and loads `namespace`, and starts following its events.
    pub(crate) async fn connect(url: &str, namespace: &str, cache: bool) -> Result<RedisState> {
        check_namespace(namespace)?;
        let info = redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(|e| Error::InvalidArgument {
                message: format!(
                    "{:?} is not a Redis URL ({e}); expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
                    redact_url(url)
                ),
            })?;
        // Each round trip is one small request and one small reply: send at once.
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let client = redis::Client::open(info.set_tcp_settings(tcp)).map_err(|e| {
            Error::InvalidArgument {
                message: format!("{:?} is not a usable Redis URL ({e})", redact_url(url)),
            }
        })?;
        let shared = Arc::new(Shared {
            namespace: namespace.to_owned(),
            keys: Keys::new(namespace),
            pool: Pool::new(client, namespace),
            mirror: Mirror::default(),
            stop: Stop::default(),
        });
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        crate::runtime::handle()?.spawn(listener::run(shared.clone(), ready_tx));
        ready.await.map_err(|_| Error::BackendUnavailable {
            backend: "redis",
            reason: "the event stream follower stopped before it was ready".to_owned(),
        })??;
        Ok(RedisState {
            shared,
            cache,
            declared: Mutex::new(HashSet::new()),
            #[cfg(feature = "python")]
            served: Mutex::new(None),
        })
    }

    fn keys(&self) -> &Keys {
        &self.shared.keys
    }

    fn mirror(&self) -> &Mirror {
        &self.shared.mirror
    }

    /// The key under which a write's reply is kept for a retry: unique to this write
    /// among every process and Context (process nonce, process-wide counter).
    fn token(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        format!(
            "{}{:016x}-{}",
            self.keys().done_prefix,
            crate::ids::process_nonce(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Whole variables read from Redis by name or id (`None` for unknown ones), cached.
    fn read_records(&self, keys: &[&str]) -> Result<Vec<Option<Variable>>> {
        let k = self.keys();
        let reply: redis::Value = self.shared.pool.run(|con| {
            let mut script = READ_SCRIPT.key(&k.ids);
            script.arg(&k.var_prefix);
            for key in keys {
                script.arg(*key);
            }
            script.invoke(con)
        })?;
        let items = array(&reply).unwrap_or_default();
        keys.iter()
            .enumerate()
            .map(|(i, key)| {
                let fields = items.get(i).and_then(pairs).unwrap_or_default();
                if fields.is_empty() {
                    return Ok(None);
                }
                let name = fields.get("name").cloned().unwrap_or_default();
                let known = self.mirror().schema_of(&name);
                let (record, schema) =
                    parse_record(&fields, known.as_ref().map(|(id, s)| (id.as_str(), s))).map_err(
                        |p| {
                            codec::shape_error(
                                &self.shared.namespace,
                                format!("key `{}` (read as `{key}`): {p}", k.var(&name)),
                            )
                        },
                    )?;
                let var = record.var.clone();
                self.mirror().insert(record, schema);
                Ok(Some(var))
            })
            .collect()
    }

    fn fresh_variable(&self, key: &str) -> Result<Variable> {
        self.read_records(&[key])?
            .pop()
            .flatten()
            .ok_or_else(|| Error::variable_not_found(key))
    }

    /// The definition a write is checked against: cached, or read (and cached).
    fn definition(&self, key: &str) -> Result<Definition> {
        if let Some(def) = self.mirror().definition(key) {
            return Ok(def);
        }
        self.fresh_variable(key)?;
        self.mirror()
            .definition(key)
            .ok_or_else(|| Error::variable_not_found(key))
    }

    /// One round trip for the value (and what a cache needs to move forward with it).
    fn fresh_value(&self, key: &str) -> Result<Value> {
        if key.contains('-') {
            return Ok(self.fresh_variable(key)?.value);
        }
        let vk = self.keys().var(key);
        let fields: Vec<Option<String>> = self.shared.pool.run(|con| {
            redis::cmd("HMGET")
                .arg(&vk)
                .arg(&["value", "version", "md", "updated", "src"])
                .query(con)
        })?;
        let [
            Some(value),
            Some(version),
            Some(md),
            Some(updated),
            Some(src),
        ] = &fields[..]
        else {
            if fields.first().is_some_and(Option::is_none) {
                return Err(Error::variable_not_found(key));
            }
            return Ok(self.fresh_variable(key)?.value);
        };
        let parsed = (
            decode_value(value),
            version.parse::<u64>().ok(),
            decode_metadata(md),
            updated.parse::<u64>().ok(),
        );
        let (Some(value), Some(version), Some(metadata), Some(updated_at_ms)) = parsed else {
            return Err(codec::shape_error(
                &self.shared.namespace,
                format!("key `{vk}` does not hold a dspex variable"),
            ));
        };
        if self.mirror().contains(key) {
            let source = if src == "python" {
                UpdateSource::Python
            } else {
                UpdateSource::Rust
            };
            let write = WriteInfo {
                metadata,
                updated_at_ms,
                source,
            };
            self.mirror().observe(key, version, value.clone(), write);
        } else {
            self.fresh_variable(key)?;
        }
        Ok(value)
    }

    /// One attempt of a conditional or plain write of a checked value.
    fn write_once(
        &self,
        def: &Definition,
        value: &Value,
        expected: Option<u64>,
        metadata: Option<&Metadata>,
        source: UpdateSource,
    ) -> Result<SetReply> {
        let k = self.keys();
        let token = self.token();
        let tag = encode_value(value);
        let md = metadata.map(encode_metadata).unwrap_or_default();
        let now = now_ms();
        let reply: redis::Value = self.shared.pool.run(|con| {
            SET_SCRIPT
                .key(&k.ids)
                .key(&k.events)
                .arg(&k.var_prefix)
                .arg(STREAM_MAXLEN)
                .arg(&token)
                .arg(&def.name)
                .arg(&def.id)
                .arg(&tag)
                .arg(expected.map(|v| v.to_string()).unwrap_or_default())
                .arg(&md)
                .arg(encode_source(source))
                .arg(now)
                .invoke(con)
        })?;
        let items = array(&reply).unwrap_or_default();
        let status = items.first().and_then(text).unwrap_or_default();
        let number = |i: usize| items.get(i).and_then(int).map(|v| v as u64);
        Ok(match status.as_str() {
            "OK" => {
                let version = number(1).unwrap_or_default();
                let metadata = items
                    .get(2)
                    .and_then(text)
                    .and_then(|m| decode_metadata(&m))
                    .unwrap_or_default();
                let write = WriteInfo {
                    metadata,
                    updated_at_ms: now,
                    source,
                };
                self.mirror()
                    .observe(&def.name, version, value.clone(), write);
                SetReply::Written(version)
            }
            "NOT_FOUND" => SetReply::NotFound,
            "STALE" => SetReply::Stale,
            "CONFLICT" => SetReply::Conflict {
                actual: number(1).unwrap_or_default(),
                value: items.get(2).and_then(text).and_then(|v| decode_value(&v)),
            },
            other => return Err(unexpected("a write", other)),
        })
    }

    /// The definition again after `STALE`: the cached one belonged to an earlier variable
    /// of the same name.
    fn refreshed(&self, def: &Definition, key: &str) -> Result<Definition> {
        self.mirror().forget(&def.name);
        self.definition(key)
    }

    /// Defines (or imports) checked variables, adopting those another Context defined
    /// identically when `adopt` is set.
    fn define(
        &self,
        mut vars: Vec<(Variable, Arc<dspex_core::Schema>)>,
        source: UpdateSource,
        adopt: bool,
    ) -> Result<Vec<VarId>> {
        {
            let declared = self.declared.lock();
            let mut seen = HashSet::new();
            for (var, _) in &vars {
                for key in [&var.name, &var.id] {
                    if declared.contains(key.as_str()) || !seen.insert(key.as_str()) {
                        return Err(Error::AlreadyExists { name: key.clone() });
                    }
                }
            }
        }
        let mut ids: Vec<Option<VarId>> = vec![None; vars.len()];
        // Each round either writes, or settles at least one name: a bounded loop.
        for _ in 0..=vars.len() + 8 {
            let pending: Vec<usize> = (0..vars.len()).filter(|i| ids[*i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            let reply = self.run_define(&vars, &pending, source)?;
            let items = array(&reply).unwrap_or_default();
            match items.first().and_then(text).unwrap_or_default().as_str() {
                "OK" => {
                    let seqs = items.get(1).and_then(array).unwrap_or_default();
                    for (j, i) in pending.iter().enumerate() {
                        let (var, schema) = &vars[*i];
                        let seq = seqs.get(j).and_then(int).unwrap_or_default() as u64;
                        let record = Record {
                            var: var.clone(),
                            source,
                            seq,
                        };
                        self.mirror().insert(record, schema.clone());
                        ids[*i] = Some(var.id.clone());
                    }
                }
                "ID_TAKEN" => {
                    let j = items.get(1).and_then(int).unwrap_or_default() as usize;
                    let i = pending.get(j).copied().unwrap_or_default();
                    if !adopt {
                        return Err(Error::AlreadyExists {
                            name: vars[i].0.id.clone(),
                        });
                    }
                    vars[i].0.id = new_var_id();
                }
                "EXISTS" => {
                    let existing = items.get(1).and_then(array).unwrap_or_default();
                    for entry in existing {
                        let entry = array(entry).unwrap_or_default();
                        let j = entry.first().and_then(int).unwrap_or_default() as usize;
                        let i = pending.get(j).copied().unwrap_or_default();
                        let (var, schema) = &vars[i];
                        if !adopt {
                            return Err(Error::AlreadyExists {
                                name: var.name.clone(),
                            });
                        }
                        let stored = |n: usize| entry.get(n).and_then(text).unwrap_or_default();
                        check_same_definition(var, schema, &stored(2), &stored(3))?;
                        ids[i] = Some(stored(1));
                    }
                    let adopted: Vec<&str> = existing
                        .iter()
                        .filter_map(|e| array(e)?.first().and_then(int))
                        .filter_map(|j| pending.get(j as usize))
                        .map(|i| vars[*i].0.name.as_str())
                        .collect();
                    self.read_records(&adopted)?;
                }
                other => return Err(unexpected("a definition", other)),
            }
        }
        let ids = ids.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
            Error::BackendUnavailable {
                backend: "redis",
                reason: "the definitions kept changing while they were written".to_owned(),
            }
        })?;
        self.declared
            .lock()
            .extend(vars.iter().map(|(v, _)| v.name.clone()));
        Ok(ids)
    }

    fn run_define(
        &self,
        vars: &[(Variable, Arc<dspex_core::Schema>)],
        pending: &[usize],
        source: UpdateSource,
    ) -> Result<redis::Value> {
        let k = self.keys();
        let token = self.token();
        let args: Vec<[String; 12]> = pending
            .iter()
            .map(|i| definition_args(&vars[*i].0, source))
            .collect();
        self.shared.pool.run(|con| {
            let mut script = DEFINE_SCRIPT.key(&k.ids);
            script
                .key(&k.events)
                .key(&k.names)
                .arg(&k.var_prefix)
                .arg(STREAM_MAXLEN)
                .arg(&token)
                .arg(args.len());
            for fields in &args {
                for field in fields {
                    script.arg(field);
                }
            }
            script.invoke(con)
        })
    }
}

/// What one write attempt came to.
enum SetReply {
    Written(u64),
    NotFound,
    Stale,
    Conflict { actual: u64, value: Option<Value> },
}

fn unexpected(what: &str, reply: &str) -> Error {
    Error::BackendUnavailable {
        backend: "redis",
        reason: format!("unexpected reply {reply:?} from Redis to {what}"),
    }
}

/// `DefinitionConflict` unless the stored type and constraints are the declared ones.
fn check_same_definition(
    declared: &Variable,
    schema: &dspex_core::Schema,
    stored_type: &str,
    stored_constraints: &str,
) -> Result<()> {
    let declared_constraints = codec::encode_constraints(schema.constraints());
    let same_type = stored_type == declared.var_type.as_str();
    let same_constraints = serde_json::from_str::<serde_json::Value>(stored_constraints).ok()
        == serde_json::from_str::<serde_json::Value>(&declared_constraints).ok();
    if same_type && same_constraints {
        return Ok(());
    }
    let describe = |t: &str, c: &str| {
        if c == "{}" {
            format!("{t} without constraints")
        } else {
            format!("{t} with constraints {c}")
        }
    };
    Err(Error::DefinitionConflict {
        name: declared.name.clone(),
        difference: format!(
            "stored as {}, declared here as {}",
            describe(stored_type, stored_constraints),
            describe(declared.var_type.as_str(), &declared_constraints)
        ),
    })
}

impl Drop for RedisState {
    fn drop(&mut self) {
        self.shared.stop.stop();
    }
}

impl StateProvider for RedisState {
    fn kind(&self) -> BackendKind {
        BackendKind::Redis
    }

    #[cfg(feature = "python")]
    fn requires_bridge(&self) -> bool {
        self.served.lock().is_some()
    }

    fn register(
        &self,
        name: &str,
        var_type: VarType,
        initial: Value,
        opts: VarOptions,
        source: UpdateSource,
    ) -> Result<VarId> {
        let def = VariableDef {
            name: name.to_owned(),
            var_type,
            initial,
            opts,
        };
        let mut ids = self.register_many(vec![def], source)?;
        ids.pop().ok_or_else(|| unexpected("a definition", "no id"))
    }

    fn register_many(&self, defs: Vec<VariableDef>, source: UpdateSource) -> Result<Vec<VarId>> {
        let vars = defs
            .into_iter()
            .map(|def| checked_new(def).map(|(var, schema)| (var, Arc::new(schema))))
            .collect::<Result<Vec<_>>>()?;
        self.define(vars, source, true)
    }

    #[inline]
    fn get(&self, key: &str) -> Result<Value> {
        if self.cache
            && let Some(value) = self.mirror().get(key)
        {
            return Ok(value);
        }
        self.fresh_value(key)
    }

    fn get_fresh(&self, key: &str) -> Result<Value> {
        self.fresh_value(key)
    }

    fn variable(&self, key: &str) -> Result<Variable> {
        if self.cache
            && let Some(var) = self.mirror().variable(key)
        {
            return Ok(var);
        }
        self.fresh_variable(key)
    }

    fn exists(&self, key: &str) -> bool {
        if self.mirror().contains(key) {
            return true;
        }
        match self.read_records(&[key]) {
            Ok(found) => found.first().is_some_and(Option::is_some),
            Err(e) => {
                tracing::warn!(error = %e, key, "could not ask Redis whether a variable exists");
                false
            }
        }
    }

    fn set(&self, key: &str, value: Value, opts: WriteOptions) -> Result<u64> {
        let mut def = self.definition(key)?;
        for _ in 0..3 {
            let checked = check_value(&def.schema, &def.name, value.clone())?;
            let reply = self.write_once(
                &def,
                &checked,
                opts.expected_version,
                opts.metadata.as_ref(),
                opts.source,
            )?;
            match reply {
                SetReply::Written(version) => return Ok(version),
                SetReply::NotFound => return Err(Error::variable_not_found(key)),
                SetReply::Stale => def = self.refreshed(&def, key)?,
                SetReply::Conflict { actual, .. } => {
                    return Err(Error::VersionConflict {
                        name: def.name,
                        expected: opts.expected_version.unwrap_or_default(),
                        actual,
                    });
                }
            }
        }
        Err(unexpected("a write", "STALE, three times"))
    }

    fn update(
        &self,
        key: &str,
        f: &mut dyn FnMut(&Value) -> Result<Value>,
        source: UpdateSource,
    ) -> Result<u64> {
        let mut def = self.definition(key)?;
        let mut current = match self.mirror().current(key) {
            Some(current) if self.cache => current,
            _ => {
                let var = self.fresh_variable(key)?;
                (var.version, var.value)
            }
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let (version, value) = &current;
            let next = check_value(&def.schema, &def.name, f(value)?)?;
            match self.write_once(&def, &next, Some(*version), None, source)? {
                SetReply::Written(version) => return Ok(version),
                SetReply::NotFound => return Err(Error::variable_not_found(key)),
                SetReply::Stale => {
                    def = self.refreshed(&def, key)?;
                    let var = self.fresh_variable(key)?;
                    current = (var.version, var.value);
                }
                SetReply::Conflict {
                    actual,
                    value: Some(value),
                } => current = (actual, value),
                SetReply::Conflict { .. } => {
                    let var = self.fresh_variable(key)?;
                    current = (var.version, var.value);
                }
            }
        }
        Err(Error::VersionConflict {
            name: def.name,
            expected: current.0,
            actual: current.0 + 1,
        })
    }

    fn get_many(&self, keys: &[&str]) -> Result<HashMap<String, Value>> {
        let mut values = HashMap::with_capacity(keys.len());
        let mut missing = Vec::new();
        for key in keys {
            match self.mirror().get(key) {
                Some(value) if self.cache => {
                    values.insert((*key).to_owned(), value);
                }
                _ => missing.push(*key),
            }
        }
        if !missing.is_empty() {
            let read = self.read_records(&missing)?;
            for (key, var) in missing.iter().zip(read) {
                if let Some(var) = var {
                    values.insert((*key).to_owned(), var.value);
                }
            }
        }
        Ok(values)
    }

    fn update_many(
        &self,
        updates: Vec<(String, Value)>,
        metadata: Option<&Metadata>,
        source: UpdateSource,
    ) -> Result<()> {
        let mut defs = Vec::with_capacity(updates.len());
        for (key, _) in &updates {
            defs.push(self.definition(key)?);
        }
        for _ in 0..3 {
            let tags = updates
                .iter()
                .zip(&defs)
                .map(|((_, value), def)| {
                    check_value(&def.schema, &def.name, value.clone()).map(|v| encode_value(&v))
                })
                .collect::<Result<Vec<_>>>()?;
            let k = self.keys();
            let token = self.token();
            let now = now_ms();
            let md = metadata.map(encode_metadata).unwrap_or_default();
            let reply: redis::Value = self.shared.pool.run(|con| {
                let mut script = UPDATE_MANY_SCRIPT.key(&k.ids);
                script
                    .key(&k.events)
                    .arg(&k.var_prefix)
                    .arg(STREAM_MAXLEN)
                    .arg(&token)
                    .arg(&md)
                    .arg(encode_source(source))
                    .arg(now)
                    .arg(defs.len());
                for (def, tag) in defs.iter().zip(&tags) {
                    script.arg(&def.name).arg(&def.id).arg(tag);
                }
                script.invoke(con)
            })?;
            let items = array(&reply).unwrap_or_default();
            let index = || items.get(1).and_then(int).unwrap_or_default() as usize;
            match items.first().and_then(text).unwrap_or_default().as_str() {
                "OK" => {
                    let written = items.get(1).and_then(array).unwrap_or_default();
                    for (entry, (_, value)) in written.iter().zip(&updates) {
                        let entry = array(entry).unwrap_or_default();
                        let (Some(name), Some(version)) =
                            (entry.first().and_then(text), entry.get(1).and_then(int))
                        else {
                            continue;
                        };
                        let metadata = entry
                            .get(2)
                            .and_then(text)
                            .and_then(|m| decode_metadata(&m))
                            .unwrap_or_default();
                        if let Some(def) = self.mirror().definition(&name) {
                            let value = check_value(&def.schema, &name, value.clone())?;
                            let write = WriteInfo {
                                metadata,
                                updated_at_ms: now,
                                source,
                            };
                            self.mirror().observe(&name, version as u64, value, write);
                        }
                    }
                    return Ok(());
                }
                "NOT_FOUND" => {
                    let key = updates.get(index()).map(|(k, _)| k.as_str()).unwrap_or("");
                    return Err(Error::variable_not_found(key));
                }
                "STALE" => {
                    let i = index();
                    if let (Some(def), Some((key, _))) = (defs.get(i).cloned(), updates.get(i)) {
                        defs[i] = self.refreshed(&def, key)?;
                    }
                }
                other => return Err(unexpected("a batch write", other)),
            }
        }
        Err(unexpected("a batch write", "STALE, three times"))
    }

    fn list(&self) -> Vec<Variable> {
        self.mirror().list()
    }

    fn len(&self) -> usize {
        self.mirror().len()
    }

    fn import(&self, vars: Vec<Variable>) -> Result<()> {
        let vars = vars
            .into_iter()
            .map(|var| checked_import(var).map(|(var, schema)| (var, Arc::new(schema))))
            .collect::<Result<Vec<_>>>()?;
        self.define(vars, UpdateSource::Rust, false).map(|_| ())
    }

    fn watch(
        &self,
        keys: &[&str],
        include_initial: bool,
        snapshot: Snapshot,
        timed: bool,
    ) -> Result<Watcher> {
        let missing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !self.mirror().contains(k))
            .collect();
        if !missing.is_empty() {
            self.read_records(&missing)?;
        }
        self.mirror().watch(keys, include_initial, snapshot, timed)
    }

    fn snapshot(&self, names: Option<&HashSet<String>>) -> Vec<Current> {
        self.mirror().snapshot(names)
    }

    fn watcher_count(&self) -> usize {
        self.mirror().hub().watcher_count()
    }

    fn close(&self) {
        self.shared.stop.stop();
        self.mirror().hub().close();
        #[cfg(feature = "python")]
        if let Some(session) = self.served.lock().take() {
            session.set_owned(false);
            crate::store::SessionStore::global().remove_exact(&session);
        }
    }

    /// Publishes this very backend as the session: the bridge then serves the namespace
    /// to Python through this Context (its cache, its watchers). The kind stays Redis.
    #[cfg(feature = "python")]
    fn serve(
        self: Arc<Self>,
        store: &crate::store::SessionStore,
        session_id: &str,
    ) -> Result<Arc<dyn StateProvider>> {
        if self.served.lock().is_some() {
            return Ok(self);
        }
        let session = store.insert_session(session_id, self.clone())?;
        session.set_owned(true);
        *self.served.lock() = Some(session);
        Ok(self)
    }
}
