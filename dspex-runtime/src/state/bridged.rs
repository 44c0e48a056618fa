//! The Bridged backend: the Context's variables are published in the process-wide
//! [`SessionStore`](crate::SessionStore), where the bridge serves them to Python. Rust-side
//! calls read and write the same in-process table: no network, no loopback.

use std::sync::Arc;

use super::{BackendKind, StateProvider, VariableTable, forward_to_table};
use crate::store::{Session, SessionStore};

/// A Context's variables, published as its bridge session. Dropping it (when the last
/// clone of its Context goes) removes the session.
pub(crate) struct BridgedState {
    table: Arc<VariableTable>,
    session: Arc<Session>,
}

impl BridgedState {
    /// Takes ownership of the session that serves `table`: while this lives, the session
    /// never expires.
    pub(crate) fn new(table: Arc<VariableTable>, session: Arc<Session>) -> Self {
        session.set_owned(true);
        Self { table, session }
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

    forward_to_table!();

    /// Already served.
    fn serve(
        self: Arc<Self>,
        _store: &SessionStore,
        _session_id: &str,
    ) -> dspex_core::Result<Arc<dyn StateProvider>> {
        Ok(self)
    }
}
