//! The Bridged backend: the Context's variables live in the process-wide
//! [`SessionStore`](crate::SessionStore), where the bridge serves them to Python. Rust-side
//! calls read and write the store in-process: no network, no loopback.

use std::sync::Arc;

use super::{BackendKind, StateProvider, VariableTable, forward_to_table};
use crate::store::{Session, SessionStore};

/// A Context's variables in its bridge session. Dropping it (when the last clone of its
/// Context goes) removes the session.
pub(crate) struct BridgedState {
    session: Arc<Session>,
}

impl BridgedState {
    /// Takes ownership of a session: while this lives, the session never expires.
    pub(crate) fn new(session: Arc<Session>) -> Self {
        session.set_owned(true);
        Self { session }
    }
}

impl Drop for BridgedState {
    fn drop(&mut self) {
        self.session.set_owned(false);
        SessionStore::global().remove_exact(&self.session);
    }
}

impl StateProvider for BridgedState {
    fn kind(&self) -> BackendKind {
        BackendKind::Bridged
    }

    fn table(&self) -> &VariableTable {
        self.session.table()
    }

    forward_to_table!();
}
