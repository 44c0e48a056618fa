//! A program's entry in `dspex::programs()`: its variables and modules described as
//! `const` data (`ProgramInfo`), submitted to `inventory`, beside the `const` assertions
//! on its `const` defaults.

use dspex_core::Value;
use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;

use crate::ast::{RustTy, unraw};
use crate::checked::{FieldVar, Module, ModuleSignature, Struct};
use crate::expand::definition::{const_checks, default_arg, var_type_tokens};
use crate::expand::program::path_text;
use crate::expand::respan;
use crate::lit;

fn static_value(var: &FieldVar, krate: &syn::Path) -> TokenStream {
    let variant = match var.rust_ty {
        RustTy::F64 => quote!(Float),
        RustTy::I64 => quote!(Integer),
        RustTy::String => quote!(String),
        RustTy::Bool => quote!(Boolean),
    };
    let expr = default_arg(&var.var);
    quote!(#krate::__private::StaticValue::#variant(#expr))
}

fn static_option<T: ToTokens>(v: &Option<T>, krate: &syn::Path) -> TokenStream {
    match v {
        Some(v) => quote!(#krate::__private::Some(#v)),
        None => quote!(#krate::__private::None),
    }
}

fn static_bound(v: &Value, krate: &syn::Path) -> TokenStream {
    let variant = match v {
        Value::Float(_) => quote!(Float),
        Value::Integer(_) => quote!(Integer),
        Value::String(_) => quote!(String),
        Value::Boolean(_) => quote!(Boolean),
    };
    let v = lit::tokens(v);
    quote!(#krate::__private::Some(#krate::__private::StaticValue::#variant(#v)))
}

fn variable_info(var: &FieldVar, krate: &syn::Path) -> TokenStream {
    let FieldVar { var: v, .. } = var;
    let name = &v.name;
    let ty = var_type_tokens(v.var_type, krate);
    let default = static_value(var, krate);
    let c = &v.constraints;
    let mut set = Vec::new();
    if let Some(min) = &c.min {
        let min = static_bound(min, krate);
        set.push(quote!(min: #min));
    }
    if let Some(max) = &c.max {
        let max = static_bound(max, krate);
        set.push(quote!(max: #max));
    }
    if let Some(n) = c.min_length {
        let n = static_option(&Some(Literal::usize_unsuffixed(n)), krate);
        set.push(quote!(min_length: #n));
    }
    if let Some(n) = c.max_length {
        let n = static_option(&Some(Literal::usize_unsuffixed(n)), krate);
        set.push(quote!(max_length: #n));
    }
    if let Some(pattern) = &c.pattern {
        let pattern = static_option(&Some(pattern), krate);
        set.push(quote!(pattern: #pattern));
    }
    if let Some(choices) = &c.choices {
        let choices = static_option(&Some(quote!(&[#(#choices),*])), krate);
        set.push(quote!(choices: #choices));
    }
    let constraints = if set.is_empty() {
        quote!(#krate::__private::StaticConstraints::NONE)
    } else {
        quote!(#krate::__private::StaticConstraints {
            #(#set,)*
            ..#krate::__private::StaticConstraints::NONE
        })
    };
    let description = static_option(&v.description, krate);
    quote! {
        #krate::__private::VariableInfo::new(#name, #ty, #default, #constraints, #description)
    }
}

/// `[(setting, variable), ...]` as literals.
pub fn binding_pairs(module: &Module) -> Vec<TokenStream> {
    module
        .bindings
        .iter()
        .map(|(setting, variable)| quote!((#setting, #variable)))
        .collect()
}

/// The module's `ModuleInfo`, and for a typed module of a built-in kind the `const`
/// assertion that its signature has no field the kind adds itself, spanned on the
/// signature so that the error points at `signature = S`.
fn module_info(module: &Module, krate: &syn::Path) -> (TokenStream, TokenStream) {
    let p = quote!(#krate::__private);
    let field = module.field.name();
    let module_type = module.module_type_name();
    let bindings = binding_pairs(module);
    match &module.signature {
        ModuleSignature::Text(signature) => (
            quote!(#p::ModuleInfo::new(#field, #module_type, #signature, &[#(#bindings),*])),
            TokenStream::new(),
        ),
        ModuleSignature::Typed(signature) => {
            let name = path_text(signature);
            let spec = respan(
                quote!(<#signature as #p::Signature>::spec),
                signature.span(),
            );
            let info = quote! {
                #p::ModuleInfo::typed(#field, #module_type, #name, #spec, &[#(#bindings),*])
            };
            let check = module.kind().map(|kind| {
                let assertion = respan(
                    quote!(#p::assert_no_reserved::<#signature, #p::#kind>()),
                    signature.span(),
                );
                quote!(const _: () = #assertion;)
            });
            (info, check.unwrap_or_default())
        }
    }
}

/// `const _: () = { <const checks>; inventory::submit!(ProgramInfo::new(...)) };`.
pub fn registry(input: &Struct) -> TokenStream {
    let Struct {
        ident,
        krate,
        vars,
        modules,
        ..
    } = input;
    let p = quote!(#krate::__private);
    let name = unraw(ident);
    let var_infos = vars.iter().map(|v| variable_info(v, krate));
    let (module_infos, reserved_checks): (Vec<_>, Vec<_>) =
        modules.iter().map(|m| module_info(m, krate)).unzip();
    let checks = vars.iter().map(|v| const_checks(&v.var));
    quote! {
        const _: () = {
            #(#checks)*
            #(#reserved_checks)*
            const PROGRAM: #p::ProgramInfo = #p::ProgramInfo::new(
                #name,
                ::core::module_path!(),
                &[#(#var_infos),*],
                &[#(#module_infos),*],
            );
            #p::inventory::submit! { PROGRAM }
        };
    }
}
