//! Watching variables: every table publishes its successful writes to its context's
//! [`WatchHub`]; a [`Watcher`] receives those for the names it watches, in version order.
//!
//! The hub is shared by a context's Local table and, after the switch, its bridged
//! session's table, so a watcher keeps going across the switch. It keeps one log of the
//! latest writes, a ring of [`WATCH_BUFFER`] entries that every watcher reads at its own
//! pace from its own cursor, keeping the entries of the names it watches: a write is one
//! entry whatever the number of watchers, and watchers only read the log, so a writer
//! neither waits for them nor pays for them (`log.rs`). A watcher that
//! falls a whole ring behind (its next entry was overwritten) gets [`WatchEvent::Lagged`]
//! with the number of updates of its variables it missed, then the current value of every
//! watched variable that moved, and carries on from there. A writer wakes only the watchers
//! that had caught up and went to sleep, after its table's lock is released.
//!
//! Closing the hub (when the Context is dropped or its session removed) ends every watcher
//! once it has read what was already written.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use dspex_core::{Metadata, Result, Value, Variable};
use parking_lot::Mutex;
use tokio::sync::Notify;

use log::{Got, Log, Place, Written};

mod log;

/// How many writes a context's watchers can be behind before they report
/// [`WatchEvent::Lagged`]: the length of the log they share.
pub const WATCH_BUFFER: usize = 1024;

/// How many times one poll of a watcher reads the log (or resynchronises) before it lets
/// its task's neighbours run.
const POLL_ROUNDS: usize = 64;

/// How many of the log's oldest entries a watcher that lost entries does not count on:
/// the writer overwrites them next.
const WINDOW_MARGIN: usize = WATCH_BUFFER / 8;

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

/// A value on a cache line of its own: what the writer changes at every write is kept
/// apart from what the watchers read at every step.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// How a watcher that caught up is woken: its task's waker, and whether it is on the
/// hub's list of sleepers.
#[derive(Default)]
struct Sleeper {
    waker: Mutex<Option<Waker>>,
    asleep: AtomicBool,
}

impl Sleeper {
    fn wake(&self) {
        self.asleep.store(false, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }
}

/// The watchers to wake, woken when this is dropped (after the lock they were taken
/// under is released).
struct Wake(Vec<Arc<Sleeper>>);

impl Drop for Wake {
    fn drop(&mut self) {
        for sleeper in self.0.drain(..) {
            sleeper.wake();
        }
    }
}

/// Where a context's writes are published: one per Context, shared by its Local table
/// and, after the switch, its session's table.
#[derive(Clone, Default)]
pub(crate) struct WatchHub {
    inner: Arc<HubInner>,
}

#[derive(Default)]
struct HubInner {
    /// How many watchers are subscribed: a write with none publishes nothing.
    count: AtomicUsize,
    /// How many of them report when each write was published: a write reads the clock
    /// (a quarter of what a watched write costs) only for them.
    timed: AtomicUsize,
    /// Set when the Context is dropped or its session removed: nothing can be written to
    /// this hub's variables any more, so no watcher may wait on it.
    closed: AtomicBool,
    /// Bumped when writes happened that the log does not hold (another process's, lost):
    /// every watcher then resynchronises.
    resyncs: AtomicU64,
    /// Made with the first watcher.
    log: OnceLock<Log>,
    /// Wakes the task that wakes the sleepers (made with the first watcher; `None` when
    /// the library's runtime could not start, and writers wake sleepers themselves).
    waker_task: OnceLock<Option<Arc<Notify>>>,
    /// How many entries were ever written: the sequence number of the next one. Read only
    /// when a watcher subscribes or resynchronises.
    head: Padded<AtomicU64>,
    /// Read at every write: whether `sleepers` has any, and whether their waking is
    /// already asked for.
    wanted: Padded<Wanted>,
    /// The watchers that caught up and wait for the next entry.
    sleepers: Mutex<Vec<Arc<Sleeper>>>,
    /// Serialises subscribing, unsubscribing and closing (never taken by a write).
    members: Mutex<()>,
}

#[derive(Default)]
struct Wanted {
    has_sleepers: AtomicBool,
    wake_asked: AtomicBool,
}

impl HubInner {
    /// The sleepers to wake, taken off the list (they are woken when the result drops).
    fn take_sleepers(&self) -> Wake {
        if !self.wanted.0.has_sleepers.load(Ordering::SeqCst) {
            return Wake(Vec::new());
        }
        let mut sleepers = self.sleepers.lock();
        self.wanted.0.has_sleepers.store(false, Ordering::SeqCst);
        Wake(std::mem::take(&mut *sleepers))
    }

