//! DSPy's optimizers, driven from Rust: each is a builder of its main options, whose
//! `compile` runs it in the worker on the program's modules and applies what it learned
//! (demos, instructions) to them.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use dspex_core::{Error, Result, Value};

use super::artifact::Learned;
use super::evaluate::{ExampleResult, results};
use super::example::Example;
use super::metric::MetricSource;
use super::optimizable::Optimizable;
use super::progress::{ProgressSink, ProgressStream};
use super::run::{RunOutcome, RunSpec, execute};
use super::search::VariableSearch;
use crate::Lm;
use crate::bridge::convert::{value_from_pb, value_to_pb};
use crate::worker::pb;

/// The options of one optimizer, as the worker passes them to DSPy.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    optimizer: &'static str,
    options: HashMap<String, pb::Value>,
    compile_options: HashMap<String, pb::Value>,
    reflection_lm: Option<pb::LmSpec>,
}

impl Options {
    fn new(optimizer: &'static str) -> Options {
        Options {
            optimizer,
            options: HashMap::new(),
            compile_options: HashMap::new(),
            reflection_lm: None,
        }
    }

    fn set(mut self, name: &str, value: impl Into<Value>) -> Options {
        self.options
            .insert(name.to_owned(), value_to_pb(&value.into()));
        self
    }

    fn set_compile(mut self, name: &str, value: impl Into<Value>) -> Options {
        self.compile_options
            .insert(name.to_owned(), value_to_pb(&value.into()));
        self
    }

    fn task(&self) -> pb::run_request::Task {
        pb::run_request::Task::Optimizer(pb::OptimizerTask {
            optimizer: self.optimizer.to_owned(),
            options: self.options.clone(),
            compile_options: self.compile_options.clone(),
            reflection_lm: self.reflection_lm.clone(),
        })
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `compile` and `compile_with_python_metric` of a builder whose run is `$plan` (an
/// expression over `self`), documented as `$does`.
macro_rules! compile_methods {
    ($plan:expr, $does:literal) => {
        #[doc = concat!(
            $does, " with a Rust metric, `|example, prediction| -> f64` (or `bool`), called ",
            "back from the worker for each prediction. Await the builder for the ",
            "[`Optimized`](crate::Optimized) program and its report."
        )]
        pub fn compile<'a, P, F, R>(
            &self,
            program: &'a P,
            examples: &'a [$crate::Example<P::Signature>],
            metric: F,
        ) -> $crate::CompileBuilder<'a, P>
        where
            P: $crate::Optimizable,
            F: Fn(
                    &$crate::Example<P::Signature>,
                    &<P::Signature as $crate::Signature>::Output,
                ) -> R
                + Send
                + Sync
                + 'static,
            R: $crate::Score,
        {
            let plan = $plan(self);
            $crate::optimize::CompileBuilder::with_plan(
                program,
                examples,
                $crate::optimize::MetricSource::Rust($crate::optimize::rust_metric(metric)),
                plan,
            )
        }

        #[doc = concat!(
            $does, " as [`compile`](Self::compile) does, with a Python metric the worker ",
            "imports (`\"package.module:function\"`)."
        )]
        pub fn compile_with_python_metric<'a, P: $crate::Optimizable>(
            &self,
            program: &'a P,
            examples: &'a [$crate::Example<P::Signature>],
            metric: &str,
        ) -> $crate::CompileBuilder<'a, P> {
            let plan = $plan(self);
            $crate::optimize::CompileBuilder::with_plan(
                program,
                examples,
                $crate::optimize::MetricSource::Python(metric.to_owned()),
                plan,
            )
        }
    };
}
pub(crate) use compile_methods;

/// The options every optimizer of this file takes, and `compile`.
macro_rules! optimizer_methods {
    () => {
        /// Sets any option of DSPy's optimizer by its Python name (those without a
        /// builder method here). An option DSPy does not know fails the compile, naming
        /// the options it takes.
        pub fn option(mut self, name: &str, value: impl Into<Value>) -> Self {
            self.options = self.options.set(name, value);
            self
        }

        compile_methods!(
            |this: &Self| Plan::Optimizer(this.options.clone()),
            "Optimizes `program` on the trainset `examples` (`.devset(..)` scores before and after on a dev set)"
        );
    };
}

