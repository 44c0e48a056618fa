//! Watching variables: every table publishes its successful writes to its context's
//! [`WatchHub`]; a [`Watcher`] receives those for the names it watches, in version order.
//!
//! The hub is shared by a context's Local table and, after the switch, its bridged
//! session's table, so a watcher keeps going across the switch. Publishing never blocks a
//! writer: each watcher has a bounded buffer ([`WATCH_BUFFER`] events); a watcher that
//! falls behind gets [`WatchEvent::Lagged`] with the number of updates it missed, then the
//! current value of every watched variable, and carries on from there.
//!
//! The hub owns the sending half of every watcher's channel and the watcher only the
//! receiving half, so closing the hub (when the Context is dropped or its session removed)
//! ends every watcher once it has drained what was already sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use dspex_core::{Metadata, Result, Value, Variable};
use parking_lot::RwLock;
use tokio::sync::mpsc;

/// How many events a watcher buffers before it reports [`WatchEvent::Lagged`].
pub const WATCH_BUFFER: usize = 1024;

/// Who made a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UpdateSource {
    /// Rust code (a Context).
    #[default]
    Rust,
    /// Python, through the bridge.
    Python,
}

/// One successful write to a watched variable (or, with `old_value: None`, its current
/// value: the initial values, and the resynchronisation after a lag).
#[derive(Debug, Clone, PartialEq)]
pub struct VariableUpdate {
    /// The variable's name.
    pub name: String,
    /// The value written.
    pub value: Value,
    /// The value before the write (`None` for initial and resynchronised values).
    pub old_value: Option<Value>,
    /// The version the write produced.
    pub version: u64,
    /// Who wrote.
    pub source: UpdateSource,
    /// The variable's metadata after the write.
    pub metadata: Metadata,
}

/// What a watcher yields.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// A write (or a current value).
    Update(VariableUpdate),
    /// The watcher fell behind: `missed` updates were dropped. The current values of the
    /// watched variables follow.
    Lagged {
        /// How many updates were dropped.
        missed: u64,
    },
}

/// An update on its way to a watcher, with the time it was published.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// Shared by every watcher of the write: one clone of the value, not one per watcher.
    /// `None` only wakes the watcher up, to see that it must resynchronise.
    pub(crate) update: Option<Arc<VariableUpdate>>,
    pub(crate) published_us: u64,
}

/// What a watcher and the hub both see of one subscription.
struct Subscriber {
    /// `None` watches every variable.
    names: Option<HashSet<String>>,
    missed: AtomicU64,
}

impl Subscriber {
    fn wants(&self, name: &str) -> bool {
        self.names.as_ref().is_none_or(|n| n.contains(name))
    }
}

/// A subscription as the hub holds it: with the sending half of its channel, which only
/// the hub owns.
struct Registered {
    sub: Arc<Subscriber>,
    tx: mpsc::Sender<Envelope>,
}

/// Where a context's writes are published: one per Context, shared by its Local table
/// and, after the switch, its session's table.
#[derive(Clone, Default)]
pub(crate) struct WatchHub {
    inner: Arc<HubInner>,
}

#[derive(Default)]
struct HubInner {
    count: AtomicUsize,
    state: RwLock<HubState>,
}

#[derive(Default)]
struct HubState {
    /// Set when the Context is dropped or its session removed: nothing can be written to
    /// this hub's variables any more, so no watcher may wait on it.
    closed: bool,
    subscribers: Vec<Registered>,
}

impl WatchHub {
    /// How many watchers are subscribed (dropped watchers are gone at once).
    pub(crate) fn watcher_count(&self) -> usize {
        self.inner.count.load(Ordering::Acquire)
    }

    /// Ends every watcher (each still yields what it had received) and refuses new ones.
    pub(crate) fn close(&self) {
        let mut state = self.inner.state.write();
        state.closed = true;
        state.subscribers.clear();
        self.inner.count.store(0, Ordering::Release);
    }

    /// Called by the table, under its write lock, after every successful write. Never
    /// blocks: a full watcher drops the update and counts it as missed.
    pub(crate) fn publish(&self, var: &Variable, old: Value, source: UpdateSource) {
        self.fan_out(&var.name, || VariableUpdate {
            name: var.name.clone(),
            value: var.value.clone(),
            old_value: Some(old),
            version: var.version,
            source,
            metadata: var.metadata.clone(),
        });
    }

