//! `dspex::Error`: every error a user can hit, each naming the variable and what was expected.

use crate::quote::excerpt;
use crate::{DefinitionError, Violation};

/// The result type of dspex.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error dspex returns. Each message is one sentence that names the variable (or the
/// part of the system) and says what was expected.
///
/// ```
/// use dspex_core::{Error, Violation, Value};
/// let err = Error::from_violation("temperature", Violation::AboveMax {
///     value: Value::Float(2.5),
///     max: Value::Float(2.0),
/// });
/// assert_eq!(err.to_string(), "variable `temperature`: 2.5 is above the maximum 2.0");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No variable (or session, module, ...) with this name or id.
    #[error("{what} `{}` not found", excerpt(name))]
    NotFound {
        /// What was looked for ("variable", "session", ...).
        what: &'static str,
        /// The name or id asked for.
        name: String,
    },
    /// A variable with this name already exists.
    #[error("variable `{}` already exists", excerpt(name))]
    AlreadyExists {
        /// The name.
        name: String,
    },
    /// A value, or a typed read, of the wrong kind for the variable.
    #[error("variable `{}`: expected {expected}, got {found}", excerpt(name))]
    TypeMismatch {
        /// The variable.
        name: String,
        /// What the variable takes (or what the read asked for).
        expected: String,
        /// What was given.
        found: String,
    },
    /// A value of the right kind that breaks a constraint.
    #[error("variable `{}`: {message}", excerpt(name))]
    ConstraintViolation {
        /// The variable.
        name: String,
        /// What the constraint requires, e.g. "at most 2.0".
        expected: String,
        /// The whole explanation, e.g. "2.5 is above the maximum 2.0".
        message: String,
    },
    /// A definition that cannot be accepted (constraints, name).
    #[error("invalid definition of variable `{}`: {reason}", excerpt(name))]
    InvalidDefinition {
        /// The variable.
        name: String,
        /// Why.
        reason: String,
    },
    /// A conditional write whose expected version is no longer current.
    #[error(
        "variable `{}`: expected version {expected}, but it is at version {actual}",
        excerpt(name)
    )]
    VersionConflict {
        /// The variable.
        name: String,
        /// The version the caller expected.
        expected: u64,
        /// The version it has.
        actual: u64,
    },
    /// The bridge (gRPC server, session store) failed or refused.
    #[error("bridge: {message}")]
    Bridge {
        /// What went wrong.
        message: String,
    },
    /// Python could not be found, started, or raised an error.
    #[error("python: {message}")]
    Python {
        /// What went wrong, and what to do about it.
        message: String,
    },
    /// A worker process died while serving a call. The call may or may not have run.
    ///
    /// ```
    /// use dspex_core::Error;
    /// let err = Error::WorkerCrashed { worker: 0, module: "qa".into(), restarting: true };
    /// assert_eq!(
    ///     err.to_string(),
    ///     "worker 0 crashed during the call to module `qa`; it is being restarted, and the \
    ///      next call to its modules waits for the new worker"
    /// );
    /// ```
    #[error(
        "worker {worker} crashed during the call to module `{}`; {}",
        excerpt(module),
        if *restarting {
            "it is being restarted, and the next call to its modules waits for the new worker"
        } else {
            "the pool has given up restarting it, so later calls to its modules fail with \
             WorkerUnavailable"
        }
    )]
    WorkerCrashed {
        /// The worker's id.
        worker: usize,
        /// The module being called.
        module: String,
        /// Whether the pool is restarting the worker (false once it has given up on it).
        restarting: bool,
    },
    /// The pool gave up on a worker after it failed to start too many times in a row
    /// (`PoolConfig::restart_budget`): calls to the modules it held fail until the program
    /// is restarted.
    ///
    /// ```
    /// use dspex_core::Error;
    /// let err = Error::WorkerUnavailable {
    ///     worker: 1,
    ///     attempts: 5,
    ///     reason: "python: worker 1 exited before it was ready".into(),
    /// };
    /// assert!(err.to_string().starts_with("worker 1 is unavailable: it failed to start 5 times"));
    /// ```
    #[error(
        "worker {worker} is unavailable: it failed to start {attempts} times in a row and the pool \
         gave up on it (last failure: {reason}); its modules cannot be called until the program \
         restarts — check that DSPEX_PYTHON (or the .venv) runs `python -m dspex_bridge.worker`, \
         and read the worker's stderr in the logs (tracing target `dspex_runtime::worker`)"
    )]
    WorkerUnavailable {
        /// The worker's id.
        worker: usize,
        /// How many starts failed in a row.
        attempts: u32,
        /// Why the last start failed.
        reason: String,
    },
    /// The shared state store (Redis) could not be reached, or dropped the connection.
    /// The operation may be retried: the backend reconnects with backoff by itself. A
    /// write that fails with it before reaching the store changed nothing; one whose reply
    /// was lost may have been applied whole (writes are atomic in the store, never half).
    ///
    /// ```
    /// use dspex_core::Error;
    /// let err = Error::BackendUnavailable {
    ///     backend: "redis",
    ///     reason: "connection refused by redis://127.0.0.1:6390/0".into(),
    /// };
    /// assert_eq!(
    ///     err.to_string(),
    ///     "the redis backend is unavailable: connection refused by redis://127.0.0.1:6390/0"
    /// );
    /// ```
    #[error("the {backend} backend is unavailable: {reason}")]
    BackendUnavailable {
        /// Which backend ("redis").
        backend: &'static str,
        /// What failed, and what happens next.
        reason: String,
    },
    /// A variable declared here is already defined in the shared store with another type
    /// or other constraints (by another process, or an earlier run).
    ///
    /// ```
    /// use dspex_core::Error;
    /// let err = Error::DefinitionConflict {
    ///     name: "temperature".into(),
    ///     difference: "stored max 2.0, declared max 1.0".into(),
    /// };
    /// assert_eq!(
    ///     err.to_string(),
    ///     "variable `temperature` is already defined differently in the shared store: stored \
    ///      max 2.0, declared max 1.0"
    /// );
    /// ```
    #[error("variable `{name}` is already defined differently in the shared store: {difference}")]
    DefinitionConflict {
        /// The variable.
        name: String,
        /// What differs, stored against declared.
        difference: String,
    },
    /// A request the caller got wrong (an argument, a size limit, ...).
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What was wrong.
        message: String,
    },
    /// An LM answer that does not parse into the type of a module's output field (the
    /// adapter could not read it, or it is out of the Rust type's range).
    ///
    /// ```
    /// use dspex_core::Error;
    /// let err = Error::output_parse("count", "int", "305", "invalid value: integer `305`, expected u8");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "output field `count`: expected int, the LM answered \"305\" (invalid value: \
    ///      integer `305`, expected u8)"
    /// );
    /// let long = Error::output_parse("answer", "int", &"x".repeat(500), "not a number");
    /// let Error::OutputParse { raw, .. } = long else { unreachable!() };
    /// assert_eq!(raw.chars().count(), Error::OUTPUT_PARSE_RAW_CHARS + 1); // 200, then "…"
    /// ```
    #[error("output field `{field}`: expected {expected}, the LM answered {raw:?} ({reason})")]
    #[non_exhaustive]
    OutputParse {
        /// The output field.
        field: String,
        /// The field's type, as DSPy writes it (`int`, `list[str]`, `Order`).
        expected: String,
        /// What the LM answered, cut at [`Error::OUTPUT_PARSE_RAW_CHARS`] characters.
        raw: String,
        /// What the parser said.
        reason: String,
    },
    /// Saving or restoring a Context (JSON) failed.
    #[error("serialization: {message}")]
    Serialization {
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// How many characters of the LM's answer an [`Error::OutputParse`] keeps.
    pub const OUTPUT_PARSE_RAW_CHARS: usize = 200;

    /// An [`Error::OutputParse`] (the variant is `#[non_exhaustive]`: built here, matched
    /// with `..`); `raw` is cut at [`Error::OUTPUT_PARSE_RAW_CHARS`] characters (an
    /// ellipsis marks the cut).
    pub fn output_parse(field: &str, expected: &str, raw: &str, reason: &str) -> Error {
        let mut cut: String = raw.chars().take(Self::OUTPUT_PARSE_RAW_CHARS).collect();
        if cut.len() < raw.len() {
            cut.push('…');
        }
        Error::OutputParse {
            field: field.to_owned(),
            expected: expected.to_owned(),
            raw: cut,
            reason: reason.to_owned(),
        }
    }

    /// A `NotFound` for a variable.
    pub fn variable_not_found(name: &str) -> Error {
        Error::NotFound {
            what: "variable",
            name: name.to_owned(),
        }
    }

    /// The error for a value a variable refused: `TypeMismatch` for a value of the wrong
    /// kind, `ConstraintViolation` otherwise.
    pub fn from_violation(name: &str, violation: Violation) -> Error {
        if violation.is_type_error() {
            let found = match &violation {
                Violation::WrongKind { found, .. } => found.describe(),
                Violation::NotANumber => "NaN".to_owned(),
                Violation::NotAnInteger { found } => {
                    format!(
                        "the float {} (not a whole number within i64)",
                        crate::Value::Float(*found)
                    )
                }
                _ => String::new(),
            };
            Error::TypeMismatch {
                name: name.to_owned(),
                expected: violation.expected(),
                found,
            }
        } else {
            Error::ConstraintViolation {
                name: name.to_owned(),
                expected: violation.expected(),
                message: violation.to_string(),
            }
        }
    }

    /// An `InvalidDefinition` for a variable.
    pub fn from_definition(name: &str, error: DefinitionError) -> Error {
        Error::InvalidDefinition {
            name: name.to_owned(),
            reason: error.to_string(),
        }
    }

    /// The variable this error is about, when it is about one.
    pub fn variable(&self) -> Option<&str> {
        match self {
            Error::NotFound {
                what: "variable",
                name,
            }
            | Error::AlreadyExists { name }
            | Error::TypeMismatch { name, .. }
            | Error::ConstraintViolation { name, .. }
            | Error::InvalidDefinition { name, .. }
            | Error::DefinitionConflict { name, .. }
            | Error::VersionConflict { name, .. } => Some(name),
            _ => None,
        }
    }
}
