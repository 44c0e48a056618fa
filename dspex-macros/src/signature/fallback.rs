//! What `#[derive(Signature)]` emits beside its `compile_error!`s: the two structs and the
//! impl, with a `spec()` that never runs, so code using them does not add errors of its own.

use proc_macro2::TokenStream;
use quote::quote;

use super::expand::{Side, io_struct, signature_impl};
use super::parse::{SignatureField, SignatureInput};

pub fn signature(input: &SignatureInput) -> TokenStream {
    let p = &input.krate;
    // A field marked both goes to both structs; one marked neither, to none.
    let side = |pick: fn(&SignatureField) -> bool| -> Vec<&SignatureField> {
        input.fields.iter().filter(|f| pick(f)).collect()
    };
    let inputs = side(|f| f.input.is_some());
    let outputs = side(|f| f.output.is_some());
    let input_struct = io_struct(input, Side::Input, &inputs, false);
    let output_struct = io_struct(input, Side::Output, &outputs, false);
    let imp = signature_impl(
        input,
        quote! {
            fn spec() -> &'static #p::__private::SignatureSpec {
                #p::__private::unreachable_fallback()
            }
        },
    );
    quote!(#input_struct #output_struct #imp)
}
