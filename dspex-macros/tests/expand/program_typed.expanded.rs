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
