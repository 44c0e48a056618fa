//! Typed modules: a DSPy module created with a typed signature `S`, called with
//! `S::Input` and answering `S::Output`, and the typed constructors of the module kinds.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;

use dspex_core::{Error, Result};

use super::module_kind::{ModuleKind, assert_no_reserved};
use super::prediction::TypedPrediction;
use super::signature::Signature;
use super::spec::SignatureSpec;
use super::stream::TypedModuleStream;
use super::wire::{inputs_to_json, signature_to_pb};
use crate::module::{SignatureSource, Spec};
use crate::{ChainOfThought, Context, Module, Predict, ProgramOfThought, ReAct, ToolRef};

/// A DSPy module whose signature is the Rust type `S` (`#[derive(dspex::Signature)]`):
/// called with `S::Input`, it answers `S::Output`.
///
/// It is a [`Module`] (it derefs to one: [`bind`](Module::bind),
/// [`class_name`](Module::class_name), [`worker`](Module::worker) work as on any module),
/// whose worker built a `dspy.Signature` class with the real Python types of `S`'s fields,
/// so DSPy's adapters show the LM those types and parse its answer into them. Re-created
/// with its signature when its worker restarts, like any module.
///
/// ```no_run
/// # async fn demo() -> dspex::Result<()> {
/// use dspex::{ChainOfThought, Context, Lm};
///
/// /// Answer the question in one sentence.
/// #[derive(dspex::Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
///     /// How sure the answer is, from 0 to 1.
///     #[output]
///     confidence: f64,
/// }
///
/// let ctx = Context::new();
/// dspex::defvariable!(ctx, temperature: float = 0.7, min = 0.0, max = 2.0)?;
/// ctx.configure_lm(Lm::echo()).await?;
/// let qa = ChainOfThought::typed::<Qa>(&ctx).await?;
/// qa.bind("temperature", "temperature").await?;
/// let out: QaOutput = qa.call(QaInput { question: "Why is the sky blue?".into() }).await?;
/// println!("{} ({})", out.answer, out.confidence);
/// let full = qa.call_full(QaInput { question: "Why?".into() }).await?;
/// println!("{}", full.extra::<String>("reasoning")?);
/// # Ok(()) }
/// ```
pub struct TypedModule<S: Signature> {
    module: Module,
    signature: PhantomData<fn() -> S>,
}

impl<S: Signature> TypedModule<S> {
    /// Creates a module of `module_type` — any class the worker knows, a name registered
    /// with `ModuleVariableResolver` included — with the signature `S`.
    ///
    /// The typed constructors of the built-in kinds ([`Predict::typed`],
    /// [`ChainOfThought::typed`], [`ProgramOfThought::typed`], [`ReAct::typed`]) refuse a
    /// signature with a field the kind adds itself (`reasoning`, `trajectory`, ...) at
    /// compile time. Here, and for a `Signature` implemented by hand, that check runs
    /// now: such a signature is an [`Error::InvalidArgument`] naming the field.
    pub async fn new(ctx: &Context, module_type: &str) -> Result<TypedModule<S>> {
        Self::create(ctx, module_type, Vec::new()).await
    }

    /// Creates the module class a `module`-typed variable names (resolved in the worker as
    /// for [`Module::from_variable`]), with the signature `S`. A
    /// [`VariableSearch`](crate::VariableSearch) over that variable switches the class.
    pub async fn from_variable(ctx: &Context, variable_name: &str) -> Result<TypedModule<S>> {
        let module_type = crate::module::module_variable(ctx, variable_name)?;
        Self::build(ctx, &module_type, Vec::new(), Some(variable_name)).await
    }

    pub(crate) async fn create(
        ctx: &Context,
        module_type: &str,
        tools: Vec<ToolRef>,
    ) -> Result<TypedModule<S>> {
        Self::build(ctx, module_type, tools, None).await
    }

    async fn build(
        ctx: &Context,
        module_type: &str,
        tools: Vec<ToolRef>,
        from_variable: Option<&str>,
    ) -> Result<TypedModule<S>> {
        let spec = S::spec();
        check_reserved(spec, module_type)?;
        let spec = Spec {
            module_type,
            signature: SignatureSource::Typed(signature_to_pb(spec)?),
            tools,
            from_variable,
        };
        Ok(TypedModule {
            module: Module::create(ctx, spec).await?,
            signature: PhantomData,
        })
    }

