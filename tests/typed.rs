//! Typed modules through real worker processes, real DSPy and the offline test LM: Rust
//! structs in, Rust structs out, through the adapters DSPy really uses. The test LM answers
//! each field with a value of its type: a `str` with `Echo: <first input> [settings]`, a
//! number with the sum of the numbers in the inputs, a `bool` with `true`, an enum with its
//! first variant, a list with one element, a struct field by field.

mod common;

use std::collections::BTreeMap;

use common::temperature_seen;
use dspex::{
    Adapter, ChainOfThought, Context, Error, FieldRole, FieldSpec, Lm, Predict, ProgramOfThought,
    ReAct, Signature, SignatureSpec, TypeDescriptor, TypedModule,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Answer the question.
#[derive(dspex::Signature)]
struct Qa {
    /// The question to answer.
    #[input]
    question: String,
    #[output]
    answer: String,
    /// A number the answer mentions.
    #[output]
    total: i64,
    #[output]
    sure: bool,
}

async fn echo_context(adapter: Option<Adapter>) -> dspex::Result<Context> {
    let ctx = common::llm_context()?;
    let lm = match adapter {
        Some(adapter) => Lm::echo().adapter(adapter),
        None => Lm::echo(),
    };
    ctx.configure_lm(lm).await?;
    Ok(ctx)
}

#[tokio::test]
async fn predict_answers_the_output_struct() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    let qa = Predict::typed::<Qa>(&ctx).await?;
    assert_eq!(qa.class_name(), "VariableAwarePredict");
    let out: QaOutput = qa
        .call(QaInput {
            question: "What is 2 plus 3?".into(),
        })
        .await?;
    assert!(out.answer.starts_with("Echo: What is 2 plus 3?"), "{out:?}");
    assert_eq!(out.total, 5);
    assert!(out.sure);
    Ok(())
}

