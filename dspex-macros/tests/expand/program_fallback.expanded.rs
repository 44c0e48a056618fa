pub struct Qa {
    ctx: ::dspex::__private::Context,
}
impl Qa {
    /// Registers the variables of `Qa` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.
    pub fn new(ctx: &::dspex::__private::Context) -> ::dspex::__private::Result<Self> {
        ::dspex::__private::unreachable_fallback()
    }
    /// The Context the program's variables live in.
    pub fn context(&self) -> &::dspex::__private::Context {
        &self.ctx
    }
    /// Reads the variable `temperature` ().
    pub fn temperature(&self) -> ::dspex::__private::Result<f64> {
        ::dspex::__private::unreachable_fallback()
    }
    /// Writes the variable `temperature`; returns its new version. A value it refuses changes nothing.
    pub fn set_temperature(&self, value: f64) -> ::dspex::__private::Result<u64> {
        ::dspex::__private::unreachable_fallback()
    }
    /// Reads the variable `model` (choice, default "gpt-4", choices ["gpt-4"]).
    pub fn model(&self) -> ::dspex::__private::Result<::dspex::__private::String> {
        ::dspex::__private::unreachable_fallback()
    }
    /// Writes the variable `model`; returns its new version. A value it refuses changes nothing.
    pub fn set_model(
        &self,
        value: impl ::dspex::__private::Into<::dspex::__private::String>,
    ) -> ::dspex::__private::Result<u64> {
        ::dspex::__private::unreachable_fallback()
    }
}
::core::compile_error! {
    "default 2.5 for `temperature` is above the maximum 2.0"
}
