fn expanded(ctx: &::dspex::Context) -> ::dspex::Result<::dspex::VarId> {
    {
        const _: () = ::core::assert!(
            DEFAULT_BUDGET >= 1i64,
            "default `DEFAULT_BUDGET` for `budget` is below the minimum 1"
        );
        const _: () = ::core::assert!(
            DEFAULT_BUDGET <= 100i64,
            "default `DEFAULT_BUDGET` for `budget` is above the maximum 100"
        );
        ::dspex::__private::context(&ctx)
            .defvariable(
                "budget",
                ::dspex::__private::VarType::Integer,
                DEFAULT_BUDGET,
                ::dspex::__private::VarOptions::new()
                    .constraints(
                        ::dspex::__private::Constraints::new().min(1i64).max(100i64),
                    ),
            )
    }
}
