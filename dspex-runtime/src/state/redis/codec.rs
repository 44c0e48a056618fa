//! How variables are written in Redis: one hash per variable, whose fields are plain
//! strings, and values in a tagged text form that round-trips exactly (`f0.7`, `i42`,
//! `shello`, `b1`). Lua never parses a value, so no float or large integer is ever passed
//! through Lua's numbers or its JSON library; only metadata (string pairs) is, as JSON.

use std::collections::HashMap;
use std::sync::Arc;

use dspex_core::{Constraints, Error, Metadata, Schema, Value, VarType, Variable};

use crate::watch::UpdateSource;

/// A value in its stored form.
pub(crate) fn encode_value(value: &Value) -> String {
    match value {
        // `{:?}` is the shortest text that parses back to the same f64 (inf, -inf too).
        Value::Float(v) => format!("f{v:?}"),
        Value::Integer(v) => format!("i{v}"),
        Value::String(v) => format!("s{v}"),
        Value::Boolean(v) => (if *v { "b1" } else { "b0" }).to_owned(),
    }
}

/// A stored value, or `None` when the text is not one.
pub(crate) fn decode_value(text: &str) -> Option<Value> {
    let (tag, rest) = (text.get(..1)?, text.get(1..)?);
    match tag {
        "f" => rest.parse().ok().map(Value::Float),
        "i" => rest.parse().ok().map(Value::Integer),
        "s" => Some(Value::String(rest.to_owned())),
        "b" => match rest {
            "1" => Some(Value::Boolean(true)),
            "0" => Some(Value::Boolean(false)),
            _ => None,
        },
        _ => None,
    }
}

/// Who wrote, as stored.
pub(crate) fn encode_source(source: UpdateSource) -> &'static str {
    match source {
        UpdateSource::Rust => "rust",
        UpdateSource::Python => "python",
    }
}

fn decode_source(text: &str) -> Option<UpdateSource> {
    match text {
        "rust" => Some(UpdateSource::Rust),
        "python" => Some(UpdateSource::Python),
        _ => None,
    }
}

/// Metadata as stored (a JSON object of strings).
pub(crate) fn encode_metadata(metadata: &Metadata) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".to_owned())
}

pub(crate) fn decode_metadata(text: &str) -> Option<Metadata> {
    serde_json::from_str(text).ok()
}

/// Constraints as stored (the same JSON as in a saved context).
pub(crate) fn encode_constraints(constraints: &Constraints) -> String {
    serde_json::to_string(constraints).unwrap_or_else(|_| "{}".to_owned())
}

fn decode_constraints(text: &str) -> Option<Constraints> {
    serde_json::from_str(text).ok()
}

/// A variable as the namespace holds it, with who last wrote it and its place in the
/// definition order.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub var: Variable,
    pub source: UpdateSource,
    pub seq: u64,
}

/// The fields the definition script stores for a new (or imported) variable, in the
/// order it reads them.
pub(crate) fn definition_args(var: &Variable, source: UpdateSource) -> [String; 12] {
    [
        var.name.clone(),
        var.id.clone(),
        var.var_type.as_str().to_owned(),
        encode_constraints(&var.constraints),
        if var.description.is_some() { "1" } else { "0" }.to_owned(),
        var.description.clone().unwrap_or_default(),
        encode_metadata(&var.metadata),
        encode_value(&var.value),
        var.version.to_string(),
        var.created_at_ms.to_string(),
        var.updated_at_ms.to_string(),
        encode_source(source).to_owned(),
    ]
}

/// Reads a variable's hash. `known` is the compiled definition this process already has
/// for the variable's id, which saves compiling it again (a pattern is a regex). The
/// error says what is wrong with the stored data.
pub(crate) fn parse_record(
    fields: &HashMap<String, String>,
    known: Option<(&str, &Arc<Schema>)>,
) -> Result<(Record, Arc<Schema>), String> {
    let field = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("field `{name}` is missing"))
    };
    let number = |name: &str| -> Result<u64, String> {
        field(name)?
            .parse()
            .map_err(|_| format!("field `{name}` is not a number"))
    };
    let id = field("id")?.to_owned();
    let name = field("name")?.to_owned();
    let var_type: VarType = field("type")?
        .parse()
        .map_err(|_| format!("field `type` is {:?}, not a dspex type", fields["type"]))?;
    let schema = match known {
        Some((known_id, schema)) if known_id == id && schema.var_type() == var_type => {
            schema.clone()
        }
        _ => {
            let constraints = decode_constraints(field("cons")?)
                .ok_or("field `cons` is not a constraints object")?;
            Arc::new(
                Schema::new(var_type, constraints)
                    .map_err(|e| format!("its stored definition is refused: {e}"))?,
            )
        }
    };
    let value = decode_value(field("value")?)
        .ok_or_else(|| format!("field `value` is {:?}, not a stored value", fields["value"]))?;
    let value = schema
        .check(value)
        .map_err(|v| format!("its stored value is refused by its definition: {v}"))?;
    let metadata = decode_metadata(field("md")?).ok_or("field `md` is not a metadata object")?;
    let source = decode_source(field("src")?).ok_or("field `src` is not a writer")?;
    let var = Variable {
        id,
        name,
        var_type,
        value,
        constraints: schema.constraints().clone(),
        description: fields.get("desc").cloned(),
        metadata,
        version: number("version")?,
        created_at_ms: number("created")?,
        updated_at_ms: number("updated")?,
    };
    let seq = number("seq")?;
    Ok((Record { var, source, seq }, schema))
}

