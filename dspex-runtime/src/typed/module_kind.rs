//! The DSPy module types known at compile time, and the compile-time check that a
//! signature has no field the module type adds itself (`reasoning` for ChainOfThought).

use super::signature::Signature;
use crate::{ChainOfThought, Predict, ProgramOfThought, ReAct};

/// A DSPy module type a typed module can be created as.
pub trait ModuleKind {
    /// The DSPy class name (`"ChainOfThought"`).
    const MODULE_TYPE: &'static str;
}

impl ModuleKind for Predict {
    const MODULE_TYPE: &'static str = "Predict";
}

impl ModuleKind for ChainOfThought {
    const MODULE_TYPE: &'static str = "ChainOfThought";
}

impl ModuleKind for ProgramOfThought {
    const MODULE_TYPE: &'static str = "ProgramOfThought";
}

impl ModuleKind for ReAct {
    const MODULE_TYPE: &'static str = "ReAct";
}

/// Why `S` cannot be used with the module type `module_type`, if it cannot.
const fn reserved_conflict<S: Signature>(module_type: &str) -> Option<&'static str> {
    let conflicts = S::RESERVED_CONFLICTS;
    let mut i = 0;
    while i < conflicts.len() {
        if str_eq(conflicts[i].module_type, module_type) {
            return Some(conflicts[i].message);
        }
        i += 1;
    }
    None
}

/// Fails the build where it is evaluated in a `const` context if `S` has a field the
/// module type `K` adds itself. A typed constructor calls it as
/// `const { assert_no_reserved::<S, Self>() }`, so the error shows when that
/// constructor is instantiated with `S`.
pub const fn assert_no_reserved<S: Signature, K: ModuleKind>() {
    if let Some(message) = reserved_conflict::<S>(K::MODULE_TYPE) {
        panic!("{}", message);
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_that_extends_its_signature_has_its_reserved_fields() {
        for kind in [
            ChainOfThought::MODULE_TYPE,
            ReAct::MODULE_TYPE,
            ProgramOfThought::MODULE_TYPE,
        ] {
            assert!(!dspex_core::reserved_fields(kind).is_empty(), "{kind}");
        }
        assert!(dspex_core::reserved_fields(Predict::MODULE_TYPE).is_empty());
    }

    #[test]
    fn compares_whole_strings() {
        assert!(str_eq("ReAct", "ReAct"));
        assert!(!str_eq("ReAct", "ReActs"));
        assert!(!str_eq("ReAct", "React"));
    }
}