    /// After a write: has the sleepers woken, by the waker task. A writer pays for one
    /// wake-up at most, however many watchers sleep.
    fn wake_sleepers(&self) {
        let wanted = &self.wanted.0;
        // Orders the entry just written before the look at the sleepers, as a sleeper's
        // registration (SeqCst) is ordered before its look at the entry: either it sees
        // the entry, or this sees it asleep. (A fence here, not a SeqCst store of the
        // entry's stamp: a locked store on the line watchers poll costs the writer more.)
        fence(Ordering::SeqCst);
        if !wanted.has_sleepers.load(Ordering::SeqCst)
            || wanted.wake_asked.swap(true, Ordering::AcqRel)
        {
            return;
        }
        match self.waker_task.get() {
            Some(Some(task)) => task.notify_one(),
            _ => {
                wanted.wake_asked.store(false, Ordering::Release);
                drop(self.take_sleepers());
            }
        }
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        // Ends the waker task: it finds the hub gone.
        if let Some(Some(task)) = self.waker_task.get() {
            task.notify_one();
        }
    }
}

/// Starts the task that wakes `hub`'s sleepers when a write asks for it, on the library's
/// runtime (the writer never waits for it, and watchers need no runtime of their own).
fn start_waker_task(hub: &Arc<HubInner>) -> Option<Arc<Notify>> {
    let handle = crate::runtime::handle().ok()?;
    let notify = Arc::new(Notify::new());
    let (task, weak) = (notify.clone(), Arc::downgrade(hub));
    handle.spawn(async move {
        loop {
            task.notified().await;
            let Some(hub) = weak.upgrade() else { return };
            hub.wanted.0.wake_asked.store(false, Ordering::Release);
            drop(hub.take_sleepers());
        }
    });
    Some(notify)
}

impl WatchHub {
    /// How many watchers are subscribed (dropped watchers are gone at once).
    pub(crate) fn watcher_count(&self) -> usize {
        self.inner.count.load(Ordering::Acquire)
    }

    /// Ends every watcher (each still yields what was written before) and refuses new ones.
    pub(crate) fn close(&self) {
        let _members = self.inner.members.lock();
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.count.store(0, Ordering::Release);
        self.inner.timed.store(0, Ordering::Release);
        drop(self.inner.take_sleepers());
    }

    /// Called by the table, under its write lock, after every successful write: appends
    /// one entry to the log, whatever the number of watchers. The lock of the one state
    /// that owns the hub serialises its writers.
    pub(crate) fn publish(&self, var: &Variable, old: Value, source: UpdateSource) {
        self.append(&Written {
            name: &var.name,
            value: &var.value,
            old_value: Some(&old),
            version: var.version,
            source,
            metadata: &var.metadata,
        });
    }

    /// Publishes a write made elsewhere (by another process sharing the variables), under
    /// the lock of the state that recorded it.
    #[cfg(feature = "redis")]
    pub(crate) fn publish_update(&self, update: VariableUpdate) {
        self.append(&Written::of(&update));
    }

