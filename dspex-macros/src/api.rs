//! The shape of the generated API — the program struct, its methods' signatures, the
//! `VariableSet` impl — written once for the expansion (real bodies) and the fallback
//! (bodies that never run), so the code beside a compile error has exactly the API the
//! correct code would have.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};

use crate::ast::{Field, RustTy};

/// The type a variable's getter returns and its setter takes: the field's type, spelled
/// through the `dspex` crate when it is one a variable can have (`String`), and as written
/// otherwise (a fallback for a field whose type was refused keeps the user's type).
pub struct AccessorType {
    pub ty: TokenStream,
    /// A `String` variable: the setter takes `impl Into<String>`.
    pub string: bool,
}

impl AccessorType {
    pub fn of(field: &Field, krate: &syn::Path) -> AccessorType {
        match RustTy::of(&field.ty) {
            Some(rust) => AccessorType {
                ty: rust.tokens(krate),
                string: rust == RustTy::String,
            },
            None => AccessorType {
                ty: field.ty.to_token_stream(),
                string: false,
            },
        }
    }
}

/// The field's doc comments, then an empty doc line (to start a new paragraph), if any.
pub fn field_docs(field: &Field) -> TokenStream {
    let docs: Vec<_> = field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    if docs.is_empty() {
        TokenStream::new()
    } else {
        quote!(#(#docs)* #[doc = ""])
    }
}

/// A module field of a program: the field, and its signature type when it is typed.
pub struct ModuleField<'a> {
    pub field: &'a Field,
    pub typed: Option<&'a syn::Path>,
}

impl ModuleField<'_> {
    /// The type of the field's slot: `ModuleSlot`, or `TypedModuleSlot<S>`.
    fn slot(&self, krate: &syn::Path) -> TokenStream {
        let p = quote!(#krate::__private);
        match self.typed {
            Some(signature) => quote!(#p::TypedModuleSlot<#signature>),
            None => quote!(#p::ModuleSlot),
        }
    }

    /// What the accessor returns a reference to: `Module`, or `TypedModule<S>`.
    fn handle(&self, krate: &syn::Path) -> TokenStream {
        let p = quote!(#krate::__private);
        match self.typed {
            Some(signature) => quote!(#p::TypedModule<#signature>),
            None => quote!(#p::Module),
        }
    }
}

/// The program struct: the user's attributes and visibility, the Context, one slot per
/// module field.
pub fn program_struct<'a>(
    attrs: &[syn::Attribute],
    vis: &syn::Visibility,
    ident: &syn::Ident,
    krate: &syn::Path,
    modules: impl Iterator<Item = ModuleField<'a>>,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let slots = modules.map(|module| {
        let Field {
            attrs, vis, ident, ..
        } = module.field;
        let slot = module.slot(krate);
        quote!(#(#attrs)* #vis #ident: #slot)
    });
    quote! {
        #(#attrs)*
        #vis struct #ident {
            ctx: #p::Context,
            #(#slots,)*
        }
    }
}

/// The program's `impl`: `new`, `context`, then `methods` (the accessors). `generics`
/// are the item's (none, for a struct the macro rewrote).
pub fn program_impl(
    krate: &syn::Path,
    ident: &syn::Ident,
    generics: &syn::Generics,
    new_body: TokenStream,
    context_body: TokenStream,
    methods: TokenStream,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let new_doc = format!(
        " Registers the variables of `{}` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.",
        crate::ast::unraw(ident)
    );
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #ident #ty_generics #where_clause {
            #[doc = #new_doc]
            pub fn new(ctx: &#p::Context) -> #p::Result<Self> {
                #new_body
            }

            /// The Context the program's variables live in.
            pub fn context(&self) -> &#p::Context {
                #context_body
            }

            #methods
        }
    }
}

/// `pub fn x(&self) -> Result<T>`, preceded by `docs`.
pub fn getter(
    krate: &syn::Path,
    field: &Field,
    ty: &AccessorType,
    docs: TokenStream,
    body: TokenStream,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let getter = &field.ident;
    let ty = &ty.ty;
    quote! {
        #docs
        pub fn #getter(&self) -> #p::Result<#ty> {
            #body
        }
    }
}

/// `pub fn set_x(&self, value: T) -> Result<u64>` (`impl Into<String>` for a string),
/// preceded by `docs`; `value` is the parameter's pattern (`_` where the body ignores it).
pub fn setter(
    krate: &syn::Path,
    field: &Field,
    ty: &AccessorType,
    docs: TokenStream,
    value: TokenStream,
    body: TokenStream,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let setter = format_ident!("set_{}", field.name(), span = field.ident.span());
    let arg = &ty.ty;
    let arg = if ty.string {
        quote!(impl #p::Into<#arg>)
    } else {
        quote!(#arg)
    };
    quote! {
        #docs
        pub fn #setter(&self, #value: #arg) -> #p::Result<u64> {
            #body
        }
    }
}

/// `pub async fn m(&self) -> Result<&Module>` (`&TypedModule<S>` for a typed module),
/// preceded by `docs`.
pub fn module_accessor(
    krate: &syn::Path,
    module: ModuleField<'_>,
    docs: TokenStream,
    body: TokenStream,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let name = &module.field.ident;
    let handle = module.handle(krate);
    quote! {
        #docs
        pub async fn #name(&self) -> #p::Result<&#handle> {
            #body
        }
    }
}

/// The bodies of a `VariableSet` impl; `ctx` is the pattern of their Context parameter.
pub struct VariableSetBodies {
    pub ctx: TokenStream,
    pub register: TokenStream,
    pub load: TokenStream,
    pub store: TokenStream,
    pub defaults: TokenStream,
}

/// `impl VariableSet for T`.
pub fn variable_set_impl(
    krate: &syn::Path,
    ident: &syn::Ident,
    generics: &syn::Generics,
    bodies: VariableSetBodies,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let VariableSetBodies {
        ctx,
        register,
        load,
        store,
        defaults,
    } = bodies;
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::VariableSet for #ident #ty_generics #where_clause {
            fn register(#ctx: &#p::Context) -> #p::Result<()> {
                #register
            }

            fn load(#ctx: &#p::Context) -> #p::Result<Self> {
                #load
            }

            fn store(&self, #ctx: &#p::Context) -> #p::Result<()> {
                #store
            }

            fn defaults() -> Self {
                #defaults
            }
        }
    }
}
