//! `defvariable!`: one `defvariable` call on the borrowed context, after the `const`
//! assertions on a `const` default.

use proc_macro2::TokenStream;
use quote::quote;

use crate::checked::DefVariable;
use crate::expand::definition::{const_checks, define_call};

/// The call, as an expression.
pub fn defvariable(input: &DefVariable) -> TokenStream {
    let krate = &input.krate;
    let p = quote!(#krate::__private);
    let ctx = &input.ctx;
    // Parenthesised unless it is a simple place or call, so that any expression borrows
    // as a whole.
    let ctx = match ctx {
        syn::Expr::Path(_)
        | syn::Expr::Field(_)
        | syn::Expr::Reference(_)
        | syn::Expr::MethodCall(_)
        | syn::Expr::Call(_)
        | syn::Expr::Paren(_) => quote!(#ctx),
        other => quote!((#other)),
    };
    let call = define_call(&quote!(#p::context(&#ctx)), &input.var, krate);
    let checks = const_checks(&input.var);
    if checks.is_empty() {
        call
    } else {
        quote!({
            #checks
            #call
        })
    }
}
