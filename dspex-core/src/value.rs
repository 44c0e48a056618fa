//! Values and variable types.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The type of a variable. It decides which values a variable accepts and how they are coerced.
///
/// ```
/// use dspex_core::VarType;
/// assert_eq!("choice".parse::<VarType>(), Ok(VarType::Choice));
/// assert_eq!(VarType::Float.as_str(), "float");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    /// A 64-bit float. Accepts floats and integers; NaN is rejected.
    Float,
    /// A 64-bit signed integer. Accepts integers and floats without a fractional part.
    Integer,
    /// A string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A string from a fixed, non-empty set of choices.
    Choice,
    /// The name of a DSPy module class, optionally from a fixed set.
    Module,
}

impl VarType {
    /// Every type, in declaration order.
    pub const ALL: [VarType; 6] = [
        VarType::Float,
        VarType::Integer,
        VarType::String,
        VarType::Boolean,
        VarType::Choice,
        VarType::Module,
    ];

    /// The lowercase name used on the wire, in Python and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            VarType::Float => "float",
            VarType::Integer => "integer",
            VarType::String => "string",
            VarType::Boolean => "boolean",
            VarType::Choice => "choice",
            VarType::Module => "module",
        }
    }

    /// How a value of this type is described in messages ("a float", "a string", ...).
    pub fn article_name(self) -> &'static str {
        match self {
            VarType::Float => "a float",
            VarType::Integer => "an integer",
            VarType::String => "a string",
            VarType::Boolean => "a boolean",
            VarType::Choice => "a string (choice)",
            VarType::Module => "a string (module name)",
        }
    }
}

impl fmt::Display for VarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown variable type `{0}`: expected one of float, integer, string, boolean, choice, module"
)]
pub struct UnknownVarType(pub String);

impl std::str::FromStr for VarType {
    type Err = UnknownVarType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VarType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownVarType(s.to_owned()))
    }
}

/// A variable's value.
///
/// ```
/// use dspex_core::Value;
/// assert_eq!(Value::from(0.7).as_f64(), Some(0.7));
/// assert_eq!(Value::from("gpt-4").as_str(), Some("gpt-4"));
/// assert_eq!(Value::from(3).to_string(), "3");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A float.
    Float(f64),
    /// An integer.
    Integer(i64),
    /// A string (also the value of choice and module variables).
    String(String),
    /// A boolean.
    Boolean(bool),
}

impl Value {
    /// The float, if this is a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// The integer, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(v) => Some(*v),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(v) => Some(v),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(v) => Some(*v),
            _ => None,
        }
    }

    /// The kind of value, with its article: "a float", "an integer", "a string", "a boolean".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Float(_) => "a float",
            Value::Integer(_) => "an integer",
            Value::String(_) => "a string",
            Value::Boolean(_) => "a boolean",
        }
    }

    /// What kind of value this is, for messages ("a float 2.5", "the string \"hot\"").
    pub fn describe(&self) -> String {
        match self {
            Value::Float(_) => format!("the float {self}"),
            Value::Integer(_) => format!("the integer {self}"),
            Value::String(_) => format!("the string {self}"),
            Value::Boolean(_) => format!("the boolean {self}"),
        }
    }
}

/// Floats always show a decimal point (`2.0`, not `2`), strings are quoted (and bounded:
/// see [`crate::quote::quoted`]).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Float(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 => {
                write!(f, "{v:.1}")
            }
            Value::Float(v) => write!(f, "{v}"),
            Value::Integer(v) => write!(f, "{v}"),
            Value::String(v) => f.write_str(&crate::quote::quoted(v)),
            Value::Boolean(v) => write!(f, "{v}"),
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(i64::from(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.clone())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}
impl From<&Value> for Value {
    fn from(v: &Value) -> Self {
        v.clone()
    }
}

/// A Rust type that a variable's value can be read as: `f64`, `i64`, `String`, `bool` or
/// [`Value`] itself.
///
/// Typed reads are strict: `f64` reads a float variable, `i64` an integer, `String` a
/// string, choice or module, `bool` a boolean.
pub trait FromValue: Sized {
    /// The variable type this Rust type reads, or `None` for any (as [`Value`] does).
    const VAR_TYPES: &'static [VarType];

    /// Converts a value, or gives it back when it is of another kind.
    fn from_value(value: Value) -> Result<Self, Value>;

    /// Converts a borrowed value, or returns `None` when it is of another kind.
    fn from_value_ref(value: &Value) -> Option<Self>;

    /// What this Rust type reads, for messages.
    fn expected() -> &'static str;
}

macro_rules! from_value {
    ($t:ty, $variant:ident, [$($vt:ident),*], $expected:literal, |$v:ident| $by_ref:expr) => {
        impl FromValue for $t {
            const VAR_TYPES: &'static [VarType] = &[$(VarType::$vt),*];
            fn from_value(value: Value) -> Result<Self, Value> {
                match value {
                    Value::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
            fn from_value_ref(value: &Value) -> Option<Self> {
                match value {
                    Value::$variant($v) => Some($by_ref),
                    _ => None,
                }
            }
            fn expected() -> &'static str {
                $expected
            }
        }
    };
}

from_value!(f64, Float, [Float], "a float", |v| *v);
from_value!(i64, Integer, [Integer], "an integer", |v| *v);
from_value!(
    String,
    String,
    [String, Choice, Module],
    "a string, choice or module",
    |v| v.clone()
);
from_value!(bool, Boolean, [Boolean], "a boolean", |v| *v);

impl FromValue for Value {
    const VAR_TYPES: &'static [VarType] = &VarType::ALL;
    fn from_value(value: Value) -> Result<Self, Value> {
        Ok(value)
    }
    fn from_value_ref(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
    fn expected() -> &'static str {
        "any value"
    }
}