    /// Writes the next entry, if anyone watches.
    fn append(&self, update: &Written<'_>) {
        let inner = &*self.inner;
        if inner.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let Some(log) = inner.log.get() else {
            return;
        };
        let seq = inner.head.0.load(Ordering::Relaxed);
        let published_us = if inner.timed.load(Ordering::Acquire) == 0 {
            0
        } else {
            now_us()
        };
        log.write(seq, update, published_us);
        inner.head.0.store(seq + 1, Ordering::Release);
        inner.wake_sleepers();
    }

    /// Tells every watcher that writes happened which the log does not hold (they were
    /// made while the writes could not be followed): each reports `Lagged` with what its
    /// variables missed and resynchronises, as a watcher that fell behind does.
    #[cfg(feature = "redis")]
    pub(crate) fn mark_missed(&self, missed: &HashMap<String, u64>) {
        if missed.values().all(|n| *n == 0) {
            return;
        }
        self.inner.resyncs.fetch_add(1, Ordering::SeqCst);
        drop(self.inner.take_sleepers());
    }

    /// Registers a watcher, reading the log from the next entry on; `timed`, one that
    /// reports when each write was published. The caller holds the table's lock, so no
    /// write falls between the registration and the snapshot of the initial values. On a
    /// closed hub the subscription is ended from the start.
    pub(crate) fn subscribe(&self, names: Option<HashSet<String>>, timed: bool) -> Subscription {
        let inner = &*self.inner;
        let members = inner.members.lock();
        let registered = !inner.closed.load(Ordering::SeqCst);
        if registered {
            inner.log.get_or_init(Log::new);
            inner
                .waker_task
                .get_or_init(|| start_waker_task(&self.inner));
            inner.count.fetch_add(1, Ordering::AcqRel);
            if timed {
                inner.timed.fetch_add(1, Ordering::AcqRel);
            }
        }
        drop(members);
        Subscription {
            hub: self.clone(),
            names,
            cursor: inner.head.0.load(Ordering::SeqCst),
            resyncs: inner.resyncs.load(Ordering::SeqCst),
            sleeper: Arc::default(),
            registered,
            timed,
        }
    }
}

/// A watcher's place in a hub's log; unsubscribes when dropped.
pub(crate) struct Subscription {
    hub: WatchHub,
    /// `None` watches every variable.
    names: Option<HashSet<String>>,
    /// The sequence number of the next entry to read.
    cursor: u64,
    /// The hub's resynchronisations this watcher has made.
    resyncs: u64,
    sleeper: Arc<Sleeper>,
    /// Counted among the hub's watchers (not when it was closed from the start).
    registered: bool,
    /// Counted among those that report when writes were published.
    timed: bool,
}

/// What reading a hub's log gave.
enum Read {
    /// The next update for the watched names, and when it was published.
    Update(VariableUpdate, u64),
    /// Entries the watcher had not read were overwritten, or written where the log does
    /// not hold them: it must resynchronise.
    Lagged,
    /// Nothing more yet.
    CaughtUp,
    /// A log's length of entries of other variables was skipped.
    Skipped,
}

impl Subscription {
    /// The next entry of the log for the watched names (skipping at most a log's length of
    /// other entries).
    fn read(&mut self) -> Read {
        let inner = &*self.hub.inner;
        if inner.resyncs.load(Ordering::SeqCst) != self.resyncs {
            return Read::Lagged;
        }
        let Some(log) = inner.log.get() else {
            return Read::CaughtUp;
        };
        let names = self.names.as_ref();
        for _ in 0..WATCH_BUFFER {
            match log.read(self.cursor, |name| names.is_none_or(|n| n.contains(name))) {
                Got::NotYet => return Read::CaughtUp,
                Got::Overwritten => return Read::Lagged,
                Got::There(entry) => {
                    self.cursor += 1;
                    if let Some((update, published_us)) = entry {
                        return Read::Update(update, published_us);
                    }
                }
            }
        }
        Read::Skipped
    }

