//! The connection to one worker: a gRPC client that sends the bridge token with every
//! call, and how a worker's refusals read as [`Error`]s.

use dspex_core::Error;
use dspex_core::quote::{MAX_STATUS_MESSAGE_BYTES, excerpt, fit};
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
/// `tracing` at debug level). The kind follows the status code the worker chose and the
/// kind it named (`x-dspex-error`), and a Python exception is named by its class
/// (`x-dspex-exception`).
///
/// The worker quotes what its messages show by the same rule as [`dspex_core::quote`]
/// (an exception's text: its first characters and its whole length), so its message is
/// taken as it is, only bounded like any status.
pub(crate) fn worker_error(status: tonic::Status) -> Error {
    use tonic::Code;
    let full = status.message();
    let message = fit(full, MAX_STATUS_MESSAGE_BYTES);
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
        Code::ResourceExhausted | Code::OutOfRange
            if kind.as_deref() == Some("resource_exhausted")
                || full.contains("too large")
                || full.contains("larger than max") =>
        {
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
        Code::FailedPrecondition if kind.as_deref() == Some("no_lm") => Error::Python {
            message: format!("{message} (configure one with ctx.configure_lm(Lm::...))"),
        },
        _ => Error::Python {
            message: match class {
                // Bounded once named: the class is part of the message.
                Some(class) if !full.starts_with(&format!("{class}:")) => {
                    fit(&format!("{class}: {full}"), MAX_STATUS_MESSAGE_BYTES)
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

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataMap;

    /// A status as a worker sends it: code, message, and its kind and exception entries.
    fn status(code: tonic::Code, message: &str, kind: &str, class: Option<&str>) -> tonic::Status {
        let mut md = MetadataMap::new();
        md.insert(ERROR_KIND_KEY, kind.parse().expect("ascii"));
        if let Some(class) = class {
            md.insert(EXCEPTION_KEY, class.parse().expect("ascii"));
        }
        tonic::Status::with_metadata(code, message, md)
    }

    #[test]
    fn a_python_exception_keeps_the_workers_bounded_message() {
        let message = format!("AdapterParseError: {}… (51239 bytes)", "z".repeat(300));
        let err = worker_error(status(
            tonic::Code::Unknown,
            &message,
            "python_exception",
            Some("AdapterParseError"),
        ));
        let Error::Python { message: got } = err else {
            panic!("{err:?}")
        };
        assert_eq!(got, message, "not cut again, not prefixed twice");

        let err = worker_error(status(
            tonic::Code::Unknown,
            "the test LM is down",
            "python_exception",
            Some("RuntimeError"),
        ));
        assert_eq!(err.to_string(), "python: RuntimeError: the test LM is down");
    }

    #[test]
    fn any_message_is_bounded() {
        let err = worker_error(status(
            tonic::Code::Unknown,
            &"m".repeat(100_000),
            "python_exception",
            Some("ValueError"),
        ));
        let Error::Python { message } = err else {
            panic!("{err:?}")
        };
        assert!(
            message.len() <= MAX_STATUS_MESSAGE_BYTES,
            "{}",
            message.len()
        );
        assert!(message.starts_with("ValueError: mmm"), "{message}");
        assert!(message.ends_with("… (100012 bytes)"), "{message}");
    }

    #[test]
    fn only_a_missing_lm_is_told_to_configure_one() {
        let no_lm = worker_error(status(
            tonic::Code::FailedPrecondition,
            "no LM configured for session `s` (ConfigureLm first)",
            "no_lm",
            None,
        ));
        assert!(no_lm.to_string().contains("ctx.configure_lm"), "{no_lm}");
        let no_key = worker_error(status(
            tonic::Code::FailedPrecondition,
            "the environment variable `KEY` (the API key) is not set",
            "failed_precondition",
            None,
        ));
        assert!(matches!(no_key, Error::Python { .. }), "{no_key:?}");
        assert!(!no_key.to_string().contains("configure_lm"), "{no_key}");
    }

    #[test]
    fn an_answer_over_the_limit_names_the_setting_that_raises_it() {
        let err = worker_error(status(
            tonic::Code::ResourceExhausted,
            "the answer (the module's outputs) is 9000000 bytes, too large for one message: the \
             limit is 8388608 bytes (the worker's DSPEX_MAX_MESSAGE_BYTES)",
            "resource_exhausted",
            None,
        ));
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
        assert!(
            err.to_string().contains("BridgeConfig::max_message_size"),
            "{err}"
        );
        // gRPC's own refusal of a request over a worker's limit reads the same.
        let err = worker_error(tonic::Status::resource_exhausted(
            "SERVER: Received message larger than max (9000000 vs. 8388608)",
        ));
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    }
}
