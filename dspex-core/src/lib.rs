//! The dspex variable model: values, types, constraints, the variable record, the error
//! type, and the validation rules (in [`Schema`]), written once and shared by the runtime
//! (both backends and the bridge) and the compile-time checks of `dspex-macros`.
//!
//! Users depend on the `dspex` crate, which re-exports everything here.
#![warn(missing_docs)]

mod constraints;
mod error;
pub mod limits;
pub mod quote;
mod reserved;
mod schema;
mod signature;
mod value;
mod variable;

pub use constraints::Constraints;
pub use error::{Error, Result};
pub use limits::{LimitExceeded, MAX_NAME_LEN};
pub use reserved::{RESERVED_FIELDS, reserved_conflict, reserved_field_message, reserved_fields};
pub use schema::{DefinitionError, Schema, Violation, check_name, coerce};
pub use signature::{Signature, SignatureError, SignatureField, is_identifier};
pub use value::{FromValue, UnknownVarType, Value, VarType};
pub use variable::{Metadata, VarId, VarOptions, Variable, VariableDef};
