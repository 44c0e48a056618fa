//! The runtime the library owns. The bridge server (and the worker pool) run here, not on
//! the caller's runtime, so they outlive any one caller (each `#[tokio::test]` has its own
//! runtime, and all of them share the one bridge).
//!
//! It is a current-thread runtime on one dedicated thread: the bridge's handlers only touch
//! in-process memory, so one thread serves them without waking a second core per call.
//! Nothing slow may run on it: a request large enough for its checks to take milliseconds
//! is handled on the blocking pool (`bridge/service.rs`), the checks run outside the
//! table's lock (`state/table.rs`), and the limits (`dspex_core::limits`) bound what any
//! one check can cost.

use std::sync::OnceLock;

use dspex_core::{Error, Result};
use tokio::runtime::Handle;

/// The handle of the library's runtime, started on first use.
pub(crate) fn handle() -> Result<&'static Handle> {
    static HANDLE: OnceLock<std::result::Result<Handle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(start)
        .as_ref()
        .map_err(|message| Error::Bridge {
            message: message.clone(),
        })
}

fn start() -> std::result::Result<Handle, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("dspex-runtime")
        .build()
        .map_err(|e| format!("could not start the dspex runtime: {e}"))?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("dspex-runtime".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .map_err(|e| format!("could not start the dspex runtime thread: {e}"))?;
    Ok(handle)
}
