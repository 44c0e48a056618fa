//! Rust handles to DSPy modules running in the worker pool.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dspex_core::{Error, FromValue, Result, Value, VarType};
use parking_lot::Mutex;

use crate::Context;
use crate::bridge::convert::{value_from_pb, value_to_pb};
use crate::tool::{ToolRef, module_tools, registry};
use crate::worker::{Pool, pb, pool};

/// A DSPy module (Predict, ChainOfThought, ReAct, ProgramOfThought, or a registered class)
/// living in a Python worker, with settings bound to the Context's variables.
///
/// Creating one bridges a Local Context first (once). Cheap to clone; the Python module is
/// dropped when the last clone goes. If its worker crashes, the module is re-created from
/// its spec on the restarted worker: calls in flight fail with [`Error::WorkerCrashed`],
/// the next call waits for the new worker. If the worker cannot be started again
/// ([`PoolConfig::restart_budget`](crate::PoolConfig::restart_budget) starts fail in a
/// row), calls fail with [`Error::WorkerUnavailable`].
///
/// ```no_run
/// # async fn demo() -> dspex::Result<()> {
/// use dspex::{ChainOfThought, Constraints, Context, Lm, VarOptions, VarType};
/// let ctx = Context::new();
/// ctx.defvariable("temperature", VarType::Float, 0.7,
///     VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0)))?;
/// ctx.configure_lm(Lm::echo()).await?;
/// let cot = ChainOfThought::new(&ctx, "question -> answer").await?;
/// cot.bind("temperature", "temperature").await?;
/// let prediction = cot.call([("question", "What is 2 + 2?")]).await?;
/// println!("{}", prediction.get::<String>("answer")?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    id: String,
    ctx: Context,
    pool: Arc<Pool>,
    slot: usize,
    /// The Python class, which changes when a module made from a `module` variable is
    /// created again as the class the variable names now.
    class_name: Mutex<&'static str>,
    /// (setting, variable), read in-process at every call.
    bindings: Mutex<Vec<(String, String)>>,
    /// The module's Rust tools, served to its worker while it lives.
    _tools: Option<registry::Registration>,
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        self.pool.drop_module(self.slot, self.id.clone());
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("id", &self.inner.id)
            .field("class", &self.class_name())
            .field("worker", &self.inner.slot)
            .finish()
    }
}

/// What a module is created from.
pub(crate) struct Spec<'a> {
    pub(crate) module_type: &'a str,
    pub(crate) signature: SignatureSource<'a>,
    pub(crate) tools: Vec<ToolRef>,
    pub(crate) from_variable: Option<&'a str>,
}

/// The signature a module is created with.
pub(crate) enum SignatureSource<'a> {
    /// The string form, `"question -> answer"`, parsed (and checked) here and by DSPy.
    Text(&'a str),
    /// A typed signature, sent as structured data.
    Typed(pb::TypedSignature),
}

impl Module {
    /// Creates a module of `module_type` ("Predict", "ChainOfThought", "ReAct",
    /// "ProgramOfThought" or a name registered with `ModuleVariableResolver`) with a DSPy
    /// signature such as `"question -> answer"`.
    pub async fn new(ctx: &Context, module_type: &str, signature: &str) -> Result<Module> {
        Self::create(
            ctx,
            Spec {
                module_type,
                signature: SignatureSource::Text(signature),
                tools: Vec::new(),
                from_variable: None,
            },
        )
        .await
    }

    /// Creates the module class named by a `module`-typed variable (resolved in Python by
    /// `ModuleVariableResolver`).
    pub async fn from_variable(
        ctx: &Context,
        variable_name: &str,
        signature: &str,
    ) -> Result<Module> {
        let module_type = module_variable(ctx, variable_name)?;
        Self::create(
            ctx,
            Spec {
                module_type: &module_type,
                signature: SignatureSource::Text(signature),
                tools: Vec::new(),
                from_variable: Some(variable_name),
            },
        )
        .await
    }

