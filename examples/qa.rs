//! The main example (`make demo`): a question-answering program whose DSPy module's
//! temperature is bound to a Rust variable.
//!
//! It declares its variables and its ChainOfThought module with `#[dspex::program]`,
//! calls the module, changes the variable from Rust, calls again, and shows the LM saw the
//! new value. The Context starts Local and bridges itself when the module is first used.
//!
//! Offline by default, with the test LM (`Lm::echo()`, which answers with an echo of the
//! question and the settings it received). With a real LM:
//! `DSPEX_LM=openai/gpt-4o-mini OPENAI_API_KEY=... cargo run --example qa`
//! (`DSPEX_LM_KEY_ENV` names another key variable).

use dspex::{Context, Lm};

/// A question answerer.
#[dspex::program]
pub struct Qa {
    /// Sampling temperature.
    #[var(default = 0.7, min = 0.0, max = 2.0)]
    temperature: f64,
    /// The most tokens an answer may take.
    #[var(default = 256, min = 1, max = 4096)]
    max_tokens: i64,
    /// Reasons step by step, then answers.
    #[module(
        ChainOfThought,
        signature = "question -> answer",
        bind(temperature),
        bind(max_tokens)
    )]
    reason: dspex::Module,
}

fn lm_from_env() -> (Lm, String) {
    match std::env::var("DSPEX_LM") {
        Ok(model) if !model.is_empty() => {
            let key_env = std::env::var("DSPEX_LM_KEY_ENV").unwrap_or_else(|_| {
                let provider = model.split('/').next().unwrap_or("openai");
                format!("{}_API_KEY", provider.to_uppercase())
            });
            (Lm::new(&model).api_key_env(&key_env), model)
        }
        _ => (Lm::echo(), "the offline test LM (Lm::echo)".to_owned()),
    }
}

#[tokio::main]
async fn main() -> dspex::Result<()> {
    let ctx = Context::new();
    let qa = Qa::new(&ctx)?;
    println!("context {} starts {:?}", ctx.id(), ctx.backend().kind);

    // The first use of the module bridges the Context and starts the Python workers.
    let reason = qa.reason().await?;
    println!(
        "module: {} on worker {}; the context is now {:?}",
        reason.class_name(),
        reason.worker(),
        ctx.backend().kind
    );
    let (lm, lm_name) = lm_from_env();
    ctx.configure_lm(lm).await?;
    println!("LM: {lm_name}");

    let question = "What is the capital of France?";

    let first = reason.call([("question", question)]).await?;
    println!("\ntemperature = {}", qa.temperature()?);
    println!("  reasoning: {}", first.get::<String>("reasoning")?);
    println!("  answer:    {}", first.get::<String>("answer")?);

    qa.set_temperature(0.2)?;
    let second = reason.call([("question", question)]).await?;
    println!("\ntemperature = {} (set from Rust)", qa.temperature()?);
    println!("  answer:    {}", second.get::<String>("answer")?);

    if std::env::var("DSPEX_LM").is_err() {
        let answer = second.get::<String>("answer")?;
        let seen = answer.contains("temperature=0.2");
        println!(
            "\nthe LM received temperature=0.2 on the second call: {}",
            if seen { "yes" } else { "NO" }
        );
        if !seen {
            std::process::exit(1);
        }
    }
    Ok(())
}
