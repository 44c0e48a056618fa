#[automatically_derived]
impl ::dspex::__private::VariableSet for Tuning {
    fn register(ctx: &::dspex::__private::Context) -> ::dspex::__private::Result<()> {
        ctx.defvariables([
            ::dspex::__private::VariableDef::new(
                "temperature",
                ::dspex::__private::VarType::Float,
                0.7f64,
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new().min(0.0f64).max(2.0f64),
                    ),
            ),
            ::dspex::__private::VariableDef::new(
                "max_tokens",
                ::dspex::__private::VarType::Integer,
                256i64,
                ::dspex::__private::VarOptions::new()
                    .constraints(::dspex::__private::Constraints::new().min(1i64)),
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
                "stream",
                ::dspex::__private::VarType::Boolean,
                true,
                ::dspex::__private::VarOptions::new(),
            ),
        ])?;
        ::dspex::__private::Ok(())
    }
    fn load(ctx: &::dspex::__private::Context) -> ::dspex::__private::Result<Self> {
        let mut snapshot = ctx
            .get_many(&["temperature", "max_tokens", "model", "stream"])?;
        ::dspex::__private::Ok(Self {
            temperature: ::dspex::__private::take_value(&mut snapshot, "temperature")?,
            max_tokens: ::dspex::__private::take_value(&mut snapshot, "max_tokens")?,
            model: ::dspex::__private::take_value(&mut snapshot, "model")?,
            stream: ::dspex::__private::take_value(&mut snapshot, "stream")?,
        })
    }
    fn store(
        &self,
        ctx: &::dspex::__private::Context,
    ) -> ::dspex::__private::Result<()> {
        let updates: [(&str, ::dspex::__private::Value); 4usize] = [
            ("temperature", ::dspex::__private::Value::from(self.temperature)),
            ("max_tokens", ::dspex::__private::Value::from(self.max_tokens)),
            ("model", ::dspex::__private::Value::from(&self.model)),
            ("stream", ::dspex::__private::Value::from(self.stream)),
        ];
        ctx.update_many(updates)
    }
    fn defaults() -> Self {
        Self {
            temperature: 0.7f64,
            max_tokens: 256i64,
            model: ::dspex::__private::String::from("gpt-4"),
            stream: true,
        }
    }
}
