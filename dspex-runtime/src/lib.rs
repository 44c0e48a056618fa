//! The dspex runtime: [`Context`], the state backends, the bridge, the Python worker pool
//! and the Rust handles to DSPy modules. Users depend on the `dspex` crate, which
//! re-exports everything here.
#![warn(missing_docs)]

mod context;
mod ids;
pub mod state;
mod watch;

pub use context::Context;
pub use dspex_core::*;
pub use state::{BackendInfo, BackendKind, LocalState, StateProvider, VariableTable, WriteOptions};
pub use watch::{UpdateSource, WatchHub};
