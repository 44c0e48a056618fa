//! The Local backend: variables in this process only. Reads cost one uncontended lock and
//! one hash lookup.

use std::sync::Arc;

use super::{BackendKind, StateProvider, VariableTable, forward_to_table};
use crate::watch::WatchHub;

/// In-process variables. The default backend of a new Context.
#[derive(Default)]
pub(crate) struct LocalState {
    /// Shared, not owned: bridging publishes this very table to the session store.
    table: Arc<VariableTable>,
}

impl LocalState {
    /// An empty local state that publishes writes to `hub`.
    pub(crate) fn with_hub(hub: WatchHub) -> Self {
        Self {
            table: Arc::new(VariableTable::new(hub)),
        }
    }
}

impl StateProvider for LocalState {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    forward_to_table!();

    /// Publishes this table, as it is, as the session `session_id`: nothing is copied, so
    /// ids, versions, definitions and watchers all carry over. Fails (and changes
    /// nothing) when the id is taken.
    #[cfg(feature = "python")]
    fn serve(
        self: Arc<Self>,
        store: &crate::store::SessionStore,
        session_id: &str,
    ) -> dspex_core::Result<Arc<dyn StateProvider>> {
        let table = self.table.clone();
        let session = store.insert_session(session_id, self)?;
        let migrated: dspex_core::Metadata =
            [("migrated_from".to_owned(), "local".to_owned())].into();
        table.add_metadata(&migrated);
        Ok(Arc::new(super::BridgedState::new(table, session)))
    }
}
