//! The parsed model: what the user wrote, as typed values, before any rule of the variable
//! model is checked. A struct under `#[dspex::program]` or `#[derive(Variables)]` becomes a
//! [`Struct`] of [`Var`]s and [`Module`]s ([`Struct::from_syn`]); a `defvariable!` call a
//! [`DefVariable`] (`defvariable.rs`). The attributes themselves are read by `attr.rs`.
//! `check.rs` turns this model into the checked one (`checked.rs`); when it cannot,
//! `fallback.rs` emits the API from this model alone.

use dspex_core::{Constraints, Value, VarType};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, LitStr};

use crate::attr;
use crate::ctxt::Ctxt;
use crate::key::Key;

/// A `key = value` (or bare `key`) entry, with the tokens to point errors at.
pub struct Keyed<T> {
    /// The key, as written.
    pub key: Ident,
    /// The value's tokens (the key's, for a flag).
    pub tokens: TokenStream,
    /// The parsed value.
    pub value: T,
}

/// A default as written.
pub enum DefaultExpr {
    /// A literal (possibly negated): checked at compile time.
    Literal(Value),
    /// A path (a `const`): type-checked by the compiler, range-checked by a `const`
    /// assertion where it can be, and checked by `Context::defvariable` at run time.
    Path(syn::Path),
    /// Any other expression (only `defvariable!` takes these): checked at run time.
    Expr(Expr),
}

/// `choice` or `module` in `#[var(...)]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flag {
    Choice,
    Module,
}

/// The Rust types a variable field can have.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RustTy {
    F64,
    I64,
    String,
    Bool,
}

impl RustTy {
    /// The Rust type of a field, when it is one a variable can have.
    pub fn of(ty: &syn::Type) -> Option<RustTy> {
        let syn::Type::Path(p) = ty else { return None };
        if p.qself.is_some() {
            return None;
        }
        let last = p.path.segments.last()?;
        if !matches!(last.arguments, syn::PathArguments::None) {
            return None;
        }
        let single = p.path.segments.len() == 1;
        match last.ident.to_string().as_str() {
            "f64" if single => Some(RustTy::F64),
            "i64" if single => Some(RustTy::I64),
            "bool" if single => Some(RustTy::Bool),
            "String" => Some(RustTy::String),
            _ => None,
        }
    }

    /// The type as generated code names it.
    pub fn tokens(self, krate: &syn::Path) -> TokenStream {
        match self {
            RustTy::F64 => quote!(f64),
            RustTy::I64 => quote!(i64),
            RustTy::String => quote!(#krate::__private::String),
            RustTy::Bool => quote!(bool),
        }
    }
}

/// The parts of a struct field a variable or module came from.
#[derive(Clone)]
pub struct Field {
    pub ident: Ident,
    pub ty: syn::Type,
    pub vis: syn::Visibility,
    /// The field's attributes other than `#[var]` / `#[module]` (docs, cfgs, ...).
    pub attrs: Vec<Attribute>,
}

impl Field {
    /// The field's name without `r#`: the name of its variable or module.
    pub fn name(&self) -> String {
        unraw(&self.ident)
    }
}

/// One declared variable: a `#[var]` field, or a `defvariable!` call.
pub struct Var {
    /// The variable's name.
    pub name: String,
    /// Where errors about the whole variable point (the field's name).
    pub name_tokens: TokenStream,
    /// The field (program, derive).
    pub field: Option<Field>,
    /// The declared type (`defvariable!`): `float`, `integer`, ...
    pub declared_type: Option<Keyed<VarType>>,
    /// `choice` / `module` (fields).
    pub flag: Option<Keyed<Flag>>,
    pub default: Option<Keyed<DefaultExpr>>,
    pub min: Option<Keyed<Value>>,
    pub max: Option<Keyed<Value>>,
    pub min_length: Option<Keyed<usize>>,
    pub max_length: Option<Keyed<usize>>,
    pub pattern: Option<Keyed<String>>,
    pub choices: Option<Keyed<Vec<String>>>,
    pub description: Option<String>,
}

impl Var {
    /// A variable with nothing declared yet.
    pub fn new(name: String, name_tokens: TokenStream, field: Option<Field>) -> Var {
        Var {
            name,
            name_tokens,
            field,
            declared_type: None,
            flag: None,
            default: None,
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            pattern: None,
            choices: None,
            description: None,
        }
    }