    pub(crate) async fn create(ctx: &Context, spec: Spec<'_>) -> Result<Module> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let (signature, typed_signature) = match spec.signature {
            SignatureSource::Text(text) => {
                dspex_core::Signature::parse(text).map_err(|e| Error::InvalidArgument {
                    message: e.to_string(),
                })?;
                (text.to_owned(), None)
            }
            SignatureSource::Typed(typed) => (String::new(), Some(typed)),
        };
        let tools = module_tools(&spec.tools)?;
        ctx.ensure_bridged().await?;
        let pool = pool().await?;
        let slot = pool.place();
        let id = format!("{}-mod-{}", ctx.id(), NEXT.fetch_add(1, Ordering::Relaxed));
        // Registered before the worker can call them; their calls run on the runtime that
        // creates the module (the caller's), not on the bridge's own thread.
        let registration = (!tools.rust.is_empty()).then(|| {
            let runtime = match tokio::runtime::Handle::try_current() {
                Ok(handle) => handle,
                Err(_) => crate::runtime::handle()?.clone(),
            };
            Ok::<_, Error>(registry::register(ctx.id(), &id, tools.rust, runtime))
        });
        let registration = registration.transpose()?;
        let req = pb::CreateModuleRequest {
            module_id: id.clone(),
            session_id: ctx.id().to_owned(),
            module_type: spec.module_type.to_owned(),
            signature,
            settings: Default::default(),
            bindings: Vec::new(),
            tools: tools.python,
            from_variable: spec.from_variable.map(str::to_owned),
            typed_signature,
            tool_specs: tools.specs,
            state_json: None,
        };
        let created = pool.create_module(slot, req).await?;
        tracing::debug!(module = %id, class = %created.class_name, worker = slot, "module created");
        Ok(Module {
            inner: Arc::new(ModuleInner {
                id,
                ctx: ctx.clone(),
                pool,
                slot,
                class_name: Mutex::new(intern(created.class_name)),
                bindings: Mutex::new(Vec::new()),
                _tools: registration,
            }),
        })
    }

    /// Binds a module setting (`temperature`, `max_tokens`, ...) to a variable of the
    /// Context: every call then carries the variable's current value. An unknown variable
    /// fails here, at bind time.
    pub async fn bind(&self, setting: &str, variable: &str) -> Result<()> {
        let var = self.inner.ctx.variable(variable)?;
        let binding = pb::Binding {
            setting: setting.to_owned(),
            variable: var.name.clone(),
        };
        self.inner
            .pool
            .bind(self.inner.slot, &self.inner.id, binding)
            .await?;
        let mut bindings = self.inner.bindings.lock();
        bindings.retain(|(s, _)| s != setting);
        bindings.push((setting.to_owned(), var.name));
        Ok(())
    }

    /// Calls the module with its input fields. Bound settings are read now, in-process,
    /// and travel with this call only (concurrent calls never see each other's settings).
    pub async fn call<K: AsRef<str>, V: Into<Value>>(
        &self,
        inputs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Prediction> {
        let req = self.call_request(inputs)?;
        self.send(req).await
    }

    /// The request of one call: its inputs, and the bound settings read now.
    pub(crate) fn call_request<K: AsRef<str>, V: Into<Value>>(
        &self,
        inputs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<pb::CallModuleRequest> {
        let inputs = inputs
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), value_to_pb(&v.into())))
            .collect();
        self.request(inputs, HashMap::new())
    }

    /// Calls the module with inputs given as JSON text (a typed module's), each validated
    /// by the worker against its field's type.
    pub(crate) async fn call_json(
        &self,
        json_inputs: HashMap<String, String>,
    ) -> Result<Prediction> {
        let req = self.json_call_request(json_inputs)?;
        self.send(req).await
    }

    /// The request of one call with JSON inputs (a typed module's).
    pub(crate) fn json_call_request(
        &self,
        json_inputs: HashMap<String, String>,
    ) -> Result<pb::CallModuleRequest> {
        self.request(HashMap::new(), json_inputs)
    }

    /// A call's request: the inputs, and the values of the bound variables read now.
    fn request(
        &self,
        inputs: HashMap<String, pb::Value>,
        json_inputs: HashMap<String, String>,
    ) -> Result<pb::CallModuleRequest> {
        let bound_values = {
            let bindings = self.inner.bindings.lock().clone();
            let names: Vec<&str> = bindings.iter().map(|(_, v)| v.as_str()).collect();
            let values = self.inner.ctx.get_many(&names)?;
            bindings
                .iter()
                .filter_map(|(setting, var)| {
                    values.get(var).map(|v| (setting.clone(), value_to_pb(v)))
                })
                .collect()
        };
        let req = pb::CallModuleRequest {
            module_id: self.inner.id.clone(),
            inputs,
            bound_values,
            json_inputs,
        };
        crate::bridge::check_message_size(
            &format!("the call to module `{}`", self.inner.id),
            &req,
        )?;
        Ok(req)
    }

    async fn send(&self, req: pb::CallModuleRequest) -> Result<Prediction> {
        let response = self
            .inner
            .pool
            .call_module(self.inner.slot, &self.inner.id, &req)
            .await?;
        Prediction::from_pb(response)
    }

    /// The pool and slot of the module's worker (for calls other than `call`).
    pub(crate) fn placement(&self) -> (&Arc<Pool>, usize) {
        (&self.inner.pool, self.inner.slot)
    }

    /// The module's id (unique in the process).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The Python class that was created (e.g. `VariableAwareChainOfThought`).
    pub fn class_name(&self) -> &str {
        *self.inner.class_name.lock()
    }

    /// The Context the module's bound variables are read from.
    pub fn context(&self) -> &Context {
        &self.inner.ctx
    }

    /// The module's learned state — its demos, its instructions — as DSPy's own
    /// `dump_state()` writes it (so Python's `dspy` can `load_state` it).
    pub async fn state(&self) -> Result<serde_json::Value> {
        Ok(self.dumped_state().await?.0)
    }

    /// The state, and the version of DSPy the worker runs.
    pub(crate) async fn dumped_state(&self) -> Result<(serde_json::Value, String)> {
        let dumped = self
            .inner
            .pool
            .dump_state(self.inner.slot, &self.inner.id)
            .await?;
        let state = serde_json::from_str(&dumped.state_json).map_err(|e| Error::Python {
            message: format!("the state of module `{}` is not JSON: {e}", self.inner.id),
        })?;
        Ok((state, dumped.dspy_version))
    }

    /// Loads a state [`state`](Module::state) (or DSPy's `dump_state`) produced into the
    /// module; a restarted worker loads it again. A state DSPy cannot load is an
    /// [`Error::InvalidArgument`] and leaves the module as it was.
    pub async fn load_state(&self, state: &serde_json::Value) -> Result<()> {
        self.inner
            .pool
            .load_state(self.inner.slot, &self.inner.id, state.to_string())
            .await
    }

    /// Creates the module again from what it was created with (its class, for a module
    /// made from a `module` variable, is what the variable names now), keeping its state.
    pub(crate) async fn recreate(&self) -> Result<()> {
        let created = self.inner.pool.recreate_module(&self.inner.id).await?;
        *self.inner.class_name.lock() = intern(created.class_name);
        Ok(())
    }

    /// The worker it is pinned to.
    pub fn worker(&self) -> usize {
        self.inner.slot
    }

    /// The bindings, as (setting, variable).
    pub fn bindings(&self) -> Vec<(String, String)> {
        self.inner.bindings.lock().clone()
    }

    /// Binds each `(setting, variable)` in turn (what a program's module is declared with).
    pub(crate) async fn bind_all(&self, bindings: &[(&str, &str)]) -> Result<()> {
        for (setting, variable) in bindings {
            self.bind(setting, variable).await?;
        }
        Ok(())
    }
}

