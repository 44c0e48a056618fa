//! The one place the variable rules live: checking a definition, and coercing and checking
//! every value written. The runtime (both backends and the bridge) and the compile-time
//! checks of the macros all call this module.

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::limits::{self, LimitExceeded, MAX_NAME_LEN, MAX_STRING_BYTES};
use crate::quote::{quoted, quoted_list};
use crate::{Constraints, Value, VarType};

/// A validated variable definition: its type, its constraints, and the compiled pattern.
///
/// ```
/// use dspex_core::{Constraints, Schema, Value, VarType};
/// let schema = Schema::new(VarType::Float, Constraints::new().min(0.0).max(2.0)).unwrap();
/// assert_eq!(schema.check(Value::Integer(1)), Ok(Value::Float(1.0)));
/// assert!(schema.check(Value::Float(2.5)).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Schema {
    var_type: VarType,
    constraints: Constraints,
    bounds: Bounds,
    regex: Option<Regex>,
}

/// Numeric bounds, normalised to the variable's own type at definition time.
#[derive(Debug, Clone, Copy)]
enum Bounds {
    None,
    Float(Option<f64>, Option<f64>),
    Integer(Option<i64>, Option<i64>),
}

/// Why a definition (type + constraints, or a name) is rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionError {
    /// A constraint key that does not apply to the type.
    NotApplicable {
        /// The key.
        key: &'static str,
        /// The variable's type.
        var_type: VarType,
    },
    /// `min` above `max` (or `min_length` above `max_length`).
    MinAboveMax {
        /// The lower bound's key.
        min_key: &'static str,
        /// The lower bound, as shown.
        min: String,
        /// The upper bound's key.
        max_key: &'static str,
        /// The upper bound, as shown.
        max: String,
    },
    /// A bound that is not of the variable's type.
    BadBound {
        /// The key.
        key: &'static str,
        /// What the bound must be.
        expected: &'static str,
        /// The bound given.
        found: String,
    },
    /// `choices` missing for a choice variable.
    MissingChoices,
    /// `choices` given but empty.
    EmptyChoices,
    /// `pattern` is not a valid regex.
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// What the regex parser said.
        reason: String,
    },
    /// The name is not a valid variable name.
    InvalidName {
        /// The name.
        name: String,
    },
    /// A part of the definition is larger than its limit (see [`crate::limits`]).
    OverLimit(LimitExceeded),
}

impl From<LimitExceeded> for DefinitionError {
    fn from(e: LimitExceeded) -> Self {
        DefinitionError::OverLimit(e)
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefinitionError::NotApplicable { key, var_type } => write!(
                f,
                "the constraint `{key}` does not apply to a {var_type} variable{}",
                applicable_hint(*var_type)
            ),
            DefinitionError::MinAboveMax {
                min_key,
                min,
                max_key,
                max,
            } => write!(f, "{min_key} {min} is above {max_key} {max}"),
            DefinitionError::BadBound {
                key,
                expected,
                found,
            } => write!(f, "{key} must be {expected}, got {found}"),
            DefinitionError::MissingChoices => {
                f.write_str("a choice variable needs `choices` (a non-empty list)")
            }
            DefinitionError::EmptyChoices => f.write_str("`choices` must not be empty"),
            DefinitionError::InvalidPattern { pattern, reason } => {
                write!(
                    f,
                    "pattern {} is not a valid regex: {reason}",
                    quoted(pattern)
                )
            }
            DefinitionError::InvalidName { name } => write!(
                f,
                "{} is not a valid variable name: use letters, digits, `_` and `.`, \
                 not starting with a digit, at most {MAX_NAME_LEN} bytes",
                quoted(name)
            ),
            DefinitionError::OverLimit(e) => e.fmt(f),
        }
    }
}

fn applicable_hint(var_type: VarType) -> &'static str {
    match var_type {
        VarType::Float | VarType::Integer => " (it takes min, max)",
        VarType::String => " (it takes min_length, max_length, pattern)",
        VarType::Boolean => " (it takes no constraints)",
        VarType::Choice | VarType::Module => " (it takes choices)",
    }
}

