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
    let optimizable = optimizable(input);
    quote! {
        #structure
        #implementation
        #registry
        #optimizable
    }
}

/// For a program with typed modules: `impl Optimizable` (its examples are those of its last
/// typed module's signature), `impl DeclaredProgram` (what `load` checks a file against),
/// and `load`. A program whose modules all have string signatures has no typed examples,
/// so none of this.
fn optimizable(input: &Struct) -> TokenStream {
    let Struct {
        ident,
        krate,
        vars,
        modules,
        ..
    } = input;
    let Some(signature) = modules.iter().rev().find_map(|m| m.typed_signature()) else {
        return TokenStream::new();
    };
    let p = quote!(#krate::__private);
    let name = crate::ast::unraw(ident);
    let definitions = vars.iter().map(|var| definition(&var.var, krate));
    let field_names: Vec<_> = modules.iter().map(|m| &m.field.ident).collect();
    let module_names: Vec<String> = field_names.iter().map(|f| crate::ast::unraw(f)).collect();
    let handles = modules.iter().map(|m| {
        let field = &m.field.ident;
        match m.typed_signature() {
            Some(_) => quote!(#p::Clone::clone(self.#field().await?.module())),
            None => quote!(#p::Clone::clone(self.#field().await?)),
        }
    });
    let declared = modules.iter().zip(&module_names).map(|(m, name)| {
        let module_type = m.module_type_name();
        let signature = match &m.signature {
            ModuleSignature::Text(text) => quote!(#p::DeclaredSignature::Text(#text)),
            ModuleSignature::Typed(path) => {
                quote!(#p::DeclaredSignature::Typed(<#path as #p::Signature>::spec))
            }
        };
        quote!(#p::DeclaredModule { name: #name, module_type: #module_type, signature: #signature })
    });
    let load_doc = format!(
        " Loads `{name}` saved by `Optimized::save` into `ctx` (its variables with their saved values, each module with its learned state) without optimizing again. The whole file is checked first: a file of another schema version, a module or signature that no longer matches, or a saved value today's constraints refuse is an error naming what differs, and nothing is changed."
    );
    quote! {
        #[automatically_derived]
        impl #p::Optimizable for #ident {
            type Signature = #signature;

            fn context(&self) -> &#p::Context {
                &self.ctx
            }

            async fn modules(&self) -> #p::Result<#p::Vec<(#p::String, #p::Module)>> {
                #p::Ok(#p::vec![#((#p::ToString::to_string(#module_names), #handles)),*])
            }

            fn program_name() -> ::core::option::Option<&'static str> {
                ::core::option::Option::Some(#name)
            }

            fn share(&self) -> Self {
                Self {
                    ctx: #p::Clone::clone(&self.ctx),
                    #(#field_names: #p::Clone::clone(&self.#field_names),)*
                }
            }
        }

        #[automatically_derived]
        impl #p::DeclaredProgram for #ident {
            const NAME: &'static str = #name;

            fn declared_variables() -> #p::Vec<#p::VariableDef> {
                #p::vec![#(#definitions),*]
            }

            fn declared_modules() -> #p::Vec<#p::DeclaredModule> {
                #p::vec![#(#declared),*]
            }

            fn create(ctx: &#p::Context) -> #p::Result<Self> {
                Self::new(ctx)
            }
        }

        #[automatically_derived]
        impl #ident {
            #[doc = #load_doc]
            pub async fn load(
                ctx: &#p::Context,
                path: impl ::core::convert::AsRef<::std::path::Path>,
            ) -> #p::Result<Self> {
                #p::load_program::<Self>(ctx, ::core::convert::AsRef::as_ref(&path)).await
            }
        }
    }
}
