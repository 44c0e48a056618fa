//! A checked variable as code: its definition (`VariableDef::new(...)` or a
//! `ctx.defvariable(...)` call), its default, and the `const` assertions on a `const`
//! default.

use dspex_core::{Constraints, VarType};
use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::RustTy;
use crate::checked::{BoundOp, DefaultValue, Var};
use crate::lit;

pub fn var_type_tokens(var_type: VarType, krate: &syn::Path) -> TokenStream {
    let variant = match var_type {
        VarType::Float => quote!(Float),
        VarType::Integer => quote!(Integer),
        VarType::String => quote!(String),
        VarType::Boolean => quote!(Boolean),
        VarType::Choice => quote!(Choice),
        VarType::Module => quote!(Module),
    };
    quote!(#krate::__private::VarType::#variant)
}

/// `Constraints::new().min(0.0f64).max(2.0f64)`, or `None` when there are none.
fn constraints_tokens(c: &Constraints, krate: &syn::Path) -> Option<TokenStream> {
    if c.is_empty() {
        return None;
    }
    let mut calls = TokenStream::new();
    if let Some(min) = &c.min {
        let v = lit::tokens(min);
        calls.extend(quote!(.min(#v)));
    }
    if let Some(max) = &c.max {
        let v = lit::tokens(max);
        calls.extend(quote!(.max(#v)));
    }
    if let Some(n) = c.min_length {
        let n = Literal::usize_unsuffixed(n);
        calls.extend(quote!(.min_length(#n)));
    }
    if let Some(n) = c.max_length {
        let n = Literal::usize_unsuffixed(n);
        calls.extend(quote!(.max_length(#n)));
    }
    if let Some(p) = &c.pattern {
        calls.extend(quote!(.pattern(#p)));
    }
    if let Some(choices) = &c.choices {
        calls.extend(quote!(.choices([#(#choices),*])));
    }
    Some(quote!(#krate::__private::Constraints::new() #calls))
}

/// `VarOptions::new().constraints(...).description("...")`.
fn options_tokens(var: &Var, krate: &syn::Path) -> TokenStream {
    let mut opts = quote!(#krate::__private::VarOptions::new());
    if let Some(c) = constraints_tokens(&var.constraints, krate) {
        opts.extend(quote!(.constraints(#c)));
    }
    if let Some(d) = &var.description {
        opts.extend(quote!(.description(#d)));
    }
    opts
}

/// The default as an argument of `defvariable` (anything `Into<Value>`).
pub fn default_arg(var: &Var) -> TokenStream {
    match &var.default {
        DefaultValue::Literal(value) => lit::tokens(value),
        DefaultValue::Const(path) => path.to_token_stream(),
        DefaultValue::Runtime(expr) => expr.clone(),
    }
}

/// The default as an expression of the field's type (`String` for strings).
pub fn default_owned(var: &Var, rust_ty: RustTy, krate: &syn::Path) -> TokenStream {
    let expr = default_arg(var);
    if rust_ty == RustTy::String {
        quote!(#krate::__private::String::from(#expr))
    } else {
        expr
    }
}

/// `ctx.defvariable("name", VarType::Float, 0.7f64, VarOptions::new()...)`.
pub fn define_call(ctx: &TokenStream, var: &Var, krate: &syn::Path) -> TokenStream {
    let name = &var.name;
    let ty = var_type_tokens(var.var_type, krate);
    let default = default_arg(var);
    let opts = options_tokens(var, krate);
    quote!(#ctx.defvariable(#name, #ty, #default, #opts))
}

/// `VariableDef::new("name", VarType::Float, 0.7f64, VarOptions::new()...)`, for
/// `ctx.defvariables([...])`: a struct's variables are defined all or nothing.
pub fn definition(var: &Var, krate: &syn::Path) -> TokenStream {
    let name = &var.name;
    let ty = var_type_tokens(var.var_type, krate);
    let default = default_arg(var);
    let opts = options_tokens(var, krate);
    quote!(#krate::__private::VariableDef::new(#name, #ty, #default, #opts))
}

/// `const _: () = assert!(...)` for a `const` default against numeric bounds.
pub fn const_checks(var: &Var) -> TokenStream {
    let DefaultValue::Const(path) = &var.default else {
        return TokenStream::new();
    };
    var.const_checks
        .iter()
        .map(|check| {
            let bound = lit::tokens(&check.bound);
            let op = match check.op {
                BoundOp::AtLeast => quote!(>=),
                BoundOp::AtMost => quote!(<=),
            };
            let message = &check.message;
            // Spanned on the path, so the failed assertion points at the default.
            quote_spanned!(path.span()=> const _: () = ::core::assert!(#path #op #bound, #message);)
        })
        .collect()
}

/// A one-line summary of a variable for the getter's docs: "float, default 0.7, min 0.0".
pub fn summary(var: &Var) -> String {
    let mut parts = vec![var.var_type.as_str().to_owned()];
    match &var.default {
        DefaultValue::Literal(v) => parts.push(format!("default {v}")),
        DefaultValue::Const(p) => parts.push(format!(
            "default `{}`",
            p.to_token_stream().to_string().replace(' ', "")
        )),
        DefaultValue::Runtime(_) => {}
    }
    let c = &var.constraints;
    if let Some(v) = &c.min {
        parts.push(format!("min {v}"));
    }
    if let Some(v) = &c.max {
        parts.push(format!("max {v}"));
    }
    if let Some(v) = &c.min_length {
        parts.push(format!("min_length {v}"));
    }
    if let Some(v) = &c.max_length {
        parts.push(format!("max_length {v}"));
    }
    if let Some(v) = &c.pattern {
        parts.push(format!("pattern {v:?}"));
    }
    if let Some(v) = &c.choices {
        parts.push(format!("choices {v:?}"));
    }
    parts.join(", ")
}