    /// Calls the module with `input`; its answer, as `S::Output`.
    ///
    /// Bound settings travel with the call as for [`Module::call`]. An answer that does not
    /// parse into `S::Output` (the adapter could not read it, or a value is outside its
    /// Rust type, such as 300 for a `u8`) is an [`Error::OutputParse`] naming the field,
    /// its type and what the LM answered.
    pub async fn call(&self, input: S::Input) -> Result<S::Output> {
        Ok(self.call_full(input).await?.output)
    }

    /// Calls the module with `input`; its answer, with the fields the module adds itself
    /// (`reasoning` for ChainOfThought, `trajectory` for ReAct) beside it.
    pub async fn call_full(&self, input: S::Input) -> Result<TypedPrediction<S>> {
        let inputs = inputs_to_json(S::spec(), &input)?;
        let prediction = self.module.call_json(inputs).await?;
        TypedPrediction::from_prediction(prediction)
    }

    /// Calls the module as [`call_full`](TypedModule::call_full) does, yielding its status
    /// lines and the text of its output fields as they come, then the typed prediction
    /// ([`TypedStreamEvent::Done`]). Dropping the stream cancels the call in the worker.
    pub fn stream(&self, input: S::Input) -> TypedModuleStream<S> {
        let request = inputs_to_json(S::spec(), &input)
            .and_then(|inputs| self.module.json_call_request(inputs));
        TypedModuleStream::new(self.module.stream_request(request))
    }

    /// The untyped module (the same one: bindings, worker and id are shared).
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The signature the module was created with.
    pub fn signature(&self) -> &'static SignatureSpec {
        S::spec()
    }
}

/// Refuses a signature with a field `module_type` adds itself.
fn check_reserved(spec: &SignatureSpec, module_type: &str) -> Result<()> {
    let names = spec.fields().iter().map(|f| f.name());
    match dspex_core::reserved_conflict(module_type, names) {
        Some(field) => Err(Error::InvalidArgument {
            message: dspex_core::reserved_field_message(spec.name(), field, module_type),
        }),
        None => Ok(()),
    }
}

impl<S: Signature> Deref for TypedModule<S> {
    type Target = Module;

    fn deref(&self) -> &Module {
        &self.module
    }
}

impl<S: Signature> Clone for TypedModule<S> {
    fn clone(&self) -> Self {
        TypedModule {
            module: self.module.clone(),
            signature: PhantomData,
        }
    }
}

impl<S: Signature> fmt::Debug for TypedModule<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedModule")
            .field("signature", &S::spec().name())
            .field("module", &self.module)
            .finish()
    }
}

macro_rules! typed_constructor {
    ($kind:ident) => {
        impl $kind {
            #[doc = concat!(
                "Creates a `", stringify!($kind), "` module with the typed signature `S`.\n\n",
                "A signature with a field `", stringify!($kind), "` adds itself does not compile ",
                "(the error names the field); see [`TypedModule`]."
            )]
            pub fn typed<S: Signature>(ctx: &Context) -> impl Future<Output = Result<TypedModule<S>>> {
                const { assert_no_reserved::<S, $kind>() };
                TypedModule::create(ctx, <$kind as ModuleKind>::MODULE_TYPE, Vec::new())
            }
        }
    };
}

typed_constructor!(Predict);
typed_constructor!(ChainOfThought);
typed_constructor!(ProgramOfThought);

impl ReAct {
    /// Creates a ReAct module with the typed signature `S` over `tools`: Rust
    /// [`Tool`](crate::Tool)s and Python import paths (`"package.module:function"`), mixed,
    /// as for [`ReAct::with_tools`].
    ///
    /// A signature with a field ReAct adds itself (`trajectory`, `next_thought`, ...) does
    /// not compile (the error names the field); see [`TypedModule`].
    pub fn typed<S: Signature>(
        ctx: &Context,
        tools: impl IntoIterator<Item = impl Into<ToolRef>>,
    ) -> impl Future<Output = Result<TypedModule<S>>> {
        const { assert_no_reserved::<S, ReAct>() };
        let tools = tools.into_iter().map(Into::into).collect();
        TypedModule::create(ctx, <ReAct as ModuleKind>::MODULE_TYPE, tools)
    }
}
