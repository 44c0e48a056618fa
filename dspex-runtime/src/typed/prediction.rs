//! What a typed module answers: the signature's output struct, and the fields the module
//! adds beside it.

use std::collections::BTreeMap;
use std::fmt;

use dspex_core::{Error, Result};
use serde::de::DeserializeOwned;

use super::output::{decode_output, raw_text};
use super::signature::Signature;
use crate::Prediction;

/// The answer of a [`TypedModule`](super::module::TypedModule) call: the outputs of `S` as
/// `S::Output`, and the other fields the module produced (`reasoning` for ChainOfThought,
/// `trajectory` for ReAct), read with [`extra`](Self::extra).
pub struct TypedPrediction<S: Signature> {
    /// The signature's output fields.
    pub output: S::Output,
    extra: BTreeMap<String, serde_json::Value>,
}

impl<S: Signature> TypedPrediction<S> {
    pub(crate) fn from_prediction(prediction: Prediction) -> Result<TypedPrediction<S>> {
        let spec = S::spec();
        let fields = prediction.json_fields();
        let output = decode_output(spec, fields)?;
        let extra = fields
            .iter()
            .filter(|(name, _)| spec.outputs().iter().all(|f| f.name() != name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(TypedPrediction { output, extra })
    }

    /// A field the module added (not an output of `S`), read as `T`: `reasoning`
    /// (`String`) for ChainOfThought, `trajectory` (a JSON object, e.g.
    /// `serde_json::Value`) for ReAct. An absent field is [`Error::NotFound`]; a value that
    /// is not a `T` is [`Error::OutputParse`].
    pub fn extra<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let value = self.extra.get(name).ok_or_else(|| Error::NotFound {
            what: "extra output field",
            name: name.to_owned(),
        })?;
        T::deserialize(value).map_err(|e| {
            Error::output_parse(
                name,
                std::any::type_name::<T>(),
                &raw_text(value),
                &e.to_string(),
            )
        })
    }

    /// The names of the fields the module added, in name order.
    pub fn extra_names(&self) -> impl Iterator<Item = &str> {
        self.extra.keys().map(String::as_str)
    }
}

impl<S: Signature> fmt::Debug for TypedPrediction<S>
where
    S::Output: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedPrediction")
            .field("output", &self.output)
            .field("extra", &self.extra)
            .finish()
    }
}

impl<S: Signature> Clone for TypedPrediction<S>
where
    S::Output: Clone,
{
    fn clone(&self) -> Self {
        TypedPrediction {
            output: self.output.clone(),
            extra: self.extra.clone(),
        }
    }
}
