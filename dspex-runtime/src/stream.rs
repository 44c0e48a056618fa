//! A module call as it happens: status lines, the text of the output fields as the LM
//! writes it, then the prediction. Built on DSPy's own streaming in the worker
//! (`dspy.streamify`, stream listeners, status messages), carried by a server-streaming
//! gRPC call.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use dspex_core::{Error, Result, Value};
use tokio::sync::mpsc;
use tokio_stream::Stream;

use crate::module::{Module, Prediction};
use crate::worker::pb;

/// What a streamed module call yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// What the module does now, e.g. ``calling tool `lookup_order` ``.
    Status(String),
    /// A piece of the text of an output field, in the order the LM writes it. The pieces of
    /// a field, concatenated, are that field's value in the final prediction.
    Token {
        /// The output field.
        field: String,
        /// The text.
        text: String,
    },
    /// The prediction, as [`Module::call`] returns it: the last event.
    Done(Prediction),
}

/// How many events may wait for a slow reader before the worker's stream waits too.
const BUFFER: usize = 64;

/// The events of one streamed call (see [`Module::stream`]). Dropping it cancels the call in
/// the worker: its LM requests and its tool calls stop.
#[derive(Debug)]
pub struct ModuleStream {
    events: mpsc::Receiver<Result<StreamEvent>>,
    /// The task that reads the worker's stream: ended at once when this is dropped.
    reader: Option<tokio::task::AbortHandle>,
}

impl Drop for ModuleStream {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

impl Stream for ModuleStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Module {
    /// Calls the module as [`call`](Module::call) does, yielding what happens as it
    /// happens: [`StreamEvent::Status`] lines, [`StreamEvent::Token`]s of the output fields
    /// (the string fields that one predictor of the module writes), then
    /// [`StreamEvent::Done`] with the prediction. An error ends the stream.
    ///
    /// ```no_run
    /// # async fn demo(module: dspex::Module) -> dspex::Result<()> {
    /// use dspex::StreamEvent;
    /// use tokio_stream::StreamExt;
    ///
    /// let mut events = module.stream([("question", "Where is order 7?")]);
    /// while let Some(event) = events.next().await {
    ///     match event? {
    ///         StreamEvent::Status(line) => println!("… {line}"),
    ///         StreamEvent::Token { field, text } => print!("[{field}] {text}"),
    ///         StreamEvent::Done(prediction) => println!("\n{:?}", prediction.fields()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// Dropping the stream cancels the call in the worker. The call takes the same inputs
    /// and bound settings as `call`; the pool's call timeout bounds the wait for the stream
    /// to open, not its length.
    pub fn stream<K: AsRef<str>, V: Into<Value>>(
        &self,
        inputs: impl IntoIterator<Item = (K, V)>,
    ) -> ModuleStream {
        self.stream_request(self.call_request(inputs))
    }

    /// The stream of one call with this request (or of the error that kept it from being
    /// built): what [`stream`](Module::stream) and the typed stream run.
    pub(crate) fn stream_request(&self, request: Result<pb::CallModuleRequest>) -> ModuleStream {
        let (tx, rx) = mpsc::channel(BUFFER);
        let module = self.clone();
        let sender = tx.clone();
        let reader = async move {
            match request {
                Ok(request) => forward(&module, request, &sender).await,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                }
            }
        };
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(handle) => Ok(handle),
            Err(_) => crate::runtime::handle().cloned(),
        };
        let reader = match runtime {
            Ok(runtime) => Some(runtime.spawn(reader).abort_handle()),
            Err(error) => {
                // Nothing to run the call on: the stream says so and ends.
                let _ = tx.try_send(Err(error));
                None
            }
        };
        ModuleStream { events: rx, reader }
    }
}

/// Opens the worker's stream and sends its events on, until it ends, fails, or the reader
/// of `tx` is gone (then the worker's stream is dropped, which cancels the call there).
async fn forward(
    module: &Module,
    request: pb::CallModuleRequest,
    tx: &mpsc::Sender<Result<StreamEvent>>,
) {
    let (pool, slot) = module.placement();
    let opened = tokio::select! {
        opened = pool.rpc(slot, module.id(), |mut c| {
            let request = request.clone();
            async move { c.stream_module(request).await }
        }) => opened,
        () = tx.closed() => return,
    };
    let mut events = match opened {
        Ok(events) => events,
        Err(error) => {
            let _ = tx.send(Err(error)).await;
            return;
        }
    };
    loop {
        let message = tokio::select! {
            message = events.message() => message,
            () = tx.closed() => return,
        };
        let event = match message {
            Ok(Some(message)) => event_from_pb(message),
            Ok(None) => Err(Error::Python {
                message: format!(
                    "the worker ended the stream of module `{}` before its prediction",
                    module.id()
                ),
            }),
            Err(status) => Err(pool.stream_error(slot, module.id(), status).await),
        };
        let last = !matches!(
            event,
            Ok(StreamEvent::Status(_) | StreamEvent::Token { .. })
        );
        if tx.send(event).await.is_err() || last {
            return;
        }
    }
}

fn event_from_pb(message: pb::StreamModuleEvent) -> Result<StreamEvent> {
    use pb::stream_module_event::Kind;
    match message.kind {
        Some(Kind::Status(line)) => Ok(StreamEvent::Status(line)),
        Some(Kind::Token(token)) => Ok(StreamEvent::Token {
            field: token.field,
            text: token.text,
        }),
        Some(Kind::Done(response)) => Prediction::from_pb(response).map(StreamEvent::Done),
        None => Err(Error::Python {
            message: "the worker sent an empty stream event".into(),
        }),
    }
}
