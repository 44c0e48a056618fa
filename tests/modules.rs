//! DSPy modules driven from Rust: real worker processes, real DSPy, the offline test LM
//! (`Lm::echo()`, whose string outputs read `Echo: <input> [temperature=<t> max_tokens=<m>]`).

mod common;

use common::temperature_seen;
use dspex::{
    BackendKind, ChainOfThought, Constraints, Context, Error, Lm, Module, Predict,
    ProgramOfThought, ReAct, VarOptions, VarType,
};

async fn context() -> dspex::Result<Context> {
    common::llm_context()
}

#[tokio::test]
async fn the_first_module_bridges_the_context() -> dspex::Result<()> {
    let ctx = context().await?;
    assert_eq!(ctx.backend().kind, BackendKind::Local);
    let predict = Predict::new(&ctx, "question -> answer").await?;
    assert_eq!(ctx.backend().kind, BackendKind::Bridged);
    assert_eq!(ctx.backend().switches, 1);
    assert_eq!(predict.class_name(), "VariableAwarePredict");
    ctx.configure_lm(Lm::echo()).await?;
    let p = predict.call([("question", "What is 2+2?")]).await?;
    assert!(
        p.get::<String>("answer")?.starts_with("Echo: What is 2+2?"),
        "{p:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_rust_set_is_what_the_next_call_carries() -> dspex::Result<()> {
    let ctx = context().await?;
    ctx.configure_lm(Lm::echo()).await?;
    let cot = ChainOfThought::new(&ctx, "question -> answer").await?;
    cot.bind("temperature", "temperature").await?;
    cot.bind("max_tokens", "max_tokens").await?;
    let first = cot.call([("question", "Why?")]).await?;
    let answer = first.get::<String>("answer")?;
    assert_eq!(temperature_seen(&answer), "0.7");
    assert!(answer.contains("max_tokens=256"), "{answer}");
    assert!(first.fields().contains_key("reasoning"));

    ctx.set("temperature", 0.3)?;
    let second = cot.call([("question", "Why?")]).await?;
    assert_eq!(temperature_seen(&second.get::<String>("answer")?), "0.3");
    Ok(())
}

#[tokio::test]
async fn binding_an_unknown_variable_fails_at_bind_time() -> dspex::Result<()> {
    let ctx = context().await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    let err = predict
        .bind("temperature", "no_such_variable")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = Predict::new(&ctx, "question answer").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    Ok(())
}

#[tokio::test]
async fn react_calls_a_real_tool() -> dspex::Result<()> {
    let ctx = context().await?;
    ctx.configure_lm(Lm::echo()).await?;
    let react = ReAct::new(
        &ctx,
        "question -> answer",
        &["dspex_bridge.testing:add_numbers"],
    )
    .await?;
    let p = react.call([("question", "What is 2 plus 3?")]).await?;
    let trajectory = p.json("trajectory")?;
    assert_eq!(
        trajectory["observation_0"],
        serde_json::json!(5),
        "{trajectory}"
    );
    assert!(p.get::<String>("answer")?.starts_with("Echo:"));
    Ok(())
}

#[tokio::test]
async fn program_of_thought_runs_code() -> dspex::Result<()> {
    let ctx = context().await?;
    ctx.configure_lm(Lm::echo()).await?;
    let pot = ProgramOfThought::new(&ctx, "question -> answer").await?;
    let p = pot.call([("question", "What is 2 plus 40?")]).await?;
    assert!(p.get::<String>("answer")?.starts_with("Echo: 42"), "{p:?}");
    Ok(())
}

#[tokio::test]
async fn a_module_variable_chooses_the_class() -> dspex::Result<()> {
    let ctx = context().await?;
    ctx.defvariable(
        "strategy",
        VarType::Module,
        "ChainOfThought",
        VarOptions::new().constraints(Constraints::new().choices(["Predict", "ChainOfThought"])),
    )?;
    ctx.configure_lm(Lm::echo()).await?;
    let module = Module::from_variable(&ctx, "strategy", "question -> answer").await?;
    assert_eq!(module.class_name(), "VariableAwareChainOfThought");
    let p = module.call([("question", "Hi")]).await?;
    assert!(p.fields().contains_key("reasoning"));
    let err = Module::from_variable(&ctx, "temperature", "q -> a")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_each_carry_their_own_temperature() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.configure_lm(Lm::echo()).await?;
    let mut modules = Vec::new();
    for i in 0..8 {
        let name = format!("t{i}");
        ctx.defvariable(&name, VarType::Float, 0.1 * f64::from(i), VarOptions::new())?;
        let m = Predict::new(&ctx, "question -> answer").await?;
        m.bind("temperature", &name).await?;
        modules.push(m);
    }
    let calls = modules.iter().map(|m| {
        let m = m.clone();
        tokio::spawn(async move { m.call([("question", "q")]).await })
    });
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.expect("task")?);
    }
    for (i, p) in results.iter().enumerate() {
        let expected = ctx.get::<f64>(&format!("t{i}"))?;
        let seen: f64 = temperature_seen(&p.get::<String>("answer")?)
            .parse()
            .expect("a float");
        assert!(
            (seen - expected).abs() < 1e-9,
            "call {i}: {seen} != {expected}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_call_without_an_lm_says_what_to_do() -> dspex::Result<()> {
    let ctx = context().await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    let err = predict.call([("question", "q")]).await.unwrap_err();
    assert!(matches!(err, Error::Python { .. }), "{err}");
    assert!(err.to_string().contains("configure_lm"), "{err}");
    Ok(())
}
