//! Phase 2 of `#[derive(Signature)]`: the model against the rules, producing the checked
//! signature (each field's role, the module types it cannot be used with). Names are
//! checked with `dspex_core::is_identifier` and the reserved names come from
//! `dspex_core::RESERVED_FIELDS`, the table the runtime reads too. Field types are not
//! checked here: the compiler does it, at the type, through the `SignatureFieldType`
//! bound of the generated code.

use std::collections::HashMap;

use dspex_core::{RESERVED_FIELDS, is_identifier, reserved_conflict, reserved_field_message};

use super::parse::{SignatureField, SignatureInput};
use crate::ctxt::Ctxt;

/// A signature that passed the checks.
pub struct CheckedSignature<'a> {
    pub inputs: Vec<&'a SignatureField>,
    pub outputs: Vec<&'a SignatureField>,
    /// (module type, message) for each module type that reserves one of the names.
    pub reserved: Vec<(&'static str, String)>,
}

/// The checked signature; `None` when an error was recorded.
pub fn check_signature<'a>(cx: &Ctxt, input: &'a SignatureInput) -> Option<CheckedSignature<'a>> {
    let signature = &input.ident;
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut role_errors = false;
    for field in &input.fields {
        let rust_name = &field.ident;
        match (&field.input, &field.output) {
            (Some(_), None) => inputs.push(field),
            (None, Some(_)) => outputs.push(field),
            (Some(_), Some(output)) => {
                role_errors = true;
                cx.error_spanned_by(
                    output,
                    format!(
                        "field `{rust_name}` is marked both #[input] and #[output]: a signature \
                         field is one or the other"
                    ),
                );
            }
            (None, None) => {
                role_errors = true;
                cx.error_spanned_by(
                    rust_name,
                    format!(
                        "field `{rust_name}` of signature `{signature}` is neither #[input] nor \
                         #[output]: mark it with one of them"
                    ),
                );
            }
        }
    }
    // A field with a wrong mark may be the missing input or output: say it once.
    if !role_errors {
        for (fields, role) in [(&inputs, "input"), (&outputs, "output")] {
            if fields.is_empty() {
                cx.error_spanned_by(
                    signature,
                    format!(
                        "signature `{signature}` has no #[{role}] field: mark at least one field \
                         #[{role}]"
                    ),
                );
            }
        }
    }
    check_names(cx, input);
    if cx.has_errors() {
        return None;
    }
    let reserved = RESERVED_FIELDS
        .iter()
        .filter_map(|(module_type, _)| {
            let names = input.fields.iter().map(|f| f.name.as_str());
            reserved_conflict(module_type, names).map(|field| {
                (
                    *module_type,
                    reserved_field_message(&signature.to_string(), field, module_type),
                )
            })
        })
        .collect();
    Some(CheckedSignature {
        inputs,
        outputs,
        reserved,
    })
}

/// Each DSPy name is a Python identifier, and names no other field.
fn check_names(cx: &Ctxt, input: &SignatureInput) {
    let mut seen: HashMap<&str, &SignatureField> = HashMap::new();
    for field in &input.fields {
        if field.renamed && !is_identifier(&field.name) {
            cx.error_spanned_by(
                &field.name_tokens,
                format!(
                    "`{}` is not a DSPy field name (field `{}`): letters, digits and `_`, not \
                     starting with a digit",
                    field.name, field.ident
                ),
            );
        }
        match seen.get(field.name.as_str()) {
            // Two fields with one Rust name: the compiler reports it.
            Some(first) if !first.renamed && !field.renamed => {}
            Some(first) => cx.error_spanned_by(
                &field.name_tokens,
                format!(
                    "field `{}` is named `{}` in DSPy, like field `{}`: each field of signature \
                     `{}` needs its own name",
                    field.ident, field.name, first.ident, input.ident
                ),
            ),
            None => {
                seen.insert(&field.name, field);
            }
        }
    }
}
