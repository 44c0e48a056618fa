fn expanded(ctx: &::dspex::Context) -> ::dspex::Result<::dspex::VarId> {
    my_dspex::__private::context(&ctx)
        .defvariable(
            "ratio",
            my_dspex::__private::VarType::Float,
            compute_ratio(),
            my_dspex::__private::VarOptions::new()
                .constraints(my_dspex::__private::Constraints::new().max(1.0f64)),
        )
}
