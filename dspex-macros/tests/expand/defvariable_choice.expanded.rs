fn expanded(ctx: &::dspex::Context) -> ::dspex::Result<::dspex::VarId> {
    ::dspex::__private::context(&ctx)
        .defvariable(
            "model",
            ::dspex::__private::VarType::Choice,
            "gpt-4",
            ::dspex::__private::VarOptions::new()
                .constraints(
                    ::dspex::__private::Constraints::new().choices(["gpt-4", "claude-3"]),
                ),
        )
}
