//! The variable record and the options of a definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Constraints, Value, VarType};

/// A variable's metadata: free-form string pairs (sorted by key).
pub type Metadata = BTreeMap<String, String>;

/// A variable's id: unique in the process, stable across the Local → Bridged switch.
pub type VarId = String;

/// A snapshot of one variable, as `Context::variable` and `Context::list` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    /// Unique id (contains a `-`, which names never do).
    pub id: VarId,
    /// Unique name within its context.
    pub name: String,
    /// The type.
    #[serde(rename = "type")]
    pub var_type: VarType,
    /// The current value.
    pub value: Value,
    /// The constraints.
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Starts at 0; every successful write adds 1.
    #[serde(default)]
    pub version: u64,
    /// When the variable was registered (milliseconds since the Unix epoch).
    #[serde(default)]
    pub created_at_ms: u64,
    /// When it was last written (milliseconds since the Unix epoch).
    #[serde(default)]
    pub updated_at_ms: u64,
}

/// A whole definition, for defining several variables at once
/// (`Context::defvariables`, all or nothing).
///
/// ```
/// use dspex_core::{VarOptions, VarType, VariableDef};
/// let def = VariableDef::new("temperature", VarType::Float, 0.7, VarOptions::new());
/// assert_eq!(def.name, "temperature");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct VariableDef {
    /// The name.
    pub name: String,
    /// The type.
    pub var_type: VarType,
    /// The initial value (coerced and checked like any write).
    pub initial: Value,
    /// Constraints, description, metadata.
    pub opts: VarOptions,
}

impl VariableDef {
    /// A definition.
    pub fn new(name: &str, var_type: VarType, initial: impl Into<Value>, opts: VarOptions) -> Self {
        Self {
            name: name.to_owned(),
            var_type,
            initial: initial.into(),
            opts,
        }
    }
}

/// The optional parts of a definition: constraints, description, metadata.
///
/// ```
/// use dspex_core::{Constraints, VarOptions};
/// let opts = VarOptions::new()
///     .constraints(Constraints::new().min(0.0).max(2.0))
///     .description("Sampling temperature")
///     .metadata("owner", "search-team");
/// assert_eq!(opts.metadata["owner"], "search-team");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VarOptions {
    /// The constraints.
    pub constraints: Constraints,
    /// A description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Metadata,
}

impl VarOptions {
    /// No constraints, description or metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the constraints.
    pub fn constraints(mut self, constraints: Constraints) -> Self {
        self.constraints = constraints;
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.to_owned(), value.to_owned());
        self
    }
}
