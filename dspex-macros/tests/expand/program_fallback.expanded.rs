pub struct Qa {
    ctx: ::dspex::__private::Context,
}
#[automatically_derived]
impl Qa {
    /// Registers the variables of `Qa` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.
    pub fn new(ctx: &::dspex::__private::Context) -> ::dspex::__private::Result<Self> {
        ::dspex::__private::unreachable_fallback()
    }
    /// The Context the program's variables live in.
    pub fn context(&self) -> &::dspex::__private::Context {
        ::dspex::__private::unreachable_fallback()
    }
    pub fn temperature(&self) -> ::dspex::__private::Result<f64> {
        ::dspex::__private::unreachable_fallback()
    }
    pub fn set_temperature(&self, _: f64) -> ::dspex::__private::Result<u64> {
        ::dspex::__private::unreachable_fallback()
    }
    pub fn model(&self) -> ::dspex::__private::Result<::dspex::__private::String> {
        ::dspex::__private::unreachable_fallback()
    }
    pub fn set_model(
        &self,
        _: impl ::dspex::__private::Into<::dspex::__private::String>,
    ) -> ::dspex::__private::Result<u64> {
        ::dspex::__private::unreachable_fallback()
    }
}
::core::compile_error! {
    "default 2.5 for `temperature` is above the maximum 2.0"
}
