//! The Local backend: variables in this process only. Reads cost one uncontended lock and
//! one hash lookup.

use super::{BackendKind, StateProvider, VariableTable, forward_to_table};
use crate::watch::WatchHub;

/// In-process variables. The default backend of a new Context.
///
/// ```
/// use dspex::{LocalState, StateProvider, VarOptions, VarType};
/// let state = LocalState::new();
/// state.register("n", VarType::Integer, 1.into(), VarOptions::new()).unwrap();
/// assert_eq!(state.get("n").unwrap(), 1.into());
/// ```
#[derive(Default)]
pub struct LocalState {
    table: VariableTable,
}

impl LocalState {
    /// An empty local state.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty local state that publishes writes to `hub`.
    pub fn with_hub(hub: WatchHub) -> Self {
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

    fn cleanup(&self) {
        self.table.clear();
    }

    forward_to_table!();
}
