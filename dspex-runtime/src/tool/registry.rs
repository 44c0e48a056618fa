//! The Rust tools of the live modules of this process, by module, and how a worker's call
//! finds its tool: the call names the session, the module and the tool, and is served only
//! by the module of that session (the Context that owns it).

use std::collections::HashMap;
use std::sync::LazyLock;

use dspex_core::quote::{MAX_STATUS_MESSAGE_BYTES, fit};
use dspex_core::{Error, Result};
use parking_lot::Mutex;
use tokio::runtime::Handle;

use super::Tool;
use crate::bridge::pb;

/// The tools of one module, and the runtime their calls run on (the one that created it).
struct ModuleTools {
    session: String,
    tools: HashMap<String, Tool>,
    runtime: Handle,
}

static MODULES: LazyLock<Mutex<HashMap<String, ModuleTools>>> = LazyLock::new(Default::default);

/// A module's tools, registered while it lives: dropping this forgets them.
#[derive(Debug)]
pub(crate) struct Registration {
    module: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        MODULES.lock().remove(&self.module);
    }
}

/// Registers the Rust tools of `module` (of `session`); their calls run on `runtime`.
pub(crate) fn register(
    session: &str,
    module: &str,
    tools: impl IntoIterator<Item = Tool>,
    runtime: Handle,
) -> Registration {
    let tools = tools
        .into_iter()
        .map(|t| (t.name().to_owned(), t))
        .collect();
    MODULES.lock().insert(
        module.to_owned(),
        ModuleTools {
            session: session.to_owned(),
            tools,
            runtime,
        },
    );
    Registration {
        module: module.to_owned(),
    }
}

/// The tool a call names, and the runtime to run it on. NOT_FOUND (naming what) when this
/// process has no such module in that session, or the module no such tool.
fn find(session: &str, module: &str, tool: &str) -> Result<(Tool, Handle)> {
    let modules = MODULES.lock();
    let entry = modules
        .get(module)
        .filter(|m| m.session == session)
        .ok_or_else(|| Error::NotFound {
            what: "module with Rust tools",
            name: format!("{module}` in session `{session}"),
        })?;
    let found = entry.tools.get(tool).ok_or_else(|| Error::NotFound {
        what: "Rust tool",
        name: format!("{tool}` of module `{module}"),
    })?;
    Ok((found.clone(), entry.runtime.clone()))
}

/// Serves one `CallTool` request: finds the tool and runs it.
pub(crate) async fn serve(request: pb::CallToolRequest) -> Result<pb::CallToolResponse> {
    let (tool, runtime) = find(&request.session_id, &request.module_id, &request.tool)?;
    let outcome = super::run(&tool, &runtime, &request.arguments_json).await;
    Ok(response(outcome))
}

fn response(outcome: super::Outcome) -> pb::CallToolResponse {
    use super::Outcome;
    use pb::call_tool_response::Outcome as Wire;
    // An error can quote anything; what the agent reads is bounded like a status.
    let failure = |kind: pb::ToolFailureKind, message: String| {
        Wire::Failure(pb::ToolFailure {
            kind: kind as i32,
            message: fit(&message, MAX_STATUS_MESSAGE_BYTES),
        })
    };
    let outcome = match outcome {
        Outcome::Answer(json) => Wire::ResultJson(json),
        Outcome::Failed(m) => failure(pb::ToolFailureKind::Error, m),
        Outcome::Panicked(m) => failure(pb::ToolFailureKind::Panic, m),
        Outcome::TimedOut(m) => failure(pb::ToolFailureKind::Timeout, m),
        Outcome::Refused(m) => failure(pb::ToolFailureKind::InvalidArguments, m),
    };
    pb::CallToolResponse {
        outcome: Some(outcome),
    }
}