/// The class a `module` variable names now; `TypeMismatch` for a variable of another type.
pub(crate) fn module_variable(ctx: &Context, variable_name: &str) -> Result<String> {
    let var = ctx.variable(variable_name)?;
    if var.var_type != VarType::Module {
        return Err(Error::TypeMismatch {
            name: variable_name.to_owned(),
            expected: "a module variable".into(),
            found: format!("a {} variable", var.var_type),
        });
    }
    Ok(var.value.as_str().unwrap_or_default().to_owned())
}

/// A class name as a `&'static str`: there are a few classes, and a module's class is read
/// while another task may change it.
fn intern(name: String) -> &'static str {
    static NAMES: std::sync::LazyLock<Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::LazyLock::new(Default::default);
    let mut names = NAMES.lock();
    match names.get(name.as_str()) {
        Some(known) => known,
        None => {
            let leaked: &'static str = Box::leak(name.into_boxed_str());
            names.insert(leaked);
            leaked
        }
    }
}

macro_rules! module_kind {
    ($(#[$doc:meta])* $name:ident, $type_name:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl $name {
            #[doc = concat!("Creates a `", $type_name, "` module with a DSPy signature.")]
            // The kinds are constructors of the one handle type, so `Predict::new` returns a
            // `Module`, not a `Predict`.
            #[allow(clippy::new_ret_no_self)]
            pub async fn new(ctx: &Context, signature: &str) -> Result<Module> {
                Module::new(ctx, $type_name, signature).await
            }
        }
    };
}

