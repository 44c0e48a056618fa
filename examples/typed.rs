//! Typed signatures: a small extraction task. A Rust struct declares the signature — the
//! customer's message in; the order (a struct with a `Vec` of line items), its urgency (an
//! enum) and the customer (a nested struct) out — and the module answers Rust values.
//!
//! The worker builds a `dspy.Signature` with the real Python types (pydantic models from
//! the structs' JSON Schemas), so DSPy's JSONAdapter shows the LM their schemas and parses
//! its answer into them; Rust then reads the answer into `ExtractOrderOutput`.
//!
//! Offline, with the test LM (`Lm::echo()`), which answers every field with a value of its
//! type: text echoes the message, numbers are the sum of the numbers in it, an enum is its
//! first variant, a list has one element. With a real LM:
//! `DSPEX_LM=openai/gpt-4o-mini OPENAI_API_KEY=... cargo run --example typed`.

use dspex::{Adapter, Context, Lm, Predict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One product the customer asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    /// What the product is called in the message.
    pub product: String,
    /// How many.
    pub quantity: u32,
}

/// How soon the order must ship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Standard,
    Express,
    Overnight,
}

/// Who is ordering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    pub name: String,
    /// Their email address, if the message gives one.
    pub email: Option<String>,
}

/// The order a message asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    pub items: Vec<LineItem>,
    pub customer: Customer,
}

/// Extract the order from the customer's message.
#[derive(dspex::Signature)]
pub struct ExtractOrder {
    /// The customer's message, as received.
    #[input]
    pub message: String,
    /// Every product asked for, with its quantity, and who asks.
    #[output]
    pub order: Order,
    #[output]
    pub urgency: Urgency,
    /// Short topic tags.
    #[output]
    pub tags: Vec<String>,
}

fn lm() -> Lm {
    match std::env::var("DSPEX_LM") {
        Ok(model) if !model.is_empty() => {
            let provider = model.split('/').next().unwrap_or("openai").to_uppercase();
            Lm::new(&model).api_key_env(&format!("{provider}_API_KEY"))
        }
        _ => Lm::echo(),
    }
}

#[tokio::main]
async fn main() -> dspex::Result<()> {
    let ctx = Context::new();
    // JSONAdapter: the LM answers one JSON object, the usual choice for structured outputs.
    ctx.configure_lm(lm().adapter(Adapter::Json)).await?;
    let extract = Predict::typed::<ExtractOrder>(&ctx).await?;

    let message = "Hi, this is Ana (ana@example.com): please send 2 boxes of green tea, \
                   express if you can.";
    let out: ExtractOrderOutput = extract
        .call(ExtractOrderInput {
            message: message.into(),
        })
        .await?;

    println!("message:  {message}");
    println!("customer: {:?}", out.order.customer);
    for item in &out.order.items {
        println!("item:     {} × {}", item.quantity, item.product);
    }
    println!("urgency:  {:?}", out.urgency);
    println!("tags:     {:?}", out.tags);

    if std::env::var("DSPEX_LM").is_err() {
        // The test LM's answer is known: check that it came back typed.
        let ok = out.order.items.len() == 1
            && out.order.items[0].quantity == 2
            && out.urgency == Urgency::Standard
            && out.order.customer.email.is_some();
        println!(
            "\nthe answer came back as Rust values: {}",
            if ok { "yes" } else { "NO" }
        );
        if !ok {
            std::process::exit(1);
        }
    }
    Ok(())
}
