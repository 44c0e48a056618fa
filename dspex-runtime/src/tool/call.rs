//! One call of a tool: its arguments read, its function run on the runtime of the module's
//! creator, bounded by the tool's timeout, a panic caught. Whatever happens is an
//! [`Outcome`], never an error of the bridge.

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::Tool;

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// The tool's answer, as JSON text.
    Answer(String),
    /// The tool returned an error.
    Failed(String),
    /// The tool panicked.
    Panicked(String),
    /// The tool did not answer in time.
    TimedOut(String),
    /// The arguments do not fit: the tool did not run.
    Refused(String),
}

/// Aborts the task when the call is dropped: the worker cancelled it, because the module
/// call that made it was cancelled.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `tool` with `arguments` (a JSON object, as text) on `runtime`.
pub(crate) async fn run(tool: &Tool, runtime: &Handle, arguments: &str) -> Outcome {
    let name = tool.name();
    let arguments = if arguments.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        match serde_json::from_str(arguments) {
            Ok(value) => value,
            Err(e) => {
                return Outcome::Refused(format!("tool `{name}`: the arguments are not JSON: {e}"));
            }
        }
    };
    if !arguments.is_object() {
        return Outcome::Refused(format!(
            "tool `{name}`: the arguments must be a JSON object, one entry per argument"
        ));
    }
    let future = match (tool.invoke)(arguments) {
        Ok(future) => future,
        Err(refusal) => return Outcome::Refused(refusal),
    };
    let mut task = AbortOnDrop(runtime.spawn(future));
    match tokio::time::timeout(tool.timeout, &mut task.0).await {
        Err(_) => Outcome::TimedOut(format!(
            "tool `{name}` did not answer within {:?}; it was cancelled",
            tool.timeout
        )),
        Ok(Ok(Ok(answer))) => Outcome::Answer(answer.to_string()),
        Ok(Ok(Err(failure))) => Outcome::Failed(failure),
        Ok(Err(join)) if join.is_panic() => {
            let payload = join.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Outcome::Panicked(format!("tool `{name}` panicked: {message}"))
        }
        Ok(Err(_)) => Outcome::Failed(format!(
            "tool `{name}` could not run: the runtime that created its module has shut down"
        )),
    }
}
