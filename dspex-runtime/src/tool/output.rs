//! What a tool returned, as the agent reads it: a `Result` is a success or a failure, any
//! other value is a success. A tool's output type is only known to be `Serialize`, so a
//! `Result` is recognised by how serde writes it: as the newtype variant `Ok` or `Err` of
//! the enum `Result`, at the top level.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Why a tool's output is not an answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The tool returned `Err(e)`; `e` as text (a string as it is, anything else as JSON).
    Returned(String),
    /// The output cannot be written as JSON (a map with non-string keys, say).
    Unwritable(String),
}

impl Failure {
    /// The sentence the agent is told.
    pub(crate) fn describe(self, tool: &str) -> String {
        match self {
            Failure::Returned(error) => format!("tool `{tool}` failed: {error}"),
            Failure::Unwritable(error) => {
                format!("tool `{tool}` answered with a value that is not JSON: {error}")
            }
        }
    }
}

/// The answer of a tool that returned `output`.
pub(crate) fn answer<T: Serialize + ?Sized>(output: &T) -> Result<serde_json::Value, Failure> {
    match output.serialize(Probe) {
        Ok(Some(Ok(value))) => Ok(value),
        Ok(Some(Err(error))) => Err(Failure::Returned(match error {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        })),
        Ok(None) | Err(NotResult) => {
            serde_json::to_value(output).map_err(|e| Failure::Unwritable(e.to_string()))
        }
    }
}

/// A serializer that only accepts `Result::Ok(v)` / `Result::Err(e)`: `Some(Ok(v))` /
/// `Some(Err(e))` as JSON, or `None` when the inner value is not JSON; anything else is
/// [`NotResult`], and is then written as it is.
struct Probe;

type Probed = Option<Result<serde_json::Value, serde_json::Value>>;

#[derive(Debug)]
struct NotResult;

impl fmt::Display for NotResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a Result")
    }
}

impl std::error::Error for NotResult {}

impl ser::Error for NotResult {
    fn custom<M: fmt::Display>(_: M) -> Self {
        NotResult
    }
}

macro_rules! not_a_result {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<Probed, NotResult> {
            Err(NotResult)
        })*
    };
}

impl ser::Serializer for Probe {
    type Ok = Probed;
    type Error = NotResult;
    type SerializeSeq = Impossible<Probed, NotResult>;
    type SerializeTuple = Impossible<Probed, NotResult>;
    type SerializeTupleStruct = Impossible<Probed, NotResult>;
    type SerializeTupleVariant = Impossible<Probed, NotResult>;
    type SerializeMap = Impossible<Probed, NotResult>;
    type SerializeStruct = Impossible<Probed, NotResult>;
    type SerializeStructVariant = Impossible<Probed, NotResult>;

    not_a_result! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Probed, NotResult> {
        Err(NotResult)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<Probed, NotResult> {
        Err(NotResult)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Probed, NotResult> {
        if name != "Result" || !matches!(variant, "Ok" | "Err") {
            return Err(NotResult);
        }
        let Ok(value) = serde_json::to_value(value) else {
            return Ok(None);
        };
        Ok(Some(if variant == "Ok" {
            Ok(value)
        } else {
            Err(value)
        }))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotResult> {
        Err(NotResult)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotResult> {
        Err(NotResult)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotResult> {
        Err(NotResult)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotResult> {
        Err(NotResult)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotResult> {
        Err(NotResult)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotResult> {
        Err(NotResult)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotResult> {
        Err(NotResult)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_a_success_or_a_failure() {
        let ok: Result<u32, String> = Ok(3);
        assert_eq!(answer(&ok).unwrap(), serde_json::json!(3));
        let err: Result<u32, String> = Err("no such order".into());
        match answer(&err) {
            Err(Failure::Returned(text)) => assert_eq!(text, "no such order"),
            other => panic!("{other:?}"),
        }
        let err: Result<u32, Vec<u8>> = Err(vec![1, 2]);
        assert!(matches!(answer(&err), Err(Failure::Returned(t)) if t == "[1,2]"));
    }

    #[test]
    fn any_other_value_is_an_answer() {
        assert_eq!(answer(&"hi").unwrap(), serde_json::json!("hi"));
        assert_eq!(answer(&Some(2)).unwrap(), serde_json::json!(2));
        assert_eq!(answer(&()).unwrap(), serde_json::Value::Null);
        #[derive(Serialize)]
        enum Status {
            Ok(u8),
        }
        // An enum of its own that happens to have a variant `Ok` is not a Result.
        assert_eq!(
            answer(&Status::Ok(1)).unwrap(),
            serde_json::json!({"Ok": 1})
        );
        let nested: Option<Result<u8, String>> = Some(Err("x".into()));
        assert_eq!(answer(&nested).unwrap(), serde_json::json!({"Err": "x"}));
    }

    #[test]
    fn a_value_json_cannot_hold_is_a_failure() {
        let map = std::collections::HashMap::from([((1, 2), 3)]);
        assert!(matches!(answer(&map), Err(Failure::Unwritable(_))));
    }
}
