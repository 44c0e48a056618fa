//! A typed module's stream: the untyped stream's events, its final prediction read as the
//! signature's output struct.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use dspex_core::Result;
use futures_core::Stream;

use super::prediction::TypedPrediction;
use super::signature::Signature;
use crate::{ModuleStream, StreamEvent};

/// What a typed module's call yields as it runs ([`TypedModule::stream`](super::TypedModule::stream)):
/// the same status lines and tokens as [`StreamEvent`], and a final prediction typed as `S`.
pub enum TypedStreamEvent<S: Signature> {
    /// What the module does now, e.g. ``calling tool `lookup_order` ``.
    Status(String),
    /// A piece of the text of an output field, in the order the LM writes it.
    Token {
        /// The output field.
        field: String,
        /// The piece.
        text: String,
    },
    /// The call's answer, read into `S::Output` (the last event).
    Done(TypedPrediction<S>),
}

impl<S: Signature> std::fmt::Debug for TypedStreamEvent<S>
where
    TypedPrediction<S>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypedStreamEvent::Status(line) => f.debug_tuple("Status").field(line).finish(),
            TypedStreamEvent::Token { field, text } => f
                .debug_struct("Token")
                .field("field", field)
                .field("text", text)
                .finish(),
            TypedStreamEvent::Done(prediction) => f.debug_tuple("Done").field(prediction).finish(),
        }
    }
}

/// The events of one typed call. Dropping it cancels the call in the worker, as for
/// [`ModuleStream`].
pub struct TypedModuleStream<S: Signature> {
    inner: ModuleStream,
    signature: PhantomData<fn() -> S>,
}

impl<S: Signature> TypedModuleStream<S> {
    pub(crate) fn new(inner: ModuleStream) -> TypedModuleStream<S> {
        TypedModuleStream {
            inner,
            signature: PhantomData,
        }
    }
}

impl<S: Signature> Stream for TypedModuleStream<S> {
    type Item = Result<TypedStreamEvent<S>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|event| {
            event.map(|event| {
                event.and_then(|event| match event {
                    StreamEvent::Status(line) => Ok(TypedStreamEvent::Status(line)),
                    StreamEvent::Token { field, text } => {
                        Ok(TypedStreamEvent::Token { field, text })
                    }
                    // An answer that does not parse is the stream's last item, as an error.
                    StreamEvent::Done(prediction) => {
                        TypedPrediction::from_prediction(prediction).map(TypedStreamEvent::Done)
                    }
                })
            })
        })
    }
}
