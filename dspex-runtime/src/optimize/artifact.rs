//! The saved form of an optimized program: one JSON file holding each module's DSPy state
//! (as DSPy's own `dump_state` writes it), how each module is created (type, signature,
//! bindings), the variables (definitions, values, versions), and the dspex and DSPy
//! versions. Loading reads data only (no code is executed, no pickle) and checks the whole
//! file against today's program before it changes anything.

use std::collections::BTreeMap;
use std::path::Path;

use dspex_core::{Error, Metadata, Result, Schema, VarOptions, Variable, VariableDef};
use serde::{Deserialize, Serialize};

use super::optimizable::{DeclaredProgram, DeclaredSignature, Optimizable};
use crate::typed::wire::signature_to_pb;
use crate::typed::{Signature, SignatureSpec, TypedModule};
use crate::worker::pb;
use crate::{Context, Module};

/// What a file says it is.
const FORMAT: &str = "dspex.program";
/// The layout this dspex writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Artifact {
    format: String,
    schema_version: u32,
    dspex_version: String,
    dspy_version: String,
    /// The `#[dspex::program]` it was saved from (`None`: a lone typed module).
    program: Option<String>,
    modules: Vec<SavedModule>,
    variables: Vec<Variable>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedModule {
    name: String,
    module_type: String,
    class_name: String,
    /// A string signature (`"question -> answer"`), or empty for a typed one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typed_signature: Option<SavedSignature>,
    bindings: Vec<SavedBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from_variable: Option<String>,
    /// Python tools, as import paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tools: Vec<String>,
    /// DSPy's `dump_state()` of the module.
    state: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedBinding {
    setting: String,
    variable: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedSignature {
    name: String,
    instructions: String,
    fields: Vec<SavedField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedField {
    name: String,
    role: String,
    description: String,
    type_name: String,
    type_json: serde_json::Value,
}

impl SavedSignature {
    fn from_pb(signature: &pb::TypedSignature) -> SavedSignature {
        SavedSignature {
            name: signature.name.clone(),
            instructions: signature.instructions.clone(),
            fields: signature
                .fields
                .iter()
                .map(|f| SavedField {
                    name: f.name.clone(),
                    role: role_name(f.role).to_owned(),
                    description: f.description.clone(),
                    type_name: f.type_name.clone(),
                    type_json: serde_json::from_str(&f.type_json)
                        .unwrap_or(serde_json::Value::Null),
                })
                .collect(),
        }
    }

    fn of(spec: &SignatureSpec) -> Result<SavedSignature> {
        Ok(SavedSignature::from_pb(&signature_to_pb(spec)?))
    }

    /// What differs between the saved signature (`self`) and today's, for the module
    /// `module`; `None` when they have the same fields, roles and types.
    fn difference(&self, today: &SavedSignature, module: &str) -> Option<String> {
        let intro = format!(
            "module `{module}`: the saved signature `{}` no longer matches the Rust type `{}`",
            self.name, today.name
        );
        for field in &today.fields {
            match self.fields.iter().find(|f| f.name == field.name) {
                None => {
                    return Some(format!(
                        "{intro}: it has no {} field `{}` ({})",
                        field.role, field.name, field.type_name
                    ));
                }
                Some(saved) if saved.role != field.role => {
                    return Some(format!(
                        "{intro}: field `{}` is saved as an {} and is now an {}",
                        field.name, saved.role, field.role
                    ));
                }
                Some(saved)
                    if saved.type_name != field.type_name || saved.type_json != field.type_json =>
                {
                    return Some(format!(
                        "{intro}: field `{}` is saved as {} and is now {}",
                        field.name, saved.type_name, field.type_name
                    ));
                }
                Some(_) => {}
            }
        }
        self.fields
            .iter()
            .find(|f| today.fields.iter().all(|t| t.name != f.name))
            .map(|extra| format!("{intro}: field `{}` is no longer in it", extra.name))
    }
}

fn role_name(role: i32) -> &'static str {
    if role == pb::FieldRole::Input as i32 {
        "input"
    } else {
        "output"
    }
}

/// What an optimizer learned: the program's modules and each one's state, as the run ended.
#[derive(Debug)]
pub(crate) struct Learned {
    pub(crate) program: Option<&'static str>,
    pub(crate) modules: Vec<(String, Module, serde_json::Value)>,
    pub(crate) dspy_version: String,
}

impl Learned {
    /// Writes the file; the variables as the Context holds them now.
    pub(crate) fn save(&self, ctx: &Context, path: &Path) -> Result<()> {
        let modules = self
            .modules
            .iter()
            .map(|(name, module, state)| saved_module(name, module, state.clone()))
            .collect::<Result<_>>()?;
        let artifact = Artifact {
            format: FORMAT.to_owned(),
            schema_version: SCHEMA_VERSION,
            dspex_version: env!("CARGO_PKG_VERSION").to_owned(),
            dspy_version: self.dspy_version.clone(),
            program: self.program.map(str::to_owned),
            modules,
            variables: ctx.list(),
        };
        write(&artifact, path)
    }
}

/// Saves `program` as it is now (each module's state read from its worker) to `path`, in
/// the format [`Optimized::save`](super::Optimized::save) writes.
pub async fn save<P: Optimizable>(program: &P, path: impl AsRef<Path>) -> Result<()> {
    let mut modules = Vec::new();
    let mut dspy_version = String::new();
    for (name, module) in program.modules().await? {
        let (state, version) = module.dumped_state().await?;
        dspy_version = version;
        modules.push((name, module, state));
    }
    Learned {
        program: P::program_name(),
        modules,
        dspy_version,
    }
    .save(program.context(), path.as_ref())
}

fn saved_module(name: &str, module: &Module, state: serde_json::Value) -> Result<SavedModule> {
    let (pool, _) = module.placement();
    let (_, spec) = pool
        .module_spec(module.id())
        .ok_or_else(|| Error::NotFound {
            what: "module",
            name: module.id().to_owned(),
        })?;
    let mut tools = spec.tools.clone();
    for tool in &spec.tool_specs {
        match &tool.kind {
            Some(pb::tool_spec::Kind::Python(path)) => tools.push(path.clone()),
            Some(pb::tool_spec::Kind::Rust(rust)) => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "module `{name}` has the Rust tool `{}`: a file cannot hold a Rust function, so it cannot be saved",
                        rust.name
                    ),
                });
            }
            None => {}
        }
    }
    Ok(SavedModule {
        name: name.to_owned(),
        module_type: spec.module_type.clone(),
        class_name: module.class_name().to_owned(),
        signature: spec.signature.clone(),
        typed_signature: spec.typed_signature.as_ref().map(SavedSignature::from_pb),
        bindings: module
            .bindings()
            .into_iter()
            .map(|(setting, variable)| SavedBinding { setting, variable })
            .collect(),
        from_variable: spec.from_variable.clone(),
        tools,
        state,
    })
}

