fn expanded(ctx: &::dspex::Context) -> ::dspex::Result<::dspex::VarId> {
    ::dspex::__private::context(&ctx)
        .defvariable(
            "name",
            ::dspex::__private::VarType::String,
            "x",
            ::dspex::__private::VarOptions::new()
                .constraints(
                    ::dspex::__private::Constraints::new()
                        .min_length(1)
                        .max_length(20)
                        .pattern("^[a-z]+$"),
                ),
        )
}
