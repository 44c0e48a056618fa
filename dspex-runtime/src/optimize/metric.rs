//! The metric a run scores predictions with: a Rust closure, called back from the worker
//! for each prediction over the path Rust tools take (`CallTool` on the bridge), or a
//! Python function the worker imports.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dspex_core::Result;
use serde::Deserialize;

use super::example::Example;
use crate::Tool;
use crate::typed::Signature;
use crate::typed::output::decode_output;
use crate::worker::pb;

/// What a metric returns: a score (`f64`, `f32`) or a pass/fail (`bool`: 1.0 or 0.0).
pub trait Score {
    /// The score as a number.
    fn score(self) -> f64;
}

impl Score for f64 {
    fn score(self) -> f64 {
        self
    }
}

impl Score for f32 {
    fn score(self) -> f64 {
        f64::from(self)
    }
}

impl Score for bool {
    fn score(self) -> f64 {
        if self { 1.0 } else { 0.0 }
    }
}

/// A Rust metric, type-erased.
pub(crate) type RustMetric<S> =
    Arc<dyn Fn(&Example<S>, &<S as Signature>::Output) -> f64 + Send + Sync>;

/// Erases a metric closure's return type.
pub(crate) fn rust_metric<S, F, R>(metric: F) -> RustMetric<S>
where
    S: Signature,
    F: Fn(&Example<S>, &S::Output) -> R + Send + Sync + 'static,
    R: Score,
{
    Arc::new(move |example, prediction| metric(example, prediction).score())
}

/// How a run scores: the Rust closure, or a Python function by import path.
pub(crate) enum MetricSource<S: Signature> {
    Rust(RustMetric<S>),
    Python(String),
}

impl<S: Signature> MetricSource<S> {
    pub(crate) fn to_pb(&self) -> pb::MetricSpec {
        let kind = match self {
            MetricSource::Rust(_) => pb::metric_spec::Kind::Rust(true),
            MetricSource::Python(path) => pb::metric_spec::Kind::Python(path.clone()),
        };
        pb::MetricSpec { kind: Some(kind) }
    }
}

/// The name of the callback a run's worker calls.
pub(crate) const METRIC_TOOL: &str = "metric";

/// One call of the metric, as the worker sends it.
#[derive(Deserialize, schemars::JsonSchema)]
struct MetricCall {
    /// "train" or "dev".
    split: String,
    /// The example's index in its split, when the worker knows it.
    index: Option<usize>,
    /// The example's fields, `{"inputs": {...}, "outputs": {...}}`.
    example: serde_json::Value,
    /// The prediction's fields.
    prediction: BTreeMap<String, serde_json::Value>,
}

/// The examples of a run and the time its metric calls took.
pub(crate) struct MetricCallback<S: Signature> {
    metric: RustMetric<S>,
    train: Vec<Example<S>>,
    dev: Vec<Example<S>>,
    nanos: AtomicU64,
    calls: AtomicU64,
}

impl<S: Signature> MetricCallback<S> {
    pub(crate) fn new(
        metric: RustMetric<S>,
        train: &[Example<S>],
        dev: &[Example<S>],
    ) -> Result<Arc<MetricCallback<S>>> {
        let copy = |set: &[Example<S>]| set.iter().map(Example::duplicate).collect::<Result<_>>();
        Ok(Arc::new(MetricCallback {
            metric,
            train: copy(train)?,
            dev: copy(dev)?,
            nanos: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        }))
    }

    /// The time spent in the metric so far, and how many times it was called.
    pub(crate) fn spent(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
            self.calls.load(Ordering::Relaxed),
        )
    }

    /// The tool the worker calls back.
    pub(crate) fn tool(self: &Arc<Self>) -> Tool {
        let this = self.clone();
        Tool::new(
            METRIC_TOOL,
            "Scores a prediction against its example.",
            move |call: MetricCall| {
                let answer = this.score(call);
                async move { answer }
            },
        )
        // A metric is the user's code and may be slow (an LM judge); the run's own
        // cancellation bounds it.
        .timeout(Duration::from_secs(3600))
    }

    fn score(&self, call: MetricCall) -> std::result::Result<f64, String> {
        let place = match call.index {
            Some(i) => format!("{} example {i}", call.split),
            None => format!("a {} example", call.split),
        };
        let set = if call.split == "train" {
            &self.train
        } else {
            &self.dev
        };
        let rebuilt;
        let example = match call.index.and_then(|i| set.get(i)) {
            Some(example) => example,
            None => {
                rebuilt = rebuild::<S>(&call.example)
                    .map_err(|e| format!("the metric cannot read {place}: {e}"))?;
                &rebuilt
            }
        };
        let prediction: S::Output = decode_output(S::spec(), &call.prediction).map_err(|e| {
            format!(
                "the prediction for {place} is not a `{}` output: {e}",
                S::spec().name()
            )
        })?;
        let started = Instant::now();
        let scored = catch_unwind(AssertUnwindSafe(|| (self.metric)(example, &prediction)));
        let spent = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(spent, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        match scored {
            Ok(score) if score.is_finite() => Ok(score),
            Ok(score) => Err(format!(
                "the metric returned {score} for {place} (a score must be a finite number)"
            )),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_owned());
                Err(format!("the metric panicked on {place}: {message}"))
            }
        }
    }
}

/// An example the worker sent back without an index: its fields, without metadata.
fn rebuild<S: Signature>(example: &serde_json::Value) -> std::result::Result<Example<S>, String> {
    let part = |key: &str| example.get(key).cloned().unwrap_or(serde_json::Value::Null);
    let input = serde_json::from_value(part("inputs")).map_err(|e| format!("its inputs: {e}"))?;
    let output =
        serde_json::from_value(part("outputs")).map_err(|e| format!("its outputs: {e}"))?;
    Ok(Example::new(input, output))
}
