//! A support agent: a DSPy ReAct agent whose tools are Rust — an order lookup and a
//! refund-rule check — printing the status lines of its run as they stream in, then the
//! answer's text as the LM writes it.
//!
//! `lookup_order` is a function made a tool by `#[dspex::tool]`; `check_refund` is a
//! closure over the refund policy the program configured (`Tool::new`). Both run here, in
//! this process, when the agent in the Python worker calls them.
//!
//! Offline by default, with the test LM (`Lm::echo()`, whose agent calls each tool once
//! with the numbers of the question, then answers with an echo). With a real LM:
//! `DSPEX_LM=openai/gpt-4o-mini OPENAI_API_KEY=... cargo run --example agent`.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::LazyLock;

use dspex::{Context, Lm, ReAct, StreamEvent, Tool};
use tokio_stream::StreamExt;

/// An order, as the tools tell the agent about it.
#[derive(Debug, Clone, serde::Serialize)]
struct Order {
    id: u64,
    item: &'static str,
    amount_eur: f64,
    days_since_delivery: u32,
}

/// The shop's orders (a database, in a real service).
static ORDERS: LazyLock<HashMap<u64, Order>> = LazyLock::new(|| {
    [
        (1042, "espresso machine", 289.0, 12),
        (1043, "grinder", 120.0, 45),
        (1044, "commercial roaster", 4800.0, 3),
    ]
    .into_iter()
    .map(|(id, item, amount_eur, days_since_delivery)| {
        let order = Order {
            id,
            item,
            amount_eur,
            days_since_delivery,
        };
        (id, order)
    })
    .collect()
});

/// Looks up an order by its number: what was bought, for how much, delivered how long ago.
#[dspex::tool]
async fn lookup_order(
    /// The order number.
    id: u64,
) -> Result<Order, String> {
    ORDERS
        .get(&id)
        .cloned()
        .ok_or_else(|| format!("there is no order {id}"))
}

/// When an order can be refunded.
#[derive(Debug, Clone, Copy)]
struct RefundPolicy {
    max_days: u32,
    max_amount_eur: f64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct RefundQuestion {
    /// The order number.
    id: u64,
}

/// The refund check, over the policy this program runs with.
fn check_refund(policy: RefundPolicy) -> Tool {
    Tool::new(
        "check_refund",
        "Says whether an order can be refunded under the shop's policy, and why.",
        move |question: RefundQuestion| async move {
            let order = ORDERS
                .get(&question.id)
                .ok_or_else(|| format!("there is no order {}", question.id))?;
            Ok::<_, String>(if order.days_since_delivery > policy.max_days {
                format!(
                    "no: delivered {} days ago, more than {} days",
                    order.days_since_delivery, policy.max_days
                )
            } else if order.amount_eur > policy.max_amount_eur {
                format!(
                    "no: {} EUR is above the {} EUR a refund may cover; escalate to a person",
                    order.amount_eur, policy.max_amount_eur
                )
            } else {
                format!("yes: a full refund of {} EUR", order.amount_eur)
            })
        },
    )
}

fn lm_from_env() -> Lm {
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
    ctx.configure_lm(lm_from_env()).await?;
    let policy = RefundPolicy {
        max_days: 30,
        max_amount_eur: 500.0,
    };
    let agent = ReAct::with_tools(
        &ctx,
        "question -> answer",
        [lookup_order_tool(), check_refund(policy)],
    )
    .await?;

    for question in [
        "Can order 1042 still be refunded?",
        "A customer wants their money back for order 1043.",
    ] {
        println!("\n> {question}");
        let mut events = agent.stream([("question", question)]);
        let mut writing = None;
        while let Some(event) = events.next().await {
            match event? {
                StreamEvent::Status(line) => println!("  … {line}"),
                StreamEvent::Token { field, text } => {
                    if writing.as_ref() != Some(&field) {
                        print!("\n  [{field}] ");
                        writing = Some(field);
                    }
                    print!("{text}");
                    let _ = std::io::stdout().flush();
                }
                StreamEvent::Done(prediction) => {
                    println!();
                    let trajectory = prediction.json("trajectory")?;
                    for i in 0.. {
                        let Some(tool) = trajectory[format!("tool_name_{i}")].as_str() else {
                            break;
                        };
                        if tool != "finish" {
                            println!("  {tool} → {}", trajectory[format!("observation_{i}")]);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
