//! A ReAct module's tools as the worker is told them: checked once, at creation, so that a
//! mistake is an error naming the tool rather than a confused agent.

use std::collections::HashSet;

use dspex_core::{Error, Result};

use super::{Tool, ToolRef};
use crate::bridge::pb;

/// The name ReAct gives its own last tool.
const FINISH: &str = "finish";

/// What a module's creation request carries for its tools, and its Rust tools.
pub(crate) struct ModuleTools {
    /// Import paths, when every tool is a Python one (the request's `tools`).
    pub(crate) python: Vec<String>,
    /// Every tool in order, when one of them is a Rust tool (the request's `tool_specs`).
    pub(crate) specs: Vec<pb::ToolSpec>,
    /// The Rust tools, to register for the module's calls.
    pub(crate) rust: Vec<Tool>,
}

/// Checks `tools` and splits them into what the request says and what stays here.
pub(crate) fn module_tools(tools: &[ToolRef]) -> Result<ModuleTools> {
    // The worker checks the names of the Python tools, which only it knows.
    let mut names = HashSet::new();
    for tool in tools {
        if let ToolRef::Rust(rust) = tool {
            check(rust)?;
            if !names.insert(rust.name()) {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "two tools are named `{}`: the agent must tell them apart",
                        rust.name()
                    ),
                });
            }
        }
    }
    let rust: Vec<Tool> = tools
        .iter()
        .filter_map(|t| match t {
            ToolRef::Rust(tool) => Some(tool.clone()),
            ToolRef::Python(_) => None,
        })
        .collect();
    if rust.is_empty() {
        let python = tools.iter().map(|t| t.name_or_path().to_owned()).collect();
        return Ok(ModuleTools {
            python,
            specs: Vec::new(),
            rust,
        });
    }
    let specs = tools.iter().map(spec).collect();
    Ok(ModuleTools {
        python: Vec::new(),
        specs,
        rust,
    })
}

fn spec(tool: &ToolRef) -> pb::ToolSpec {
    use pb::tool_spec::Kind;
    let kind = match tool {
        ToolRef::Python(path) => Kind::Python(path.clone()),
        ToolRef::Rust(tool) => Kind::Rust(pb::RustTool {
            name: tool.name().to_owned(),
            description: tool.description().to_owned(),
            args_schema_json: tool.args_schema().to_string(),
            timeout_ms: u64::try_from(tool.call_timeout().as_millis()).unwrap_or(u64::MAX),
        }),
    };
    pb::ToolSpec { kind: Some(kind) }
}

/// A Rust tool's name is what the agent writes to call it: a Python identifier, not
/// ReAct's own `finish`; its arguments are named (an object schema), or there are none.
fn check(tool: &Tool) -> Result<()> {
    let name = tool.name();
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !identifier {
        return Err(Error::InvalidArgument {
            message: format!(
                "tool name {:?} is not an identifier (letters, digits and `_`, not starting \
                 with a digit)",
                dspex_core::quote::excerpt(name)
            ),
        });
    }
    if name == FINISH {
        return Err(Error::InvalidArgument {
            message: format!("tool name `{FINISH}` is ReAct's own (it ends the agent's work)"),
        });
    }
    let schema = tool.args_schema();
    let kind = schema.get("type").and_then(|t| t.as_str());
    if !matches!(kind, Some("object" | "null")) {
        return Err(Error::InvalidArgument {
            message: format!(
                "tool `{name}`: its arguments must be a struct with named fields (their JSON \
                 Schema is {schema}, not an object)"
            ),
        });
    }
    Ok(())
}