    /// The declared constraints, as `dspex-core` takes them.
    pub fn constraints(&self) -> Constraints {
        Constraints {
            min: self.min.as_ref().map(|k| k.value.clone()),
            max: self.max.as_ref().map(|k| k.value.clone()),
            min_length: self.min_length.as_ref().map(|k| k.value),
            max_length: self.max_length.as_ref().map(|k| k.value),
            pattern: self.pattern.as_ref().map(|k| k.value.clone()),
            choices: self.choices.as_ref().map(|k| k.value.clone()),
        }
    }

    /// Where an error about `key` points: the key itself (`on_key`) or its value; the
    /// variable's name when the key was not given.
    pub fn key_tokens(&self, key: Key, on_key: bool) -> TokenStream {
        fn pick<T>(k: &Option<Keyed<T>>, on_key: bool) -> Option<TokenStream> {
            k.as_ref().map(|k| {
                if on_key {
                    k.key.to_token_stream()
                } else {
                    k.tokens.clone()
                }
            })
        }
        let found = match key {
            Key::Default => pick(&self.default, on_key),
            Key::Min => pick(&self.min, on_key),
            Key::Max => pick(&self.max, on_key),
            Key::MinLength => pick(&self.min_length, on_key),
            Key::MaxLength => pick(&self.max_length, on_key),
            Key::Pattern => pick(&self.pattern, on_key),
            Key::Choices => pick(&self.choices, on_key),
            Key::Choice | Key::Module => pick(&self.flag, on_key),
            Key::Description | Key::Signature | Key::Bind | Key::Crate => None,
        };
        found.unwrap_or_else(|| self.name_tokens.clone())
    }
}

/// A `#[module(Type, signature = ..., bind(...))]` field.
pub struct Module {
    pub field: Field,
    pub module_type: Option<Ident>,
    pub signature: Option<SignatureArg>,
    /// `(setting, variable)`.
    pub bindings: Vec<(Ident, Ident)>,
}

impl Module {
    /// The signature type of a typed module, when it has one.
    pub fn typed_signature(&self) -> Option<&syn::Path> {
        match &self.signature {
            Some(SignatureArg::Typed(path)) => Some(path),
            _ => None,
        }
    }
}

/// What `signature = ...` names in `#[module(...)]`.
pub enum SignatureArg {
    /// `signature = "question -> answer"`: the string form, for a `dspex::Module` field.
    Text(LitStr),
    /// `signature = Qa`: a type deriving `dspex::Signature`, for a `dspex::TypedModule<Qa>`
    /// field.
    Typed(syn::Path),
}

/// What a struct is being parsed for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Program,
    Derive,
}

impl Mode {
    /// The macro, as messages name it.
    pub fn macro_name(self) -> &'static str {
        match self {
            Mode::Program => "#[dspex::program]",
            Mode::Derive => "#[derive(Variables)]",
        }
    }
}

/// A struct under `#[dspex::program]` or `#[derive(Variables)]`.
pub struct Struct {
    pub attrs: Vec<Attribute>,
    pub vis: syn::Visibility,
    pub ident: Ident,
    pub generics: syn::Generics,
    pub krate: syn::Path,
    pub vars: Vec<Var>,
    pub modules: Vec<Module>,
    /// A field whose name was taken already (a rustc error for a derive).
    pub duplicate_fields: bool,
}

/// The `defvariable!` arguments.
pub struct DefVariable {
    pub krate: syn::Path,
    pub ctx: Expr,
    pub var: Var,
}

/// `::dspex`, unless `crate = "..."` names another path.
pub fn default_crate() -> syn::Path {
    syn::parse_quote!(::dspex)
}