    /// Where to read on from once entries were lost: the oldest entry the log surely
    /// still holds (a margin short of the oldest it holds, which the writer overwrites
    /// next), and its end. Also forgets the hub's resynchronisations: this one covers them.
    /// Whether the log holds the writes that were lost (not when they were made where the
    /// log does not hold them).
    fn window(&mut self) -> (u64, u64, bool) {
        let inner = &*self.hub.inner;
        let resyncs = inner.resyncs.load(Ordering::SeqCst);
        let in_log = resyncs == self.resyncs;
        self.resyncs = resyncs;
        let head = inner.head.0.load(Ordering::SeqCst);
        let oldest = head.saturating_sub((WATCH_BUFFER - WINDOW_MARGIN) as u64);
        (self.cursor.max(oldest), head, in_log)
    }

    /// Whether the log, from `from` to `to`, holds every update of the `moved` variables
    /// after the version each was last seen at: whether the first newer entry of each is
    /// the very next version. Stops at the first one that is not (or at an entry already
    /// overwritten).
    fn holds_every_update(&self, from: u64, to: u64, moved: &HashMap<String, u64>) -> bool {
        let Some(log) = self.hub.inner.log.get() else {
            return false;
        };
        let mut unchecked: HashSet<&str> = moved.keys().map(String::as_str).collect();
        for seq in from..to {
            if unchecked.is_empty() {
                break;
            }
            let update = match log.read(seq, |name| moved.contains_key(name)) {
                Got::There(Some((update, _))) => update,
                Got::There(None) => continue,
                Got::NotYet | Got::Overwritten => return false,
            };
            let seen = moved.get(&update.name).copied().unwrap_or_default();
            if update.version <= seen || !unchecked.remove(update.name.as_str()) {
                continue;
            }
            if update.version != seen + 1 {
                return false;
            }
        }
        unchecked.is_empty()
    }

    /// The watched variables as they stood before entry `to`, from the log, when it holds a
    /// write of each of them from `from` on (their latest, read backwards): a watcher of
    /// often-written variables resynchronises without the table, whose lock the writer
    /// would then wait for. `None` for a watcher of every variable.
    fn latest_in_log(&self, from: u64, to: u64) -> Option<Vec<Current>> {
        let names = self.names.as_ref()?;
        let log = self.hub.inner.log.get()?;
        let mut missing: HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut current = Vec::with_capacity(names.len());
        for seq in (from..to).rev() {
            if missing.is_empty() {
                break;
            }
            match log.read(seq, |name| missing.contains(name)) {
                Got::There(Some((mut update, _))) => {
                    missing.remove(update.name.as_str());
                    update.old_value = None;
                    current.push(update);
                }
                Got::There(None) => {}
                Got::NotYet | Got::Overwritten => return None,
            }
        }
        current.reverse(); // in the order they were written
        missing.is_empty().then_some(current)
    }