/// Why a value is refused by a variable. [`Violation::is_type_error`] tells a value of the
/// wrong kind from a value of the right kind that breaks a constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// A value of the wrong kind for the type.
    WrongKind {
        /// The variable's type.
        expected: VarType,
        /// The value given.
        found: Value,
    },
    /// NaN for a float.
    NotANumber,
    /// A float with a fractional part, or outside the i64 range, for an integer.
    NotAnInteger {
        /// The float given.
        found: f64,
    },
    /// Below `min`.
    BelowMin {
        /// The value.
        value: Value,
        /// The minimum.
        min: Value,
    },
    /// Above `max`.
    AboveMax {
        /// The value.
        value: Value,
        /// The maximum.
        max: Value,
    },
    /// Shorter than `min_length`.
    TooShort {
        /// The value.
        value: String,
        /// Its length.
        len: usize,
        /// The minimum length.
        min_length: usize,
    },
    /// Longer than `max_length`.
    TooLong {
        /// The value.
        value: String,
        /// Its length.
        len: usize,
        /// The maximum length.
        max_length: usize,
    },
    /// No match of `pattern`.
    PatternMismatch {
        /// The value.
        value: String,
        /// The pattern.
        pattern: String,
    },
    /// Not among `choices`.
    NotAChoice {
        /// The value.
        value: String,
        /// The allowed values.
        choices: Vec<String>,
    },
    /// A string longer than any variable holds ([`MAX_STRING_BYTES`]).
    TooLarge {
        /// The value.
        value: String,
        /// The most bytes a string value may have.
        limit: usize,
    },
}

impl Violation {
    /// True for a value of the wrong kind (a `TypeMismatch`), false for a constraint.
    pub fn is_type_error(&self) -> bool {
        matches!(
            self,
            Violation::WrongKind { .. } | Violation::NotANumber | Violation::NotAnInteger { .. }
        )
    }

    /// What was expected, for type errors ("a float", ...); the rule, for constraints.
    pub fn expected(&self) -> String {
        match self {
            Violation::WrongKind { expected, .. } => expected.article_name().to_owned(),
            Violation::NotANumber => "a float that is not NaN".to_owned(),
            Violation::NotAnInteger { .. } => {
                "an integer (a float is accepted only without a fractional part, within i64)"
                    .to_owned()
            }
            Violation::BelowMin { min, .. } => format!("at least {min}"),
            Violation::AboveMax { max, .. } => format!("at most {max}"),
            Violation::TooShort { min_length, .. } => format!("at least {min_length} characters"),
            Violation::TooLong { max_length, .. } => format!("at most {max_length} characters"),
            Violation::PatternMismatch { pattern, .. } => format!("a match of {}", quoted(pattern)),
            Violation::NotAChoice { choices, .. } => format!("one of {}", quoted_list(choices)),
            Violation::TooLarge { limit, .. } => format!("at most {limit} bytes"),
        }
    }
}

impl Violation {
    /// The value the violation is about, when there is one (not for NaN).
    pub fn value(&self) -> Option<Value> {
        match self {
            Violation::WrongKind { found, .. } => Some(found.clone()),
            Violation::NotANumber => None,
            Violation::NotAnInteger { found } => Some(Value::Float(*found)),
            Violation::BelowMin { value, .. } | Violation::AboveMax { value, .. } => {
                Some(value.clone())
            }
            Violation::TooShort { value, .. }
            | Violation::TooLong { value, .. }
            | Violation::PatternMismatch { value, .. }
            | Violation::NotAChoice { value, .. }
            | Violation::TooLarge { value, .. } => Some(Value::String(value.clone())),
        }
    }