fn write(artifact: &Artifact, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(artifact).map_err(|e| Error::InvalidArgument {
        message: format!("the program cannot be written as JSON: {e}"),
    })?;
    // Written beside the target, then renamed: a crash never leaves half a file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| Error::InvalidArgument {
            message: format!("cannot write {}: {e}", path.display()),
        })
}

fn read(path: &Path) -> Result<Artifact> {
    let refused = |why: String| Error::InvalidArgument {
        message: format!("cannot load {}: {why}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| refused(format!("not JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(refused(format!(
            "it is not a saved dspex program (no \"format\": \"{FORMAT}\")"
        )));
    }
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(refused(format!(
                "its schema version is {v}; this dspex reads version {SCHEMA_VERSION}"
            )));
        }
        None => return Err(refused("it has no schema_version".into())),
    }
    serde_json::from_value(value).map_err(|e| {
        refused(format!(
            "its layout is not what schema version {SCHEMA_VERSION} says: {e}"
        ))
    })
}

impl Artifact {
    fn module(&self, name: &str, path: &Path) -> Result<&SavedModule> {
        self.modules
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "cannot load {}: it has no module `{name}` (it has {})",
                    path.display(),
                    self.modules
                        .iter()
                        .map(|m| format!("`{}`", m.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// Checks every saved variable against the definition it will be written under (the
    /// Context's, else the program's, else the saved one): what to define and what to write.
    fn plan_variables(&self, ctx: &Context, declared: &[VariableDef]) -> Result<VariablePlan> {
        let mut plan = VariablePlan::default();
        for saved in &self.variables {
            let (var_type, constraints) = if let Ok(existing) = ctx.variable(&saved.name) {
                (existing.var_type, existing.constraints)
            } else if let Some(def) = declared.iter().find(|d| d.name == saved.name) {
                (def.var_type, def.opts.constraints.clone())
            } else {
                plan.define.push(VariableDef::new(
                    &saved.name,
                    saved.var_type,
                    saved.value.clone(),
                    VarOptions {
                        constraints: saved.constraints.clone(),
                        description: saved.description.clone(),
                        metadata: saved.metadata.clone(),
                    },
                ));
                (saved.var_type, saved.constraints.clone())
            };
            if var_type != saved.var_type {
                return Err(Error::TypeMismatch {
                    name: saved.name.clone(),
                    expected: format!("a {var_type} variable (as it is defined now)"),
                    found: format!("a saved {} variable", saved.var_type),
                });
            }
            let schema = Schema::new(var_type, constraints)
                .map_err(|e| Error::from_definition(&saved.name, e))?;
            let value =
                crate::state::definition::check_value(&schema, &saved.name, saved.value.clone())?;
            plan.write.push((saved.name.clone(), value));
        }
        Ok(plan)
    }
}

#[derive(Default)]
struct VariablePlan {
    define: Vec<VariableDef>,
    write: Vec<(String, dspex_core::Value)>,
}

impl VariablePlan {
    fn apply(self, ctx: &Context, path: &Path) -> Result<()> {
        if !self.define.is_empty() {
            ctx.defvariables(self.define)?;
        }
        if !self.write.is_empty() {
            let metadata: Metadata =
                BTreeMap::from([("dspex.loaded_from".to_owned(), path.display().to_string())]);
            ctx.update_many_with_metadata(self.write, &metadata)?;
        }
        Ok(())
    }
}

/// Checks a saved module against a declared one.
fn check_module(
    saved: &SavedModule,
    module_type: &str,
    signature: DeclaredSignature,
) -> Result<()> {
    if saved.module_type != module_type {
        return Err(Error::InvalidArgument {
            message: format!(
                "module `{}` is saved as a {} and is declared as a {module_type}",
                saved.name, saved.module_type
            ),
        });
    }
    match signature {
        DeclaredSignature::Text(text)
            if saved.signature.replace(' ', "") != text.replace(' ', "") =>
        {
            Err(Error::InvalidArgument {
                message: format!(
                    "module `{}`: the saved signature {:?} differs from the declared {text:?}",
                    saved.name, saved.signature
                ),
            })
        }
        DeclaredSignature::Text(_) => Ok(()),
        DeclaredSignature::Typed(spec) => check_typed(saved, spec()),
    }
}

fn check_typed(saved: &SavedModule, spec: &SignatureSpec) -> Result<()> {
    let today = SavedSignature::of(spec)?;
    let Some(signature) = &saved.typed_signature else {
        return Err(Error::InvalidArgument {
            message: format!(
                "module `{}` is saved with the string signature {:?}, not the typed signature `{}`",
                saved.name,
                saved.signature,
                spec.name()
            ),
        });
    };
    match signature.difference(&today, &saved.name) {
        Some(message) => Err(Error::InvalidArgument { message }),
        None => Ok(()),
    }
}

/// Loads a `#[dspex::program]` saved by `Optimized::save`: checks the whole file first
/// (schema version, modules and their signatures, every variable value against today's
/// constraints), then defines the program in `ctx`, writes the saved values, and loads
/// each module's state. A refused file changes nothing.
#[doc(hidden)]
pub async fn load_program<P: DeclaredProgram>(ctx: &Context, path: &Path) -> Result<P> {
    let artifact = read(path)?;
    if let Some(saved) = artifact
        .program
        .as_deref()
        .filter(|saved| *saved != P::NAME)
    {
        return Err(Error::InvalidArgument {
            message: format!(
                "cannot load {}: it holds the program `{saved}`, not `{}`",
                path.display(),
                P::NAME
            ),
        });
    }
    let declared_modules = P::declared_modules();
    for declared in &declared_modules {
        let saved = artifact.module(declared.name, path)?;
        check_module(saved, declared.module_type, declared.signature)?;
    }
    if let Some(extra) = artifact
        .modules
        .iter()
        .find(|m| declared_modules.iter().all(|d| d.name != m.name))
    {
        return Err(Error::InvalidArgument {
            message: format!(
                "cannot load {}: it has a module `{}` that `{}` does not declare",
                path.display(),
                extra.name,
                P::NAME
            ),
        });
    }
    let declared = P::declared_variables();
    if let Some(existing) = declared.iter().find(|d| ctx.exists(&d.name)) {
        return Err(Error::AlreadyExists {
            name: existing.name.clone(),
        });
    }
    let plan = artifact.plan_variables(ctx, &declared)?;
    let program = P::create(ctx)?;
    plan.apply(ctx, path)?;
    for (name, module) in program.modules().await? {
        let saved = artifact.module(&name, path)?;
        module.load_state(&saved.state).await?;
    }
    Ok(program)
}

impl<S: Signature> TypedModule<S> {
    /// Loads a typed module saved by [`Optimized::save`](super::Optimized::save) (or
    /// [`dspex::save`](save)) into `ctx`: its variables (defined from the file when `ctx`
    /// has none of that name, else checked against `ctx`'s definition), the module (its
    /// type, bindings and learned state) — without optimizing again.
    ///
    /// Refused, with nothing changed: a file of another schema version, one whose
    /// signature no longer matches `S` (the error names the field), or a saved value that
    /// today's constraints refuse (the error names the variable).
    pub async fn load(ctx: &Context, path: impl AsRef<Path>) -> Result<TypedModule<S>> {
        let path = path.as_ref();
        let artifact = read(path)?;
        let saved = match artifact.modules.as_slice() {
            [only] => only,
            many => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "cannot load {} as one typed module: it holds {} modules (load it with its program)",
                        path.display(),
                        many.len()
                    ),
                });
            }
        };
        check_typed(saved, S::spec())?;
        if !saved.tools.is_empty() {
            return Err(Error::InvalidArgument {
                message: format!(
                    "module `{}` has tools: load it with `ReAct::typed` and `load_state`",
                    saved.name
                ),
            });
        }
        let plan = artifact.plan_variables(ctx, &[])?;
        if let Some(variable) = &saved.from_variable {
            let known = ctx.exists(variable) || plan.define.iter().any(|d| d.name == *variable);
            if !known {
                return Err(Error::variable_not_found(variable));
            }
        }
        plan.apply(ctx, path)?;
        let module = match &saved.from_variable {
            Some(variable) => TypedModule::<S>::from_variable(ctx, variable).await?,
            None => TypedModule::<S>::new(ctx, &saved.module_type).await?,
        };
        for binding in &saved.bindings {
            module.bind(&binding.setting, &binding.variable).await?;
        }
        module.load_state(&saved.state).await?;
        Ok(module)
    }
}
