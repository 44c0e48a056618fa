//! The lazily created typed module of a `#[dspex::program]` field
//! (`#[module(ChainOfThought, signature = Qa)] qa: dspex::TypedModule<Qa>`).

use std::future::Future;

use dspex_core::Result;

use super::module::TypedModule;
use super::signature::Signature;

/// A typed module slot of a `#[dspex::program]` (generated code only).
#[doc(hidden)]
pub struct TypedModuleSlot<S: Signature> {
    cell: tokio::sync::OnceCell<TypedModule<S>>,
}

impl<S: Signature> TypedModuleSlot<S> {
    /// An empty slot.
    pub fn new() -> TypedModuleSlot<S> {
        TypedModuleSlot {
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The module, created by `create` and bound to `bindings` on first use.
    pub async fn get_or_init<F>(
        &self,
        create: impl FnOnce() -> F,
        bindings: &'static [(&'static str, &'static str)],
    ) -> Result<&TypedModule<S>>
    where
        F: Future<Output = Result<TypedModule<S>>>,
    {
        self.cell
            .get_or_try_init(|| async {
                let module = create().await?;
                module.bind_all(bindings).await?;
                Ok(module)
            })
            .await
    }
}

impl<S: Signature> Clone for TypedModuleSlot<S> {
    fn clone(&self) -> Self {
        TypedModuleSlot {
            cell: self.cell.clone(),
        }
    }
}

impl<S: Signature> Default for TypedModuleSlot<S> {
    fn default() -> Self {
        TypedModuleSlot::new()
    }
}
