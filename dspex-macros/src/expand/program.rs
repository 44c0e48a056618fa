//! `#[dspex::program]`: the rewritten struct, its `impl` (`new`, `context`, one getter and
//! setter per variable, one accessor per module), and its registry entry.

use proc_macro2::TokenStream;
use quote::quote;

use crate::api::{self, AccessorType};
use crate::checked::{FieldVar, Module, Struct};
use crate::expand::definition::{definition, summary};
use crate::expand::registry::{module_parts, registry};

fn var_accessors(var: &FieldVar, krate: &syn::Path) -> TokenStream {
    let p = quote!(#krate::__private);
    let field = &var.field;
    let name = &var.var.name;
    let ty = AccessorType::of(field, krate);
    let rust = &ty.ty;
    let docs = api::field_docs(field);
    let get_doc = format!(" Reads the variable `{name}` ({}).", summary(&var.var));
    let set_doc = format!(
        " Writes the variable `{name}`; returns its new version. A value it refuses changes nothing."
    );
    let set_body = if ty.string {
        quote!(self.ctx.set(#name, #p::Into::<#rust>::into(value)))
    } else {
        quote!(self.ctx.set(#name, value))
    };
    let getter = api::getter(
        krate,
        field,
        &ty,
        quote!(#docs #[doc = #get_doc]),
        quote!(self.ctx.get::<#rust>(#name)),
    );
    let setter = api::setter(
        krate,
        field,
        &ty,
        quote!(#[doc = #set_doc]),
        quote!(value),
        set_body,
    );
    quote!(#getter #setter)
}

fn module_accessor(module: &Module, krate: &syn::Path) -> TokenStream {
    let p = quote!(#krate::__private);
    let name = &module.field.ident;
    let docs = api::field_docs(&module.field);
    let (module_type, signature, bindings) = module_parts(module);
    let doc = format!(
        " The `{module_type}` module (`{signature}`). The first call bridges the Context and creates it; later calls return it."
    );
    api::module_accessor(
        krate,
        &module.field,
        quote!(#docs #[doc = #doc]),
        quote! {
            static SPEC: #p::ModuleSpec = #p::ModuleSpec {
                module_type: #module_type,
                signature: #signature,
                bindings: &[#(#bindings),*],
            };
            self.#name.get_or_init(&self.ctx, &SPEC).await
        },
    )
}

/// The program struct, its `impl` and its registry entry.
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
    let p = quote!(#krate::__private);
    let definitions = vars.iter().map(|var| definition(&var.var, krate));
    let slot_inits = modules.iter().map(|m| {
        let name = &m.field.ident;
        quote!(#name: #p::ModuleSlot::new())
    });
    let new_body = quote! {
        ctx.defvariables([#(#definitions),*])?;
        #p::Ok(Self {
            ctx: ::core::clone::Clone::clone(ctx),
            #(#slot_inits,)*
        })
    };
    let accessors = vars.iter().map(|var| var_accessors(var, krate));
    let module_accessors = modules.iter().map(|m| module_accessor(m, krate));
    let structure = api::program_struct(attrs, vis, ident, krate, modules.iter().map(|m| &m.field));
    let implementation = api::program_impl(
        krate,
        ident,
        &syn::Generics::default(),
        new_body,
        quote!(&self.ctx),
        quote!(#(#accessors)* #(#module_accessors)*),
    );
    let registry = registry(input);
    quote! {
        #structure
        #implementation
        #registry
    }
}
