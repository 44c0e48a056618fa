//! Rust functions as DSPy tools: a [`Tool`] is a name, a description, the JSON Schema of its
//! arguments and an async function over them. A ReAct module created with Rust tools
//! ([`ReAct::with_tools`](crate::ReAct::with_tools)) holds each of them in its worker as a
//! real `dspy.Tool`, whose calls come back over the bridge to this process and run here.
//!
//! `output` reads what a tool returned, `call` runs one call (arguments, timeout, panics),
//! `registry` routes a worker's call to the tool of the module that owns it.

mod call;
mod output;
pub(crate) mod registry;
mod spec;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use call::{Outcome, run};
pub(crate) use spec::module_tools;

/// How long a tool may run before its call ends with a timeout, unless
/// [`Tool::timeout`] says otherwise.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a tool's function gives back once its arguments are read: its answer as JSON, or
/// the failure the agent is told about.
type ToolFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>>;

/// Reads the arguments (a JSON object) and starts the function; an `Err` names the argument
/// that does not fit, and the function has not run.
type Invoke = dyn Fn(serde_json::Value) -> Result<ToolFuture, String> + Send + Sync;

/// A Rust function a DSPy agent can call: a name, a description, the JSON Schema of its
/// arguments, and the function, which runs in this process.
///
/// Build one with [`Tool::new`] from a closure over an argument struct (so that it can
/// capture state: a pool, a client, a table), or with `#[dspex::tool]` on a function. The
/// closure's output is any `Serialize` value; a `Result` is read as what it says: `Ok(v)`
/// answers `v`, `Err(e)` tells the agent that the tool failed, quoting `e`.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Lookup {
///     /// The order number.
///     id: u64,
/// }
///
/// let orders = Arc::new(HashMap::from([(7_u64, "shipped")]));
/// let lookup = dspex::Tool::new("lookup_order", "Looks up an order's status.", move |args: Lookup| {
///     let orders = orders.clone();
///     async move { orders.get(&args.id).copied().ok_or(format!("no order {}", args.id)) }
/// })
/// .timeout(std::time::Duration::from_secs(5));
/// assert_eq!(lookup.name(), "lookup_order");
/// assert_eq!(lookup.args_schema()["properties"]["id"]["description"], "The order number.");
/// ```
///
/// A call that returns `Err`, panics, or runs longer than its [timeout](Tool::timeout) ends
/// with an observation saying so, as DSPy does for a Python tool that raises: the agent
/// goes on, and so do this process, the bridge and the worker. Arguments that do not fit
/// the schema are refused before the function runs, naming the argument. Cancelling the
/// module call (dropping its future, or its stream) cancels the tool calls it started.
#[derive(Clone)]
pub struct Tool {
    name: String,
    description: String,
    args_schema: Arc<serde_json::Value>,
    timeout: Duration,
    invoke: Arc<Invoke>,
}

impl Tool {
    /// A tool named `name` (the name the agent calls it by), described to the agent by
    /// `description`, whose arguments are the fields of `A` (their doc comments describe
    /// them) and which runs `f`.
    pub fn new<A, F, Fut>(name: &str, description: &str, f: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Serialize,
    {
        let tool_name = name.to_owned();
        let f = Arc::new(f);
        let invoke = move |arguments: serde_json::Value| -> Result<ToolFuture, String> {
            let args: A = read_arguments(&tool_name, arguments)?;
            let (f, tool_name) = (f.clone(), tool_name.clone());
            // The function is called inside the future, so that all of its work (and any
            // panic) happens where the future runs.
            Ok(Box::pin(async move {
                output::answer(&f(args).await).map_err(|e| e.describe(&tool_name))
            }))
        };
        Tool {
            name: name.to_owned(),
            description: description.to_owned(),
            args_schema: Arc::new(args_schema::<A>()),
            timeout: DEFAULT_TOOL_TIMEOUT,
            invoke: Arc::new(invoke),
        }
    }

    /// The same tool, whose calls end with a timeout after `timeout` (default 30 s): the
    /// function is cancelled and the agent told that it did not answer in time.
    pub fn timeout(mut self, timeout: Duration) -> Tool {
        self.timeout = timeout;
        self
    }

    /// The name the agent calls the tool by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the agent is told the tool does.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The JSON Schema of the arguments: an object with one property per argument.
    pub fn args_schema(&self) -> &serde_json::Value {
        &self.args_schema
    }

    /// How long a call may run.
    pub fn call_timeout(&self) -> Duration {
        self.timeout
    }
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The arguments of a call as `A`. A call without arguments may send `{}` or nothing to a
/// tool whose `A` is a unit struct or `()`.
fn read_arguments<A: DeserializeOwned>(
    tool: &str,
    arguments: serde_json::Value,
) -> Result<A, String> {
    let empty = matches!(&arguments, serde_json::Value::Object(map) if map.is_empty());
    let error = match serde_path_to_error::deserialize(arguments) {
        Ok(args) => return Ok(args),
        Err(error) => error,
    };
    if empty && let Ok(args) = serde_json::from_value(serde_json::Value::Null) {
        return Ok(args);
    }
    let path = error.path().to_string();
    let message = argument_words(&error.into_inner().to_string());
    // serde names a missing or unknown argument in its message; a wrong one by its path.
    Err(if path == "." || message.contains(&format!("`{path}`")) {
        format!("tool `{tool}` refused its arguments: {message}")
    } else {
        format!("tool `{tool}` refused argument `{path}`: {message}")
    })
}

/// serde speaks of fields; the agent is told about arguments.
fn argument_words(message: &str) -> String {
    message
        .replace("missing field", "missing argument")
        .replace("unknown field", "unknown argument")
}

/// The JSON Schema of `A`, nested types written in place (a DSPy tool describes each
/// argument by a self-contained schema).
fn args_schema<A: JsonSchema>() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<A>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    schema
}

/// A tool of a ReAct module: a Rust [`Tool`], or a Python function named by its import path
/// (`"package.module:function"`, imported in the worker).
///
/// ```
/// use dspex::ToolRef;
/// let python: ToolRef = "dspex_bridge.testing:add_numbers".into();
/// assert!(matches!(python, ToolRef::Python(path) if path.ends_with(":add_numbers")));
/// ```
#[derive(Debug, Clone)]
pub enum ToolRef {
    /// A tool that runs in this process.
    Rust(Tool),
    /// `"package.module:function"`, imported in the worker.
    Python(String),
}

impl ToolRef {
    /// A Rust tool's name, a Python tool's import path.
    fn name_or_path(&self) -> &str {
        match self {
            ToolRef::Rust(tool) => tool.name(),
            ToolRef::Python(path) => path,
        }
    }
}

impl From<Tool> for ToolRef {
    fn from(tool: Tool) -> Self {
        ToolRef::Rust(tool)
    }
}

impl From<&Tool> for ToolRef {
    fn from(tool: &Tool) -> Self {
        ToolRef::Rust(tool.clone())
    }
}

impl From<&str> for ToolRef {
    fn from(path: &str) -> Self {
        ToolRef::Python(path.to_owned())
    }
}

impl From<String> for ToolRef {
    fn from(path: String) -> Self {
        ToolRef::Python(path)
    }
}

impl From<&String> for ToolRef {
    fn from(path: &String) -> Self {
        ToolRef::Python(path.clone())
    }
}
