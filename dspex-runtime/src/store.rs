//! `SessionStore`: the process-wide home of bridged variables, keyed by Context id. The
//! bridge serves it to Python; bridged Contexts read and write it in-process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dspex_core::{Error, Result};
use parking_lot::RwLock;

use crate::state::{LocalState, StateProvider};

/// How long a session that no live Context owns may stay idle before the sweep removes it.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);

/// One session: the variables of one bridged Context, as the bridge serves them to
/// Python under the Context's id.
pub struct Session {
    id: String,
    /// The Context's variables: its in-process table for a bridged Context, its shared
    /// store for a Redis one. The bridge serves whichever it is through the same calls.
    state: Arc<dyn StateProvider>,
    created_at_ms: u64,
    last_access_ms: AtomicU64,
    owned: AtomicBool,
}

impl Session {
    /// The session id (the Context id).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn state(&self) -> &Arc<dyn StateProvider> {
        &self.state
    }

    /// How many variables it holds now.
    pub fn variable_count(&self) -> usize {
        self.state.len()
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

/// The sessions of this process, one per bridged Context, keyed by the Context's id. Read
/// it to see what the bridge serves; sessions come and go with their Contexts (a session
/// no Context owns expires after the bridge's idle TTL).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use dspex::{Context, SessionStore, VarOptions, VarType};
/// let ctx = Context::new();
/// ctx.defvariable("temperature", VarType::Float, 0.7, VarOptions::new())?;
/// ctx.ensure_bridged().await?;
/// let session = SessionStore::global().session(ctx.id())?;
/// assert!(session.is_owned());
/// assert_eq!(session.variable_count(), 1);
/// let id = ctx.id().to_owned();
/// drop(ctx); // the last clone: its session goes with it
/// assert!(!SessionStore::global().contains(&id));
/// # Ok::<(), dspex::Error>(())
/// # }).unwrap();
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

    /// The process-wide store: the one the bridge serves and every bridged Context uses.
    pub fn global() -> &'static SessionStore {
        static STORE: OnceLock<SessionStore> = OnceLock::new();
        STORE.get_or_init(SessionStore::new)
    }

    /// Creates an empty session that no Context owns. `AlreadyExists` when the id is taken.
    // Hidden, not private: integration tests create unowned sessions (to occupy a Context's
    // id, to watch one expire). Sessions are otherwise made only by the switch.
    #[doc(hidden)]
    pub fn create_session(&self, id: &str) -> Result<Arc<Session>> {
        self.insert_session(id, Arc::new(LocalState::default()))
    }

    /// Publishes `state` as the session `id`. `AlreadyExists` when the id is taken.
    pub(crate) fn insert_session(
        &self,
        id: &str,
        state: Arc<dyn StateProvider>,
    ) -> Result<Arc<Session>> {
        let now = now_ms();
        let session = Arc::new(Session {
            id: id.to_owned(),
            state,
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

    /// Removes a session and ends its watchers; true if it existed.
    // Hidden, not private: it can pull a live Context's session away, which only tests
    // should do (to check that watchers end).
    #[doc(hidden)]
    pub fn remove_session(&self, id: &str) -> bool {
        let removed = self.sessions.write().remove(id);
        removed.inspect(|s| s.state().close()).is_some()
    }

    /// Removes `session` only if it is still the one stored under its id. Its watchers
    /// stay: a failed switch rolls a session back this way, and the hub it shares with the
    /// still-Local Context must keep serving.
    pub(crate) fn remove_exact(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions.write();
        if sessions
            .get(session.id())
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            sessions.remove(session.id());
        }
    }

    /// The ids of every session (the ids of the bridged Contexts, plus unowned sessions
    /// not yet swept), in no particular order.
    pub fn session_ids(&self) -> Vec<String> {
        self.sessions.read().keys().cloned().collect()
    }

    /// How many sessions there are, owned or not yet swept.
    pub fn len(&self) -> usize {
        self.sessions.read().len()
    }

    /// True when there is no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets how long an unowned session may stay idle (default 1 h).
    // Hidden, not private: tests shorten the TTL to see a session expire; users set it
    // with `BridgeConfig::session_ttl`.
    #[doc(hidden)]
    pub fn set_session_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(ttl.as_millis() as u64, Ordering::Relaxed);
    }

    /// How long an unowned session may stay idle before the sweep removes it (set with
    /// `BridgeConfig::session_ttl`).
    pub fn session_ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
    }

    /// Removes every session that no live Context owns and that has been idle longer than
    /// the TTL, ending its watchers. Returns how many were removed. The bridge runs it
    /// periodically.
    // Hidden, not private: tests sweep on demand instead of waiting for the bridge's timer.
    #[doc(hidden)]
    pub fn sweep(&self) -> usize {
        let ttl = self.ttl_ms.load(Ordering::Relaxed);
        let now = now_ms();
        let mut expired = Vec::new();
        self.sessions.write().retain(|_, s| {
            let keep = s.is_owned() || now.saturating_sub(s.last_access_ms()) < ttl;
            if !keep {
                expired.push(s.clone());
            }
            keep
        });
        for session in &expired {
            session.state().close();
        }
        expired.len()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
