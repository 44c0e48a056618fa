//! Follows the namespace's event stream: one task per Redis Context, on the library's
//! runtime, with its own connection. It applies every write (from any process, this one
//! included) to the read cache and publishes it to the Context's watchers, in stream
//! order — which is the order the writes were made in, since each write appends its event
//! in the same atomic script.
//!
//! It never misses a write silently. Each event carries the variable's new version, and a
//! version that skips ahead means events were trimmed before they were read: the follower
//! then reloads every variable and tells the watchers concerned that they missed updates
//! (`Lagged`, then the current values), as a watcher that falls behind in-process is told.
//! After a lost connection it reconnects with backoff and resumes from the last event it
//! read; if the server no longer has the events after it (trimmed, or lost in a restart),
//! it resynchronises the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dspex_core::{Error, Result};
use redis::RedisResult;
use redis::aio::MultiplexedConnection;
use tokio::sync::oneshot;

use super::Shared;
use super::codec::{array, decode_metadata, decode_value, pairs, parse_record, shape_error, text};
use super::keys::FORMAT;
use super::pool::map_error;
use super::scripts::{LOAD_SCRIPT, READ_SCRIPT, SHAPE_SCRIPT};
use crate::watch::{UpdateSource, VariableUpdate};

/// How long one XREAD waits for new events.
const BLOCK_MS: u64 = 1000;
/// How many events one XREAD returns at most.
const BATCH: usize = 512;
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Connects, checks the namespace and loads it (reporting the outcome on `ready`), then
/// follows the stream until the Context is closed.
pub(super) async fn run(shared: Arc<Shared>, ready: oneshot::Sender<Result<()>>) {
    let mut follower = Follower {
        shared,
        cursor: StreamId::ZERO,
        delivered: HashMap::new(),
    };
    let mut con = match follower.start().await {
        Ok(con) => {
            // The caller may have given up waiting: then nobody uses this Context.
            let _ = ready.send(Ok(()));
            con
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let shared = follower.shared.clone();
    loop {
        let read = tokio::select! {
            read = follower.read(&mut con) => read,
            () = shared.stop.wait() => return,
        };
        if let Err(e) = read {
            tracing::warn!(
                namespace = %follower.shared.namespace,
                error = %e,
                "lost the Redis event stream; reconnecting"
            );
            match follower.reconnect().await {
                Some(new) => con = new,
                None => return,
            }
        }
    }
}

/// A stream entry id (`<ms>-<seq>`), ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct StreamId(u64, u64);

impl StreamId {
    const ZERO: StreamId = StreamId(0, 0);

    fn parse(text: &str) -> Option<StreamId> {
        let (ms, seq) = text.split_once('-')?;
        Some(StreamId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

struct Follower {
    shared: Arc<Shared>,
    /// The last event read (or the one a snapshot stands at).
    cursor: StreamId,
    /// The last version published per variable: a later event must be exactly one more.
    delivered: HashMap<String, u64>,
}

fn protocol_error(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Parse,
        "unexpected reply from Redis",
        what.to_owned(),
    ))
}

impl Follower {
    async fn connect(&self) -> RedisResult<MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(
                Duration::from_millis(BLOCK_MS) + Duration::from_secs(5),
            ));
        self.shared
            .pool
            .client()
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    fn error(&self, e: &redis::RedisError) -> Error {
        map_error(e, self.shared.pool.server(), &self.shared.namespace)
    }

    /// The first connection: every failure is the caller's error.
    async fn start(&mut self) -> Result<MultiplexedConnection> {
        let mut con = self.connect().await.map_err(|e| self.error(&e))?;
        self.check_shape(&mut con).await?;
        let problems = self
            .load(&mut con, false)
            .await
            .map_err(|e| self.error(&e))?;
        if let Some((key, problem)) = problems.into_iter().next() {
            return Err(shape_error(
                &self.shared.namespace,
                format!("key `{key}`: {problem}"),
            ));
        }
        Ok(con)
    }

    /// Refuses a namespace whose keys hold something else; marks a new one as ours.
    async fn check_shape(&self, con: &mut MultiplexedConnection) -> Result<()> {
        let keys = &self.shared.keys;
        let reply: redis::Value = SHAPE_SCRIPT
            .key(&keys.meta)
            .key(&keys.names)
            .key(&keys.ids)
            .key(&keys.events)
            .invoke_async(con)
            .await
            .map_err(|e| self.error(&e))?;
        let items = array(&reply).unwrap_or_default();
        let kind = |i: usize| items.get(i).and_then(text).unwrap_or_default();
        let expected = [
            (&keys.meta, "hash"),
            (&keys.names, "list"),
            (&keys.ids, "hash"),
            (&keys.events, "stream"),
        ];
        for (i, (key, want)) in expected.iter().enumerate() {
            let found = kind(i);
            if found != "none" && found != *want {
                return Err(shape_error(
                    &self.shared.namespace,
                    format!("key `{key}` is a {found}, not a {want}"),
                ));
            }
        }
        let format = items.get(4).and_then(text);
        match format.as_deref() {
            Some(FORMAT) => Ok(()),
            Some(other) => Err(shape_error(
                &self.shared.namespace,
                format!(
                    "key `{}` says its format is {other:?}, not {FORMAT:?}",
                    keys.meta
                ),
            )),
            None if (1..4).any(|i| kind(i) != "none") || kind(0) != "none" => Err(shape_error(
                &self.shared.namespace,
                format!(
                    "its keys exist but `{}` does not name a dspex format",
                    keys.meta
                ),
            )),
            None => {
                let now = super::super::definition::now_ms();
                redis::cmd("HSETNX")
                    .arg(&keys.meta)
                    .arg("format")
                    .arg(FORMAT)
                    .exec_async(con)
                    .await
                    .map_err(|e| self.error(&e))?;
                redis::cmd("HSETNX")
                    .arg(&keys.meta)
                    .arg("created_at_ms")
                    .arg(now)
                    .exec_async(con)
                    .await
                    .map_err(|e| self.error(&e))
            }
        }
    }

    /// Reads every variable and the stream position they stand at into the cache. With
    /// `lagged`, watchers are told about the versions they missed. Returns the variables
    /// whose stored data could not be read (key, problem).
    async fn load(
        &mut self,
        con: &mut MultiplexedConnection,
        lagged: bool,
    ) -> RedisResult<Vec<(String, String)>> {
        let keys = &self.shared.keys;
        let reply: redis::Value = LOAD_SCRIPT
            .key(&keys.names)
            .key(&keys.events)
            .arg(&keys.var_prefix)
            .invoke_async(con)
            .await?;
        let items = array(&reply).ok_or_else(|| protocol_error("LOAD"))?;
        let cursor = items
            .first()
            .and_then(text)
            .and_then(|t| StreamId::parse(&t))
            .ok_or_else(|| protocol_error("LOAD stream id"))?;
        let records = items.get(1).and_then(array).unwrap_or_default();
        let mut problems = Vec::new();
        let mut missed = HashMap::new();
        let mirror = &self.shared.mirror;
        for raw in records {
            let Some(fields) = pairs(raw) else {
                problems.push((keys.names.clone(), "a variable is not a hash".to_owned()));
                continue;
            };
            let name = fields.get("name").cloned().unwrap_or_default();
            let known = mirror.schema_of(&name);
            let parsed = parse_record(&fields, known.as_ref().map(|(id, s)| (id.as_str(), s)));
            let (record, schema) = match parsed {
                Ok(parsed) => parsed,
                Err(problem) => {
                    problems.push((keys.var(&name), problem));
                    continue;
                }
            };
            let version = record.var.version;
            let before = self.delivered.insert(name.clone(), version).unwrap_or(0);
            if lagged && version > before {
                missed.insert(name, version - before);
            }
            mirror.insert(record, schema);
        }
        self.cursor = cursor;
        if !missed.is_empty() {
            mirror.hub().mark_missed(&missed);
        }
        Ok(problems)
    }

    /// Reads the next events (waiting up to a second) and applies them.
    async fn read(&mut self, con: &mut MultiplexedConnection) -> RedisResult<()> {
        let reply: redis::Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&self.shared.keys.events)
            .arg(self.cursor.to_string())
            .query_async(con)
            .await?;
        let streams = array(&reply).ok_or_else(|| protocol_error("XREAD"))?;
        let mut entries = Vec::new();
        for stream in streams {
            let parts = array(stream).ok_or_else(|| protocol_error("XREAD stream"))?;
            entries.extend(
                parts
                    .get(1)
                    .and_then(array)
                    .unwrap_or_default()
                    .iter()
                    .cloned(),
            );
        }
        for entry in &entries {
            let parts = array(entry).ok_or_else(|| protocol_error("XREAD entry"))?;
            let id = parts
                .first()
                .and_then(text)
                .and_then(|t| StreamId::parse(&t))
                .ok_or_else(|| protocol_error("XREAD entry id"))?;
            let fields = parts
                .get(1)
                .and_then(pairs)
                .ok_or_else(|| protocol_error("XREAD entry fields"))?;
            if self.apply(con, &fields).await? == Applied::Resynchronised {
                // The snapshot is past every event of this batch.
                return Ok(());
            }
            self.cursor = id;
        }
        Ok(())
    }

    async fn apply(
        &mut self,
        con: &mut MultiplexedConnection,
        fields: &HashMap<String, String>,
    ) -> RedisResult<Applied> {
        let (Some(kind), Some(name), Some(version)) = (
            fields.get("k"),
            fields.get("n"),
            fields.get("v").and_then(|v| v.parse::<u64>().ok()),
        ) else {
            tracing::warn!(namespace = %self.shared.namespace, ?fields, "skipped a malformed event");
            return Ok(Applied::Next);
        };
        if kind == "d" {
            self.delivered.insert(name.clone(), version);
            if !self.shared.mirror.contains(name) {
                self.fetch(con, name).await?;
            }
            return Ok(Applied::Next);
        }
        match self.delivered.get(name).copied() {
            Some(last) if version <= last => return Ok(Applied::Next),
            Some(last) if version == last + 1 => {}
            // Events were trimmed before they were read (or the definition was).
            _ => {
                self.resync(con).await?;
                return Ok(Applied::Resynchronised);
            }
        }
        let value = fields.get("val").and_then(|v| decode_value(v));
        let metadata = fields.get("md").and_then(|m| decode_metadata(m));
        let (Some(value), Some(metadata)) = (value, metadata) else {
            tracing::warn!(namespace = %self.shared.namespace, variable = %name, "skipped a malformed write event");
            self.resync(con).await?;
            return Ok(Applied::Resynchronised);
        };
        let update = VariableUpdate {
            name: name.clone(),
            value,
            old_value: fields.get("old").and_then(|v| decode_value(v)),
            version,
            source: match fields.get("src").map(String::as_str) {
                Some("python") => UpdateSource::Python,
                _ => UpdateSource::Rust,
            },
            metadata,
        };
        let updated_at = fields.get("t").and_then(|t| t.parse().ok()).unwrap_or(0);
        self.shared.mirror.deliver(update, updated_at);
        self.delivered.insert(name.clone(), version);
        Ok(Applied::Next)
    }

    /// Caches a variable another process defined.
    async fn fetch(&self, con: &mut MultiplexedConnection, name: &str) -> RedisResult<()> {
        let keys = &self.shared.keys;
        let reply: redis::Value = READ_SCRIPT
            .key(&keys.ids)
            .arg(&keys.var_prefix)
            .arg(name)
            .invoke_async(con)
            .await?;
        let Some(fields) = array(&reply)
            .and_then(|items| items.first())
            .and_then(pairs)
        else {
            return Ok(());
        };
        match parse_record(&fields, None) {
            Ok((record, schema)) => {
                self.shared.mirror.insert(record, schema);
            }
            Err(problem) => {
                tracing::warn!(namespace = %self.shared.namespace, variable = %name, %problem, "cannot cache a variable");
            }
        }
        Ok(())
    }

    async fn resync(&mut self, con: &mut MultiplexedConnection) -> RedisResult<()> {
        tracing::info!(namespace = %self.shared.namespace, "resynchronising with Redis");
        for (key, problem) in self.load(con, true).await? {
            tracing::warn!(namespace = %self.shared.namespace, %key, %problem, "cannot cache a variable");
        }
        Ok(())
    }

    /// Reconnects with backoff; `None` when the Context was closed meanwhile.
    async fn reconnect(&mut self) -> Option<MultiplexedConnection> {
        let mut delay = FIRST_BACKOFF;
        loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shared.stop.wait() => return None,
            }
            match self.connect().await {
                Ok(mut con) => match self.catch_up(&mut con).await {
                    Ok(()) => {
                        tracing::info!(namespace = %self.shared.namespace, "reconnected to Redis");
                        return Some(con);
                    }
                    Err(e) => tracing::debug!(error = %e, "Redis is not ready yet"),
                },
                Err(e) => tracing::debug!(error = %e, "Redis is still unreachable"),
            }
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }

    /// After a reconnection: resumes from the cursor if the server still has every event
    /// after it, else resynchronises. (A stream whose head was trimmed past the cursor
    /// counts as not intact even when nothing after the cursor was lost: a resync too many
    /// is only a `Lagged` too many, never a lost write.)
    async fn catch_up(&mut self, con: &mut MultiplexedConnection) -> RedisResult<()> {
        let info: RedisResult<redis::Value> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.shared.keys.events)
            .query_async(con)
            .await;
        let intact = match info {
            Ok(info) => {
                let items = array(&info).unwrap_or_default();
                let field = |name: &str| {
                    items
                        .chunks(2)
                        .find(|kv| text(&kv[0]).as_deref() == Some(name))
                        .and_then(|kv| kv.get(1))
                };
                let id = |name: &str| field(name).and_then(text).and_then(|t| StreamId::parse(&t));
                let first = field("first-entry")
                    .and_then(array)
                    .and_then(|entry| entry.first())
                    .and_then(text)
                    .and_then(|t| StreamId::parse(&t));
                let deleted = id("max-deleted-entry-id").unwrap_or(StreamId::ZERO);
                let last = id("last-generated-id").unwrap_or(StreamId::ZERO);
                // Trimming removes the oldest entries: if the stream still starts at or
                // before the cursor, everything after it is there.
                let head_kept = match first {
                    Some(first) => first <= self.cursor,
                    None => last == self.cursor,
                };
                head_kept && deleted <= self.cursor && last >= self.cursor
            }
            // No stream: intact only if it never had an event we read.
            Err(e) if e.code() == Some("ERR") => self.cursor == StreamId::ZERO,
            Err(e) => return Err(e),
        };
        if intact {
            Ok(())
        } else {
            self.resync(con).await
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Applied {
    Next,
    Resynchronised,
}