/// The name of an identifier without `r#`.
pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// An item refused as a whole (not a struct with named fields; the error is recorded).
pub struct Rejected {
    /// The `dspex` crate path its `#[dspex(crate = ...)]` named, for the fallback.
    pub krate: syn::Path,
}

impl Struct {
    /// Reads a struct for `#[dspex::program]` or `#[derive(Variables)]`, recording every
    /// mistake and going on with the next field.
    pub fn from_syn(cx: &Ctxt, item: &syn::DeriveInput, mode: Mode) -> Result<Struct, Rejected> {
        let mut attrs = item.attrs.clone();
        let krate = attr::take_crate_attr(cx, &mut attrs).unwrap_or_else(default_crate);
        let fields = match &item.data {
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Named(fields),
                ..
            }) => fields.named.clone(),
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Unit,
                ..
            }) => Punctuated::new(),
            _ => {
                cx.error_spanned_by(
                    &item.ident,
                    format!(
                        "{} applies to a struct with named fields",
                        mode.macro_name()
                    ),
                );
                return Err(Rejected { krate });
            }
        };
        let generics = &item.generics;
        if !generics.params.is_empty() || generics.where_clause.is_some() {
            cx.error_spanned_by(
                generics,
                format!("{} does not take a generic struct", mode.macro_name()),
            );
        }

        let mut input = Struct {
            attrs,
            vis: item.vis.clone(),
            ident: item.ident.clone(),
            generics: generics.clone(),
            krate,
            vars: Vec::new(),
            modules: Vec::new(),
            duplicate_fields: false,
        };
        let mut seen: Vec<Ident> = Vec::new();
        for field in fields {
            let Some(ident) = field.ident.clone() else {
                continue;
            };
            if seen.contains(&ident) {
                input.duplicate_fields = true;
                // rustc reports a duplicate field of a derive; a program's fields are
                // rewritten, so this macro reports it.
                if mode == Mode::Program {
                    cx.error_spanned_by(
                        &ident,
                        format!(
                            "two variables or modules named `{}`: each name is declared once",
                            unraw(&ident)
                        ),
                    );
                }
                continue;
            }
            seen.push(ident.clone());
            input.add_field(cx, field, ident, mode);
        }
        Ok(input)
    }

    /// Sorts one field into a variable or a module, by its attribute.
    fn add_field(&mut self, cx: &Ctxt, field: syn::Field, ident: Ident, mode: Mode) {
        let mut var_attrs = Vec::new();
        let mut module_attrs = Vec::new();
        let mut other_attrs = Vec::new();
        for attr in field.attrs {
            if attr.path().is_ident("var") {
                var_attrs.push(attr);
            } else if mode == Mode::Program && attr.path().is_ident("module") {
                module_attrs.push(attr);
            } else {
                other_attrs.push(attr);
            }
        }
        let info = Field {
            ident: ident.clone(),
            ty: field.ty,
            vis: field.vis,
            attrs: other_attrs,
        };
        match (var_attrs.as_slice(), module_attrs.as_slice()) {
            ([], []) => {
                let expected = match mode {
                    Mode::Program => "`#[var(default = …)]` or `#[module(…)]`",
                    Mode::Derive => "`#[var(default = …)]`",
                };
                cx.error_spanned_by(
                    &ident,
                    format!("the field `{}` needs {expected}", unraw(&ident)),
                );
            }
            ([first, extra @ ..], []) => {
                for extra in extra {
                    cx.error_spanned_by(
                        extra,
                        "one #[var(...)] per field: put every key in the first",
                    );
                }
                self.vars.push(attr::var_attr(cx, first, info));
            }
            ([], [first, extra @ ..]) => {
                for extra in extra {
                    cx.error_spanned_by(extra, "one #[module(...)] per field");
                }
                self.modules.push(attr::module_attr(cx, first, info));
            }
            (_, [first, ..]) => cx.error_spanned_by(
                first,
                format!(
                    "the field `{}` has both #[var] and #[module]: a field is one or the other",
                    unraw(&ident)
                ),
            ),
        }
    }
}