/// The error for a namespace whose keys hold something dspex did not write.
pub(crate) fn shape_error(namespace: &str, what: impl std::fmt::Display) -> Error {
    Error::InvalidArgument {
        message: format!(
            "Redis namespace `{namespace}` holds data of another shape: {what}; use another \
             namespace, or delete its keys (`dspex:{{{namespace}}}:*`) if they are not needed"
        ),
    }
}

/// The text of a reply element (bulk or simple string, or an integer).
pub(crate) fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        redis::Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

/// The integer of a reply element (an integer, or a string holding one).
pub(crate) fn int(value: &redis::Value) -> Option<i64> {
    match value {
        redis::Value::Int(i) => Some(*i),
        other => text(other)?.parse().ok(),
    }
}

/// The elements of an array reply (`Nil` is an empty array).
pub(crate) fn array(value: &redis::Value) -> Option<&[redis::Value]> {
    match value {
        redis::Value::Array(items) | redis::Value::Set(items) => Some(items),
        redis::Value::Nil => Some(&[]),
        _ => None,
    }
}

/// A flat `[field, value, field, value, …]` reply (HGETALL, a stream entry) as a map.
pub(crate) fn pairs(value: &redis::Value) -> Option<HashMap<String, String>> {
    if let redis::Value::Map(items) = value {
        return items
            .iter()
            .map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect();
    }
    let items = array(value)?;
    if items.len() % 2 != 0 {
        return None;
    }
    items
        .chunks(2)
        .map(|kv| Some((text(&kv[0])?, text(&kv[1])?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_exactly() {
        let values = [
            Value::Float(0.7),
            Value::Float(0.1 + 0.2),
            Value::Float(1e300),
            Value::Float(-0.0),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(42.0),
            Value::Integer(i64::MAX),
            Value::Integer(i64::MIN),
            Value::String(String::new()),
            Value::String("héllo\n{\"x\"}".into()),
            Value::Boolean(true),
            Value::Boolean(false),
        ];
        for value in values {
            let text = encode_value(&value);
            let back = decode_value(&text).expect("decodes");
            assert_eq!(back, value, "{text}");
            if let (Value::Float(a), Value::Float(b)) = (&value, &back) {
                assert_eq!(a.to_bits(), b.to_bits(), "{text}");
            }
        }
        assert_eq!(decode_value("f1"), Some(Value::Float(1.0)));
        for bad in ["", "x1", "fnope", "i1.5", "b2"] {
            assert_eq!(decode_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn records_round_trip() {
        let var = Variable {
            id: "var-1-1".into(),
            name: "temperature".into(),
            var_type: VarType::Float,
            value: Value::Float(0.7),
            constraints: Constraints::new().min(0.0).max(2.0),
            description: Some(String::new()),
            metadata: [("owner".to_owned(), "me/you".to_owned())].into(),
            version: 3,
            created_at_ms: 10,
            updated_at_ms: 20,
        };
        let args = definition_args(&var, UpdateSource::Python);
        let names = [
            "name", "id", "type", "cons", "", "desc", "md", "value", "version", "created",
            "updated", "src",
        ];
        let mut fields: HashMap<String, String> = names
            .iter()
            .zip(args)
            .filter(|(n, _)| !n.is_empty())
            .map(|(n, v)| ((*n).to_owned(), v))
            .collect();
        fields.insert("seq".into(), "7".into());
        let (record, _) = parse_record(&fields, None).expect("parses");
        assert_eq!(record.var, var);
        assert_eq!((record.source, record.seq), (UpdateSource::Python, 7));
        fields.insert("value".into(), "f9.0".into());
        let err = parse_record(&fields, None).unwrap_err();
        assert!(err.contains("refused by its definition"), "{err}");
        fields.insert("type".into(), "list".into());
        assert!(
            parse_record(&fields, None)
                .unwrap_err()
                .contains("not a dspex type")
        );
    }
}
