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

use proc_macro2::{Group, Span, TokenStream, TokenTree};

/// `tokens`, every one of them (in groups too) spanned on `span`: where the compiler
/// reports an error in the expression they make.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
}