#[tokio::test]
async fn chain_of_thought_adds_its_reasoning_beside_the_output() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    let qa = ChainOfThought::typed::<Qa>(&ctx).await?;
    qa.bind("temperature", "temperature").await?;
    ctx.set("temperature", 0.3)?;
    let full = qa
        .call_full(QaInput {
            question: "Why 7?".into(),
        })
        .await?;
    assert_eq!(temperature_seen(&full.output.answer), "0.3");
    assert_eq!(full.output.total, 7);
    let reasoning: String = full.extra("reasoning")?;
    assert!(reasoning.starts_with("Echo: Why 7?"), "{reasoning}");
    assert_eq!(full.extra_names().collect::<Vec<_>>(), ["reasoning"]);
    let err = full.extra::<String>("trajectory").unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = full.extra::<u8>("reasoning").unwrap_err();
    assert!(
        matches!(&err, Error::OutputParse { field, .. } if field == "reasoning"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn react_calls_a_python_tool_and_keeps_its_trajectory() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    let react = ReAct::typed::<Qa>(&ctx, ["dspex_bridge.testing:add_numbers"]).await?;
    let full = react
        .call_full(QaInput {
            question: "What is 2 plus 3?".into(),
        })
        .await?;
    let trajectory: serde_json::Value = full.extra("trajectory")?;
    assert_eq!(trajectory["observation_0"], 5, "{trajectory}");
    assert_eq!(trajectory["tool_name_0"], "add_numbers", "{trajectory}");
    assert!(full.output.answer.starts_with("Echo:"), "{:?}", full.output);
    assert_eq!(full.output.total, 5);
    Ok(())
}

#[tokio::test]
async fn program_of_thought_computes_a_typed_answer() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    let pot = ProgramOfThought::typed::<Qa>(&ctx).await?;
    let out = pot
        .call(QaInput {
            question: "What is 2 plus 40?".into(),
        })
        .await?;
    assert_eq!(out.total, 42, "{out:?}");
    assert!(out.answer.starts_with("Echo: 42"), "{out:?}");
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct LineItem {
    sku: String,
    quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
enum Urgency {
    #[serde(rename = "low")]
    Low,
    #[serde(rename = "high")]
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Order {
    items: Vec<LineItem>,
    urgency: Urgency,
    gift: Option<bool>,
}

/// Extract the order from the customer's message.
#[derive(dspex::Signature)]
struct ExtractOrder {
    #[input]
    message: String,
    #[input]
    known_skus: Vec<String>,
    #[output]
    order: Order,
    #[output]
    tags: Vec<String>,
    #[output]
    #[serde(rename = "priority")]
    urgency: Urgency,
    #[output]
    counts: BTreeMap<String, u16>,
}

fn order_input() -> ExtractOrderInput {
    ExtractOrderInput {
        message: "Send 3 boxes of tea".into(),
        known_skus: vec!["tea".into(), "cups".into()],
    }
}

async fn check_extraction(adapter: Option<Adapter>) -> dspex::Result<()> {
    let ctx = echo_context(adapter).await?;
    let extract = Predict::typed::<ExtractOrder>(&ctx).await?;
    let out = extract.call(order_input()).await?;
    assert_eq!(out.order.items.len(), 1, "{out:?}");
    assert_eq!(out.order.items[0].quantity, 3);
    assert!(
        out.order.items[0]
            .sku
            .starts_with("Echo: Send 3 boxes of tea")
    );
    assert_eq!(out.order.urgency, Urgency::Low);
    assert_eq!(out.order.gift, Some(true));
    assert_eq!(out.urgency, Urgency::Low);
    assert_eq!(out.tags.len(), 1);
    assert_eq!(out.counts.get("echo"), Some(&3));
    Ok(())
}

#[tokio::test]
async fn a_struct_output_through_the_json_adapter() -> dspex::Result<()> {
    check_extraction(Some(Adapter::Json)).await
}

#[tokio::test]
async fn a_struct_output_through_the_chat_adapter() -> dspex::Result<()> {
    check_extraction(Some(Adapter::Chat)).await?;
    check_extraction(None).await
}

/// Count what the message asks for.
#[derive(dspex::Signature)]
struct CountItems {
    #[input]
    message: String,
    #[output]
    count: u8,
}

#[tokio::test]
async fn an_answer_outside_the_rust_type_is_an_output_parse_error() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    let count = Predict::typed::<CountItems>(&ctx).await?;
    let ok = count
        .call(CountItemsInput {
            message: "2 and 3".into(),
        })
        .await?;
    assert_eq!(ok.count, 5);
    // DSPy reads 305 as an int; `u8` cannot hold it.
    let err = count
        .call(CountItemsInput {
            message: "300 and 5".into(),
        })
        .await
        .unwrap_err();
    let Error::OutputParse {
        field,
        expected,
        raw,
        reason,
        ..
    } = &err
    else {
        panic!("expected OutputParse, got {err:?}");
    };
    assert_eq!(field, "count");
    assert_eq!(expected, CountItems::spec().outputs()[0].type_name());
    assert_eq!(raw, "305");
    assert!(reason.contains("u8"), "{reason}");
    assert!(err.to_string().starts_with("output field `count`"), "{err}");
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Batch {
    label: String,
    size: u8,
}

/// Describe the batch the message asks for.
#[derive(dspex::Signature)]
struct DescribeBatch {
    #[input]
    message: String,
    #[output]
    batch: Batch,
}

#[tokio::test]
async fn an_answer_the_adapter_cannot_parse_names_the_field() -> dspex::Result<()> {
    // Inside a struct, the bounds of `u8` are checked by the pydantic model DSPy parses
    // into: 305 fails in the worker, under ChatAdapter and its JSONAdapter retry alike.
    let ctx = echo_context(None).await?;
    let describe = Predict::typed::<DescribeBatch>(&ctx).await?;
    let err = describe
        .call(DescribeBatchInput {
            message: "a batch of 300 and 5 more".into(),
        })
        .await
        .unwrap_err();
    let Error::OutputParse {
        field,
        expected,
        raw,
        reason,
        ..
    } = &err
    else {
        panic!("expected OutputParse, got {err:?}");
    };
    assert_eq!(field, "batch");
    assert_eq!(expected, "Batch");
    assert!(raw.contains("305"), "{raw}");
    assert!(
        raw.chars().count() <= Error::OUTPUT_PARSE_RAW_CHARS + 1,
        "{raw}"
    );
    assert!(reason.contains("255"), "{reason}");
    // The module still serves.
    let ok = describe
        .call(DescribeBatchInput {
            message: "a batch of 2".into(),
        })
        .await?;
    assert_eq!(ok.batch.size, 2);
    Ok(())
}

/// A signature implemented by hand, with the field ChainOfThought adds itself and no
/// `RESERVED_CONFLICTS`: refused when the module is created.
struct HandWritten;

#[derive(Serialize, Deserialize)]
struct HandWrittenInput {
    question: String,
}

#[derive(Serialize, Deserialize)]
struct HandWrittenOutput {
    reasoning: String,
}

impl Signature for HandWritten {
    type Input = HandWrittenInput;
    type Output = HandWrittenOutput;

    fn spec() -> &'static SignatureSpec {
        static SPEC: std::sync::OnceLock<SignatureSpec> = std::sync::OnceLock::new();
        SPEC.get_or_init(|| {
            SignatureSpec::new(
                "HandWritten",
                "",
                [
                    FieldSpec::of::<String>(FieldRole::Input, "question", ""),
                    FieldSpec::of::<String>(FieldRole::Output, "reasoning", ""),
                ],
            )
        })
    }
}

#[tokio::test]
async fn a_reserved_name_in_a_hand_written_signature_is_refused_at_run_time() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    for err in [
        ChainOfThought::typed::<HandWritten>(&ctx)
            .await
            .unwrap_err(),
        TypedModule::<HandWritten>::new(&ctx, "ChainOfThought")
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("its field `reasoning` is a field ChainOfThought adds itself"),
            "{err}"
        );
    }
    // Predict adds no field.
    let predict = Predict::typed::<HandWritten>(&ctx).await?;
    let out = predict
        .call(HandWrittenInput {
            question: "Why?".into(),
        })
        .await?;
    assert!(out.reasoning.starts_with("Echo: Why?"));
    Ok(())
}

