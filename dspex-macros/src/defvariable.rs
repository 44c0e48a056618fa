//! `defvariable!(ctx, name: type = default, key = value, …)`, optionally preceded by
//! `crate = path;`, read into the parsed model ([`DefVariable`]). The keys after the
//! default are the `#[var]` keys a declared type leaves (`attr.rs`).

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Token};

use crate::ast::{DefVariable, Var, default_crate, unraw};
use crate::attr::{self, Entry, VarKeys};
use crate::ctxt::Ctxt;
use crate::key::Site;

/// The arguments as written, before any key is interpreted.
struct Raw {
    krate: Option<syn::Path>,
    ctx: Expr,
    /// The name: an identifier, or a string literal for a dotted name.
    name: Name,
    ty: Ident,
    default: Expr,
    entries: Vec<Entry>,
}

enum Name {
    Ident(Ident),
    Lit(LitStr),
}

fn parse_raw(input: ParseStream) -> syn::Result<Raw> {
    let krate = if input.peek(Token![crate]) && input.peek2(Token![=]) {
        input.parse::<Token![crate]>()?;
        input.parse::<Token![=]>()?;
        let path: syn::Path = input.parse()?;
        input.parse::<Token![;]>()?;
        Some(path)
    } else {
        None
    };
    let ctx: Expr = input.parse()?;
    input.parse::<Token![,]>()?;
    let name = if input.peek(LitStr) {
        Name::Lit(input.parse()?)
    } else {
        Name::Ident(input.call(syn::ext::IdentExt::parse_any)?)
    };
    input.parse::<Token![:]>()?;
    let ty: Ident = input.call(syn::ext::IdentExt::parse_any)?;
    input.parse::<Token![=]>()?;
    let default: Expr = input.parse()?;
    let mut entries = Vec::new();
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        entries.push(attr::parse_entry(input)?);
    }
    Ok(Raw {
        krate,
        ctx,
        name,
        ty,
        default,
        entries,
    })
}

/// Parses the `defvariable!` arguments. `None` when they are not of its shape (the error
/// is recorded).
pub fn parse(cx: &Ctxt, tokens: TokenStream) -> Option<DefVariable> {
    let raw = match parse_raw.parse2(tokens) {
        Ok(raw) => raw,
        Err(e) => {
            cx.syn_error(syn::Error::new(
                e.span(),
                format!(
                    "{e}\nexpected `defvariable!(ctx, name: type = default, key = value, …)`, \
                     with type one of float, integer, string, boolean, choice, module"
                ),
            ));
            return None;
        }
    };
    let (name, name_tokens) = match &raw.name {
        Name::Ident(ident) => (unraw(ident), ident.to_token_stream()),
        Name::Lit(lit) => (lit.value(), lit.to_token_stream()),
    };
    let mut var = Var::new(name, name_tokens, None);
    attr::declared_type(cx, &mut var, raw.ty);
    let mut keys = VarKeys::new(cx, &mut var, Site::DefVariable);
    keys.set_default(Ident::new("default", Span::call_site()), raw.default);
    for entry in raw.entries {
        keys.apply(entry);
    }
    Some(DefVariable {
        krate: raw.krate.unwrap_or_else(default_crate),
        ctx: raw.ctx,
        var,
    })
}
