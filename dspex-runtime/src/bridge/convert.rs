//! Conversions between the wire types and the variable model. No rules live here: values
//! cross as they are, and the table coerces and checks them.

use dspex_core::{Constraints, Error, Metadata, Result, Value, VarType, Variable};

use super::pb;

/// A wire value as a model value; a missing value is a bad argument.
pub(crate) fn value_from_pb(value: Option<pb::Value>, what: &str) -> Result<Value> {
    match value.and_then(|v| v.kind) {
        Some(pb::value::Kind::FloatValue(v)) => Ok(Value::Float(v)),
        Some(pb::value::Kind::IntegerValue(v)) => Ok(Value::Integer(v)),
        Some(pb::value::Kind::StringValue(v)) => Ok(Value::String(v)),
        Some(pb::value::Kind::BooleanValue(v)) => Ok(Value::Boolean(v)),
        None => Err(Error::InvalidArgument {
            message: format!("{what}: a value is required"),
        }),
    }
}

/// A model value on the wire.
pub(crate) fn value_to_pb(value: &Value) -> pb::Value {
    let kind = match value {
        Value::Float(v) => pb::value::Kind::FloatValue(*v),
        Value::Integer(v) => pb::value::Kind::IntegerValue(*v),
        Value::String(v) => pb::value::Kind::StringValue(v.clone()),
        Value::Boolean(v) => pb::value::Kind::BooleanValue(*v),
    };
    pb::Value { kind: Some(kind) }
}

pub(crate) fn var_type_from_pb(raw: i32) -> Result<VarType> {
    match pb::VarType::try_from(raw) {
        Ok(pb::VarType::Float) => Ok(VarType::Float),
        Ok(pb::VarType::Integer) => Ok(VarType::Integer),
        Ok(pb::VarType::String) => Ok(VarType::String),
        Ok(pb::VarType::Boolean) => Ok(VarType::Boolean),
        Ok(pb::VarType::Choice) => Ok(VarType::Choice),
        Ok(pb::VarType::Module) => Ok(VarType::Module),
        Ok(pb::VarType::Unspecified) | Err(_) => Err(Error::InvalidArgument {
            message: format!(
                "variable type {raw} is not one of float, integer, string, boolean, choice, module"
            ),
        }),
    }
}

pub(crate) fn var_type_to_pb(t: VarType) -> pb::VarType {
    match t {
        VarType::Float => pb::VarType::Float,
        VarType::Integer => pb::VarType::Integer,
        VarType::String => pb::VarType::String,
        VarType::Boolean => pb::VarType::Boolean,
        VarType::Choice => pb::VarType::Choice,
        VarType::Module => pb::VarType::Module,
    }
}

pub(crate) fn constraints_from_pb(c: Option<pb::Constraints>) -> Result<Constraints> {
    let Some(c) = c else {
        return Ok(Constraints::default());
    };
    let length = |n: Option<u64>| -> Result<Option<usize>> {
        n.map(|n| {
            usize::try_from(n).map_err(|_| Error::InvalidArgument {
                message: format!("length {n} is too large"),
            })
        })
        .transpose()
    };
    let bound =
        |v: Option<pb::Value>, key: &str| v.map(|v| value_from_pb(Some(v), key)).transpose();
    Ok(Constraints {
        min: bound(c.min, "min")?,
        max: bound(c.max, "max")?,
        min_length: length(c.min_length)?,
        max_length: length(c.max_length)?,
        pattern: c.pattern,
        choices: (c.has_choices || !c.choices.is_empty()).then_some(c.choices),
    })
}

pub(crate) fn constraints_to_pb(c: &Constraints) -> pb::Constraints {
    pb::Constraints {
        min: c.min.as_ref().map(value_to_pb),
        max: c.max.as_ref().map(value_to_pb),
        min_length: c.min_length.map(|n| n as u64),
        max_length: c.max_length.map(|n| n as u64),
        pattern: c.pattern.clone(),
        choices: c.choices.clone().unwrap_or_default(),
        has_choices: c.choices.is_some(),
    }
}

pub(crate) fn variable_to_pb(v: &Variable) -> pb::Variable {
    pb::Variable {
        id: v.id.clone(),
        name: v.name.clone(),
        r#type: var_type_to_pb(v.var_type) as i32,
        value: Some(value_to_pb(&v.value)),
        constraints: Some(constraints_to_pb(&v.constraints)),
        description: v.description.clone(),
        metadata: v
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        version: v.version,
        created_at_ms: v.created_at_ms,
        updated_at_ms: v.updated_at_ms,
    }
}

pub(crate) fn metadata_from_pb(md: std::collections::HashMap<String, String>) -> Option<Metadata> {
    (!md.is_empty()).then(|| md.into_iter().collect())
}

/// A watch event on the wire; `at_us` is when the write was published.
pub(crate) fn watch_event_to_pb(event: crate::watch::WatchEvent, at_us: u64) -> pb::WatchEvent {
    use crate::watch::{UpdateSource, WatchEvent};
    let kind = match event {
        WatchEvent::Update(u) => pb::watch_event::Kind::Update(pb::VariableUpdateEvent {
            name: u.name,
            value: Some(value_to_pb(&u.value)),
            old_value: u.old_value.as_ref().map(value_to_pb),
            version: u.version,
            source: match u.source {
                UpdateSource::Rust => pb::UpdateSource::Rust,
                UpdateSource::Python => pb::UpdateSource::Python,
            } as i32,
            metadata: u.metadata.into_iter().collect(),
            timestamp_ms: at_us / 1000,
            timestamp_us: at_us,
        }),
        WatchEvent::Lagged { missed } => pb::watch_event::Kind::Lagged(pb::Lagged { missed }),
    };
    pb::WatchEvent { kind: Some(kind) }
}

/// A heartbeat on the wire.
pub(crate) fn heartbeat_event() -> pb::WatchEvent {
    pb::WatchEvent {
        kind: Some(pb::watch_event::Kind::Heartbeat(pb::Heartbeat {
            server_time_ms: crate::store::now_ms(),
        })),
    }
}
