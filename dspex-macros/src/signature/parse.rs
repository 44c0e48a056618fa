//! Phase 1 of `#[derive(Signature)]`: tokens → model. Reads the struct's doc comment, each
//! field's `#[input]` / `#[output]` marks, doc comment and `#[serde(...)]` attributes
//! (for the name DSPy sees after `rename`), recording every syntax error in the [`Ctxt`]
//! and going on with the next field. The rules are `check.rs`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Ident, LitStr, Token, Type, Visibility};

use crate::ast::{default_crate, unraw};
use crate::attr::{doc_comment, take_crate_attr};
use crate::ctxt::Ctxt;

/// A `#[derive(Signature)]` struct.
pub struct SignatureInput {
    pub ident: Ident,
    pub vis: Visibility,
    pub krate: syn::Path,
    /// The struct's doc comment, trimmed.
    pub instructions: String,
    pub fields: Vec<SignatureField>,
}

/// One field, as written.
pub struct SignatureField {
    pub ident: Ident,
    pub ty: Type,
    /// The field's name in DSPy: its `#[serde(rename)]`, else its Rust name.
    pub name: String,
    /// Where errors about the name point: the `rename` literal, else the field's name.
    pub name_tokens: TokenStream,
    /// Whether `name` comes from `#[serde(rename)]`.
    pub renamed: bool,
    /// The field's doc comment, trimmed.
    pub description: String,
    /// The `#[input]` mark, if any.
    pub input: Option<Attribute>,
    /// The `#[output]` mark, if any.
    pub output: Option<Attribute>,
    /// The `#[serde(...)]` attributes, carried to the generated struct.
    pub serde: Vec<Attribute>,
    /// The doc comments, carried to the generated struct.
    pub docs: Vec<Attribute>,
}

pub fn parse_signature(cx: &Ctxt, item: syn::DeriveInput) -> Option<SignatureInput> {
    let syn::DeriveInput {
        mut attrs,
        vis,
        ident,
        generics,
        data,
    } = item;
    let krate = take_crate_attr(cx, &mut attrs).unwrap_or_else(default_crate);
    let fields = match data {
        syn::Data::Struct(syn::DataStruct {
            fields: syn::Fields::Named(fields),
            ..
        }) => fields.named,
        _ => {
            cx.error_spanned_by(
                &ident,
                "#[derive(dspex::Signature)] applies to a struct with named fields",
            );
            return None;
        }
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        cx.error_spanned_by(
            attr,
            format!(
                "#[serde] on signature `{ident}` is not supported: rename fields one by one \
                 with #[serde(rename = \"...\")]"
            ),
        );
    }
    let fields = fields.into_iter().map(|f| parse_field(cx, f)).collect();
    if !generics.params.is_empty() {
        // No fallback either: an impl for a generic struct would need its parameters.
        cx.error_spanned_by(
            &generics,
            format!(
                "signature `{ident}` cannot have generic parameters: a signature is one fixed \
                 set of fields"
            ),
        );
        return None;
    }
    Some(SignatureInput {
        instructions: doc_comment(&attrs).unwrap_or_default(),
        fields,
        ident,
        vis,
        krate,
    })
}

fn parse_field(cx: &Ctxt, field: syn::Field) -> SignatureField {
    // Named fields always have an ident.
    let ident = field
        .ident
        .clone()
        .unwrap_or_else(|| Ident::new("_", proc_macro2::Span::call_site()));
    let rust_name = unraw(&ident);
    let mut parsed = SignatureField {
        name: rust_name.clone(),
        name_tokens: ident.to_token_stream(),
        renamed: false,
        description: doc_comment(&field.attrs).unwrap_or_default(),
        input: None,
        output: None,
        serde: Vec::new(),
        docs: Vec::new(),
        ty: field.ty,
        ident,
    };
    for attr in field.attrs {
        if attr.path().is_ident("input") || attr.path().is_ident("output") {
            mark(cx, &mut parsed, attr, &rust_name);
        } else if attr.path().is_ident("serde") {
            if let Some((name, tokens)) = parse_serde(cx, &attr, &rust_name) {
                parsed.name = name;
                parsed.name_tokens = tokens;
                parsed.renamed = true;
            }
            parsed.serde.push(attr);
        } else if attr.path().is_ident("doc") {
            parsed.docs.push(attr);
        }
    }
    parsed
}

/// Records an `#[input]` / `#[output]` mark.
fn mark(cx: &Ctxt, field: &mut SignatureField, attr: Attribute, rust_name: &str) {
    let is_input = attr.path().is_ident("input");
    let which = if is_input { "input" } else { "output" };
    if attr.meta.require_path_only().is_err() {
        cx.error_spanned_by(
            &attr,
            format!("#[{which}] takes no arguments (field `{rust_name}`)"),
        );
    }
    let slot = if is_input {
        &mut field.input
    } else {
        &mut field.output
    };
    if slot.is_some() {
        cx.error_spanned_by(&attr, format!("field `{rust_name}` has #[{which}] twice"));
    }
    *slot = Some(attr);
}

/// Reads a field's `#[serde(...)]`: the `rename`, if any, with its literal; refuses what
/// would take the field off the wire. Other keys are left for serde.
fn parse_serde(cx: &Ctxt, attr: &Attribute, rust_name: &str) -> Option<(String, TokenStream)> {
    let mut rename = None;
    let result = attr.parse_nested_meta(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(Ident::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "rename" if meta.input.peek(Token![=]) => {
                let lit: LitStr = meta.value()?.parse()?;
                rename = Some((lit.value(), lit.to_token_stream()));
            }
            "rename" => {
                skip_value(&meta)?;
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "field `{rust_name}` has one name in DSPy, for input and output alike: \
                         use #[serde(rename = \"...\")]"
                    ),
                );
            }
            "skip" | "skip_serializing" | "skip_deserializing" | "flatten" => {
                skip_value(&meta)?;
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "#[serde({key})] cannot be used on signature field `{rust_name}`: every \
                         field is one DSPy field, sent or read as a whole"
                    ),
                );
            }
            _ => skip_value(&meta)?,
        }
        Ok(())
    });
    if let Err(e) = result {
        cx.syn_error(e);
    }
    rename
}

/// Consumes `= value` or `(...)` after a key this macro does not read.
fn skip_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}
