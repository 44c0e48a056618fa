//! `dspex::evaluate`: a program scored on a dev set with a metric, in the worker, on DSPy's
//! `Evaluate`.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use dspex_core::{Error, Result};

use super::example::Example;
use super::metric::{MetricSource, Score, rust_metric};
use super::optimizable::Optimizable;
use super::progress::{ProgressSink, ProgressStream};
use super::run::{RunSpec, execute};
use crate::typed::Signature;
use crate::typed::output::decode_output;
use crate::worker::pb;

/// How the program did on one example.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleResult {
    /// The example's index in the dev set.
    pub index: usize,
    /// Its score (0 when it failed).
    pub score: f64,
    /// The prediction's fields as JSON (empty when the call failed).
    pub prediction: BTreeMap<String, serde_json::Value>,
    /// Why it failed: the program raised, or the metric failed (an error, a panic, NaN).
    pub error: Option<String>,
}

impl ExampleResult {
    pub(crate) fn from_pb(outcome: pb::ExampleOutcome) -> Result<ExampleResult> {
        let prediction = outcome
            .prediction_json
            .into_iter()
            .map(|(name, text)| {
                serde_json::from_str(&text)
                    .map(|value| (name.clone(), value))
                    .map_err(|e| Error::Python {
                        message: format!("the worker sent prediction field `{name}` as text that is not JSON: {e}"),
                    })
            })
            .collect::<Result<_>>()?;
        Ok(ExampleResult {
            index: usize::try_from(outcome.index).unwrap_or(usize::MAX),
            score: outcome.score,
            prediction,
            error: outcome.error,
        })
    }

    /// The prediction as the signature's output struct.
    pub fn output<S: Signature>(&self) -> Result<S::Output> {
        decode_output(S::spec(), &self.prediction)
    }
}

/// What [`evaluate`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// The mean score over the dev set (failed examples count as 0), between 0 and 1 for a
    /// `bool` metric. DSPy's `Evaluate` reports the same as a percentage.
    pub score: f64,
    /// One result per dev example, in order.
    pub results: Vec<ExampleResult>,
    /// How long the evaluation took.
    pub wall: Duration,
    /// Time spent in the Rust metric (zero for a Python metric).
    pub metric_time: Duration,
    /// How many times the Rust metric was called.
    pub metric_calls: u64,
}

impl EvalReport {
    /// The examples that failed, with why.
    pub fn failures(&self) -> impl Iterator<Item = &ExampleResult> {
        self.results.iter().filter(|r| r.error.is_some())
    }
}

/// Scores `program` on `devset` with a Rust metric, called for each example from the
/// worker back to this process: `|example, prediction| -> f64` (or `bool`). Await the
/// builder for the [`EvalReport`]; `.concurrency(n)` scores `n` examples at once,
/// `.progress()` streams a [`Progress`](super::Progress) per example.
///
/// A metric that panics or returns NaN fails that example (its [`ExampleResult::error`]
/// says so) and the evaluation goes on.
///
/// ```no_run
/// # async fn demo() -> dspex::Result<()> {
/// use dspex::{Context, Example, Lm, Predict};
///
/// /// Answer the question.
/// #[derive(dspex::Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
/// }
///
/// let ctx = Context::new();
/// ctx.configure_lm(Lm::echo()).await?;
/// let qa = Predict::typed::<Qa>(&ctx).await?;
/// let devset = vec![Example::<Qa>::new(QaInput { question: "2+2?".into() }, QaOutput { answer: "4".into() })];
/// let report = dspex::evaluate(&qa, &devset, |example: &Example<Qa>, prediction: &QaOutput| {
///     example.output.answer == prediction.answer
/// })
/// .concurrency(4)
/// .await?;
/// println!("score {:.2}", report.score);
/// # Ok(()) }
/// ```
pub fn evaluate<'a, P, F, R>(
    program: &'a P,
    devset: &'a [Example<P::Signature>],
    metric: F,
) -> EvalBuilder<'a, P>
where
    P: Optimizable,
    F: Fn(&Example<P::Signature>, &<P::Signature as Signature>::Output) -> R
        + Send
        + Sync
        + 'static,
    R: Score,
{
    EvalBuilder::new(program, devset, MetricSource::Rust(rust_metric(metric)))
}

/// Scores `program` on `devset` as [`evaluate`] does, with a Python metric the worker
/// imports: `"package.module:function"`, called as `function(example, prediction, trace)`
/// with DSPy's objects, answering a number or a bool.
pub fn evaluate_with_python_metric<'a, P: Optimizable>(
    program: &'a P,
    devset: &'a [Example<P::Signature>],
    metric: &str,
) -> EvalBuilder<'a, P> {
    EvalBuilder::new(program, devset, MetricSource::Python(metric.to_owned()))
}

/// An evaluation to run: await it (see [`evaluate`]).
#[must_use = "an evaluation does nothing until it is awaited"]
pub struct EvalBuilder<'a, P: Optimizable> {
    program: &'a P,
    devset: &'a [Example<P::Signature>],
    metric: MetricSource<P::Signature>,
    concurrency: usize,
    progress: ProgressSink,
}

impl<'a, P: Optimizable> EvalBuilder<'a, P> {
    fn new(
        program: &'a P,
        devset: &'a [Example<P::Signature>],
        metric: MetricSource<P::Signature>,
    ) -> Self {
        EvalBuilder {
            program,
            devset,
            metric,
            concurrency: 1,
            progress: ProgressSink::default(),
        }
    }

    /// Scores `n` examples at once (DSPy's `num_threads`; default 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The progress of the evaluation, one event per example scored; the stream ends when
    /// the evaluation does.
    pub fn progress(&mut self) -> ProgressStream {
        self.progress.subscribe()
    }

    async fn run(self) -> Result<EvalReport> {
        let spec = RunSpec {
            task: pb::run_request::Task::Evaluate(pb::EvaluateTask {}),
            trainset: &[],
            devset: self.devset,
            metric: self.metric,
            concurrency: self.concurrency,
            progress: self.progress,
        };
        let outcome = execute(self.program, spec).await?;
        Ok(EvalReport {
            score: outcome.result.score,
            results: results(outcome.result.results)?,
            wall: outcome.wall,
            metric_time: outcome.metric_time,
            metric_calls: outcome.metric_calls,
        })
    }
}

/// The per-example results a worker sent.
pub(crate) fn results(outcomes: Vec<pb::ExampleOutcome>) -> Result<Vec<ExampleResult>> {
    outcomes.into_iter().map(ExampleResult::from_pb).collect()
}

impl<'a, P: Optimizable + 'a> IntoFuture for EvalBuilder<'a, P> {
    type Output = Result<EvalReport>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<EvalReport>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
