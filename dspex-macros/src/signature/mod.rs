//! `#[derive(Signature)]`: `parse.rs` (tokens → model), `check.rs` (model against the
//! rules → checked model), `expand.rs` (checked model → code), `fallback.rs` (the code
//! emitted beside errors).

pub mod check;
pub mod expand;
pub mod fallback;
pub mod parse;
