//! Phase 3 of `#[derive(Signature)]`: checked model → code. Generates `{Name}Input` and
//! `{Name}Output` (plain serde structs) and `impl Signature for {Name}`, whose `spec()`
//! builds the spec once from each field type's JSON Schema. Names only
//! `::dspex::__private::...` paths (or the `crate = "..."` path).

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::check::CheckedSignature;
use super::parse::{SignatureField, SignatureInput};

/// Which generated struct a field goes to.
#[derive(Clone, Copy)]
pub enum Side {
    Input,
    Output,
}

impl Side {
    fn suffix(self) -> &'static str {
        match self {
            Side::Input => "Input",
            Side::Output => "Output",
        }
    }
}

/// `{Name}Input` or `{Name}Output`. `serde_attrs: false` leaves the fields' `#[serde]`
/// attributes out (the fallback, when they may be the error).
pub fn io_struct(
    input: &SignatureInput,
    side: Side,
    fields: &[&SignatureField],
    serde_attrs: bool,
) -> TokenStream {
    let p = private(input);
    let vis = &input.vis;
    let name = format_ident!("{}{}", input.ident, side.suffix());
    let doc = format!(
        "The {} fields of the signature [`{}`].",
        side.suffix().to_lowercase(),
        input.ident
    );
    let serde_crate = format!("{}::__private::serde", input.krate.to_token_stream());
    let fields = fields.iter().map(|field| {
        let SignatureField {
            ident, ty, docs, ..
        } = field;
        let serde = serde_attrs.then_some(&field.serde).into_iter().flatten();
        quote!(#(#docs)* #(#serde)* #vis #ident: #ty)
    });
    quote! {
        #[doc = #doc]
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            #p::serde::Serialize,
            #p::serde::Deserialize,
        )]
        #[serde(crate = #serde_crate)]
        #vis struct #name {
            #(#fields,)*
        }
    }
}

/// The `impl Signature` header and associated types; `body` completes it.
pub fn signature_impl(input: &SignatureInput, body: TokenStream) -> TokenStream {
    let p = private(input);
    let ident = &input.ident;
    let input_ty = format_ident!("{}Input", ident);
    let output_ty = format_ident!("{}Output", ident);
    quote! {
        #[automatically_derived]
        impl #p::Signature for #ident {
            type Input = #input_ty;
            type Output = #output_ty;
            #body
        }
    }
}

pub fn signature(input: &SignatureInput, checked: &CheckedSignature) -> TokenStream {
    let p = private(input);
    let name = input.ident.to_string();
    let instructions = &input.instructions;
    let fields = checked
        .inputs
        .iter()
        .map(|f| field_spec(input, f, quote!(Input)))
        .chain(
            checked
                .outputs
                .iter()
                .map(|f| field_spec(input, f, quote!(Output))),
        );
    let reserved = (!checked.reserved.is_empty()).then(|| {
        let conflicts = checked.reserved.iter().map(|(module_type, message)| {
            quote!(#p::ReservedConflict { module_type: #module_type, message: #message })
        });
        quote! {
            const RESERVED_CONFLICTS: &'static [#p::ReservedConflict] = &[#(#conflicts),*];
        }
    });
    let body = quote! {
        #reserved
        fn spec() -> &'static #p::SignatureSpec {
            static SPEC: #p::OnceLock<#p::SignatureSpec> = #p::OnceLock::new();
            SPEC.get_or_init(|| {
                #p::SignatureSpec::new(#name, #instructions, #p::vec![#(#fields),*])
            })
        }
    };
    let input_struct = io_struct(input, Side::Input, &checked.inputs, true);
    let output_struct = io_struct(input, Side::Output, &checked.outputs, true);
    let imp = signature_impl(input, body);
    let split = split_impl(input, checked);
    quote!(#input_struct #output_struct #imp #split)
}

/// `impl From<Name> for (NameInput, NameOutput)`: a value of the signature struct is one
/// whole example (inputs and outputs), split in two. It also reads every field, so a
/// signature struct that is never built (the usual case) has no "never read" warnings.
fn split_impl(input: &SignatureInput, checked: &CheckedSignature) -> TokenStream {
    let ident = &input.ident;
    let input_ty = format_ident!("{}Input", ident);
    let output_ty = format_ident!("{}Output", ident);
    let moves = |fields: &[&SignatureField]| -> Vec<TokenStream> {
        fields
            .iter()
            .map(|f| {
                let name = &f.ident;
                quote!(#name: example.#name)
            })
            .collect()
    };
    let inputs = moves(&checked.inputs);
    let outputs = moves(&checked.outputs);
    let doc = format!(
        " Splits one whole example of the signature `{ident}` into its inputs and its outputs."
    );
    quote! {
        #[automatically_derived]
        impl ::core::convert::From<#ident> for (#input_ty, #output_ty) {
            #[doc = #doc]
            fn from(example: #ident) -> Self {
                (#input_ty { #(#inputs,)* }, #output_ty { #(#outputs,)* })
            }
        }
    }
}

/// `FieldSpec::of::<T>(...)`, spanned on the field's type: a type that is not a
/// signature field type is reported there, with the list of accepted types.
fn field_spec(input: &SignatureInput, field: &SignatureField, role: TokenStream) -> TokenStream {
    let p = private(input);
    let ty = &field.ty;
    let name = &field.name;
    let description = &field.description;
    quote_spanned! {ty.span()=>
        #p::FieldSpec::of::<#ty>(#p::FieldRole::#role, #name, #description)
    }
}

fn private(input: &SignatureInput) -> TokenStream {
    let krate = &input.krate;
    quote!(#krate::__private)
}
