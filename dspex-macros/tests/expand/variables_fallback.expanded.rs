#[automatically_derived]
impl ::dspex::__private::VariableSet for Tuning {
    fn register(_: &::dspex::__private::Context) -> ::dspex::__private::Result<()> {
        ::dspex::__private::unreachable_fallback()
    }
    fn load(_: &::dspex::__private::Context) -> ::dspex::__private::Result<Self> {
        ::dspex::__private::unreachable_fallback()
    }
    fn store(&self, _: &::dspex::__private::Context) -> ::dspex::__private::Result<()> {
        ::dspex::__private::unreachable_fallback()
    }
    fn defaults() -> Self {
        ::dspex::__private::unreachable_fallback()
    }
}
::core::compile_error! {
    "unknown key `maximum`: expected one of default, min, max, min_length, max_length, pattern, choices, description, choice, module"
}
