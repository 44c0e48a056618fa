fn expanded(ctx: &::dspex::Context) -> ::dspex::Result<::dspex::VarId> {
    ::dspex::__private::context(&ctx)
        .defvariable(
            "temperature",
            ::dspex::__private::VarType::Float,
            0.7f64,
            ::dspex::__private::VarOptions::new()
                .constraints(
                    ::dspex::__private::Constraints::new().min(0.0f64).max(2.0f64),
                )
                .description("Sampling temperature"),
        )
}
