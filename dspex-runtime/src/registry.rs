//! The registry of declared programs: every `#[dspex::program]` submits a static
//! [`ProgramInfo`] at link time (with `inventory`), and [`programs`] lists them, so tools
//! can show every program a binary contains, with its variables and modules.
//!
//! # Caveat: a library's programs are listed only if the binary links it
//!
//! The linker drops a library crate that nothing in the binary uses, and its programs with
//! it. A binary that wants to list the programs of a crate it does not otherwise call
//! links it explicitly:
//!
//! ```text
//! use that_crate as _;
//! ```

use dspex_core::{Constraints, Value, VarType};

#[cfg(feature = "python")]
use crate::typed::{FieldRole, SignatureSpec};

/// A variable's value as it can be written in a `static`: what `#[dspex::program]` records
/// for defaults and bounds. [`StaticValue::to_value`] gives the [`Value`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StaticValue {
    /// A float.
    Float(f64),
    /// An integer.
    Integer(i64),
    /// A string.
    String(&'static str),
    /// A boolean.
    Boolean(bool),
}

impl StaticValue {
    /// The value.
    pub fn to_value(self) -> Value {
        match self {
            StaticValue::Float(v) => Value::Float(v),
            StaticValue::Integer(v) => Value::Integer(v),
            StaticValue::String(v) => Value::String(v.to_owned()),
            StaticValue::Boolean(v) => Value::Boolean(v),
        }
    }
}

/// Constraints as they can be written in a `static`. [`StaticConstraints::to_constraints`]
/// gives the [`Constraints`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StaticConstraints {
    /// Inclusive lower bound (float, integer).
    pub min: Option<StaticValue>,
    /// Inclusive upper bound (float, integer).
    pub max: Option<StaticValue>,
    /// Minimum length in Unicode scalar values (string).
    pub min_length: Option<usize>,
    /// Maximum length in Unicode scalar values (string).
    pub max_length: Option<usize>,
    /// A regex the value must contain a match of.
    pub pattern: Option<&'static str>,
    /// The allowed values (choice, module).
    pub choices: Option<&'static [&'static str]>,
}

impl StaticConstraints {
    /// No constraints (usable in a `const`).
    pub const NONE: StaticConstraints = StaticConstraints {
        min: None,
        max: None,
        min_length: None,
        max_length: None,
        pattern: None,
        choices: None,
    };

    /// The constraints.
    pub fn to_constraints(&self) -> Constraints {
        Constraints {
            min: self.min.map(StaticValue::to_value),
            max: self.max.map(StaticValue::to_value),
            min_length: self.min_length,
            max_length: self.max_length,
            pattern: self.pattern.map(str::to_owned),
            choices: self
                .choices
                .map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
        }
    }
}

/// A variable a program declares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariableInfo {
    name: &'static str,
    var_type: VarType,
    default: StaticValue,
    constraints: StaticConstraints,
    description: Option<&'static str>,
}

impl VariableInfo {
    /// Describes a variable. Generated code calls this; there is no check here (the macro
    /// checked the declaration at compile time, and `Context::defvariable` checks it again).
    pub const fn new(
        name: &'static str,
        var_type: VarType,
        default: StaticValue,
        constraints: StaticConstraints,
        description: Option<&'static str>,
    ) -> VariableInfo {
        VariableInfo {
            name,
            var_type,
            default,
            constraints,
            description,
        }
    }

    /// The variable's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The variable's type.
    pub fn var_type(&self) -> VarType {
        self.var_type
    }

    /// The declared default.
    pub fn default_value(&self) -> Value {
        self.default.to_value()
    }

    /// The declared constraints.
    pub fn constraints(&self) -> Constraints {
        self.constraints.to_constraints()
    }

    /// The description (the field's doc comment), if any.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }
}

/// A DSPy module a program declares.
#[derive(Debug, Clone, Copy)]
pub struct ModuleInfo {
    name: &'static str,
    module_type: &'static str,
    signature: &'static str,
    #[cfg(feature = "python")]
    typed: Option<fn() -> &'static SignatureSpec>,
    bindings: &'static [(&'static str, &'static str)],
}

impl PartialEq for ModuleInfo {
    fn eq(&self, other: &Self) -> bool {
        let same = (self.name, self.module_type, self.signature, self.bindings)
            == (
                other.name,
                other.module_type,
                other.signature,
                other.bindings,
            );
        // Two typed modules have the same signature when their specs are the same.
        #[cfg(feature = "python")]
        let same = same && self.typed_signature() == other.typed_signature();
        same
    }
}

// The comparison above is an equivalence: specs hold no floats (NaN) to break reflexivity.
impl Eq for ModuleInfo {}

impl ModuleInfo {
    /// Describes a module with a string signature. Generated code calls this.
    pub const fn new(
        name: &'static str,
        module_type: &'static str,
        signature: &'static str,
        bindings: &'static [(&'static str, &'static str)],
    ) -> ModuleInfo {
        ModuleInfo {
            name,
            module_type,
            signature,
            #[cfg(feature = "python")]
            typed: None,
            bindings,
        }
    }

