#[derive(Debug)]
struct Bounds {
    ctx: my_dspex::__private::Context,
}
#[automatically_derived]
impl Bounds {
    /// Registers the variables of `Bounds` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.
    pub fn new(ctx: &my_dspex::__private::Context) -> my_dspex::__private::Result<Self> {
        ctx.defvariables([
            my_dspex::__private::VariableDef::new(
                "offset",
                my_dspex::__private::VarType::Float,
                -1.0f64,
                my_dspex::__private::VarOptions::new()
                    .constraints(
                        my_dspex::__private::Constraints::new()
                            .min(-10.0f64)
                            .max(10.0f64),
                    ),
            ),
            my_dspex::__private::VariableDef::new(
                "tokens",
                my_dspex::__private::VarType::Integer,
                DEFAULT_TOKENS,
                my_dspex::__private::VarOptions::new()
                    .constraints(
                        my_dspex::__private::Constraints::new().min(1i64).max(4096i64),
                    ),
            ),
            my_dspex::__private::VariableDef::new(
                "model",
                my_dspex::__private::VarType::Choice,
                defaults::MODEL,
                my_dspex::__private::VarOptions::new()
                    .constraints(
                        my_dspex::__private::Constraints::new()
                            .choices(["gpt-4", "claude-3"]),
                    ),
            ),
        ])?;
        my_dspex::__private::Ok(Self {
            ctx: ::core::clone::Clone::clone(ctx),
        })
    }
    /// The Context the program's variables live in.
    pub fn context(&self) -> &my_dspex::__private::Context {
        &self.ctx
    }
    /// Reads the variable `offset` (float, default -1.0, min -10.0, max 10.0).
    pub fn offset(&self) -> my_dspex::__private::Result<f64> {
        self.ctx.get::<f64>("offset")
    }
    /// Writes the variable `offset`; returns its new version. A value it refuses changes nothing.
    pub fn set_offset(&self, value: f64) -> my_dspex::__private::Result<u64> {
        self.ctx.set("offset", value)
    }
    /// Reads the variable `tokens` (integer, default `DEFAULT_TOKENS`, min 1, max 4096).
    pub fn tokens(&self) -> my_dspex::__private::Result<i64> {
        self.ctx.get::<i64>("tokens")
    }
    /// Writes the variable `tokens`; returns its new version. A value it refuses changes nothing.
    pub fn set_tokens(&self, value: i64) -> my_dspex::__private::Result<u64> {
        self.ctx.set("tokens", value)
    }
    /// Reads the variable `model` (choice, default `defaults::MODEL`, choices ["gpt-4", "claude-3"]).
    pub fn model(&self) -> my_dspex::__private::Result<my_dspex::__private::String> {
        self.ctx.get::<my_dspex::__private::String>("model")
    }
    /// Writes the variable `model`; returns its new version. A value it refuses changes nothing.
    pub fn set_model(
        &self,
        value: impl my_dspex::__private::Into<my_dspex::__private::String>,
    ) -> my_dspex::__private::Result<u64> {
        self.ctx
            .set(
                "model",
                my_dspex::__private::Into::<my_dspex::__private::String>::into(value),
            )
    }
}
const _: () = {
    const _: () = ::core::assert!(
        DEFAULT_TOKENS >= 1i64,
        "default `DEFAULT_TOKENS` for `tokens` is below the minimum 1"
    );
    const _: () = ::core::assert!(
        DEFAULT_TOKENS <= 4096i64,
        "default `DEFAULT_TOKENS` for `tokens` is above the maximum 4096"
    );
    const PROGRAM: my_dspex::__private::ProgramInfo = my_dspex::__private::ProgramInfo::new(
        "Bounds",
        ::core::module_path!(),
        &[
            my_dspex::__private::VariableInfo::new(
                "offset",
                my_dspex::__private::VarType::Float,
                my_dspex::__private::StaticValue::Float(-1.0f64),
                my_dspex::__private::StaticConstraints {
                    min: my_dspex::__private::Some(
                        my_dspex::__private::StaticValue::Float(-10.0f64),
                    ),
                    max: my_dspex::__private::Some(
                        my_dspex::__private::StaticValue::Float(10.0f64),
                    ),
                    ..my_dspex::__private::StaticConstraints::NONE
                },
                my_dspex::__private::None,
            ),
            my_dspex::__private::VariableInfo::new(
                "tokens",
                my_dspex::__private::VarType::Integer,
                my_dspex::__private::StaticValue::Integer(DEFAULT_TOKENS),
                my_dspex::__private::StaticConstraints {
                    min: my_dspex::__private::Some(
                        my_dspex::__private::StaticValue::Integer(1i64),
                    ),
                    max: my_dspex::__private::Some(
                        my_dspex::__private::StaticValue::Integer(4096i64),
                    ),
                    ..my_dspex::__private::StaticConstraints::NONE
                },
                my_dspex::__private::None,
            ),
            my_dspex::__private::VariableInfo::new(
                "model",
                my_dspex::__private::VarType::Choice,
                my_dspex::__private::StaticValue::String(defaults::MODEL),
                my_dspex::__private::StaticConstraints {
                    choices: my_dspex::__private::Some(&["gpt-4", "claude-3"]),
                    ..my_dspex::__private::StaticConstraints::NONE
                },
                my_dspex::__private::None,
            ),
        ],
        &[],
    );
    my_dspex::__private::inventory::submit! {
        PROGRAM
    }
};
