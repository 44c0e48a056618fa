pub enum Qa<T> {
    A(T),
}
#[automatically_derived]
impl<T> Qa<T> {
    /// Registers the variables of `Qa` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.
    pub fn new(ctx: &my_dspex::__private::Context) -> my_dspex::__private::Result<Self> {
        my_dspex::__private::unreachable_fallback()
    }
    /// The Context the program's variables live in.
    pub fn context(&self) -> &my_dspex::__private::Context {
        my_dspex::__private::unreachable_fallback()
    }
}
::core::compile_error! {
    "#[dspex::program] applies to a struct with named fields"
}
