// A program with modules: compiles, registers only the variables, stays Local until a
// module is first used, and a module accessor is an async fn returning `Result<&Module>`.
use dspex::{BackendKind, Context};

#[dspex::program]
pub struct Qa {
    /// Sampling temperature.
    #[var(default = 0.7, min = 0.0, max = 2.0)]
    temperature: f64,
    #[var(default = 256, min = 1, max = 4096)]
    max_tokens: i64,
    #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
    model: String,
    #[var(default = "Be brief.", max_length = 200, pattern = "^[A-Z]")]
    instructions: String,
    #[var(module, default = "ChainOfThought", choices = ["Predict", "ChainOfThought"])]
    strategy: String,
    /// Answers with reasoning.
    #[module(ChainOfThought, signature = "question -> answer", bind(temperature), bind(max_tokens = max_tokens))]
    reason: dspex::Module,
    #[module(Predict, signature = "context: list[str], question: str -> answer: str")]
    predict: dspex::Module,
}

fn accessor_type(qa: &Qa) -> impl std::future::Future<Output = dspex::Result<&dspex::Module>> + '_ {
    qa.reason()
}

fn main() -> dspex::Result<()> {
    let ctx = Context::new();
    let qa = Qa::new(&ctx)?;
    assert_eq!(ctx.list().len(), 5);
    assert_eq!(qa.temperature()?, 0.7);
    // Creating the future does not run it: still Local.
    drop(accessor_type(&qa));
    drop(qa.predict());
    assert_eq!(ctx.backend().kind, BackendKind::Local);

    let info = dspex::programs().find(|p| p.name() == "Qa").unwrap();
    let reason = info.module("reason").unwrap();
    assert_eq!(reason.module_type(), "ChainOfThought");
    assert_eq!(reason.signature(), "question -> answer");
    assert_eq!(
        reason.bindings(),
        &[("temperature", "temperature"), ("max_tokens", "max_tokens")]
    );
    assert!(info.module("predict").unwrap().bindings().is_empty());
    Ok(())
}