/// `max_bootstrapped_demos` and `max_labeled_demos`, which the demo-based optimizers share.
macro_rules! demo_methods {
    () => {
        /// At most `n` demos bootstrapped from the program's own traces, per predictor.
        pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
            self.options = self.options.set("max_bootstrapped_demos", count(n));
            self
        }

        /// At most `n` demos taken from the trainset as they are, per predictor.
        pub fn max_labeled_demos(mut self, n: usize) -> Self {
            self.options = self.options.set("max_labeled_demos", count(n));
            self
        }
    };
}

/// DSPy's `BootstrapFewShot`: demos bootstrapped by running the program (a teacher with
/// labeled demos) on the trainset and keeping the traces the metric accepts, beside
/// labeled demos taken from the trainset as they are.
///
/// ```no_run
/// # #[derive(dspex::Signature)] struct Qa { #[input] question: String, #[output] answer: String }
/// # async fn demo(qa: dspex::TypedModule<Qa>, trainset: Vec<dspex::Example<Qa>>) -> dspex::Result<()> {
/// use dspex::{BootstrapFewShot, Example};
/// let optimized = BootstrapFewShot::new()
///     .max_bootstrapped_demos(4)
///     .max_labeled_demos(4)
///     .compile(&qa, &trainset, |example: &Example<Qa>, prediction: &QaOutput| {
///         example.output.answer == prediction.answer
///     })
///     .await?;
/// println!("{:?} → {:?}", optimized.report().score_before, optimized.report().score_after);
/// optimized.save("qa.optimized.json")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BootstrapFewShot {
    options: Options,
}

impl Default for BootstrapFewShot {
    fn default() -> Self {
        Self::new()
    }
}

impl BootstrapFewShot {
    /// DSPy's defaults (4 bootstrapped demos, 16 labeled demos, 1 round).
    pub fn new() -> Self {
        BootstrapFewShot {
            options: Options::new("BootstrapFewShot"),
        }
    }

    demo_methods!();

    /// Bootstrapping rounds over the trainset.
    pub fn max_rounds(mut self, n: usize) -> Self {
        self.options = self.options.set("max_rounds", count(n));
        self
    }

    /// Keeps a trace when its score is at least `threshold` (default: any truthy score).
    pub fn metric_threshold(mut self, threshold: f64) -> Self {
        self.options = self.options.set("metric_threshold", threshold);
        self
    }

    optimizer_methods!();
}

/// DSPy's `BootstrapFewShotWithRandomSearch`: several `BootstrapFewShot` candidates (with
/// shuffled trainsets and demo counts), each scored, the best kept.
#[derive(Debug, Clone)]
pub struct BootstrapFewShotWithRandomSearch {
    options: Options,
}

impl Default for BootstrapFewShotWithRandomSearch {
    fn default() -> Self {
        Self::new()
    }
}

impl BootstrapFewShotWithRandomSearch {
    /// DSPy's defaults (16 candidate programs).
    pub fn new() -> Self {
        BootstrapFewShotWithRandomSearch {
            options: Options::new("BootstrapFewShotWithRandomSearch"),
        }
    }

    demo_methods!();

    /// How many candidate programs are tried (beside the zero-shot and labeled-only ones).
    pub fn num_candidate_programs(mut self, n: usize) -> Self {
        self.options = self.options.set("num_candidate_programs", count(n));
        self
    }

    /// Stops once a candidate scores at least `score` (DSPy's percentage scale, 0–100).
    pub fn stop_at_score(mut self, score: f64) -> Self {
        self.options = self.options.set("stop_at_score", score);
        self
    }

    optimizer_methods!();
}