module_kind!(
    /// `dspy.Predict`: one LM call.
    Predict,
    "Predict"
);
module_kind!(
    /// `dspy.ChainOfThought`: reasons step by step before answering.
    ChainOfThought,
    "ChainOfThought"
);
module_kind!(
    /// `dspy.ProgramOfThought`: writes and runs Python code. It runs with DSPy's
    /// `LocalInterpreter` (plain Python in the worker process), because DSPy's default
    /// sandbox downloads its runtime from the network: only use it with trusted LMs.
    ProgramOfThought,
    "ProgramOfThought"
);

/// `dspy.ReAct`: reasons and calls tools.
pub struct ReAct;

impl ReAct {
    /// Creates a ReAct module; `tools` are Python import paths
    /// (`"package.module:function"`), imported in the worker.
    #[allow(clippy::new_ret_no_self)]
    pub async fn new(ctx: &Context, signature: &str, tools: &[&str]) -> Result<Module> {
        Self::with_tools(ctx, signature, tools.iter().copied()).await
    }

    /// Creates a ReAct module over `tools`: Rust [`Tool`](crate::Tool)s, which run in this
    /// process, and Python import paths, mixed, in the order the agent is shown them.
    ///
    /// ```no_run
    /// # async fn demo() -> dspex::Result<()> {
    /// use dspex::{Context, Lm, ReAct, Tool, ToolRef};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Lookup {
    ///     /// The order number.
    ///     id: u64,
    /// }
    ///
    /// let ctx = Context::new();
    /// ctx.configure_lm(Lm::echo()).await?;
    /// let lookup = Tool::new("lookup_order", "Looks up an order.", |args: Lookup| async move {
    ///     Ok::<_, String>(format!("order {} shipped", args.id))
    /// });
    /// let tools: [ToolRef; 2] = [lookup.into(), "dspex_bridge.testing:add_numbers".into()];
    /// let agent = ReAct::with_tools(&ctx, "question -> answer", tools).await?;
    /// let answer = agent.call([("question", "Where is order 7?")]).await?;
    /// println!("{}", answer.json("trajectory")?);
    /// # Ok(()) }
    /// ```
    ///
    /// A Rust tool's name must be an identifier other than `finish` (ReAct's own), unique
    /// among the module's tools, and its arguments a struct with named fields: anything
    /// else is an `InvalidArgument` error here.
    pub async fn with_tools(
        ctx: &Context,
        signature: &str,
        tools: impl IntoIterator<Item = impl Into<ToolRef>>,
    ) -> Result<Module> {
        let tools: Vec<ToolRef> = tools.into_iter().map(Into::into).collect();
        Module::create(
            ctx,
            Spec {
                module_type: "ReAct",
                signature: SignatureSource::Text(signature),
                tools,
                from_variable: None,
            },
        )
        .await
    }
}

