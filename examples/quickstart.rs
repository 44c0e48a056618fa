//! Quickstart: typed, constrained variables on a Local Context.
//!
//! Run with `make demo` (or `cargo run --example quickstart`).

use dspex::{Constraints, Context, Error, VarOptions, VarType};

fn main() -> dspex::Result<()> {
    let ctx = Context::new();

    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.7,
        VarOptions::new()
            .constraints(Constraints::new().min(0.0).max(2.0))
            .description("Sampling temperature"),
    )?;
    ctx.defvariable(
        "max_tokens",
        VarType::Integer,
        256,
        VarOptions::new().constraints(Constraints::new().min(1).max(4096)),
    )?;
    ctx.defvariable(
        "model",
        VarType::Choice,
        "gpt-4",
        VarOptions::new().constraints(Constraints::new().choices(["gpt-4", "claude-3"])),
    )?;

    println!("context {} is {:?}", ctx.id(), ctx.backend().kind);
    println!("temperature = {}", ctx.get::<f64>("temperature")?);

    let version = ctx.set("temperature", 1)?; // integers widen to floats
    println!(
        "temperature = {} (version {version})",
        ctx.get::<f64>("temperature")?
    );

    match ctx.set("temperature", 2.5) {
        Err(e @ Error::ConstraintViolation { .. }) => println!("refused: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    match ctx.set("max_tokens", 3.5) {
        Err(e @ Error::TypeMismatch { .. }) => println!("refused: {e}"),
        other => println!("unexpected: {other:?}"),
    }

    ctx.update("max_tokens", |n: i64| n * 2)?;
    ctx.update_many([("model", "claude-3")])?;
    for var in ctx.list() {
        println!(
            "  {} ({}) = {}  v{}",
            var.name, var.var_type, var.value, var.version
        );
    }

    let saved = ctx.to_json()?;
    let restored = Context::from_json(&saved)?;
    println!(
        "restored {} variables into {}",
        restored.list().len(),
        restored.id()
    );
    Ok(())
}