/// How much MIPROv2 searches (its `auto` levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auto {
    /// Few candidates and trials: quick.
    Light,
    /// More.
    Medium,
    /// Most.
    Heavy,
}

impl Auto {
    fn as_str(self) -> &'static str {
        match self {
            Auto::Light => "light",
            Auto::Medium => "medium",
            Auto::Heavy => "heavy",
        }
    }
}

/// DSPy's `MIPROv2`: proposes instructions (with the LM) and bootstraps demo sets, then
/// searches their combinations with Optuna, scoring on the dev set (or the trainset).
#[derive(Debug, Clone)]
pub struct MiproV2 {
    options: Options,
}

impl Default for MiproV2 {
    fn default() -> Self {
        Self::new()
    }
}

impl MiproV2 {
    /// `auto = light`, DSPy's other defaults.
    pub fn new() -> Self {
        MiproV2 {
            options: Options::new("MIPROv2").set("auto", Auto::Light.as_str()),
        }
    }

    /// The search budget.
    pub fn auto(mut self, auto: Auto) -> Self {
        self.options = self.options.set("auto", auto.as_str());
        self
    }

    demo_methods!();

    /// The seed of its sampling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.options = self
            .options
            .set("seed", i64::try_from(seed).unwrap_or(i64::MAX));
        self
    }

    /// Scores candidates on minibatches of the dev set (DSPy's default) or on all of it.
    pub fn minibatch(mut self, minibatch: bool) -> Self {
        self.options = self.options.set_compile("minibatch", minibatch);
        self
    }

    optimizer_methods!();
}

/// DSPy's `GEPA`: evolves instructions by reflecting (with an LM) on the program's traces
/// and the metric's feedback. The worker gives the reflection, for each example, the
/// expected output fields as feedback beside the score.
#[derive(Debug, Clone)]
pub struct Gepa {
    options: Options,
}

impl Default for Gepa {
    fn default() -> Self {
        Self::new()
    }
}

impl Gepa {
    /// `auto = light`; the reflection LM is the Context's LM unless
    /// [`reflection_lm`](Gepa::reflection_lm) says otherwise.
    pub fn new() -> Self {
        Gepa {
            options: Options::new("GEPA").set("auto", Auto::Light.as_str()),
        }
    }

    /// The search budget as a level (clears `max_metric_calls`/`max_full_evals`).
    pub fn auto(mut self, auto: Auto) -> Self {
        self.options.options.remove("max_metric_calls");
        self.options.options.remove("max_full_evals");
        self.options = self.options.set("auto", auto.as_str());
        self
    }

    /// The search budget as a number of metric calls (instead of `auto`).
    pub fn max_metric_calls(mut self, n: usize) -> Self {
        self.options.options.remove("auto");
        self.options.options.remove("max_full_evals");
        self.options = self.options.set("max_metric_calls", count(n));
        self
    }

    /// The search budget as a number of full evaluations (instead of `auto`).
    pub fn max_full_evals(mut self, n: usize) -> Self {
        self.options.options.remove("auto");
        self.options.options.remove("max_metric_calls");
        self.options = self.options.set("max_full_evals", count(n));
        self
    }

    /// Examples the LM reflects on at once.
    pub fn reflection_minibatch_size(mut self, n: usize) -> Self {
        self.options = self.options.set("reflection_minibatch_size", count(n));
        self
    }

    /// The LM that reflects and proposes instructions.
    pub fn reflection_lm(mut self, lm: Lm) -> Self {
        self.options.reflection_lm = Some(lm.to_pb());
        self
    }

    /// The seed of its sampling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.options = self
            .options
            .set("seed", i64::try_from(seed).unwrap_or(i64::MAX));
        self
    }

    optimizer_methods!();
}