    /// The message without the value it starts with: the predicate of a sentence whose
    /// subject the caller chooses. The compile-time checks of the macros use it to say
    /// ``default 2.5 for `temperature` is above the maximum 2.0``.
    ///
    /// ```
    /// use dspex_core::{Value, Violation};
    /// let v = Violation::AboveMax { value: Value::Float(2.5), max: Value::Float(2.0) };
    /// assert_eq!(v.predicate(), "is above the maximum 2.0");
    /// assert_eq!(v.to_string(), "2.5 is above the maximum 2.0");
    /// ```
    pub fn predicate(&self) -> String {
        match self {
            Violation::WrongKind { expected, found } => {
                format!("is {}, not {}", found.kind_name(), expected.article_name())
            }
            Violation::NotANumber => "is NaN, which a float does not accept".to_owned(),
            Violation::NotAnInteger { .. } => {
                "is not an integer (a float is accepted only without a fractional part, within i64)"
                    .to_owned()
            }
            Violation::BelowMin { min, .. } => format!("is below the minimum {min}"),
            Violation::AboveMax { max, .. } => format!("is above the maximum {max}"),
            Violation::TooShort {
                len, min_length, ..
            } => format!("is {len} characters long, shorter than the minimum length {min_length}"),
            Violation::TooLong {
                len, max_length, ..
            } => format!("is {len} characters long, longer than the maximum length {max_length}"),
            Violation::PatternMismatch { pattern, .. } => {
                format!("does not match the pattern {}", quoted(pattern))
            }
            Violation::NotAChoice { choices, .. } => {
                format!("is not one of the choices {}", quoted_list(choices))
            }
            Violation::TooLarge { value, limit } => format!(
                "is {} bytes long, longer than any variable holds ({limit} bytes)",
                value.len()
            ),
        }
    }
}

/// Reads as the end of a sentence that starts with the variable's name:
/// "2.5 is above the maximum 2.0".
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::WrongKind { expected, found } => {
                write!(
                    f,
                    "expected {}, got {}",
                    expected.article_name(),
                    found.describe()
                )
            }
            Violation::NotANumber => f.write_str("NaN is not accepted for a float"),
            Violation::NotAnInteger { found } => write!(
                f,
                "expected an integer, got the float {} (not a whole number within i64)",
                Value::Float(*found)
            ),
            Violation::TooShort { value, .. }
            | Violation::TooLong { value, .. }
            | Violation::PatternMismatch { value, .. }
            | Violation::NotAChoice { value, .. }
            | Violation::TooLarge { value, .. } => {
                write!(f, "{} {}", quoted(value), self.predicate())
            }
            Violation::BelowMin { value, .. } | Violation::AboveMax { value, .. } => {
                write!(f, "{value} {}", self.predicate())
            }
        }
    }
}

/// Checks a variable name: letters, digits, `_` and `.`, not starting with a digit.
/// (Ids contain `-`, so a name can never be mistaken for an id.)
///
/// ```
/// assert!(dspex_core::check_name("temperature").is_ok());
/// assert!(dspex_core::check_name("9lives").is_err());
/// ```
pub fn check_name(name: &str) -> Result<(), DefinitionError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(DefinitionError::InvalidName {
            name: name.to_owned(),
        })
    }
}

