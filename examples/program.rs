//! A program declared with `#[dspex::program]` that never touches Python: its variables
//! stay in-process (the Local backend), checked at compile time and on every write.
//!
//! Run with `cargo run --example program`.

use dspex::{Context, VariableSet};

/// A summarizer's knobs.
#[dspex::program]
pub struct Summarizer {
    /// Sampling temperature.
    #[var(default = 0.7, min = 0.0, max = 2.0)]
    temperature: f64,
    /// The most tokens a summary may take.
    #[var(default = 256, min = 1, max = 4096)]
    max_tokens: i64,
    /// Which model answers.
    #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
    model: String,
    /// What the model is told first.
    #[var(default = "Be brief.", max_length = 200, pattern = "^[A-Z]")]
    instructions: String,
    /// Whether to print every step.
    #[var(default = false)]
    verbose: bool,
}

/// Knobs moved as one: loaded as a snapshot, stored all or nothing.
#[derive(dspex::Variables, Debug)]
struct Retry {
    /// How many attempts.
    #[var(default = 3, min = 1, max = 10)]
    attempts: i64,
    /// Seconds between attempts.
    #[var(default = 0.5, min = 0.0)]
    backoff: f64,
}

fn main() -> dspex::Result<()> {
    let ctx = Context::new();
    let summarizer = Summarizer::new(&ctx)?;
    Retry::register(&ctx)?;
    dspex::defvariable!(ctx, top_p: float = 0.9, min = 0.0, max = 1.0, description = "Nucleus sampling")?;

    summarizer.set_temperature(0.3)?;
    summarizer.set_model("claude-3")?;
    if let Err(e) = summarizer.set_max_tokens(0) {
        println!("refused: {e}");
    }

    let mut retry = Retry::load(&ctx)?;
    retry.attempts = 5;
    retry.store(&ctx)?;
    println!("retry: {retry:?}");

    println!(
        "backend: {:?} (a program with no modules never bridges)",
        summarizer.context().backend().kind
    );
    println!("variables:");
    for var in ctx.list() {
        println!(
            "  {:<13} {:<8} = {:<12} v{}  {}",
            var.name,
            var.var_type.to_string(),
            var.value.to_string(),
            var.version,
            var.description.unwrap_or_default()
        );
    }

    println!("declared programs:");
    for program in dspex::programs() {
        println!(
            "  {} ({} variables)",
            program.path(),
            program.variables().len()
        );
        for var in program.variables() {
            println!(
                "    {}: {} = {}",
                var.name(),
                var.var_type(),
                var.default_value()
            );
        }
    }
    Ok(())
}
