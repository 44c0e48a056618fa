//! A typed signature and a typed call on the wire: the [`SignatureSpec`] as the worker's
//! `TypedSignature` message, and a signature's `Input` as one JSON text per input field.

use std::collections::HashMap;

use dspex_core::{Error, Result};
use serde::Serialize;

use super::spec::{FieldRole, SignatureSpec};
use crate::worker::pb;

/// The `TypedSignature` message of `spec`.
pub(crate) fn signature_to_pb(spec: &SignatureSpec) -> Result<pb::TypedSignature> {
    let fields = spec
        .fields()
        .iter()
        .map(|field| {
            let type_json =
                serde_json::to_string(field.descriptor()).map_err(|e| Error::Serialization {
                    message: format!(
                        "signature `{}`: the type of field `{}` cannot be written as JSON: {e}",
                        spec.name(),
                        field.name()
                    ),
                })?;
            let role = match field.role() {
                FieldRole::Input => pb::FieldRole::Input,
                FieldRole::Output => pb::FieldRole::Output,
            };
            Ok(pb::SignatureField {
                name: field.name().to_owned(),
                role: role.into(),
                description: field.description().to_owned(),
                type_name: field.type_name().to_owned(),
                type_json,
            })
        })
        .collect::<Result<_>>()?;
    Ok(pb::TypedSignature {
        name: spec.name().to_owned(),
        instructions: spec.instructions().to_owned(),
        fields,
    })
}

/// The input fields of a call as JSON texts, by field name. `Input` must serialize as a
/// JSON object (the derived `{Name}Input` structs do).
pub(crate) fn inputs_to_json<I: Serialize>(
    spec: &SignatureSpec,
    input: &I,
) -> Result<HashMap<String, String>> {
    fields_to_json(spec, "input", input)
}

/// The fields of `value` (the `what` of signature `spec`: "input" or "output") as JSON
/// texts, by field name. It must serialize as a JSON object with one entry per field.
pub(crate) fn fields_to_json<T: Serialize>(
    spec: &SignatureSpec,
    what: &str,
    value: &T,
) -> Result<HashMap<String, String>> {
    let cannot = |why: String| Error::InvalidArgument {
        message: format!("the {what} of signature `{}` {why}", spec.name()),
    };
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(fields)) => Ok(fields
            .into_iter()
            .map(|(name, value)| (name, value.to_string()))
            .collect()),
        Ok(other) => Err(cannot(format!(
            "is not a JSON object with one entry per {what} field (it serializes as {other})"
        ))),
        Err(e) => Err(cannot(format!("cannot be serialized: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldSpec, TypeDescriptor};

    fn spec() -> SignatureSpec {
        SignatureSpec::new(
            "Qa",
            "Answer.",
            [
                FieldSpec::of::<Vec<u8>>(FieldRole::Output, "scores", "Scores."),
                FieldSpec::of::<String>(FieldRole::Input, "question", ""),
            ],
        )
    }

    #[test]
    fn fields_carry_role_type_name_and_descriptor() {
        let message = signature_to_pb(&spec()).expect("a spec");
        assert_eq!(message.name, "Qa");
        assert_eq!(message.instructions, "Answer.");
        let [question, scores] = message.fields.as_slice() else {
            panic!("two fields: {message:?}");
        };
        assert_eq!(question.role(), pb::FieldRole::Input);
        assert_eq!(scores.role(), pb::FieldRole::Output);
        assert_eq!(scores.type_name, "list[int]");
        assert_eq!(scores.description, "Scores.");
        let descriptor: serde_json::Value = serde_json::from_str(&scores.type_json).expect("JSON");
        assert_eq!(
            descriptor,
            serde_json::to_value(TypeDescriptor::List {
                items: Box::new(TypeDescriptor::Int {
                    min: Some(0),
                    max: Some(255)
                })
            })
            .expect("JSON")
        );
    }

    #[test]
    fn inputs_are_one_json_text_per_field() {
        #[derive(Serialize)]
        struct Input {
            question: String,
            tags: Vec<&'static str>,
        }
        let json = inputs_to_json(
            &spec(),
            &Input {
                question: "Why?".into(),
                tags: vec!["a"],
            },
        )
        .expect("an object");
        assert_eq!(json["question"], r#""Why?""#);
        assert_eq!(json["tags"], r#"["a"]"#);
        let err = inputs_to_json(&spec(), &42).unwrap_err();
        assert!(
            err.to_string()
                .contains("signature `Qa` is not a JSON object"),
            "{err}"
        );
    }
}
