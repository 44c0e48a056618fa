//! `#[derive(dspex::Signature)]`: the spec it builds (names, descriptions, the DSPy type of
//! every accepted field type, the wire JSON), the generated structs, and the module types
//! each signature is reported unusable with.

use std::collections::{BTreeMap, HashMap};

use dspex::{FieldRole, Signature, TypeDescriptor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
enum Priority {
    Low,
    #[serde(rename = "urgent")]
    High,
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Item {
    /// The product code.
    sku: String,
    quantity: u32,
    priority: Priority,
    replaces: Option<Box<Item>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Order {
    items: Vec<Item>,
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "shape")]
enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

/// Every type a field can have.
#[derive(dspex::Signature)]
struct AllTypes {
    #[input]
    text: String,
    #[output]
    flag: bool,
    #[output]
    a_i8: i8,
    #[output]
    a_i16: i16,
    #[output]
    a_i32: i32,
    #[output]
    a_i64: i64,
    #[output]
    a_i128: i128,
    #[output]
    a_isize: isize,
    #[output]
    a_u8: u8,
    #[output]
    a_u16: u16,
    #[output]
    a_u32: u32,
    #[output]
    a_u64: u64,
    #[output]
    a_u128: u128,
    #[output]
    a_usize: usize,
    #[output]
    a_f32: f32,
    #[output]
    a_f64: f64,
    #[output]
    tags: Vec<String>,
    #[output]
    maybe: Option<i32>,
    #[output]
    scores: HashMap<String, f64>,
    #[output]
    nested: BTreeMap<String, Vec<u8>>,
    #[output]
    priority: Priority,
    #[output]
    maybe_priority: Option<Priority>,
    #[output]
    order: Order,
    #[output]
    orders: Vec<Order>,
    #[output]
    shape: Shape,
    #[output]
    anything: serde_json::Value,
}

#[test]
fn every_accepted_type_has_its_dspy_type_name() {
    let spec = AllTypes::spec();
    let names: Vec<(&str, &str)> = spec
        .fields()
        .iter()
        .map(|f| (f.name(), f.type_name()))
        .collect();
    assert_eq!(
        names,
        [
            ("text", "str"),
            ("flag", "bool"),
            ("a_i8", "int"),
            ("a_i16", "int"),
            ("a_i32", "int"),
            ("a_i64", "int"),
            ("a_i128", "int"),
            ("a_isize", "int"),
            ("a_u8", "int"),
            ("a_u16", "int"),
            ("a_u32", "int"),
            ("a_u64", "int"),
            ("a_u128", "int"),
            ("a_usize", "int"),
            ("a_f32", "float"),
            ("a_f64", "float"),
            ("tags", "list[str]"),
            ("maybe", "Optional[int]"),
            ("scores", "dict[str, float]"),
            ("nested", "dict[str, list[int]]"),
            ("priority", "Literal['Low', 'urgent']"),
            ("maybe_priority", "Optional[Literal['Low', 'urgent']]"),
            ("order", "Order"),
            ("orders", "list[Order]"),
            ("shape", "Shape"),
            ("anything", "Any"),
        ]
    );
}

#[test]
fn integers_carry_the_range_of_their_rust_type() {
    let spec = AllTypes::spec();
    let range = |name: &str| match spec.field(name).map(|f| f.descriptor()) {
        Some(TypeDescriptor::Int { min, max }) => (*min, *max),
        other => panic!("`{name}` is not an int: {other:?}"),
    };
    assert_eq!(range("a_i8"), (Some(-128), Some(127)));
    assert_eq!(range("a_u8"), (Some(0), Some(255)));
    assert_eq!(
        range("a_i64"),
        (Some(i64::MIN.into()), Some(i64::MAX.into()))
    );
    assert_eq!(range("a_u64"), (Some(0), Some(u64::MAX.into())));
    assert_eq!(range("a_i128"), (Some(i128::MIN), Some(i128::MAX)));
    assert_eq!(range("a_u128"), (Some(0), None));
    assert_eq!(range("a_usize"), (Some(0), Some(usize::MAX as i128)));
}

#[test]
fn models_carry_their_schema_and_the_nested_types_it_reaches() {
    let spec = AllTypes::spec();
    let Some(TypeDescriptor::Model { name, json_schema }) =
        spec.field("order").map(|f| f.descriptor())
    else {
        panic!("`order` is not a model");
    };
    assert_eq!(name, "Order");
    assert_eq!(
        json_schema["properties"]["items"]["items"]["$ref"],
        "#/$defs/Item"
    );
    let item = &json_schema["$defs"]["Item"];
    assert_eq!(item["description"], "A line of an order.");
    assert_eq!(
        item["properties"]["sku"]["description"],
        "The product code."
    );
    assert_eq!(
        json_schema["$defs"]["Priority"]["enum"],
        json!(["Low", "urgent"])
    );
    assert!(json_schema.get("$schema").is_none());
}

/// Answer the question.
///
///   Cite the context.   
#[derive(dspex::Signature)]
pub struct Qa {
    ///   The question, as asked.  
    #[input]
    question: String,
    #[input]
    #[serde(rename = "context")]
    passages: Vec<String>,
    /// The answer.
    #[output]
    answer: String,
    #[output]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
}

#[test]
fn docs_become_trimmed_instructions_and_descriptions() {
    let spec = Qa::spec();
    assert_eq!(spec.name(), "Qa");
    assert_eq!(
        spec.instructions(),
        "Answer the question.\n\nCite the context."
    );
    assert_eq!(spec.inputs()[0].description(), "The question, as asked.");
    assert_eq!(spec.inputs()[1].description(), "");
    assert_eq!(spec.outputs()[0].description(), "The answer.");
}

#[test]
fn a_whole_example_splits_into_its_inputs_and_outputs() {
    let example = Qa {
        question: "Why?".into(),
        passages: vec!["The sky scatters blue light.".into()],
        answer: "Scattering.".into(),
        confidence: Some(0.5),
    };
    let (input, output): (QaInput, QaOutput) = example.into();
    assert_eq!(
        input,
        QaInput {
            question: "Why?".into(),
            passages: vec!["The sky scatters blue light.".into()],
        }
    );
    assert_eq!(
        output,
        QaOutput {
            answer: "Scattering.".into(),
            confidence: Some(0.5),
        }
    );
}

#[test]
fn renamed_fields_use_their_serde_name_in_the_spec_and_on_the_wire() {
    let spec = Qa::spec();
    assert_eq!(spec.inputs()[1].name(), "context");
    assert!(spec.field("passages").is_none());
    let input = QaInput {
        question: "Why?".into(),
        passages: vec!["Because.".into()],
    };
    let wire = serde_json::to_value(&input).expect("serializes");
    assert_eq!(wire, json!({"question": "Why?", "context": ["Because."]}));
    // The fields' own serde attributes are kept: a missing optional output is `None`.
    let output: QaOutput = serde_json::from_value(json!({"answer": "42"})).expect("parses");
    assert_eq!(
        output,
        QaOutput {
            answer: "42".into(),
            confidence: None
        }
    );
    assert_eq!(
        serde_json::to_value(&output).expect("serializes"),
        json!({"answer": "42"})
    );
}

#[test]
fn the_spec_is_built_once() {
    assert!(std::ptr::eq(Qa::spec(), Qa::spec()));
}

/// Extract the order from the message.
#[derive(dspex::Signature)]
struct ExtractOrder {
    /// The customer's message.
    #[input]
    message: String,
    #[output]
    order: Order,
    /// How urgent the order is.
    #[output]
    #[serde(rename = "urgency")]
    priority: Priority,
    #[output]
    total: Option<u16>,
    #[output]
    scores: HashMap<String, f64>,
}

/// The spec's wire form, shared with the Python tests (which build a `dspy.Signature`
/// from this very file), so the two sides read one shape.
#[test]
fn the_spec_serializes_to_the_shared_wire_form() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/typed_signature.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/vectors/typed_signature.json");
    let expected: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let actual: serde_json::Value =
        serde_json::from_str(&ExtractOrder::spec().to_json()).expect("valid JSON");
    assert_eq!(
        actual,
        expected,
        "the spec changed; if on purpose, update {path} with:\n{}",
        serde_json::to_string_pretty(&actual).unwrap_or_default()
    );
}

#[derive(dspex::Signature)]
struct Reasoned {
    #[input]
    question: String,
    #[output]
    trajectory: String,
    #[output]
    reasoning: String,
}

#[test]
fn reserved_names_are_listed_per_module_type() {
    let conflicts: Vec<(&str, &str)> = Reasoned::RESERVED_CONFLICTS
        .iter()
        .map(|c| (c.module_type, c.message))
        .collect();
    assert_eq!(
        conflicts,
        [
            (
                "ChainOfThought",
                "signature `Reasoned` cannot be used with ChainOfThought: its field `reasoning` \
                 is a field ChainOfThought adds itself (rename it, e.g. with #[serde(rename = \
                 \"...\")])"
            ),
            (
                "ReAct",
                "signature `Reasoned` cannot be used with ReAct: its field `trajectory` is a \
                 field ReAct adds itself (rename it, e.g. with #[serde(rename = \"...\")])"
            ),
            (
                "ProgramOfThought",
                "signature `Reasoned` cannot be used with ProgramOfThought: its field \
                 `reasoning` is a field ProgramOfThought adds itself (rename it, e.g. with \
                 #[serde(rename = \"...\")])"
            ),
        ]
    );
    assert!(Qa::RESERVED_CONFLICTS.is_empty());
}

/// A signature clear of every reserved name passes the check every typed constructor
/// makes (it compiles: the `const` blocks are evaluated at build time).
#[test]
fn a_clear_signature_passes_the_reserved_name_check_of_every_module_type() {
    const {
        dspex::__private::assert_no_reserved::<Qa, dspex::Predict>();
        dspex::__private::assert_no_reserved::<Qa, dspex::ChainOfThought>();
        dspex::__private::assert_no_reserved::<Qa, dspex::ReAct>();
        dspex::__private::assert_no_reserved::<Qa, dspex::ProgramOfThought>();
        dspex::__private::assert_no_reserved::<Reasoned, dspex::Predict>();
    }
}

/// Outputs declared between inputs.
#[derive(dspex::Signature)]
struct Interleaved {
    #[output]
    first_out: String,
    #[input]
    first_in: String,
    #[output]
    second_out: bool,
    #[input]
    second_in: i64,
}

#[test]
fn inputs_come_first_each_role_in_declaration_order() {
    let spec = Interleaved::spec();
    let fields: Vec<(&str, FieldRole)> =
        spec.fields().iter().map(|f| (f.name(), f.role())).collect();
    assert_eq!(
        fields,
        [
            ("first_in", FieldRole::Input),
            ("second_in", FieldRole::Input),
            ("first_out", FieldRole::Output),
            ("second_out", FieldRole::Output),
        ]
    );
    let names = |fields: &[dspex::FieldSpec]| {
        fields
            .iter()
            .map(|f| f.name().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(spec.inputs()), ["first_in", "second_in"]);
    assert_eq!(names(spec.outputs()), ["first_out", "second_out"]);
    let input = InterleavedInput {
        first_in: "a".into(),
        second_in: 2,
    };
    assert_eq!(
        serde_json::to_value(&input).expect("serializes"),
        json!({"first_in": "a", "second_in": 2})
    );
}
