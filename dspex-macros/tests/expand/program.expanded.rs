pub struct Qa {
    ctx: ::dspex::__private::Context,
    /// Answers with reasoning.
    reason: ::dspex::__private::ModuleSlot,
}
#[automatically_derived]
impl Qa {
    /// Registers the variables of `Qa` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.
    pub fn new(ctx: &::dspex::__private::Context) -> ::dspex::__private::Result<Self> {
        ctx.defvariables([
            ::dspex::__private::VariableDef::new(
                "temperature",
                ::dspex::__private::VarType::Float,
                0.7f64,
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new().min(0.0f64).max(2.0f64),
                    )
                    .description("Sampling temperature."),
            ),
            ::dspex::__private::VariableDef::new(
                "max_tokens",
                ::dspex::__private::VarType::Integer,
                256i64,
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new().min(1i64).max(4096i64),
                    ),
            ),
            ::dspex::__private::VariableDef::new(
                "model",
                ::dspex::__private::VarType::Choice,
                "gpt-4",
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new()
                            .choices(["gpt-4", "claude-3"]),
                    ),
            ),
            ::dspex::__private::VariableDef::new(
                "instructions",
                ::dspex::__private::VarType::String,
                "Be brief.",
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new()
                            .max_length(200)
                            .pattern("^[A-Z]"),
                    ),
            ),
            ::dspex::__private::VariableDef::new(
                "strategy",
                ::dspex::__private::VarType::Module,
                "ChainOfThought",
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new()
                            .choices(["Predict", "ChainOfThought"]),
                    ),
            ),
            ::dspex::__private::VariableDef::new(
                "verbose",
                ::dspex::__private::VarType::Boolean,
                false,
                ::dspex::__private::VarOptions::new(),
            ),
        ])?;
        ::dspex::__private::Ok(Self {
            ctx: ::core::clone::Clone::clone(ctx),
            reason: ::dspex::__private::ModuleSlot::new(),
        })
    }
    /// The Context the program's variables live in.
    pub fn context(&self) -> &::dspex::__private::Context {
        &self.ctx
    }
    /// Sampling temperature.
    ///
    /// Reads the variable `temperature` (float, default 0.7, min 0.0, max 2.0).
    pub fn temperature(&self) -> ::dspex::__private::Result<f64> {
        self.ctx.get::<f64>("temperature")
    }
    /// Writes the variable `temperature`; returns its new version. A value it refuses changes nothing.
    pub fn set_temperature(&self, value: f64) -> ::dspex::__private::Result<u64> {
        self.ctx.set("temperature", value)
    }
    /// Reads the variable `max_tokens` (integer, default 256, min 1, max 4096).
    pub fn max_tokens(&self) -> ::dspex::__private::Result<i64> {
        self.ctx.get::<i64>("max_tokens")
    }
    /// Writes the variable `max_tokens`; returns its new version. A value it refuses changes nothing.
    pub fn set_max_tokens(&self, value: i64) -> ::dspex::__private::Result<u64> {
        self.ctx.set("max_tokens", value)
    }
    /// Reads the variable `model` (choice, default "gpt-4", choices ["gpt-4", "claude-3"]).
    pub fn model(&self) -> ::dspex::__private::Result<::dspex::__private::String> {
        self.ctx.get::<::dspex::__private::String>("model")
    }
    /// Writes the variable `model`; returns its new version. A value it refuses changes nothing.
    pub fn set_model(
        &self,
        value: impl ::dspex::__private::Into<::dspex::__private::String>,
    ) -> ::dspex::__private::Result<u64> {
        self.ctx
            .set(
                "model",
                ::dspex::__private::Into::<::dspex::__private::String>::into(value),
            )
    }
    /// Reads the variable `instructions` (string, default "Be brief.", max_length 200, pattern "^[A-Z]").
    pub fn instructions(
        &self,
    ) -> ::dspex::__private::Result<::dspex::__private::String> {
        self.ctx.get::<::dspex::__private::String>("instructions")
    }
    /// Writes the variable `instructions`; returns its new version. A value it refuses changes nothing.
    pub fn set_instructions(
        &self,
        value: impl ::dspex::__private::Into<::dspex::__private::String>,
    ) -> ::dspex::__private::Result<u64> {
        self.ctx
            .set(
                "instructions",
                ::dspex::__private::Into::<::dspex::__private::String>::into(value),
            )
    }
    /// Reads the variable `strategy` (module, default "ChainOfThought", choices ["Predict", "ChainOfThought"]).
    pub fn strategy(&self) -> ::dspex::__private::Result<::dspex::__private::String> {
        self.ctx.get::<::dspex::__private::String>("strategy")
    }
    /// Writes the variable `strategy`; returns its new version. A value it refuses changes nothing.
    pub fn set_strategy(
        &self,
        value: impl ::dspex::__private::Into<::dspex::__private::String>,
    ) -> ::dspex::__private::Result<u64> {
        self.ctx
            .set(
                "strategy",
                ::dspex::__private::Into::<::dspex::__private::String>::into(value),
            )
    }
    /// Reads the variable `verbose` (boolean, default false).
    pub fn verbose(&self) -> ::dspex::__private::Result<bool> {
        self.ctx.get::<bool>("verbose")
    }
    /// Writes the variable `verbose`; returns its new version. A value it refuses changes nothing.
    pub fn set_verbose(&self, value: bool) -> ::dspex::__private::Result<u64> {
        self.ctx.set("verbose", value)
    }
    /// Answers with reasoning.
    ///
    /// The `ChainOfThought` module (`question -> answer`). The first call bridges the Context and creates it; later calls return it.
    pub async fn reason(
        &self,
    ) -> ::dspex::__private::Result<&::dspex::__private::Module> {
        static SPEC: ::dspex::__private::ModuleSpec = ::dspex::__private::ModuleSpec {
            module_type: "ChainOfThought",
            signature: "question -> answer",
            bindings: &[("temperature", "temperature"), ("max_tokens", "max_tokens")],
        };
        self.reason.get_or_init(&self.ctx, &SPEC).await
    }
}
const _: () = {
    const PROGRAM: ::dspex::__private::ProgramInfo = ::dspex::__private::ProgramInfo::new(
        "Qa",
        ::core::module_path!(),
        &[
            ::dspex::__private::VariableInfo::new(
                "temperature",
                ::dspex::__private::VarType::Float,
                ::dspex::__private::StaticValue::Float(0.7f64),
                ::dspex::__private::StaticConstraints {
                    min: ::dspex::__private::Some(
                        ::dspex::__private::StaticValue::Float(0.0f64),
                    ),
                    max: ::dspex::__private::Some(
                        ::dspex::__private::StaticValue::Float(2.0f64),
                    ),
                    ..::dspex::__private::StaticConstraints::NONE
                },
                ::dspex::__private::Some("Sampling temperature."),
            ),
            ::dspex::__private::VariableInfo::new(
                "max_tokens",
                ::dspex::__private::VarType::Integer,
                ::dspex::__private::StaticValue::Integer(256i64),
                ::dspex::__private::StaticConstraints {
                    min: ::dspex::__private::Some(
                        ::dspex::__private::StaticValue::Integer(1i64),
                    ),
                    max: ::dspex::__private::Some(
                        ::dspex::__private::StaticValue::Integer(4096i64),
                    ),
                    ..::dspex::__private::StaticConstraints::NONE
                },
                ::dspex::__private::None,
            ),
            ::dspex::__private::VariableInfo::new(
                "model",
                ::dspex::__private::VarType::Choice,
                ::dspex::__private::StaticValue::String("gpt-4"),
                ::dspex::__private::StaticConstraints {
                    choices: ::dspex::__private::Some(&["gpt-4", "claude-3"]),
                    ..::dspex::__private::StaticConstraints::NONE
                },
                ::dspex::__private::None,
            ),
            ::dspex::__private::VariableInfo::new(
                "instructions",
                ::dspex::__private::VarType::String,
                ::dspex::__private::StaticValue::String("Be brief."),
                ::dspex::__private::StaticConstraints {
                    max_length: ::dspex::__private::Some(200),
                    pattern: ::dspex::__private::Some("^[A-Z]"),
                    ..::dspex::__private::StaticConstraints::NONE
                },
                ::dspex::__private::None,
            ),
            ::dspex::__private::VariableInfo::new(
                "strategy",
                ::dspex::__private::VarType::Module,
                ::dspex::__private::StaticValue::String("ChainOfThought"),
                ::dspex::__private::StaticConstraints {
                    choices: ::dspex::__private::Some(&["Predict", "ChainOfThought"]),
                    ..::dspex::__private::StaticConstraints::NONE
                },
                ::dspex::__private::None,
            ),
            ::dspex::__private::VariableInfo::new(
                "verbose",
                ::dspex::__private::VarType::Boolean,
                ::dspex::__private::StaticValue::Boolean(false),
                ::dspex::__private::StaticConstraints::NONE,
                ::dspex::__private::None,
            ),
        ],
        &[
            ::dspex::__private::ModuleInfo::new(
                "reason",
                "ChainOfThought",
                "question -> answer",
                &[("temperature", "temperature"), ("max_tokens", "max_tokens")],
            ),
        ],
    );
    ::dspex::__private::inventory::submit! {
        PROGRAM
    }
};