    /// Describes a module with a typed signature, named `signature` as written, whose spec
    /// `spec` returns. Generated code calls this.
    #[cfg(feature = "python")]
    pub const fn typed(
        name: &'static str,
        module_type: &'static str,
        signature: &'static str,
        spec: fn() -> &'static SignatureSpec,
        bindings: &'static [(&'static str, &'static str)],
    ) -> ModuleInfo {
        ModuleInfo {
            name,
            module_type,
            signature,
            typed: Some(spec),
            bindings,
        }
    }

    /// The field's name (and the name of its accessor).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The DSPy module class: `Predict`, `ChainOfThought`, ...
    pub fn module_type(&self) -> &'static str {
        self.module_type
    }

    /// The DSPy signature, e.g. `"question -> answer"`; for a typed module, the name of
    /// its signature type as written (`"Qa"`).
    pub fn signature(&self) -> &'static str {
        self.signature
    }

    /// The spec of a typed module's signature (`None` for a string signature).
    #[cfg(feature = "python")]
    pub fn typed_signature(&self) -> Option<&'static SignatureSpec> {
        self.typed.map(|spec| spec())
    }

    /// The signature's fields, inputs first, each with its role and its type as DSPy
    /// writes it (`str` for a field of a string signature without a type).
    #[cfg(feature = "python")]
    pub fn fields(&self) -> Vec<ModuleField> {
        if let Some(spec) = self.typed_signature() {
            return spec
                .fields()
                .iter()
                .map(|f| ModuleField {
                    name: f.name().to_owned(),
                    role: f.role(),
                    type_name: f.type_name().to_owned(),
                })
                .collect();
        }
        // The macro parsed the signature at compile time: it parses.
        let Ok(parsed) = dspex_core::Signature::parse(self.signature) else {
            return Vec::new();
        };
        let side = |fields: Vec<dspex_core::SignatureField>, role| {
            fields.into_iter().map(move |f| ModuleField {
                name: f.name,
                role,
                type_name: f.ty.unwrap_or_else(|| "str".to_owned()),
            })
        };
        side(parsed.inputs, FieldRole::Input)
            .chain(side(parsed.outputs, FieldRole::Output))
            .collect()
    }

    /// The bindings, as `(setting, variable)` pairs: the DSPy setting `setting` takes the
    /// value of the variable `variable` on every call.
    pub fn bindings(&self) -> &'static [(&'static str, &'static str)] {
        self.bindings
    }
}

/// A field of a declared module's signature ([`ModuleInfo::fields`]).
#[cfg(feature = "python")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleField {
    name: String,
    role: FieldRole,
    type_name: String,
}

#[cfg(feature = "python")]
impl ModuleField {
    /// The field's name in DSPy.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input or output.
    pub fn role(&self) -> FieldRole {
        self.role
    }

    /// The type as DSPy writes it: `str`, `list[str]`, `Optional[int]`, `Order`.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }
}

/// A program declared with `#[dspex::program]`: its name, variables and modules.
///
/// ```
/// #[dspex::program]
/// pub struct Summarize {
///     /// Sampling temperature.
///     #[var(default = 0.2, min = 0.0, max = 2.0)]
///     temperature: f64,
/// }
///
/// let info = dspex::programs().find(|p| p.name() == "Summarize").unwrap();
/// let var = &info.variables()[0];
/// assert_eq!(var.name(), "temperature");
/// assert_eq!(var.var_type(), dspex::VarType::Float);
/// assert_eq!(var.default_value(), dspex::Value::Float(0.2));
/// assert_eq!(var.description(), Some("Sampling temperature."));
/// assert!(info.modules().is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgramInfo {
    name: &'static str,
    module_path: &'static str,
    variables: &'static [VariableInfo],
    modules: &'static [ModuleInfo],
}

impl ProgramInfo {
    /// Describes a program. Generated code calls this.
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        variables: &'static [VariableInfo],
        modules: &'static [ModuleInfo],
    ) -> ProgramInfo {
        ProgramInfo {
            name,
            module_path,
            variables,
            modules,
        }
    }

    /// The struct's name, e.g. `"Qa"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The Rust module the struct is declared in, e.g. `"my_app::pipelines"`.
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The struct's path, e.g. `"my_app::pipelines::Qa"`.
    pub fn path(&self) -> String {
        format!("{}::{}", self.module_path, self.name)
    }

    /// The declared variables, in declaration order.
    pub fn variables(&self) -> &'static [VariableInfo] {
        self.variables
    }

    /// The variable with this name, if declared.
    pub fn variable(&self, name: &str) -> Option<&'static VariableInfo> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// The declared modules, in declaration order.
    pub fn modules(&self) -> &'static [ModuleInfo] {
        self.modules
    }

    /// The module with this field name, if declared.
    pub fn module(&self, name: &str) -> Option<&'static ModuleInfo> {
        self.modules.iter().find(|m| m.name == name)
    }
}

inventory::collect!(ProgramInfo);

/// Every program declared with `#[dspex::program]` in the crates linked into this binary,
/// in no particular order.
///
/// A library crate's programs are listed only if the binary links that crate: if nothing
/// else uses it, write `use that_crate as _;` in the binary.
pub fn programs() -> impl Iterator<Item = &'static ProgramInfo> {
    inventory::iter::<ProgramInfo>.into_iter()
}