/// One candidate an optimizer scored.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialReport {
    /// Its number, from 1.
    pub number: usize,
    /// Its score.
    pub score: f64,
    /// The variable values it set (a [`VariableSearch`](super::VariableSearch) trial).
    pub values: HashMap<String, Value>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl TrialReport {
    pub(crate) fn from_pb(trial: pb::Trial) -> Result<TrialReport> {
        let values = trial
            .values
            .into_iter()
            .map(|(name, value)| value_from_pb(Some(value), &name).map(|v| (name, v)))
            .collect::<Result<_>>()?;
        Ok(TrialReport {
            number: usize::try_from(trial.number).unwrap_or(usize::MAX),
            score: trial.score,
            values,
            error: trial.error,
        })
    }
}

/// What an optimization did.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizeReport {
    /// The optimizer (`"BootstrapFewShot"`, ..., `"VariableSearch"`).
    pub optimizer: String,
    /// The mean score before (on the dev set, or the trainset when none was given).
    pub score_before: f64,
    /// The mean score after, on the same examples.
    pub score_after: f64,
    /// The candidates scored along the way.
    pub trials: Vec<TrialReport>,
    /// The results of the final evaluation, per example.
    pub results: Vec<ExampleResult>,
    /// The best values found (a [`VariableSearch`](super::VariableSearch)), now held by
    /// the Context.
    pub best_values: HashMap<String, Value>,
    /// How long the run took.
    pub wall: Duration,
    /// Time spent in the Rust metric.
    pub metric_time: Duration,
    /// How many times the Rust metric was called.
    pub metric_calls: u64,
}

impl OptimizeReport {
    pub(crate) fn from_outcome(optimizer: &str, outcome: &RunOutcome) -> Result<OptimizeReport> {
        let result = &outcome.result;
        let best_values = result
            .best_values
            .iter()
            .map(|(name, value)| {
                value_from_pb(Some(value.clone()), name).map(|v| (name.clone(), v))
            })
            .collect::<Result<_>>()?;
        Ok(OptimizeReport {
            optimizer: optimizer.to_owned(),
            score_before: result.score_before.unwrap_or(result.score),
            score_after: result.score,
            trials: result
                .trials
                .iter()
                .cloned()
                .map(TrialReport::from_pb)
                .collect::<Result<_>>()?,
            results: results(result.results.clone())?,
            best_values,
            wall: outcome.wall,
            metric_time: outcome.metric_time,
            metric_calls: outcome.metric_calls,
        })
    }
}

/// An optimized program: the program (its modules now hold what the optimizer learned) and
/// the report. [`save`](Optimized::save) keeps it in one file that `load` restores.
#[derive(Debug)]
pub struct Optimized<P> {
    program: P,
    report: OptimizeReport,
    /// The modules and the state each learned, as the run ended.
    learned: Learned,
}

impl<P: Optimizable> Optimized<P> {
    pub(crate) fn new(program: P, report: OptimizeReport, learned: Learned) -> Optimized<P> {
        Optimized {
            program,
            report,
            learned,
        }
    }

    /// The program: the same modules and Context as the one optimized, now holding the
    /// learned state.
    pub fn program(&self) -> &P {
        &self.program
    }

    /// What the optimization did.
    pub fn report(&self) -> &OptimizeReport {
        &self.report
    }

    /// The program, for keeping.
    pub fn into_program(self) -> P {
        self.program
    }

    /// Writes the program to `path` as one JSON file: each module's DSPy state as DSPy's
    /// own `dump_state` writes it, the variables (definitions, values, versions), the
    /// signatures, and the dspex and DSPy versions. `P::load(&ctx, path)` restores it.
    /// The variables are written as the Context holds them now.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.learned.save(self.program.context(), path.as_ref())
    }
}

/// An optimizer run to await (see each optimizer's `compile`).
#[must_use = "an optimization does nothing until it is awaited"]
pub struct CompileBuilder<'a, P: Optimizable> {
    program: &'a P,
    trainset: &'a [Example<P::Signature>],
    devset: &'a [Example<P::Signature>],
    metric: MetricSource<P::Signature>,
    plan: Plan,
    concurrency: usize,
    progress: ProgressSink,
}

/// What a compile runs: an optimizer, or a variable search.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    Optimizer(Options),
    Search(VariableSearch),
}

