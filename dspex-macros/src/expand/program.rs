//! `#[dspex::program]`: the rewritten struct, its `impl` (`new`, `context`, one getter and
//! setter per variable, one accessor per module), and its registry entry.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;

use crate::api::{self, AccessorType, ModuleField};
use crate::checked::{FieldVar, Module, ModuleSignature, Struct};
use crate::expand::definition::{definition, summary};
use crate::expand::registry::{binding_pairs, registry};
use crate::expand::respan;

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
    let module_type = module.module_type_name();
    let bindings = binding_pairs(module);
    let (doc, body) = match &module.signature {
        ModuleSignature::Text(signature) => (
            format!(
                " The `{module_type}` module (`{signature}`). The first call bridges the Context and creates it; later calls return it."
            ),
            quote! {
                static SPEC: #p::ModuleSpec = #p::ModuleSpec {
                    module_type: #module_type,
                    signature: #signature,
                    bindings: &[#(#bindings),*],
                };
                self.#name.get_or_init(&self.ctx, &SPEC).await
            },
        ),
        ModuleSignature::Typed(signature) => {
            let create = typed_constructor(module, signature, krate);
            (
                format!(
                    " The `{module_type}` module with the typed signature `{}`. The first call bridges the Context and creates it; later calls return it.",
                    path_text(signature)
                ),
                quote! {
                    self.#name.get_or_init(|| #create, &[#(#bindings),*]).await
                },
            )
        }
    };
    let field = ModuleField {
        field: &module.field,
        typed: module.typed_signature(),
    };
    api::module_accessor(krate, field, quote!(#docs #[doc = #doc]), body)
}

/// The call creating a typed module: the typed constructor of a built-in kind (which
/// checks the reserved names at compile time), else `TypedModule::new` with the type's name.
fn typed_constructor(module: &Module, signature: &syn::Path, krate: &syn::Path) -> TokenStream {
    let p = quote!(#krate::__private);
    // Spanned on the signature: a type that is no `Signature` is reported there.
    let create = match module.kind() {
        Some(kind) if kind == "ReAct" => {
            quote!(#p::#kind::typed::<#signature>(&self.ctx, ::core::iter::empty::<&'static str>()))
        }
        Some(kind) => quote!(#p::#kind::typed::<#signature>(&self.ctx)),
        None => {
            let module_type = module.module_type_name();
            quote!(#p::TypedModule::<#signature>::new(&self.ctx, #module_type))
        }
    };
    respan(create, signature.span())
}

/// A path as written, without spaces (`signatures::Qa`).
pub fn path_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
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
        match m.typed_signature() {
            Some(_) => quote!(#name: #p::TypedModuleSlot::new()),
            None => quote!(#name: #p::ModuleSlot::new()),
        }
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
    let structure = api::program_struct(
        attrs,
        vis,
        ident,
        krate,
        modules.iter().map(|m| ModuleField {
            field: &m.field,
            typed: m.typed_signature(),
        }),
    );
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
