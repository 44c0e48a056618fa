//! Phase 3: checked model (`checked.rs`) → code. The code is plain calls on the runtime —
//! `ctx.defvariable(...)`, `ctx.get::<f64>(...)`, `ctx.update_many(...)` — that a person
//! could have written, and it names only `::dspex::__private::...` paths (or the
//! `crate = "..."` path). Nothing here can fail: every decision was made by `check.rs`.
//! When the input had errors, `fallback.rs` emits the API instead.

mod definition;
mod defvariable;
mod program;
mod registry;
mod variables;

pub use defvariable::defvariable;
pub use program::program;
pub use variables::variables;
