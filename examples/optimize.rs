//! Optimizing from Rust: evaluate a program with a Rust metric, optimize its prompt
//! (BootstrapFewShot) and its variables (VariableSearch over `strategy` and `temperature`)
//! with a progress bar, save the result, then load it as a fresh program would and answer.
//!
//! Offline, with the task test LM (`dspex_bridge._task_lm`): it answers the word unchanged
//! unless its instructions or demos show it a rule, or it runs as ChainOfThought at a
//! temperature of at most 0.3 (then it answers in uppercase). Here the task is reversing
//! words, so the untrained program scores 0, the demos BootstrapFewShot picks teach the LM
//! the rule, and a search over `strategy` × `temperature` finds the setting that does the
//! uppercase task. Run: `cargo run --example optimize`.

use std::future::IntoFuture;
use std::time::Duration;

use dspex::{
    BootstrapFewShot, Constraints, Context, Example, Lm, Progress, ProgressStream, TypedModule,
    VarOptions, VarType, VariableSearch,
};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_stream::StreamExt;

/// Transform the word.
#[derive(dspex::Signature)]
struct Transform {
    /// The word to transform.
    #[input]
    word: String,
    /// The transformed word.
    #[output]
    answer: String,
}

/// A program: a temperature and a strategy (the DSPy module class), and the module they
/// drive. Made by hand here (`TypedModule::from_variable`) so that the search can switch
/// its class; a `#[dspex::program]` with typed modules optimizes the same way.
async fn program(ctx: &Context) -> dspex::Result<TypedModule<Transform>> {
    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.9,
        VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0)),
    )?;
    ctx.defvariable(
        "strategy",
        VarType::Module,
        "Predict",
        VarOptions::new().constraints(Constraints::new().choices(["Predict", "ChainOfThought"])),
    )?;
    let module = TypedModule::<Transform>::from_variable(ctx, "strategy").await?;
    module.bind("temperature", "temperature").await?;
    Ok(module)
}

fn examples(words: &[&str], label: fn(&str) -> String) -> Vec<Example<Transform>> {
    words
        .iter()
        .map(|w| {
            Example::new(
                TransformInput { word: (*w).into() },
                TransformOutput { answer: label(w) },
            )
        })
        .collect()
}

/// The Rust metric: the answer must be exactly the label.
fn exact(example: &Example<Transform>, prediction: &TransformOutput) -> bool {
    example.output.answer == prediction.answer
}

/// Shows a run's progress as a terminal bar until the run ends.
async fn show(title: &str, mut progress: ProgressStream) {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(title.to_owned());
    while let Some(Progress {
        phase,
        done,
        total,
        score,
        best,
        ..
    }) = progress.next().await
    {
        bar.set_length(total.unwrap_or(done) as u64);
        bar.set_position(done as u64);
        let score = score.map(|s| format!(" score {s:.2}")).unwrap_or_default();
        let best = best.map(|b| format!(" best {b:.2}")).unwrap_or_default();
        bar.set_message(format!("{phase}{score}{best}"));
    }
    bar.finish();
}

#[tokio::main]
async fn main() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.configure_lm(Lm::custom("dspex_bridge._task_lm:task_lm"))
        .await?;
    let module = program(&ctx).await?;

    let train = examples(
        &["apple", "river", "stone", "cloud", "maple", "tiger"],
        |w| w.chars().rev().collect(),
    );
    let dev = examples(&["lemon", "piano", "otter", "candle"], |w| {
        w.chars().rev().collect()
    });

    // 1. Evaluate as it is.
    let before = dspex::evaluate(&module, &dev, exact).concurrency(2).await?;
    println!("before: dev score {:.2}", before.score);

    // 2. Optimize the prompt: demos from the trainset, scored by the Rust metric.
    let mut compile = BootstrapFewShot::new()
        .max_bootstrapped_demos(2)
        .max_labeled_demos(2)
        .compile(&module, &train, exact)
        .devset(&dev);
    let bar = show("BootstrapFewShot", compile.progress());
    let (optimized, ()) = tokio::join!(compile.into_future(), bar);
    let optimized = optimized?;
    let report = optimized.report();
    println!(
        "BootstrapFewShot: dev {:.2} -> {:.2} in {:?} ({} metric calls, {:?} in the Rust metric)",
        report.score_before,
        report.score_after,
        report.wall,
        report.metric_calls,
        report.metric_time
    );

    // 3. Optimize the variables, for the uppercase task: the search writes each trial's
    //    values through the Context (watchers see them) and leaves the best ones there.
    let upper = examples(&["lemon", "piano", "otter", "candle"], str::to_uppercase);
    let fresh = Context::new();
    fresh
        .configure_lm(Lm::custom("dspex_bridge._task_lm:task_lm"))
        .await?;
    let searched = program(&fresh).await?;
    let mut search = VariableSearch::new(["strategy", "temperature"])
        .trials(20)
        .seed(11)
        .compile(&searched, &upper, exact);
    let bar = show("VariableSearch", search.progress());
    let (found, ()) = tokio::join!(search.into_future(), bar);
    let found = found?;
    println!(
        "VariableSearch: best {:.2} with strategy={} temperature={:.2} (class now {})",
        found.report().score_after,
        fresh.get::<String>("strategy")?,
        fresh.get::<f64>("temperature")?,
        searched.class_name()
    );

    // 4. Save the prompt-optimized program, load it into a new Context, answer.
    let path = std::env::temp_dir().join("dspex-optimize-example.json");
    optimized.save(&path)?;
    let reloaded_ctx = Context::new();
    reloaded_ctx
        .configure_lm(Lm::custom("dspex_bridge._task_lm:task_lm"))
        .await?;
    let reloaded = TypedModule::<Transform>::load(&reloaded_ctx, &path).await?;
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        reloaded.call(TransformInput {
            word: "garden".into(),
        }),
    )
    .await
    .map_err(|_| dspex::Error::Python {
        message: "the reloaded program did not answer in 30 s".into(),
    })??;
    println!(
        "reloaded from {}: garden -> {}",
        path.display(),
        answer.answer
    );
    Ok(())
}
