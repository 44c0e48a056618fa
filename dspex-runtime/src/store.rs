//! `SessionStore`: the process-wide home of bridged variables, keyed by Context id. The
//! bridge serves it to Python; bridged Contexts read and write it in-process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dspex_core::{Error, Result};
use parking_lot::RwLock;

use crate::state::VariableTable;
use crate::watch::WatchHub;

/// How long a session that no live Context owns may stay idle before the sweep removes it.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);

/// One session: the variables of one bridged Context.
pub struct Session {
    id: String,
    table: VariableTable,
    created_at_ms: u64,
    last_access_ms: AtomicU64,
    owned: AtomicBool,
}

impl Session {
    /// The session id (the Context id).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The variables.
    pub fn table(&self) -> &VariableTable {
        &self.table
    }

    /// When the session was created (ms since the Unix epoch).
    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// When the bridge last served it (ms since the Unix epoch).
    pub fn last_access_ms(&self) -> u64 {
        self.last_access_ms.load(Ordering::Relaxed)
    }

    /// Whether a live Context owns it (owned sessions never expire).
    pub fn is_owned(&self) -> bool {
        self.owned.load(Ordering::Acquire)
    }

    pub(crate) fn set_owned(&self, owned: bool) {
        self.owned.store(owned, Ordering::Release);
    }

    fn touch(&self) {
        self.last_access_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// The sessions of this process.
///
/// ```
/// use dspex::SessionStore;
/// let store = SessionStore::global();
/// let session = store.create_session("docs-example", Default::default())?;
/// assert_eq!(store.session("docs-example")?.id(), session.id());
/// assert!(store.remove_session("docs-example"));
/// # Ok::<(), dspex::Error>(())
/// ```
pub struct SessionStore {
    sessions: RwLock<HashMap<String, Arc<Session>, foldhash::fast::RandomState>>,
    ttl_ms: AtomicU64,
}

impl SessionStore {
    fn new() -> Self {
        Self {
            sessions: RwLock::default(),
            ttl_ms: AtomicU64::new(DEFAULT_SESSION_TTL.as_millis() as u64),
        }
    }

    /// The process-wide store.
    pub fn global() -> &'static SessionStore {
        static STORE: OnceLock<SessionStore> = OnceLock::new();
        STORE.get_or_init(SessionStore::new)
    }

    /// Creates an empty session whose writes are published to `hub`.
    /// `AlreadyExists` when the id is taken.
    pub fn create_session(&self, id: &str, hub: WatchHub) -> Result<Arc<Session>> {
        let now = now_ms();
        let session = Arc::new(Session {
            id: id.to_owned(),
            table: VariableTable::new(hub),
            created_at_ms: now,
            last_access_ms: AtomicU64::new(now),
            owned: AtomicBool::new(false),
        });
        let mut sessions = self.sessions.write();
        if sessions.contains_key(id) {
            return Err(Error::AlreadyExists {
                name: format!("session {id}"),
            });
        }
        sessions.insert(id.to_owned(), session.clone());
        Ok(session)
    }

    /// A session by id (and marks it used).
    pub fn session(&self, id: &str) -> Result<Arc<Session>> {
        let session = self
            .sessions
            .read()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: "session",
                name: id.to_owned(),
            })?;
        session.touch();
        Ok(session)
    }

    /// Whether a session exists (without marking it used).
    pub fn contains(&self, id: &str) -> bool {
        self.sessions.read().contains_key(id)
    }

    /// Removes a session; true if it existed.
    pub fn remove_session(&self, id: &str) -> bool {
        self.sessions.write().remove(id).is_some()
    }

    /// Removes `session` only if it is still the one stored under its id.
    pub(crate) fn remove_exact(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions.write();
        if sessions
            .get(session.id())
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            sessions.remove(session.id());
        }
    }

    /// The ids of every session.
    pub fn session_ids(&self) -> Vec<String> {
        self.sessions.read().keys().cloned().collect()
    }

    /// How many sessions there are.
    pub fn len(&self) -> usize {
        self.sessions.read().len()
    }

    /// True when there is no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets how long an unowned session may stay idle (default 1 h).
    pub fn set_session_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(ttl.as_millis() as u64, Ordering::Relaxed);
    }

    /// The idle TTL of unowned sessions.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
    }

    /// Removes every session that no live Context owns and that has been idle longer than
    /// the TTL. Returns how many were removed. The bridge runs it periodically.
    pub fn sweep(&self) -> usize {
        let ttl = self.ttl_ms.load(Ordering::Relaxed);
        let now = now_ms();
        let mut sessions = self.sessions.write();
        let before = sessions.len();
        sessions.retain(|_, s| s.is_owned() || now.saturating_sub(s.last_access_ms()) < ttl);
        before - sessions.len()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
