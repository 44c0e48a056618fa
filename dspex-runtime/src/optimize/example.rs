//! An example of a typed signature: an input, the output it should give, and metadata.

use std::collections::BTreeMap;
use std::fmt;

use dspex_core::{Error, Result};
use serde::Serialize;

use crate::typed::Signature;
use crate::typed::wire::fields_to_json;
use crate::worker::pb;

/// One example of the signature `S`: an input and the output it should give (the label),
/// plus free-form metadata for the metric. `Vec<Example<S>>` is a train or dev set.
///
/// ```
/// # #[cfg(feature = "python")] {
/// /// Answer the question.
/// #[derive(dspex::Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
/// }
///
/// let example = dspex::Example::<Qa>::new(
///     QaInput { question: "2 + 2?".into() },
///     QaOutput { answer: "4".into() },
/// )
/// .with_metadata("source", "arithmetic");
/// assert_eq!(example.output.answer, "4");
/// assert_eq!(example.metadata["source"], "arithmetic");
/// # }
/// ```
pub struct Example<S: Signature> {
    /// The input fields.
    pub input: S::Input,
    /// The output fields the program should answer.
    pub output: S::Output,
    /// Free-form metadata (the metric sees it; the program does not).
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl<S: Signature> Example<S> {
    /// An example with no metadata.
    pub fn new(input: S::Input, output: S::Output) -> Example<S> {
        Example {
            input,
            output,
            metadata: BTreeMap::new(),
        }
    }

    /// The same example with `key` set to `value` in its metadata (a value that cannot be
    /// written as JSON is stored as JSON `null`).
    pub fn with_metadata(mut self, key: &str, value: impl Serialize) -> Example<S> {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.metadata.insert(key.to_owned(), value);
        self
    }

    /// The example as the worker receives it: each field as JSON text.
    pub(crate) fn to_pb(&self) -> Result<pb::ExampleData> {
        let spec = S::spec();
        Ok(pb::ExampleData {
            inputs_json: fields_to_json(spec, "input", &self.input)?,
            outputs_json: fields_to_json(spec, "output", &self.output)?,
        })
    }

    /// A copy made through serde, so that `S::Input` and `S::Output` need not be `Clone`.
    pub(crate) fn duplicate(&self) -> Result<Example<S>> {
        let copy = |what: &str, e: serde_json::Error| Error::InvalidArgument {
            message: format!(
                "an example of `{}`: its {what} does not read back as it serializes: {e}",
                S::spec().name()
            ),
        };
        let input = serde_json::to_value(&self.input)
            .and_then(serde_json::from_value)
            .map_err(|e| copy("input", e))?;
        let output = serde_json::to_value(&self.output)
            .and_then(serde_json::from_value)
            .map_err(|e| copy("output", e))?;
        Ok(Example {
            input,
            output,
            metadata: self.metadata.clone(),
        })
    }
}

impl<S: Signature> Clone for Example<S>
where
    S::Input: Clone,
    S::Output: Clone,
{
    fn clone(&self) -> Self {
        Example {
            input: self.input.clone(),
            output: self.output.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

impl<S: Signature> fmt::Debug for Example<S>
where
    S::Input: fmt::Debug,
    S::Output: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Example")
            .field("input", &self.input)
            .field("output", &self.output)
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl<S: Signature> PartialEq for Example<S>
where
    S::Input: PartialEq,
    S::Output: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.input == other.input && self.output == other.output && self.metadata == other.metadata
    }
}