impl Plan {
    fn name(&self) -> &'static str {
        match self {
            Plan::Optimizer(options) => options.optimizer,
            Plan::Search(_) => "VariableSearch",
        }
    }
}

impl<'a, P: Optimizable> CompileBuilder<'a, P> {
    pub(crate) fn with_plan(
        program: &'a P,
        examples: &'a [Example<P::Signature>],
        metric: MetricSource<P::Signature>,
        plan: Plan,
    ) -> Self {
        CompileBuilder {
            program,
            trainset: examples,
            devset: &[],
            metric,
            plan,
            concurrency: 1,
            progress: ProgressSink::default(),
        }
    }

    /// Scores before and after on `devset` (and gives it to the optimizers that take a
    /// validation set) instead of the trainset.
    pub fn devset(mut self, devset: &'a [Example<P::Signature>]) -> Self {
        self.devset = devset;
        self
    }

    /// Scores `n` examples at once (DSPy's `num_threads`; default 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The progress of the run: the evaluation before, each trial, the evaluation after.
    pub fn progress(&mut self) -> ProgressStream {
        self.progress.subscribe()
    }

    async fn run(self) -> Result<Optimized<P>> {
        let name = self.plan.name();
        if self.trainset.is_empty() {
            return Err(Error::InvalidArgument {
                message: format!("{name} needs at least one example"),
            });
        }
        let ctx = self.program.context();
        // A search scores its examples; an optimizer learns from them.
        let (task, trainset, devset) = match &self.plan {
            Plan::Optimizer(options) => (options.task(), self.trainset, self.devset),
            Plan::Search(search) => {
                let scored = if self.devset.is_empty() {
                    self.trainset
                } else {
                    self.devset
                };
                (search.task(ctx)?, &[][..], scored)
            }
        };
        let spec = RunSpec {
            task,
            trainset,
            devset,
            metric: self.metric,
            concurrency: self.concurrency,
            progress: self.progress,
        };
        let outcome = execute(self.program, spec).await?;
        if let Plan::Search(search) = &self.plan {
            recreate_switched(&outcome, &search.module_variables(ctx)).await?;
        }
        let learned = apply_states(&outcome, P::program_name()).await?;
        let report = OptimizeReport::from_outcome(name, &outcome)?;
        Ok(Optimized::new(self.program.share(), report, learned))
    }
}

/// Creates again the modules made from a `module` variable the search set, so that each is
/// now of the class the best value names.
async fn recreate_switched(outcome: &RunOutcome, module_variables: &[String]) -> Result<()> {
    for (_, module) in &outcome.modules {
        let (pool, _) = module.placement();
        let made_from = pool
            .module_spec(module.id())
            .and_then(|(_, spec)| spec.from_variable);
        if made_from.is_some_and(|v| module_variables.contains(&v)) {
            module.recreate().await?;
        }
    }
    Ok(())
}

/// Loads the state the run learned into each live module, by name; what a save writes.
async fn apply_states(outcome: &RunOutcome, program: Option<&'static str>) -> Result<Learned> {
    let mut states = Vec::with_capacity(outcome.modules.len());
    for (name, module) in &outcome.modules {
        let sent = outcome.result.states.iter().find(|s| s.name == *name);
        let state = match sent {
            Some(sent) => {
                let parsed: serde_json::Value =
                    serde_json::from_str(&sent.state_json).map_err(|e| Error::Python {
                        message: format!("the learned state of module `{name}` is not JSON: {e}"),
                    })?;
                module.load_state(&parsed).await?;
                parsed
            }
            // Nothing learned for it (a variable search): its state as it is.
            None => module.state().await?,
        };
        states.push((name.clone(), module.clone(), state));
    }
    Ok(Learned {
        program,
        modules: states,
        dspy_version: outcome.result.dspy_version.clone(),
    })
}

impl<'a, P: Optimizable + 'a> IntoFuture for CompileBuilder<'a, P> {
    type Output = Result<Optimized<P>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Optimized<P>>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
