//! The [`Signature`] trait that `#[derive(dspex::Signature)]` implements, and the bound
//! every field type must meet.

use std::fmt::Debug;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::spec::SignatureSpec;

/// A typed DSPy signature: Rust structs in, Rust structs out.
///
/// Implemented by `#[derive(dspex::Signature)]` on a struct whose fields are marked
/// `#[input]` or `#[output]`: `Input` and `Output` are the generated `{Name}Input` and
/// `{Name}Output` structs, and [`spec`](Self::spec) describes the fields for the worker,
/// which builds the matching `dspy.Signature` class.
///
/// ```
/// use dspex::Signature;
///
/// /// Answer the question in one sentence.
/// #[derive(dspex::Signature)]
/// struct Qa {
///     /// The question to answer.
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
///     #[output]
///     confidence: f64,
/// }
///
/// let spec = Qa::spec();
/// assert_eq!(spec.instructions(), "Answer the question in one sentence.");
/// assert_eq!(spec.inputs()[0].description(), "The question to answer.");
/// assert_eq!(spec.outputs()[1].type_name(), "float");
///
/// let input = QaInput { question: "Why?".into() };
/// assert_eq!(serde_json::to_string(&input)?, r#"{"question":"Why?"}"#);
/// let output: QaOutput = serde_json::from_str(r#"{"answer": "Because.", "confidence": 0.5}"#)?;
/// assert_eq!(output, QaOutput { answer: "Because.".into(), confidence: 0.5 });
/// # Ok::<(), serde_json::Error>(())
/// ```
pub trait Signature: 'static {
    /// The input fields, as one struct.
    type Input: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The output fields, as one struct.
    type Output: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The signature's fields, names, descriptions and types, built once.
    fn spec() -> &'static SignatureSpec;

    /// The DSPy module types this signature cannot be used with, because they add a
    /// field of one of its names, each with the message to show. Checked at compile time
    /// where a typed module is declared with the signature.
    const RESERVED_CONFLICTS: &'static [ReservedConflict] = &[];
}

/// A DSPy module type that reserves a field name a signature uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedConflict {
    /// The module type (`"ChainOfThought"`).
    pub module_type: &'static str,
    /// What is wrong, naming the signature and the field.
    pub message: &'static str,
}

/// A type a signature field can have: what serde can read and write, and schemars can
/// describe to the LM.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the type of a signature field",
    label = "not a signature field type",
    note = "a signature field is a `String`, `bool`, an integer, `f32`/`f64`, `Vec<T>`, \
            `Option<T>`, `HashMap<String, T>` / `BTreeMap<String, T>`, a unit-only enum, or a \
            struct or enum deriving `Debug, Clone, PartialEq, serde::Serialize, \
            serde::Deserialize, schemars::JsonSchema`"
)]
pub trait SignatureFieldType:
    JsonSchema + Serialize + DeserializeOwned + Debug + Clone + PartialEq + Send + 'static
{
}

#[diagnostic::do_not_recommend]
impl<T> SignatureFieldType for T where
    T: JsonSchema + Serialize + DeserializeOwned + Debug + Clone + PartialEq + Send + 'static
{
}
