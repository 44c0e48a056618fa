//! Watching variables: the hub every table publishes its writes to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dspex_core::{Value, Variable};

/// Who made a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UpdateSource {
    /// Rust code (a Context).
    #[default]
    Rust,
    /// Python, through the bridge.
    Python,
}

/// Where a context's writes are published. Shared by the Local table and, after the
/// switch, the bridged session's table, so watchers see one unbroken stream.
#[derive(Clone, Default)]
pub struct WatchHub {
    inner: Arc<HubInner>,
}

#[derive(Default)]
struct HubInner {
    watchers: AtomicUsize,
}

impl WatchHub {
    /// Called by the table, under its write lock, after every successful write.
    pub(crate) fn publish(&self, _var: &Variable, _old: Value, _source: UpdateSource) {
        if self.inner.watchers.load(Ordering::Acquire) == 0 {}
    }
}
