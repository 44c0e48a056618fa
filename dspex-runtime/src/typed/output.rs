//! Reading a module's output fields (JSON, by name) into a signature's `Output` struct, and
//! naming the field whose value does not fit: serde reads the whole struct, each field's
//! value through a deserializer that records its name when reading it fails.
//!
//! This is where Rust's own types are checked — integer ranges included, which DSPy does
//! not check on top-level fields (a `u8` answered with 305 fails here).

use std::cell::RefCell;
use std::collections::BTreeMap;

use dspex_core::{Error, Result};
use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde_json::Value;

use super::descriptor::TypeDescriptor;
use super::spec::SignatureSpec;

/// `T`, read from the output fields of `spec` found in `fields` (the others are ignored).
pub(crate) fn decode_output<T: DeserializeOwned>(
    spec: &SignatureSpec,
    fields: &BTreeMap<String, Value>,
) -> Result<T> {
    let blame = RefCell::new(None);
    let entries = spec.outputs().iter().filter_map(|field| {
        let value = fields.get(field.name())?.clone();
        Some((
            field.name(),
            Blaming {
                field: field.name(),
                value,
                blame: &blame,
            },
        ))
    });
    let result = T::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries));
    result.map_err(|error| {
        let reason = error.to_string();
        let blamed = *blame.borrow();
        match blamed {
            Some(field) => {
                let expected = spec.field(field).map_or("", |f| f.type_name());
                let raw = fields.get(field).map(raw_text).unwrap_or_default();
                Error::output_parse(field, expected, &raw, &reason)
            }
            // No value failed: a field is missing from the answer (an optional one may be).
            None => match spec
                .outputs()
                .iter()
                .filter(|f| !fields.contains_key(f.name()))
                .min_by_key(|f| matches!(f.descriptor(), TypeDescriptor::Optional { .. }))
            {
                Some(missing) => Error::output_parse(
                    missing.name(),
                    missing.type_name(),
                    "",
                    &format!("the module's answer has no `{}` ({reason})", missing.name()),
                ),
                None => Error::output_parse("", "", "", &reason),
            },
        }
    })
}

/// A value as an [`Error::OutputParse`] shows it: a string as it is, anything else as JSON.
pub(crate) fn raw_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// One field's value, which records the field's name when reading it fails.
struct Blaming<'a> {
    field: &'a str,
    value: Value,
    blame: &'a RefCell<Option<&'a str>>,
}

impl<'de, 'a> IntoDeserializer<'de, serde_json::Error> for Blaming<'a> {
    type Deserializer = Blaming<'a>;

    fn into_deserializer(self) -> Self::Deserializer {
        self
    }
}

/// Each method reads the value the way `serde_json::Value` does, blaming the field on error.
macro_rules! forward_blaming {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, serde_json::Error> {
                let Blaming { field, value, blame } = self;
                value.$method($($arg,)* visitor).map_err(|error| {
                    // Serde stops at the first failure: that field is the one to name.
                    blame.borrow_mut().get_or_insert(field);
                    error
                })
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Blaming<'_> {
    type Error = serde_json::Error;

    forward_blaming! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::{FieldRole, FieldSpec};

    #[derive(Debug, Deserialize, PartialEq)]
    struct Out {
        count: u8,
        tags: Vec<String>,
        note: Option<String>,
    }

    fn spec() -> SignatureSpec {
        SignatureSpec::new(
            "Count",
            "",
            [
                FieldSpec::of::<String>(FieldRole::Input, "text", ""),
                FieldSpec::of::<u8>(FieldRole::Output, "count", ""),
                FieldSpec::of::<Vec<String>>(FieldRole::Output, "tags", ""),
                FieldSpec::of::<Option<String>>(FieldRole::Output, "note", ""),
            ],
        )
    }

    fn fields(value: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(value).expect("an object")
    }

    #[test]
    fn reads_the_output_fields_and_ignores_the_others() {
        let out: Out = decode_output(
            &spec(),
            &fields(json!({"count": 3, "tags": ["a"], "reasoning": "because"})),
        )
        .expect("fits");
        assert_eq!(
            out,
            Out {
                count: 3,
                tags: vec!["a".into()],
                note: None
            }
        );
    }

    #[test]
    fn an_integer_out_of_range_names_its_field() {
        let err =
            decode_output::<Out>(&spec(), &fields(json!({"count": 305, "tags": []}))).unwrap_err();
        let Error::OutputParse {
            field,
            expected,
            raw,
            reason,
            ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!((field.as_str(), expected.as_str()), ("count", "int"));
        assert_eq!(raw, "305");
        assert!(reason.contains("expected u8"), "{reason}");
    }

    #[test]
    fn a_nested_mismatch_blames_the_top_level_field() {
        let err = decode_output::<Out>(&spec(), &fields(json!({"count": 1, "tags": ["a", 2]})))
            .unwrap_err();
        let Error::OutputParse {
            field,
            expected,
            raw,
            ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(field, "tags");
        assert_eq!(expected, "list[str]");
        assert_eq!(raw, r#"["a",2]"#);
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = decode_output::<Out>(&spec(), &fields(json!({"count": 1}))).unwrap_err();
        assert!(
            matches!(&err, Error::OutputParse { field, .. } if field == "tags"),
            "{err:?}"
        );
    }
}