    /// Publishes a write made elsewhere (by another process sharing the variables), under
    /// the lock of the state that recorded it.
    #[cfg(feature = "redis")]
    pub(crate) fn publish_update(&self, update: VariableUpdate) {
        let name = update.name.clone();
        self.fan_out(&name, move || update);
    }

    /// Sends the update `make` builds (built once, only if someone watches `name`).
    fn fan_out(&self, name: &str, make: impl FnOnce() -> VariableUpdate) {
        if self.inner.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let state = self.inner.state.read();
        let mut make = Some(make);
        let mut envelope: Option<Envelope> = None;
        for registered in state.subscribers.iter().filter(|r| r.sub.wants(name)) {
            if let Some(make) = make.take() {
                envelope = Some(Envelope {
                    update: Some(Arc::new(make())),
                    published_us: now_us(),
                });
            }
            let Some(env) = &envelope else { return };
            if registered.tx.try_send(env.clone()).is_err() {
                registered.sub.missed.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Tells every watcher of these variables that it missed `missed[name]` updates (they
    /// happened while the writes could not be followed): each reports `Lagged` and
    /// resynchronises, as a watcher that fell behind does.
    #[cfg(feature = "redis")]
    pub(crate) fn mark_missed(&self, missed: &HashMap<String, u64>) {
        let state = self.inner.state.read();
        for registered in &state.subscribers {
            let count: u64 = missed
                .iter()
                .filter(|(name, _)| registered.sub.wants(name))
                .map(|(_, n)| *n)
                .sum();
            if count > 0 {
                registered.sub.missed.fetch_add(count, Ordering::AcqRel);
                // A full buffer wakes the watcher anyway.
                let _ = registered.tx.try_send(Envelope {
                    update: None,
                    published_us: now_us(),
                });
            }
        }
    }

    /// Registers a watcher. The caller holds the table's lock, so no write falls between
    /// the registration and the snapshot of the initial values. On a closed hub the
    /// subscription is ended from the start.
    pub(crate) fn subscribe(&self, names: Option<HashSet<String>>) -> Subscription {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let sub = Arc::new(Subscriber {
            names,
            missed: AtomicU64::new(0),
        });
        let mut state = self.inner.state.write();
        if !state.closed {
            state.subscribers.push(Registered {
                sub: sub.clone(),
                tx,
            });
            self.inner.count.fetch_add(1, Ordering::AcqRel);
        }
        drop(state);
        Subscription {
            hub: self.clone(),
            sub,
            rx,
        }
    }

    fn unsubscribe(&self, sub: &Arc<Subscriber>) {
        let mut state = self.inner.state.write();
        let before = state.subscribers.len();
        state.subscribers.retain(|r| !Arc::ptr_eq(&r.sub, sub));
        if state.subscribers.len() < before {
            self.inner.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A registration in a hub; unsubscribes when dropped.
pub(crate) struct Subscription {
    hub: WatchHub,
    sub: Arc<Subscriber>,
    rx: mpsc::Receiver<Envelope>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.sub);
    }
}

/// A variable as it stands, with who made its last write (or defined it, when it was
/// never written): what initial and resynchronised updates report.
pub(crate) struct Current {
    pub(crate) var: Variable,
    pub(crate) source: UpdateSource,
}

/// Reads the current values of the watched variables, for resynchronisation. It must not
/// keep the Context alive: a watcher ends when its Context goes.
pub(crate) type Snapshot = Box<dyn Fn(Option<&HashSet<String>>) -> Vec<Current> + Send + Sync>;

/// Yields one [`WatchEvent`] per successful write to the watched variables, in version
/// order (per variable), from both languages. Also a `futures::Stream`.
///
/// It does not keep its Context alive: when the last clone of the Context is dropped, or
/// its bridge session is removed, the watcher yields what it had already received and
/// then ends (`next()` returns `None`, the stream ends).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspex::{Context, UpdateSource, VarOptions, VarType, WatchEvent};
/// let ctx = Context::new();
/// ctx.defvariable("temperature", VarType::Float, 0.7, VarOptions::new())?;
/// let mut watcher = ctx.watch(&["temperature"], true)?;
/// ctx.set("temperature", 0.9)?;
/// let Some(WatchEvent::Update(initial)) = watcher.next().await else { panic!() };
/// assert_eq!((initial.value.as_f64(), initial.old_value), (Some(0.7), None));
/// let Some(WatchEvent::Update(update)) = watcher.next().await else { panic!() };
/// assert_eq!(update.value.as_f64(), Some(0.9));
/// assert_eq!(update.old_value.and_then(|v| v.as_f64()), Some(0.7));
/// assert_eq!((update.version, update.source), (1, UpdateSource::Rust));
/// # Ok::<(), dspex::Error>(())
/// # }).unwrap();
/// ```
pub struct Watcher {
    subscription: Subscription,
    snapshot: Snapshot,
    pending: VecDeque<(WatchEvent, u64)>,
    last_version: HashMap<String, u64>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("names", &self.subscription.sub.names)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Watcher {
    /// Builds a watcher from a fresh subscription and the initial values (already read
    /// under the same lock as the subscription).
    pub(crate) fn new(
        subscription: Subscription,
        snapshot: Snapshot,
        current: Vec<Current>,
        include_initial: bool,
    ) -> Watcher {
        let mut watcher = Watcher {
            subscription,
            snapshot,
            pending: VecDeque::new(),
            last_version: HashMap::new(),
        };
        watcher.take_current(current, include_initial);
        watcher
    }

    /// Records the current versions; with `emit`, queues the values the watcher has not
    /// seen yet (all of them at the start, only newer ones on a resynchronisation).
    fn take_current(&mut self, current: Vec<Current>, emit: bool) {
        let now = now_us();
        let start = self.last_version.is_empty();
        for Current { var, source } in current {
            let seen = self.last_version.insert(var.name.clone(), var.version);
            let newer = start || seen.is_none_or(|v| v < var.version);
            if emit && newer {
                let update = VariableUpdate {
                    name: var.name,
                    value: var.value,
                    old_value: None,
                    version: var.version,
                    source,
                    metadata: var.metadata,
                };
                self.pending.push_back((WatchEvent::Update(update), now));
            }
        }
    }

    /// The next event; `None` when nothing can arrive any more.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        std::future::poll_fn(|cx| self.poll_event(cx))
            .await
            .map(|(event, _)| event)
    }

    /// Like [`Watcher::next`], with the time (µs since the epoch) the write was published.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) async fn next_timed(&mut self) -> Option<(WatchEvent, u64)> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<(WatchEvent, u64)>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Poll::Ready(Some(event));
            }
            if self.resync_if_lagged() {
                continue;
            }
            match self.subscription.rx.poll_recv(cx) {
                Poll::Ready(Some(env)) => {
                    let Some(update) = env.update else {
                        continue; // a wake-up: the loop checks for a resynchronisation
                    };
                    let last = self.last_version.entry(update.name.clone()).or_insert(0);
                    if update.version <= *last {
                        continue; // already covered by an initial or resynchronised value
                    }
                    *last = update.version;
                    let update = Arc::unwrap_or_clone(update);
                    return Poll::Ready(Some((WatchEvent::Update(update), env.published_us)));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    // A drop may have happened after the check above, with nothing queued.
                    if self.resync_if_lagged() {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// If updates were dropped: discard the buffer, queue `Lagged` and the current values.
    fn resync_if_lagged(&mut self) -> bool {
        let sub = &self.subscription.sub;
        if sub.missed.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut drained = 0u64;
        while let Ok(env) = self.subscription.rx.try_recv() {
            drained += u64::from(env.update.is_some());
        }
        // Buffered updates that are thrown away are missed too.
        let missed = sub.missed.swap(0, Ordering::AcqRel) + drained;
        self.pending
            .push_back((WatchEvent::Lagged { missed }, now_us()));
        let current = (self.snapshot)(sub.names.as_ref());
        self.take_current(current, true);
        true
    }
}

impl futures_core::Stream for Watcher {
    type Item = WatchEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<WatchEvent>> {
        self.get_mut()
            .poll_event(cx)
            .map(|event| event.map(|(event, _)| event))
    }
}

/// The names a watch on `keys` covers (`None`: every variable, later ones included), each
/// key (a name or an id) resolved by `name_of`, which refuses an unknown one.
pub(crate) fn watched_names(
    keys: &[&str],
    name_of: impl Fn(&str) -> Result<String>,
) -> Result<Option<HashSet<String>>> {
    if keys.is_empty() {
        return Ok(None);
    }
    keys.iter()
        .map(|k| name_of(k))
        .collect::<Result<_>>()
        .map(Some)
}

pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
