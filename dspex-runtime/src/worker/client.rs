//! The connection to one worker: a gRPC client that sends the bridge token with every
//! call, and how a worker's refusals read as [`Error`]s.

use dspex_core::Error;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::pb::worker_client::WorkerClient;

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

/// A worker's refusal as an `Error`.
pub(crate) fn worker_error(status: tonic::Status) -> Error {
    use tonic::Code;
    let message = status.message().to_owned();
    match status.code() {
        Code::InvalidArgument => Error::InvalidArgument { message },
        // The worker names what it did not find (a module, a variable, a session).
        Code::NotFound => Error::Python {
            message: format!("not found in the worker: {message}"),
        },
        Code::FailedPrecondition => Error::Python {
            message: format!("{message} (configure one with ctx.configure_lm(Lm::...))"),
        },
        _ => Error::Python { message },
    }
}
