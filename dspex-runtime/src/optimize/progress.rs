//! Progress of an evaluation or an optimization: typed events a caller can consume as a
//! stream, also logged as `tracing` events.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::Stream;

use crate::worker::pb;

/// Where a run is: `done` of `total` steps (examples for an evaluation, trials for an
/// optimizer or a variable search), the last score, the best so far, the time since the
/// run started.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// What the run does now: `"evaluate"`, `"before"`, `"trial"`, `"after"`, ...
    pub phase: String,
    /// Steps done in this phase.
    pub done: usize,
    /// Steps in this phase, when known.
    pub total: Option<usize>,
    /// The score of the step just done (the running mean, for an evaluation).
    pub score: Option<f64>,
    /// The best score so far.
    pub best: Option<f64>,
    /// Time since the run started.
    pub elapsed: Duration,
    /// A line for people (`"trial 3/8: strategy=ChainOfThought temperature=0.21"`).
    pub message: String,
}

impl Progress {
    fn from_pb(event: pb::RunProgress, elapsed: Duration) -> Progress {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Progress {
            phase: event.phase,
            done: count(event.done),
            total: event.total.map(count),
            score: event.score,
            best: event.best,
            elapsed,
            message: event.message,
        }
    }
}

/// The progress events of one run, in order; it ends when the run does. Obtained from a
/// run's builder (`.progress()`) before it is awaited.
#[derive(Debug)]
pub struct ProgressStream {
    events: mpsc::UnboundedReceiver<Progress>,
}

impl Stream for ProgressStream {
    type Item = Progress;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Progress>> {
        self.events.poll_recv(cx)
    }
}

/// Where a run reports its progress: the caller's stream, if it asked for one, and tracing.
#[derive(Debug, Default)]
pub(crate) struct ProgressSink {
    sender: Option<mpsc::UnboundedSender<Progress>>,
}

impl ProgressSink {
    /// A new stream of this run's events (replacing an earlier one).
    pub(crate) fn subscribe(&mut self) -> ProgressStream {
        let (sender, events) = mpsc::unbounded_channel();
        self.sender = Some(sender);
        ProgressStream { events }
    }

    /// Reports one event of the run that started at `started`.
    pub(crate) fn report(&self, event: pb::RunProgress, started: Instant) {
        let progress = Progress::from_pb(event, started.elapsed());
        tracing::info!(
            target: "dspex::optimize",
            phase = %progress.phase,
            done = progress.done,
            total = ?progress.total,
            score = ?progress.score,
            best = ?progress.best,
            elapsed_ms = u64::try_from(progress.elapsed.as_millis()).unwrap_or(u64::MAX),
            "{}",
            progress.message
        );
        if let Some(sender) = &self.sender {
            // The caller may have dropped its stream: the run goes on.
            let _ = sender.send(progress);
        }
    }
}
