//! The function a `#[dspex::tool]` is on, read as a tool: its name, its doc comment (the
//! description), its parameters (the arguments, each with its doc comment) and whether it
//! is async and returns a `Result`.

use proc_macro2::TokenStream;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::attr::doc_comment;
use crate::ctxt::Ctxt;

/// One argument of the tool.
pub struct Param {
    pub ident: Ident,
    pub ty: Type,
    /// Its `///` comments: the argument's description in the schema.
    pub docs: Vec<Attribute>,
}

/// A function read as a tool.
pub struct ToolFn {
    /// The function as it is emitted: the parameters' doc comments (which Rust does not
    /// allow there) moved into the argument struct.
    pub item: ItemFn,
    pub krate: syn::Path,
    pub description: String,
    pub params: Vec<Param>,
    /// Whether the function returns `Result<T, E>` (read as the tool's success or
    /// failure), by the name of its return type.
    pub returns_result: bool,
}

impl ToolFn {
    /// The function's name.
    pub fn ident(&self) -> &Ident {
        &self.item.sig.ident
    }
}

/// Reads `item`; every mistake is recorded in `cx`. `None` when `item` is no function.
pub fn parse(cx: &Ctxt, args: TokenStream, item: TokenStream) -> Option<ToolFn> {
    let krate = crate::attr::crate_args(cx, args, "#[dspex::tool]")
        .unwrap_or_else(crate::ast::default_crate);
    let mut item: ItemFn = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => {
            cx.syn_error(syn::Error::new(
                e.span(),
                "#[dspex::tool] applies to a function (`fn` or `async fn`)",
            ));
            return None;
        }
    };
    let sig = &item.sig;
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "a tool cannot be generic: the agent calls it with arguments of fixed types",
        );
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        cx.error_spanned_by(unsafety, "a tool cannot be an `unsafe fn`");
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "a tool cannot be variadic");
    }
    let mut params = Vec::new();
    for input in item.sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(receiver) => cx.error_spanned_by(
                &*receiver,
                "a tool is a free function: use `Tool::new` with a closure to call a method",
            ),
            FnArg::Typed(typed) => {
                let (docs, kept): (Vec<Attribute>, Vec<Attribute>) =
                    std::mem::take(&mut typed.attrs)
                        .into_iter()
                        .partition(|a| a.path().is_ident("doc"));
                typed.attrs = kept;
                if let Some(param) = param(cx, &typed.pat, &typed.ty, docs) {
                    params.push(param);
                }
            }
        }
    }
    let returns_result = match &item.sig.output {
        ReturnType::Type(_, ty) => is_result(ty),
        ReturnType::Default => false,
    };
    let description = doc_comment(&item.attrs).unwrap_or_default();
    Some(ToolFn {
        item,
        krate,
        description,
        params,
        returns_result,
    })
}

fn param(cx: &Ctxt, pat: &Pat, ty: &Type, docs: Vec<Attribute>) -> Option<Param> {
    let ident = match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
        other => {
            cx.error_spanned_by(
                other,
                "a tool's parameter is a plain name (its name is the argument's name)",
            );
            return None;
        }
    };
    match ty {
        Type::Reference(r) => {
            cx.error_spanned_by(
                r,
                format!(
                    "parameter `{ident}`: a tool's arguments are owned values read from JSON \
                     (e.g. `String`, not `&str`)"
                ),
            );
            None
        }
        Type::ImplTrait(t) => {
            cx.error_spanned_by(
                t,
                format!(
                    "parameter `{ident}`: a tool's arguments have named types, not `impl Trait`"
                ),
            );
            None
        }
        _ => Some(Param {
            ident,
            ty: ty.clone(),
            docs,
        }),
    }
}

/// Whether `ty` names a `Result` (`Result<T, E>`, `io::Result<T>`, `dspex::Result<T>`...).
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Result"),
        Type::Paren(inner) => is_result(&inner.elem),
        Type::Group(inner) => is_result(&inner.elem),
        _ => false,
    }
}
