//! [`VariableSet`]: a plain struct whose fields are variables of a [`Context`], moved in and
//! out as a whole. `#[derive(dspex::Variables)]` implements it.

use std::collections::HashMap;

use dspex_core::{Error, FromValue, Result, Value};

use crate::Context;

/// A struct whose fields are variables: registered together, read as one consistent
/// snapshot, written all or nothing.
///
/// Derive it with `#[derive(dspex::Variables)]`, giving each field a
/// `#[var(default = …, …)]` (the same keys as `#[dspex::program]`).
///
/// ```
/// use dspex::{Context, VariableSet};
///
/// #[derive(dspex::Variables, Debug, PartialEq)]
/// struct Tuning {
///     #[var(default = 0.7, min = 0.0, max = 2.0)]
///     temperature: f64,
///     #[var(default = 256, min = 1)]
///     max_tokens: i64,
/// }
///
/// let ctx = Context::new();
/// Tuning::register(&ctx)?;
/// let mut tuning = Tuning::load(&ctx)?;
/// assert_eq!(tuning, Tuning::defaults());
/// tuning.temperature = 1.2;
/// tuning.store(&ctx)?;
/// assert_eq!(ctx.get::<f64>("temperature")?, 1.2);
///
/// tuning.max_tokens = 0; // below the minimum: nothing is written
/// assert!(tuning.store(&ctx).is_err());
/// assert_eq!(Tuning::load(&ctx)?.max_tokens, 256);
/// # Ok::<(), dspex::Error>(())
/// ```
pub trait VariableSet: Sized {
    /// Defines every field as a variable of `ctx`, with its declared default.
    fn register(ctx: &Context) -> Result<()>;

    /// Reads every field from `ctx`, as one consistent snapshot.
    fn load(ctx: &Context) -> Result<Self>;

    /// Writes every field to `ctx`, all or nothing.
    fn store(&self, ctx: &Context) -> Result<()>;

    /// The struct with every field at its declared default.
    fn defaults() -> Self;
}

/// Takes one variable out of a [`Context::get_many`] snapshot, typed: `NotFound` when it
/// is missing, `TypeMismatch` when it is of another kind. Generated code calls this.
pub fn take_value<T: FromValue>(snapshot: &mut HashMap<String, Value>, name: &str) -> Result<T> {
    let value = snapshot
        .remove(name)
        .ok_or_else(|| Error::variable_not_found(name))?;
    T::from_value(value).map_err(|value| Error::TypeMismatch {
        name: name.to_owned(),
        expected: T::expected().to_owned(),
        found: value.describe(),
    })
}