impl Schema {
    /// Validates a definition: every constraint key applies to the type, bounds are of the
    /// type and ordered, choices present and non-empty where required, the pattern compiles.
    pub fn new(var_type: VarType, constraints: Constraints) -> Result<Schema, DefinitionError> {
        let applicable: &[&str] = match var_type {
            VarType::Float | VarType::Integer => &["min", "max"],
            VarType::String => &["min_length", "max_length", "pattern"],
            VarType::Boolean => &[],
            VarType::Choice | VarType::Module => &["choices"],
        };
        if let Some(key) = constraints.keys().find(|k| !applicable.contains(k)) {
            return Err(DefinitionError::NotApplicable { key, var_type });
        }

        let bounds = match var_type {
            VarType::Float => {
                let min = float_bound("min", constraints.min.as_ref())?;
                let max = float_bound("max", constraints.max.as_ref())?;
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    return Err(min_above_max(&constraints));
                }
                Bounds::Float(min, max)
            }
            VarType::Integer => {
                let min = integer_bound("min", constraints.min.as_ref())?;
                let max = integer_bound("max", constraints.max.as_ref())?;
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    return Err(min_above_max(&constraints));
                }
                Bounds::Integer(min, max)
            }
            _ => Bounds::None,
        };

        if let (Some(lo), Some(hi)) = (constraints.min_length, constraints.max_length)
            && lo > hi
        {
            return Err(DefinitionError::MinAboveMax {
                min_key: "min_length",
                min: lo.to_string(),
                max_key: "max_length",
                max: hi.to_string(),
            });
        }

        match (&constraints.choices, var_type) {
            (None, VarType::Choice) => return Err(DefinitionError::MissingChoices),
            (Some(choices), _) if choices.is_empty() => return Err(DefinitionError::EmptyChoices),
            (Some(choices), _) => limits::check_choices(choices)?,
            _ => {}
        }

        let regex = constraints.pattern.as_deref().map(compile).transpose()?;

        Ok(Schema {
            var_type,
            constraints: normalised(constraints, bounds),
            bounds,
            regex,
        })
    }

    /// The variable's type.
    pub fn var_type(&self) -> VarType {
        self.var_type
    }

    /// The constraints, with numeric bounds normalised to the type (`min = 0` on a float
    /// reads back as `0.0`).
    pub fn constraints(&self) -> &Constraints {
        &self.constraints
    }

    /// Coerces a value to the variable's type and checks the constraints. Returns the value
    /// to store.
    pub fn check(&self, value: Value) -> Result<Value, Violation> {
        let value = coerce(self.var_type, value)?;
        self.check_constraints(&value)?;
        Ok(value)
    }

    fn check_constraints(&self, value: &Value) -> Result<(), Violation> {
        match (self.bounds, value) {
            (Bounds::Float(min, max), Value::Float(v)) => {
                if let Some(lo) = min
                    && *v < lo
                {
                    return Err(Violation::BelowMin {
                        value: value.clone(),
                        min: Value::Float(lo),
                    });
                }
                if let Some(hi) = max
                    && *v > hi
                {
                    return Err(Violation::AboveMax {
                        value: value.clone(),
                        max: Value::Float(hi),
                    });
                }
            }
            (Bounds::Integer(min, max), Value::Integer(v)) => {
                if let Some(lo) = min
                    && *v < lo
                {
                    return Err(Violation::BelowMin {
                        value: value.clone(),
                        min: Value::Integer(lo),
                    });
                }
                if let Some(hi) = max
                    && *v > hi
                {
                    return Err(Violation::AboveMax {
                        value: value.clone(),
                        max: Value::Integer(hi),
                    });
                }
            }
            _ => {}
        }
        if let Value::String(s) = value {
            if s.len() > MAX_STRING_BYTES {
                return Err(Violation::TooLarge {
                    value: s.clone(),
                    limit: MAX_STRING_BYTES,
                });
            }
            let c = &self.constraints;
            if c.min_length.is_some() || c.max_length.is_some() {
                let len = s.chars().count();
                if let Some(min_length) = c.min_length
                    && len < min_length
                {
                    return Err(Violation::TooShort {
                        value: s.clone(),
                        len,
                        min_length,
                    });
                }
                if let Some(max_length) = c.max_length
                    && len > max_length
                {
                    return Err(Violation::TooLong {
                        value: s.clone(),
                        len,
                        max_length,
                    });
                }
            }
            if let Some(regex) = &self.regex
                && !regex.is_match(s)
            {
                return Err(Violation::PatternMismatch {
                    value: s.clone(),
                    pattern: regex.as_str().to_owned(),
                });
            }
            if let Some(choices) = &c.choices
                && !choices.iter().any(|choice| choice == s)
            {
                return Err(Violation::NotAChoice {
                    value: s.clone(),
                    choices: choices.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Coerces a value to a type, the same way in Rust and Python: integers widen to floats,
/// whole floats within i64 narrow to integers, NaN is refused, nothing else converts.
pub fn coerce(var_type: VarType, value: Value) -> Result<Value, Violation> {
    match (var_type, value) {
        (VarType::Float, Value::Float(v)) if v.is_nan() => Err(Violation::NotANumber),
        (VarType::Float, v @ Value::Float(_)) => Ok(v),
        (VarType::Float, Value::Integer(v)) => Ok(Value::Float(v as f64)),
        (VarType::Integer, v @ Value::Integer(_)) => Ok(v),
        (VarType::Integer, Value::Float(f)) => float_to_i64(f)
            .map(Value::Integer)
            .ok_or(Violation::NotAnInteger { found: f }),
        (VarType::String | VarType::Choice | VarType::Module, v @ Value::String(_)) => Ok(v),
        (VarType::Boolean, v @ Value::Boolean(_)) => Ok(v),
        (expected, found) => Err(Violation::WrongKind { expected, found }),
    }
}

/// A float as an i64, when it is whole and within range.
fn float_to_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; i64::MAX is not, so compare against the power of two.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

fn float_bound(key: &'static str, bound: Option<&Value>) -> Result<Option<f64>, DefinitionError> {
    match bound {
        None => Ok(None),
        Some(Value::Float(v)) if !v.is_nan() => Ok(Some(*v)),
        Some(Value::Integer(v)) => Ok(Some(*v as f64)),
        Some(other) => Err(DefinitionError::BadBound {
            key,
            expected: "a number (not NaN)",
            found: other.describe(),
        }),
    }
}

fn integer_bound(key: &'static str, bound: Option<&Value>) -> Result<Option<i64>, DefinitionError> {
    match bound {
        None => Ok(None),
        Some(Value::Integer(v)) => Ok(Some(*v)),
        Some(Value::Float(f)) if float_to_i64(*f).is_some() => Ok(float_to_i64(*f)),
        Some(other) => Err(DefinitionError::BadBound {
            key,
            expected: "an integer",
            found: other.describe(),
        }),
    }
}

fn min_above_max(c: &Constraints) -> DefinitionError {
    let show = |v: &Option<Value>| v.as_ref().map(ToString::to_string).unwrap_or_default();
    DefinitionError::MinAboveMax {
        min_key: "min",
        min: show(&c.min),
        max_key: "max",
        max: show(&c.max),
    }
}

fn normalised(mut c: Constraints, bounds: Bounds) -> Constraints {
    match bounds {
        Bounds::Float(min, max) => {
            c.min = min.map(Value::Float);
            c.max = max.map(Value::Float);
        }
        Bounds::Integer(min, max) => {
            c.min = min.map(Value::Integer);
            c.max = max.map(Value::Integer);
        }
        Bounds::None => {}
    }
    c
}

/// Compiles a pattern within the limits: its source, its compiled program and its DFA
/// cache are bounded, so that no match can cost more than the limits allow.
fn compile(pattern: &str) -> Result<Regex, DefinitionError> {
    limits::check_pattern(pattern)?;
    RegexBuilder::new(pattern)
        .size_limit(limits::PATTERN_SIZE_LIMIT)
        .dfa_size_limit(limits::PATTERN_DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| DefinitionError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: match e {
                regex::Error::CompiledTooBig(limit) => format!(
                    "it compiles to more than {limit} bytes, the limit; large bounded \
                     repetitions are the usual cause, of Unicode classes (`\\w`, `\\p{{L}}`) \
                     above all: use smaller bounds or ASCII classes (`[A-Za-z0-9_]`, `(?-u:\\w)`)"
                ),
                other => first_line(&other.to_string()),
            },
        })
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or_else(|| s.lines().next().unwrap_or(s))
        .trim_start_matches("error:")
        .trim()
        .to_owned()
}
