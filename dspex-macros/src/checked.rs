//! The checked model: what `check.rs` built from the parsed model (`ast.rs`) when every
//! rule held. Every value here is final — types resolved, defaults coerced to their type,
//! constraints normalised by `dspex-core` — so `expand/` only writes code and decides
//! nothing.

use dspex_core::{Constraints, Value, VarType};
use proc_macro2::TokenStream;
use syn::{Attribute, Expr, Ident};

use crate::ast::{Field, RustTy};

/// A checked variable.
pub struct Var {
    pub name: String,
    pub var_type: VarType,
    pub default: DefaultValue,
    /// The constraints, normalised to the type (`min = 0` on a float is `0.0`).
    pub constraints: Constraints,
    pub description: Option<String>,
    /// What the compiler checks of a `const` default (`const _: () = assert!(…)`).
    pub const_checks: Vec<ConstCheck>,
}

/// A checked default.
pub enum DefaultValue {
    /// A literal, coerced to the variable's type.
    Literal(Value),
    /// The path of a `const`: range-checked by [`ConstCheck`]s, the rest at run time.
    Const(syn::Path),
    /// Any other expression (`defvariable!` only): checked at run time.
    Runtime(TokenStream),
}

/// A comparison a `const` default must pass, with the message of its failure.
pub struct ConstCheck {
    /// `>=` (a minimum) or `<=` (a maximum).
    pub op: BoundOp,
    pub bound: Value,
    pub message: String,
}

/// The comparison of a [`ConstCheck`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BoundOp {
    AtLeast,
    AtMost,
}

/// A `#[var]` field: the variable and the Rust type of its field.
pub struct FieldVar {
    pub field: Field,
    pub rust_ty: RustTy,
    pub var: Var,
}

/// A checked `#[module]` field.
pub struct Module {
    pub field: Field,
    /// The module type as written (its span is where errors about it point).
    pub module_type: Ident,
    pub signature: ModuleSignature,
    /// `(setting, variable)`.
    pub bindings: Vec<(String, String)>,
}

impl Module {
    /// The module type's name (`ChainOfThought`).
    pub fn module_type_name(&self) -> String {
        crate::ast::unraw(&self.module_type)
    }

    /// The signature type of a typed module.
    pub fn typed_signature(&self) -> Option<&syn::Path> {
        match &self.signature {
            ModuleSignature::Typed(path) => Some(path),
            ModuleSignature::Text(_) => None,
        }
    }

    /// The module type as a Rust type of `dspex` (`Predict`, `ChainOfThought`,
    /// `ProgramOfThought`, `ReAct`: the kinds with typed constructors and a compile-time
    /// reserved-name check), if it is one.
    pub fn kind(&self) -> Option<&Ident> {
        const KINDS: [&str; 4] = ["Predict", "ChainOfThought", "ProgramOfThought", "ReAct"];
        KINDS
            .contains(&self.module_type_name().as_str())
            .then_some(&self.module_type)
    }
}

/// A checked module's signature.
pub enum ModuleSignature {
    /// The string form, parsed by `dspex_core::Signature::parse`.
    Text(String),
    /// A type implementing `dspex::Signature` (the compiler checks that it does).
    Typed(syn::Path),
}

/// A checked struct under `#[dspex::program]` or `#[derive(Variables)]`.
pub struct Struct {
    pub attrs: Vec<Attribute>,
    pub vis: syn::Visibility,
    pub ident: Ident,
    pub generics: syn::Generics,
    pub krate: syn::Path,
    pub vars: Vec<FieldVar>,
    pub modules: Vec<Module>,
}

/// A checked `defvariable!` call.
pub struct DefVariable {
    pub krate: syn::Path,
    pub ctx: Expr,
    pub var: Var,
}
