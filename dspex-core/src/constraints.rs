//! Constraints on a variable's values, as declared. [`crate::Schema`] checks them.

use serde::{Deserialize, Serialize};

use crate::Value;

/// The constraints of a variable, as declared.
///
/// Which keys apply depends on the type: `min`/`max` for float and integer,
/// `min_length`/`max_length`/`pattern` for string, `choices` for choice (required) and
/// module (optional). A key that does not apply rejects the definition.
///
/// ```
/// use dspex_core::Constraints;
/// let c = Constraints::new().min(0.0).max(2.0);
/// assert_eq!(c.min, Some(0.0.into()));
/// let c = Constraints::new().choices(["gpt-4", "claude-3"]);
/// assert_eq!(c.choices.as_deref(), Some(&["gpt-4".to_string(), "claude-3".to_string()][..]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Inclusive lower bound (float, integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// Inclusive upper bound (float, integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Minimum length in Unicode scalar values (string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Maximum length in Unicode scalar values (string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// A regex the value must contain a match of (unanchored search; anchor with `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The allowed values (choice: required, non-empty; module: optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
}

impl Constraints {
    /// No constraints.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the inclusive minimum.
    pub fn min(mut self, min: impl Into<Value>) -> Self {
        self.min = Some(min.into());
        self
    }

    /// Sets the inclusive maximum.
    pub fn max(mut self, max: impl Into<Value>) -> Self {
        self.max = Some(max.into());
        self
    }

    /// Sets the minimum length, in Unicode scalar values.
    pub fn min_length(mut self, min_length: usize) -> Self {
        self.min_length = Some(min_length);
        self
    }

    /// Sets the maximum length, in Unicode scalar values.
    pub fn max_length(mut self, max_length: usize) -> Self {
        self.max_length = Some(max_length);
        self
    }

    /// Sets the pattern (a regex, searched unanchored).
    pub fn pattern(mut self, pattern: &str) -> Self {
        self.pattern = Some(pattern.to_owned());
        self
    }

    /// Sets the allowed values.
    pub fn choices(mut self, choices: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.choices = Some(choices.into_iter().map(Into::into).collect());
        self
    }

    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The names of the keys that are set, in a fixed order.
    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("min_length", self.min_length.is_some()),
            ("max_length", self.max_length.is_some()),
            ("pattern", self.pattern.is_some()),
            ("choices", self.choices.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
    }
}