/// The output of a module call: its fields, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    fields: BTreeMap<String, Value>,
    json: BTreeMap<String, serde_json::Value>,
}

impl Prediction {
    pub(crate) fn from_pb(response: pb::CallModuleResponse) -> Result<Prediction> {
        if let Some(failure) = response.parse_failure {
            return Err(Error::output_parse(
                &failure.field,
                &failure.expected,
                &failure.raw,
                &failure.reason,
            ));
        }
        let mut fields = BTreeMap::new();
        let mut json = BTreeMap::new();
        for (name, output) in response.outputs {
            match output.kind {
                Some(pb::output::Kind::Value(v)) => {
                    let value = value_from_pb(Some(v), &name)?;
                    // Value serializes as the plain JSON scalar it holds.
                    json.insert(name.clone(), serde_json::json!(value));
                    fields.insert(name, value);
                }
                Some(pb::output::Kind::Json(text)) => {
                    let parsed = serde_json::from_str(&text).map_err(|e| Error::Python {
                        message: format!("output `{name}` is not valid JSON: {e}"),
                    })?;
                    json.insert(name, parsed);
                }
                None => {}
            }
        }
        Ok(Prediction { fields, json })
    }

    /// An output field as `T` (`String`, `f64`, `i64`, `bool` or [`Value`]).
    pub fn get<T: FromValue>(&self, field: &str) -> Result<T> {
        let value = self.fields.get(field).ok_or_else(|| Error::NotFound {
            what: "output field",
            name: field.to_owned(),
        })?;
        T::from_value(value.clone()).map_err(|v| Error::TypeMismatch {
            name: field.to_owned(),
            expected: T::expected().to_owned(),
            found: v.describe(),
        })
    }

    /// The scalar output fields.
    pub fn fields(&self) -> &BTreeMap<String, Value> {
        &self.fields
    }

    /// Every output field as JSON (scalars, lists and objects).
    pub fn json_fields(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.json
    }

    /// Any output field as JSON (lists and objects included).
    pub fn json(&self, field: &str) -> Result<serde_json::Value> {
        self.json
            .get(field)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: "output field",
                name: field.to_owned(),
            })
    }
}

/// How `#[dspex::program]` declares a module field (generated code only).
#[doc(hidden)]
#[derive(Debug)]
pub struct ModuleSpec {
    /// The module type.
    pub module_type: &'static str,
    /// The DSPy signature.
    pub signature: &'static str,
    /// (setting, variable) pairs.
    pub bindings: &'static [(&'static str, &'static str)],
}

/// A lazily created module of a `#[dspex::program]` (generated code only).
#[doc(hidden)]
#[derive(Default, Clone)]
pub struct ModuleSlot {
    cell: tokio::sync::OnceCell<Module>,
}

impl ModuleSlot {
    /// An empty slot.
    pub fn new() -> ModuleSlot {
        ModuleSlot::default()
    }

    /// The module, created (with its bindings) on first use.
    pub async fn get_or_init(&self, ctx: &Context, spec: &'static ModuleSpec) -> Result<&Module> {
        self.cell
            .get_or_try_init(|| async {
                let module = Module::new(ctx, spec.module_type, spec.signature).await?;
                module.bind_all(spec.bindings).await?;
                Ok(module)
            })
            .await
    }
}
