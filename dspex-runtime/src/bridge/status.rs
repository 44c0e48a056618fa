//! Errors as gRPC statuses: the status code is the API's error language, the message is
//! the sentence Rust shows, and the `x-dspex-error` entry names the kind exactly.

use dspex_core::Error;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// The metadata key naming the error kind.
pub const ERROR_KIND_KEY: &str = "x-dspex-error";

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

/// The status for an error.
pub(crate) fn to_status(error: Error) -> Status {
    let (code, kind) = classify(&error);
    let mut md = MetadataMap::new();
    md.insert(ERROR_KIND_KEY, MetadataValue::from_static(kind));
    Status::with_metadata(code, error.to_string(), md)
}

/// tonic refuses an oversize request with OUT_OF_RANGE; our protocol says
/// RESOURCE_EXHAUSTED. This rewrites exactly that refusal (trailers-only responses carry
/// the status in the headers).
pub(crate) fn oversize_as_resource_exhausted<B>(mut res: http::Response<B>) -> http::Response<B> {
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
    }
    res
}