    /// Registers to be woken by the next entry; then whether it is worth waiting (nothing
    /// arrived meanwhile and the hub is open).
    fn sleep(&self, waker: &Waker) -> Sleep {
        {
            let mut slot = self.sleeper.waker.lock();
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }
        let inner = &*self.hub.inner;
        if !self.sleeper.asleep.swap(true, Ordering::SeqCst) {
            let mut sleepers = inner.sleepers.lock();
            sleepers.push(self.sleeper.clone());
            inner.wanted.0.has_sleepers.store(true, Ordering::SeqCst);
        }
        // Checked after the registration: a write or a close in between is not missed.
        let next = inner.log.get().map(|log| log.place(self.cursor));
        if next.is_some_and(|p| p != Place::NotYet)
            || inner.resyncs.load(Ordering::SeqCst) != self.resyncs
        {
            Sleep::Retry
        } else if inner.closed.load(Ordering::SeqCst) {
            Sleep::Ended
        } else {
            Sleep::Wait
        }
    }
}

enum Sleep {
    Retry,
    Wait,
    Ended,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let inner = &*self.hub.inner;
        if self.sleeper.asleep.load(Ordering::SeqCst) {
            inner
                .sleepers
                .lock()
                .retain(|s| !Arc::ptr_eq(s, &self.sleeper));
        }
        let _members = inner.members.lock();
        if self.registered && !inner.closed.load(Ordering::SeqCst) {
            inner.count.fetch_sub(1, Ordering::AcqRel);
            if self.timed {
                inner.timed.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// A variable as it stands, with who made its last write (or defined it, when it was
/// never written): what initial and resynchronised updates report (without an old value).
pub(crate) type Current = VariableUpdate;

/// `var` as it stands, last written by `source`.
pub(crate) fn current(var: &Variable, source: UpdateSource) -> Current {
    VariableUpdate {
        name: var.name.clone(),
        value: var.value.clone(),
        old_value: None,
        version: var.version,
        source,
        metadata: var.metadata.clone(),
    }
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
            .field("names", &self.subscription.names)
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
        for update in current {
            let seen = self
                .last_version
                .insert(update.name.clone(), update.version);
            let newer = start || seen.is_none_or(|v| v < update.version);
            if emit && newer {
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

    /// Like [`Watcher::next`], with the time (µs since the epoch) the write was published
    /// (for a watcher made `timed`; 0 otherwise) or, for a current value, read.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) async fn next_timed(&mut self) -> Option<(WatchEvent, u64)> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<(WatchEvent, u64)>> {
        // A watcher that always has events still lets its task's neighbours run.
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        for _ in 0..POLL_ROUNDS {
            if let Some(event) = self.pending.pop_front() {
                coop.made_progress();
                return Poll::Ready(Some(event));
            }
            match self.subscription.read() {
                Read::Update(update, published_us) => {
                    let last = self.last_version.entry(update.name.clone()).or_insert(0);
                    if update.version <= *last {
                        continue; // already covered by an initial or resynchronised value
                    }
                    *last = update.version;
                    coop.made_progress();
                    return Poll::Ready(Some((WatchEvent::Update(update), published_us)));
                }
                Read::Lagged => self.resync(),
                Read::Skipped => {}
                Read::CaughtUp => match self.subscription.sleep(cx.waker()) {
                    Sleep::Retry => {}
                    Sleep::Wait => return Poll::Pending,
                    Sleep::Ended => return Poll::Ready(None),
                },
            }
        }
        // Entries kept being lost as fast as they were read: let other tasks run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// After entries were lost to this watcher. When none of them was an update of its
    /// variables that the log no longer holds, it reads on from the oldest entry kept, and
    /// nothing is said. Otherwise it skips what is left of the log and queues `Lagged` with
    /// how many updates of its variables it did not receive (the versions they moved by
    /// since it last saw them), then the current value of each that moved.
    fn resync(&mut self) {
        let (from, to, in_log) = self.subscription.window();
        let current = match in_log.then(|| self.subscription.latest_in_log(from, to)) {
            Some(Some(current)) => current,
            _ => (self.snapshot)(self.subscription.names.as_ref()),
        };
        let moved: HashMap<String, u64> = current
            .iter()
            .filter_map(|c| {
                let seen = self.last_version.get(&c.name).copied().unwrap_or(0);
                (c.version > seen).then(|| (c.name.clone(), seen))
            })
            .collect();
        if moved.is_empty() {
            // Whatever the skipped entries hold of the watched variables was seen already.
            self.subscription.cursor = to;
            return;
        }
        if in_log && self.subscription.holds_every_update(from, to, &moved) {
            self.subscription.cursor = from;
            return;
        }
        self.subscription.cursor = to;
        let missed = current
            .iter()
            .filter_map(|c| Some(c.version - moved.get(&c.name)?))
            .sum();
        self.pending
            .push_back((WatchEvent::Lagged { missed }, now_us()));
        self.take_current(current, true);
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
