//! The connection to one worker: a gRPC client that sends the bridge token with every
//! call, and how a worker's refusals read as [`Error`]s.

use dspex_core::Error;
use dspex_core::quote::excerpt;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::pb::worker_client::WorkerClient;
use crate::bridge::{ERROR_KIND_KEY, EXCEPTION_KEY};

/// Adds the bridge token to every call to a worker.
#[derive(Clone)]
pub(crate) struct Token(pub(crate) MetadataValue<Ascii>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut()
            .insert(crate::bridge::TOKEN_KEY, self.0.clone());
        Ok(req)
    }
}

/// A gRPC client to one worker.
pub(crate) type Client = WorkerClient<InterceptedService<Channel, Token>>;

/// A worker's refusal as an `Error`, with its message bounded (the whole of it goes to
/// `tracing` at debug level). The kind follows the status code the worker chose, and a
/// Python exception is named by its class.
pub(crate) fn worker_error(status: tonic::Status) -> Error {
    use tonic::Code;
    let full = status.message();
    let message = excerpt(full);
    let kind = metadata_text(&status, ERROR_KIND_KEY);
    let class = metadata_text(&status, EXCEPTION_KEY);
    tracing::debug!(
        code = ?status.code(),
        kind = kind.as_deref(),
        class = class.as_deref(),
        message = full,
        "a worker refused a call"
    );
    match status.code() {
        Code::InvalidArgument => Error::InvalidArgument { message },
        Code::ResourceExhausted | Code::OutOfRange if full.contains("too large") => {
            Error::InvalidArgument {
                message: format!(
                    "{message}: a message between the program and its workers is over the size \
                     limit; {}",
                    crate::bridge::oversize_hint(crate::bridge::max_message_size())
                ),
            }
        }
        // The worker names what it did not find (a module, a variable, a session).
        Code::NotFound => Error::Python {
            message: format!("not found in the worker: {message}"),
        },
        Code::FailedPrecondition => Error::Python {
            message: format!("{message} (configure one with ctx.configure_lm(Lm::...))"),
        },
        _ => Error::Python {
            message: match class {
                Some(class) if !message.starts_with(&format!("{class}:")) => {
                    format!("{class}: {message}")
                }
                _ => message,
            },
        },
    }
}

/// A short ASCII metadata entry of a status, bounded like any text it quotes.
fn metadata_text(status: &tonic::Status, key: &str) -> Option<String> {
    let value = status.metadata().get(key)?.to_str().ok()?;
    Some(excerpt(value))
}