/// A signature whose field type the worker cannot build (a dangling `$ref`).
struct Dangling;

impl Signature for Dangling {
    type Input = HandWrittenInput;
    type Output = serde_json::Value;

    fn spec() -> &'static SignatureSpec {
        static SPEC: std::sync::OnceLock<SignatureSpec> = std::sync::OnceLock::new();
        SPEC.get_or_init(|| {
            let missing = TypeDescriptor::Model {
                name: "Missing".into(),
                json_schema: serde_json::json!({"$ref": "#/$defs/Missing"}),
            };
            SignatureSpec::new(
                "Dangling",
                "",
                [
                    FieldSpec::of::<String>(FieldRole::Input, "question", ""),
                    FieldSpec::new(FieldRole::Output, "thing", "", missing),
                ],
            )
        })
    }
}

#[tokio::test]
async fn a_spec_the_worker_refuses_is_invalid_argument_naming_the_field() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    let err = Predict::typed::<Dangling>(&ctx).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(err.to_string().contains("field `thing`"), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_untyped_api_is_unchanged_beside_typed_modules() -> dspex::Result<()> {
    let ctx = echo_context(None).await?;
    let typed = Predict::typed::<Qa>(&ctx).await?;
    let untyped = Predict::new(&ctx, "question -> answer, total: int").await?;
    let p = untyped.call([("question", "1 plus 2")]).await?;
    assert!(p.get::<String>("answer")?.starts_with("Echo: 1 plus 2"));
    assert_eq!(p.get::<i64>("total")?, 3);
    let out = typed
        .call(QaInput {
            question: "1 plus 2".into(),
        })
        .await?;
    assert_eq!(out.total, 3);
    // The typed module is a Module: its untyped handle calls it with the same fields.
    let p = typed.module().call([("question", "4 plus 4")]).await?;
    assert_eq!(p.get::<i64>("total")?, 8);
    Ok(())
}

#[dspex::program]
struct Answering {
    #[var(default = 0.4, min = 0.0, max = 2.0)]
    temperature: f64,
    /// Reasons, then answers.
    #[module(ChainOfThought, signature = Qa, bind(temperature))]
    reason: TypedModule<Qa>,
    #[module(Predict, signature = "question -> answer, total: int")]
    plain: dspex::Module,
}

#[tokio::test]
async fn a_program_declares_a_typed_module_and_lists_its_fields() -> dspex::Result<()> {
    let ctx = Context::new();
    let program = Answering::new(&ctx)?;
    ctx.configure_lm(Lm::echo()).await?;
    let reason: &TypedModule<Qa> = program.reason().await?;
    assert_eq!(
        reason.bindings(),
        [("temperature".into(), "temperature".into())]
    );
    program.set_temperature(1.5)?;
    let full = reason
        .call_full(QaInput {
            question: "3 or 4?".into(),
        })
        .await?;
    assert_eq!(temperature_seen(&full.output.answer), "1.5");
    assert_eq!(full.output.total, 7);
    assert!(
        full.extra::<String>("reasoning")?
            .starts_with("Echo: 3 or 4?")
    );
    assert!(
        std::ptr::eq(reason, program.reason().await?),
        "created once"
    );

    let info = dspex::programs()
        .find(|p| p.name() == "Answering")
        .expect("registered");
    let typed = info.module("reason").expect("declared");
    assert_eq!(typed.module_type(), "ChainOfThought");
    assert_eq!(typed.signature(), "Qa");
    assert_eq!(typed.typed_signature().map(|s| s.name()), Some("Qa"));
    let fields: Vec<_> = typed
        .fields()
        .iter()
        .map(|f| (f.name().to_owned(), f.role(), f.type_name().to_owned()))
        .collect();
    assert_eq!(
        fields,
        [
            ("question".into(), FieldRole::Input, "str".into()),
            ("answer".into(), FieldRole::Output, "str".into()),
            ("total".into(), FieldRole::Output, "int".into()),
            ("sure".into(), FieldRole::Output, "bool".into()),
        ]
    );
    let plain = info.module("plain").expect("declared");
    assert!(plain.typed_signature().is_none());
    let types: Vec<_> = plain
        .fields()
        .iter()
        .map(|f| (f.name().to_owned(), f.type_name().to_owned()))
        .collect();
    assert_eq!(
        types,
        [
            ("question".into(), "str".into()),
            ("answer".into(), "str".into()),
            ("total".into(), "int".into())
        ]
    );
    let p = program
        .plain()
        .await?
        .call([("question", "1 and 2")])
        .await?;
    assert_eq!(p.get::<i64>("total")?, 3);
    Ok(())
}
