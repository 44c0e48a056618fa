//! The Local backend: variables in this process only. Reads cost one uncontended lock and
//! one hash lookup.

use super::{BackendKind, StateProvider, VariableTable, forward_to_table};
use crate::watch::WatchHub;

/// In-process variables. The default backend of a new Context.
#[derive(Default)]
pub(crate) struct LocalState {
    table: VariableTable,
}

impl LocalState {
    /// An empty local state that publishes writes to `hub`.
    pub(crate) fn with_hub(hub: WatchHub) -> Self {
        Self {
            table: VariableTable::new(hub),
        }
    }
}

impl StateProvider for LocalState {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn table(&self) -> &VariableTable {
        &self.table
    }

    forward_to_table!();
}
