//! `#[dspex::tool]`: `parse.rs` (the function → the model of its tool, every mistake
//! recorded), `expand.rs` (the model → the function as written and its `{name}_tool()`,
//! or the fallback beside the errors).

pub mod expand;
pub mod parse;
