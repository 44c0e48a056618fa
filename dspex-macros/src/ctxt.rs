//! Error accumulation (serde_derive's `Ctxt`): every phase records its errors here instead
//! of stopping at the first, so one build reports them all, each on its own token.
//!
//! [`Ctxt::check`] consumes the context and hands the errors back; dropping a context
//! that was never checked panics, so an error can never be recorded and then lost.

use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

use quote::ToTokens;

/// The errors found so far.
pub struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
    checked: bool,
}

impl Ctxt {
    /// No errors yet.
    pub fn new() -> Ctxt {
        Ctxt {
            errors: RefCell::new(Vec::new()),
            checked: false,
        }
    }

    /// Records an error spanned on `tokens` (from their first to their last token).
    pub fn error_spanned_by<T: ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.errors
            .borrow_mut()
            .push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records a parse error.
    pub fn syn_error(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    /// Whether anything was recorded so far (a later phase that needs a clean model
    /// stops here).
    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// Ends the accumulation: `Ok` when nothing was recorded, else every error combined
    /// into one (which renders as one `compile_error!` per error, in order).
    pub fn check(mut self) -> syn::Result<()> {
        self.checked = true;
        let mut errors = std::mem::take(self.errors.get_mut()).into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        // A panic already unwinding says more than this one would.
        if !self.checked && !thread::panicking() {
            panic!("dspex-macros: a Ctxt was dropped without `check()`: its errors would be lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_returns_every_error_in_order() {
        let cx = Ctxt::new();
        cx.error_spanned_by(quote::quote!(a), "first");
        cx.syn_error(syn::Error::new(proc_macro2::Span::call_site(), "second"));
        let errors = cx
            .check()
            .err()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>());
        assert_eq!(errors, Some(vec!["first".to_owned(), "second".to_owned()]));
    }

    #[test]
    fn check_without_errors_is_ok() {
        assert!(Ctxt::new().check().is_ok());
    }

    #[test]
    #[should_panic(expected = "dropped without `check()`")]
    fn dropping_an_unchecked_ctxt_panics() {
        let cx = Ctxt::new();
        cx.error_spanned_by(quote::quote!(a), "lost");
        drop(cx);
    }
}
