//! The structured form of a typed signature: what `#[derive(dspex::Signature)]` produces
//! and what the worker builds a `dspy.Signature` class from.

use serde::Serialize;

use super::descriptor::TypeDescriptor;
use super::signature::SignatureFieldType;

/// Whether a field is given to the module or produced by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    /// A `dspy.InputField`.
    Input,
    /// A `dspy.OutputField`.
    Output,
}

/// One field of a [`SignatureSpec`]: its DSPy name, role, description and type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldSpec {
    name: String,
    role: FieldRole,
    description: String,
    type_name: String,
    #[serde(rename = "type")]
    descriptor: TypeDescriptor,
}

impl FieldSpec {
    /// A field of the Rust type `T`, described from `T`'s JSON Schema.
    ///
    /// ```
    /// use dspex::{FieldRole, FieldSpec};
    /// let field = FieldSpec::of::<Vec<String>>(FieldRole::Output, "tags", "Topic tags.");
    /// assert_eq!(field.type_name(), "list[str]");
    /// ```
    pub fn of<T: SignatureFieldType>(role: FieldRole, name: &str, description: &str) -> FieldSpec {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        let descriptor = TypeDescriptor::from_json_schema(schema.as_value());
        FieldSpec::new(role, name, description, descriptor)
    }

    /// A field of the type `descriptor` describes.
    pub fn new(
        role: FieldRole,
        name: &str,
        description: &str,
        descriptor: TypeDescriptor,
    ) -> FieldSpec {
        FieldSpec {
            name: name.to_owned(),
            role,
            description: description.to_owned(),
            type_name: descriptor.type_name(),
            descriptor,
        }
    }

    /// The field's name in DSPy (after `#[serde(rename)]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input or output.
    pub fn role(&self) -> FieldRole {
        self.role
    }

    /// The field's doc comment, trimmed (empty when it has none).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The type as DSPy writes it: `str`, `list[str]`, `Optional[int]`, `Order`.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The type, structured.
    pub fn descriptor(&self) -> &TypeDescriptor {
        &self.descriptor
    }
}

/// A typed signature: its name, instructions and fields, inputs first.
///
/// Serialized, it is what the worker receives:
/// `{"name": "Qa", "instructions": "...", "fields": [{"name": "question", "role": "input",
/// "description": "...", "type_name": "str", "type": {"kind": "str"}}, ...]}`.
///
/// ```
/// use dspex::{FieldRole, FieldSpec, SignatureSpec};
/// let spec = SignatureSpec::new(
///     "Qa",
///     "Answer the question.",
///     [
///         FieldSpec::of::<String>(FieldRole::Output, "answer", ""),
///         FieldSpec::of::<String>(FieldRole::Input, "question", ""),
///     ],
/// );
/// assert_eq!(spec.inputs()[0].name(), "question");
/// assert_eq!(spec.outputs()[0].name(), "answer");
/// assert_eq!(spec.field("answer").map(|f| f.type_name()), Some("str"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureSpec {
    name: String,
    instructions: String,
    fields: Vec<FieldSpec>,
    #[serde(skip)]
    input_count: usize,
}

impl SignatureSpec {
    /// A signature named `name` (the Rust struct's name). The fields keep their order
    /// within each role; inputs come first.
    pub fn new(
        name: &str,
        instructions: &str,
        fields: impl IntoIterator<Item = FieldSpec>,
    ) -> SignatureSpec {
        let (mut inputs, outputs): (Vec<FieldSpec>, Vec<FieldSpec>) =
            fields.into_iter().partition(|f| f.role == FieldRole::Input);
        let input_count = inputs.len();
        inputs.extend(outputs);
        SignatureSpec {
            name: name.to_owned(),
            instructions: instructions.to_owned(),
            fields: inputs,
            input_count,
        }
    }

    /// The signature's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instructions given to the LM (the struct's doc comment, trimmed).
    pub fn instructions(&self) -> &str {
        &self.instructions
    }

    /// The input fields, in declaration order.
    pub fn inputs(&self) -> &[FieldSpec] {
        &self.fields[..self.input_count]
    }

    /// The output fields, in declaration order.
    pub fn outputs(&self) -> &[FieldSpec] {
        &self.fields[self.input_count..]
    }

    /// Every field, inputs first.
    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// The field named `name` in DSPy, if any.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The spec as the JSON the worker reads.
    pub fn to_json(&self) -> String {
        // Cannot fail: every map in a spec has string keys and no Serialize impl errs.
        serde_json::to_string(self).expect("a SignatureSpec always serializes")
    }
}
