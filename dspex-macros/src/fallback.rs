//! What is emitted beside compile errors, so that one mistake gives one error: the user's
//! item keeps existing with the API the correct code would have — the same struct, the
//! same method signatures (`api.rs`) — and bodies that never run; nothing is registered.
//! Code using the item therefore compiles against it and adds no errors of its own.
//!
//! Built from the parsed model alone: when a rule failed there is no checked model.

use proc_macro2::TokenStream;
use quote::quote;

use crate::api::{self, AccessorType, ModuleField, VariableSetBodies};
use crate::ast::{self, DefVariable, Struct};

/// A body that never runs (the crate does not compile).
fn never(krate: &syn::Path) -> TokenStream {
    quote!(#krate::__private::unreachable_fallback())
}

/// `#[dspex::program]` with errors: the rewritten struct and every accessor it would have.
pub fn program(input: &Struct) -> TokenStream {
    let Struct {
        attrs,
        vis,
        ident,
        krate,
        vars,
        modules,
        ..
    } = input;
    let never = never(krate);
    let accessors = vars.iter().filter_map(|var| {
        let field = var.field.as_ref()?;
        let ty = AccessorType::of(field, krate);
        let docs = api::field_docs(field);
        let getter = api::getter(krate, field, &ty, docs, never.clone());
        let setter = api::setter(krate, field, &ty, quote!(), quote!(_), never.clone());
        Some(quote!(#getter #setter))
    });
    let module_accessors = modules.iter().map(|m| {
        api::module_accessor(
            krate,
            module_field(m),
            api::field_docs(&m.field),
            never.clone(),
        )
    });
    let structure = api::program_struct(attrs, vis, ident, krate, modules.iter().map(module_field));
    // The rewritten struct has no generics (a generic struct is refused).
    let implementation = api::program_impl(
        krate,
        ident,
        &syn::Generics::default(),
        never.clone(),
        never.clone(),
        quote!(#(#accessors)* #(#module_accessors)*),
    );
    quote!(#structure #implementation)
}

fn module_field(module: &ast::Module) -> ModuleField<'_> {
    ModuleField {
        field: &module.field,
        typed: module.typed_signature(),
    }
}

/// `#[dspex::program]` on an item that is not a struct with named fields: the item as
/// written, without the attributes only the macro reads, and the program's `new` and
/// `context`.
pub fn rejected_program(item: &syn::DeriveInput, krate: &syn::Path) -> TokenStream {
    let mut item = item.clone();
    item.attrs.retain(|a| !a.path().is_ident("dspex"));
    match &mut item.data {
        syn::Data::Struct(data) => strip_helpers(data.fields.iter_mut()),
        syn::Data::Enum(data) => data
            .variants
            .iter_mut()
            .for_each(|v| strip_helpers(v.fields.iter_mut())),
        syn::Data::Union(data) => strip_helpers(data.fields.named.iter_mut()),
    }
    let never = never(krate);
    let implementation = api::program_impl(
        krate,
        &item.ident,
        &item.generics,
        never.clone(),
        never,
        TokenStream::new(),
    );
    quote!(#item #implementation)
}

/// Removes `#[var]` and `#[module]`: they are not attributes rustc knows.
fn strip_helpers<'a>(fields: impl Iterator<Item = &'a mut syn::Field>) {
    for field in fields {
        field
            .attrs
            .retain(|a| !(a.path().is_ident("var") || a.path().is_ident("module")));
    }
}

/// `#[derive(Variables)]` with errors, or on an item that is not a struct with named
/// fields: the `VariableSet` impl. rustc keeps the item itself.
pub fn variables(ident: &syn::Ident, generics: &syn::Generics, krate: &syn::Path) -> TokenStream {
    let never = never(krate);
    api::variable_set_impl(
        krate,
        ident,
        generics,
        VariableSetBodies {
            ctx: quote!(_),
            register: never.clone(),
            load: never.clone(),
            store: never.clone(),
            defaults: never,
        },
    )
}

/// `defvariable!` with errors: an expression of its type that borrows the context, as the
/// call would.
pub fn defvariable(input: &DefVariable) -> TokenStream {
    let krate = &input.krate;
    let ctx = &input.ctx;
    quote!({
        let _ = &#ctx;
        #krate::__private::unreachable_fallback::<#krate::__private::DefResult>()
    })
}
