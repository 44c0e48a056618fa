//! Errors as gRPC statuses: the status code is the API's error language, the message is
//! the sentence Rust shows, and the `x-dspex-error` entry names the kind exactly.

use dspex_core::Error;
use dspex_core::quote::{MAX_STATUS_MESSAGE_BYTES, fit};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// The metadata key naming the error kind.
pub const ERROR_KIND_KEY: &str = "x-dspex-error";

/// The metadata entry in which a worker names the Python exception class behind a status
/// (`AdapterParseError`, `ValueError`, ...), beside [`ERROR_KIND_KEY`].
pub const EXCEPTION_KEY: &str = "x-dspex-exception";

/// The status code and kind for an error. User errors are never INTERNAL.
pub(crate) fn classify(error: &Error) -> (Code, &'static str) {
    match error {
        Error::NotFound {
            what: "session", ..
        } => (Code::NotFound, "session_not_found"),
        Error::NotFound { .. } => (Code::NotFound, "not_found"),
        Error::AlreadyExists { .. } => (Code::AlreadyExists, "already_exists"),
        Error::TypeMismatch { .. } => (Code::InvalidArgument, "type_mismatch"),
        Error::ConstraintViolation { .. } => (Code::InvalidArgument, "constraint_violation"),
        Error::InvalidDefinition { .. } | Error::DefinitionConflict { .. } => {
            (Code::InvalidArgument, "invalid_definition")
        }
        Error::InvalidArgument { .. } | Error::Serialization { .. } => {
            (Code::InvalidArgument, "invalid_argument")
        }
        Error::VersionConflict { .. } => (Code::FailedPrecondition, "version_conflict"),
        _ => (Code::Unavailable, "unavailable"),
    }
}

/// The status for an error. Every status the bridge builds is built here, so this is where
/// a message is bounded: at most [`MAX_STATUS_MESSAGE_BYTES`], whatever the error quotes.
pub(crate) fn to_status(error: Error) -> Status {
    let (code, kind) = classify(&error);
    let mut md = MetadataMap::new();
    md.insert(ERROR_KIND_KEY, MetadataValue::from_static(kind));
    let message = fit(&error.to_string(), MAX_STATUS_MESSAGE_BYTES);
    Status::with_metadata(code, message, md)
}

/// tonic refuses an oversize request with OUT_OF_RANGE; our protocol says
/// RESOURCE_EXHAUSTED, with a message that names the limit and how to raise it. This
/// rewrites exactly that refusal (trailers-only responses carry the status in the headers).
pub(crate) fn oversize_as_resource_exhausted<B>(
    mut res: http::Response<B>,
    limit: usize,
) -> http::Response<B> {
    let headers = res.headers_mut();
    let out_of_range = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"11");
    let too_large = headers.get("grpc-message").is_some_and(|v| {
        v.to_str()
            .is_ok_and(|m| m.contains("too%20large") || m.contains("too large"))
    });
    if out_of_range && too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        let message = format!("request too large: {}", super::oversize_hint(limit));
        if let Ok(value) = http::HeaderValue::from_str(&percent_encode(&message)) {
            headers.insert("grpc-message", value);
        }
    }
    res
}

/// A status message as the `grpc-message` header carries it: printable ASCII as it is,
/// every other byte (and `%`) as `%XX`.
fn percent_encode(message: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            // Writing into a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
