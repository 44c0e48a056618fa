pub struct Extraction {
    ctx: ::dspex::__private::Context,
    /// Reads the order.
    extract: ::dspex::__private::TypedModuleSlot<signatures::ExtractOrder>,
    lookup: ::dspex::__private::TypedModuleSlot<Lookup>,
    custom: ::dspex::__private::TypedModuleSlot<Lookup>,
}
#[automatically_derived]
impl Extraction {
    /// Registers the variables of `Extraction` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.
    pub fn new(ctx: &::dspex::__private::Context) -> ::dspex::__private::Result<Self> {
        ctx.defvariables([
            ::dspex::__private::VariableDef::new(
                "temperature",
                ::dspex::__private::VarType::Float,
                0.2f64,
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new().min(0.0f64).max(2.0f64),
                    ),
            ),
        ])?;
        ::dspex::__private::Ok(Self {
            ctx: ::core::clone::Clone::clone(ctx),
            extract: ::dspex::__private::TypedModuleSlot::new(),
            lookup: ::dspex::__private::TypedModuleSlot::new(),
            custom: ::dspex::__private::TypedModuleSlot::new(),
        })
    }
    /// The Context the program's variables live in.
    pub fn context(&self) -> &::dspex::__private::Context {
        &self.ctx
    }
    /// Reads the variable `temperature` (float, default 0.2, min 0.0, max 2.0).
    pub fn temperature(&self) -> ::dspex::__private::Result<f64> {
        self.ctx.get::<f64>("temperature")
    }
    /// Writes the variable `temperature`; returns its new version. A value it refuses changes nothing.
    pub fn set_temperature(&self, value: f64) -> ::dspex::__private::Result<u64> {
        self.ctx.set("temperature", value)
    }
    /// Reads the order.
    ///
    /// The `ChainOfThought` module with the typed signature `signatures::ExtractOrder`. The first call bridges the Context and creates it; later calls return it.
    pub async fn extract(
        &self,
    ) -> ::dspex::__private::Result<
        &::dspex::__private::TypedModule<signatures::ExtractOrder>,
    > {
        self.extract
            .get_or_init(
                || ::dspex::__private::ChainOfThought::typed::<
                    signatures::ExtractOrder,
                >(&self.ctx),
                &[("temperature", "temperature")],
            )
            .await
    }
    /// The `ReAct` module with the typed signature `Lookup`. The first call bridges the Context and creates it; later calls return it.
    pub async fn lookup(
        &self,
    ) -> ::dspex::__private::Result<&::dspex::__private::TypedModule<Lookup>> {
        self.lookup
            .get_or_init(
                || ::dspex::__private::ReAct::typed::<
                    Lookup,
                >(&self.ctx, ::core::iter::empty::<&'static str>()),
                &[],
            )
            .await
    }
    /// The `MyRegisteredModule` module with the typed signature `Lookup`. The first call bridges the Context and creates it; later calls return it.
    pub async fn custom(
        &self,
    ) -> ::dspex::__private::Result<&::dspex::__private::TypedModule<Lookup>> {
        self.custom
            .get_or_init(
                || ::dspex::__private::TypedModule::<
                    Lookup,
                >::new(&self.ctx, "MyRegisteredModule"),
                &[],
            )
            .await
    }
}
const _: () = {
    const _: () = ::dspex::__private::assert_no_reserved::<
        signatures::ExtractOrder,
        ::dspex::__private::ChainOfThought,
    >();
    const _: () = ::dspex::__private::assert_no_reserved::<
        Lookup,
        ::dspex::__private::ReAct,
    >();
    const PROGRAM: ::dspex::__private::ProgramInfo = ::dspex::__private::ProgramInfo::new(
        "Extraction",
        ::core::module_path!(),
        &[
            ::dspex::__private::VariableInfo::new(
                "temperature",
                ::dspex::__private::VarType::Float,
                ::dspex::__private::StaticValue::Float(0.2f64),
                ::dspex::__private::StaticConstraints {
                    min: ::dspex::__private::Some(
                        ::dspex::__private::StaticValue::Float(0.0f64),
                    ),
                    max: ::dspex::__private::Some(
                        ::dspex::__private::StaticValue::Float(2.0f64),
                    ),
                    ..::dspex::__private::StaticConstraints::NONE
                },
                ::dspex::__private::None,
            ),
        ],
        &[
            ::dspex::__private::ModuleInfo::typed(
                "extract",
                "ChainOfThought",
                "signatures::ExtractOrder",
                <signatures::ExtractOrder as ::dspex::__private::Signature>::spec,
                &[("temperature", "temperature")],
            ),
            ::dspex::__private::ModuleInfo::typed(
                "lookup",
                "ReAct",
                "Lookup",
                <Lookup as ::dspex::__private::Signature>::spec,
                &[],
            ),
            ::dspex::__private::ModuleInfo::typed(
                "custom",
                "MyRegisteredModule",
                "Lookup",
                <Lookup as ::dspex::__private::Signature>::spec,
                &[],
            ),
        ],
    );
    ::dspex::__private::inventory::submit! {
        PROGRAM
    }
};
#[automatically_derived]
impl ::dspex::__private::Optimizable for Extraction {
    type Signature = Lookup;
    fn context(&self) -> &::dspex::__private::Context {
        &self.ctx
    }
    async fn modules(
        &self,
    ) -> ::dspex::__private::Result<
        ::dspex::__private::Vec<(::dspex::__private::String, ::dspex::__private::Module)>,
    > {
        ::dspex::__private::Ok(
            ::dspex::__private::vec![
                (::dspex::__private::ToString::to_string("extract"),
                ::dspex::__private::Clone::clone(self.extract(). await ? .module())),
                (::dspex::__private::ToString::to_string("lookup"),
                ::dspex::__private::Clone::clone(self.lookup(). await ? .module())),
                (::dspex::__private::ToString::to_string("custom"),
                ::dspex::__private::Clone::clone(self.custom(). await ? .module()))
            ],
        )
    }
    fn program_name() -> ::core::option::Option<&'static str> {
        ::core::option::Option::Some("Extraction")
    }
    fn share(&self) -> Self {
        Self {
            ctx: ::dspex::__private::Clone::clone(&self.ctx),
            extract: ::dspex::__private::Clone::clone(&self.extract),
            lookup: ::dspex::__private::Clone::clone(&self.lookup),
            custom: ::dspex::__private::Clone::clone(&self.custom),
        }
    }
}
#[automatically_derived]
impl ::dspex::__private::DeclaredProgram for Extraction {
    const NAME: &'static str = "Extraction";
    fn declared_variables() -> ::dspex::__private::Vec<::dspex::__private::VariableDef> {
        ::dspex::__private::vec![
            ::dspex::__private::VariableDef::new("temperature",
            ::dspex::__private::VarType::Float, 0.2f64,
            ::dspex::__private::VarOptions::new()
            .constraints(::dspex::__private::Constraints::new().min(0.0f64).max(2.0f64)))
        ]
    }
    fn declared_modules() -> ::dspex::__private::Vec<
        ::dspex::__private::DeclaredModule,
    > {
        ::dspex::__private::vec![
            ::dspex::__private::DeclaredModule { name : "extract", module_type :
            "ChainOfThought", signature : ::dspex::__private::DeclaredSignature::Typed(<
            signatures::ExtractOrder as ::dspex::__private::Signature > ::spec) },
            ::dspex::__private::DeclaredModule { name : "lookup", module_type : "ReAct",
            signature : ::dspex::__private::DeclaredSignature::Typed(< Lookup as
            ::dspex::__private::Signature > ::spec) }, ::dspex::__private::DeclaredModule
            { name : "custom", module_type : "MyRegisteredModule", signature :
            ::dspex::__private::DeclaredSignature::Typed(< Lookup as
            ::dspex::__private::Signature > ::spec) }
        ]
    }
    fn create(ctx: &::dspex::__private::Context) -> ::dspex::__private::Result<Self> {
        Self::new(ctx)
    }
}
#[automatically_derived]
impl Extraction {
    /// Loads `Extraction` saved by `Optimized::save` into `ctx` (its variables with their saved values, each module with its learned state) without optimizing again. The whole file is checked first: a file of another schema version, a module or signature that no longer matches, or a saved value today's constraints refuse is an error naming what differs, and nothing is changed.
    pub async fn load(
        ctx: &::dspex::__private::Context,
        path: impl ::core::convert::AsRef<::std::path::Path>,
    ) -> ::dspex::__private::Result<Self> {
        ::dspex::__private::load_program::<
            Self,
        >(ctx, ::core::convert::AsRef::as_ref(&path))
            .await
    }
}
