//! `#[derive(Variables)]`: the `VariableSet` impl — `register` defines every field's
//! variable, `load` reads them as one snapshot, `store` writes them all or none,
//! `defaults` builds the struct from the declared defaults.

use proc_macro2::TokenStream;
use quote::quote;

use crate::api::{self, VariableSetBodies};
use crate::ast::RustTy;
use crate::checked::Struct;
use crate::expand::definition::{const_checks, default_owned, definition};

/// The `VariableSet` impl, after the `const` assertions on `const` defaults.
pub fn variables(input: &Struct) -> TokenStream {
    let Struct {
        ident,
        krate,
        vars,
        generics,
        ..
    } = input;
    let p = quote!(#krate::__private);
    let fields: Vec<&syn::Ident> = vars.iter().map(|v| &v.field.ident).collect();
    let names: Vec<&str> = vars.iter().map(|v| v.var.name.as_str()).collect();
    let count = vars.len();
    let definitions = vars.iter().map(|var| definition(&var.var, krate));
    let values = vars.iter().map(|var| {
        let field = &var.field.ident;
        if var.rust_ty == RustTy::String {
            quote!(#p::Value::from(&self.#field))
        } else {
            quote!(#p::Value::from(self.#field))
        }
    });
    let defaults = vars
        .iter()
        .map(|var| default_owned(&var.var, var.rust_ty, krate));
    let checks = vars.iter().map(|v| const_checks(&v.var));
    let implementation = api::variable_set_impl(
        krate,
        ident,
        generics,
        VariableSetBodies {
            ctx: quote!(ctx),
            register: quote! {
                ctx.defvariables([#(#definitions),*])?;
                #p::Ok(())
            },
            load: quote! {
                let mut snapshot = ctx.get_many(&[#(#names),*])?;
                #p::Ok(Self {
                    #(#fields: #p::take_value(&mut snapshot, #names)?,)*
                })
            },
            store: quote! {
                let updates: [(&str, #p::Value); #count] = [#((#names, #values)),*];
                ctx.update_many(updates)
            },
            defaults: quote! {
                Self {
                    #(#fields: #defaults,)*
                }
            },
        },
    );
    quote! {
        #(#checks)*

        #implementation
    }
}
