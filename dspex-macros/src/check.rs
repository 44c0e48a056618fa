//! Phase 2: the model against the rules. Every rule of the variable model is checked by
//! calling `dspex_core` — `Schema::new` for a definition, `Schema::check` for a default,
//! `check_name`, `Signature::parse` — the very code `Context::defvariable` and the bridge
//! run, so the macros and the runtime cannot disagree. This file only decides which
//! token each error points at.

use dspex_core::{Constraints, DefinitionError, Error, Schema, Signature, Value, VarType};
use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::ctxt::Ctxt;
use crate::parse::{
    Checked, DefaultExpr, Flag, Keyed, ModuleDecl, RustTy, StructInput, VarDecl, unraw,
};

/// Checks every variable and module of a struct, and the names across them.
pub fn check_struct(cx: &Ctxt, input: &mut StructInput, program: bool) {
    for var in &mut input.vars {
        check_var(cx, var);
    }
    if !program {
        return;
    }
    // Names: variables and modules share one namespace (each has an accessor).
    let var_names: Vec<String> = input.vars.iter().map(|v| v.name.clone()).collect();
    let module_names: Vec<String> = input
        .modules
        .iter()
        .map(|m| unraw(&m.field.ident))
        .collect();
    let all: Vec<&str> = var_names
        .iter()
        .chain(&module_names)
        .map(String::as_str)
        .collect();
    for var in &input.vars {
        reserved(cx, &var.name, &var.name_tokens, &all);
    }
    for module in &input.modules {
        let name = unraw(&module.field.ident);
        reserved(cx, &name, &module.field.ident.to_token_stream(), &all);
        if name == "ctx" {
            cx.error_spanned_by(
                &module.field.ident,
                "`ctx` is the program's Context field: name the module otherwise",
            );
        }
        check_module(cx, module, &var_names);
    }
}

/// Names a program's generated methods would clash with.
fn reserved(cx: &Ctxt, name: &str, tokens: &TokenStream, all: &[&str]) {
    if matches!(name, "new" | "context") {
        cx.error_spanned_by(
            tokens,
            format!("`{name}` is the name of a generated method of the program: rename this field"),
        );
    }
    if let Some(other) = name.strip_prefix("set_")
        && all.contains(&other)
    {
        cx.error_spanned_by(
            tokens,
            format!("`{name}` clashes with the setter generated for `{other}`: rename this field"),
        );
    }
}

fn check_module(cx: &Ctxt, module: &ModuleDecl, var_names: &[String]) {
    let ty_ok = match &module.field.ty {
        syn::Type::Path(p) => {
            p.qself.is_none()
                && p.path.segments.last().is_some_and(|s| {
                    s.ident == "Module" && matches!(s.arguments, syn::PathArguments::None)
                })
        }
        _ => false,
    };
    if !ty_ok {
        cx.error_spanned_by(
            &module.field.ty,
            "a #[module] field has the type `dspex::Module`",
        );
    }
    if let Some(sig) = &module.signature
        && let Err(e) = Signature::parse(&sig.value())
    {
        cx.error_spanned_by(sig, e);
    }
    let mut settings: Vec<String> = Vec::new();
    for (setting, variable) in &module.bindings {
        let setting_name = unraw(setting);
        if settings.contains(&setting_name) {
            cx.error_spanned_by(
                setting,
                format!("the setting `{setting_name}` is bound twice in this module"),
            );
        }
        settings.push(setting_name);
        let var = unraw(variable);
        if !var_names.contains(&var) {
            let declared = if var_names.is_empty() {
                "it declares none".to_owned()
            } else {
                format!("it declares {}", var_names.join(", "))
            };
            cx.error_spanned_by(
                variable,
                format!("`{var}` is not a variable of this program ({declared})"),
            );
        }
    }
}

/// A type as a person writes it (`&'static str`, not `& 'static str`).
fn type_name(ty: &syn::Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace("& ", "&")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" :: ", "::")
}

/// The Rust type of a field, when it is one a variable can have.
pub fn rust_ty(ty: &syn::Type) -> Option<RustTy> {
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

/// Checks one variable; on success, fills `var.checked`.
pub fn check_var(cx: &Ctxt, var: &mut VarDecl) {
    let mut ok = true;
    if let Err(e) = dspex_core::check_name(&var.name) {
        cx.error_spanned_by(&var.name_tokens, e);
        ok = false;
    }

    // The type: declared (`defvariable!`), or from the field's type and flag.
    let (var_type, rust) = if let Some(declared) = &var.declared_type {
        (Some(declared.value), None)
    } else if let Some(field) = &var.field {
        let flag = var.flag.as_ref().map(|f| f.value);
        match (rust_ty(&field.ty), flag) {
            (None, _) => {
                cx.error_spanned_by(
                    &field.ty,
                    format!(
                        "the type `{}` does not fit a variable: use f64 (float), i64 (integer), \
                         String (string, choice, module) or bool (boolean)",
                        type_name(&field.ty)
                    ),
                );
                (None, None)
            }
            (Some(RustTy::String), Some(Flag::Choice)) => {
                (Some(VarType::Choice), Some(RustTy::String))
            }
            (Some(RustTy::String), Some(Flag::Module)) => {
                (Some(VarType::Module), Some(RustTy::String))
            }
            (Some(other), Some(flag)) => {
                let what = if flag == Flag::Choice {
                    "choice"
                } else {
                    "module"
                };
                cx.error_spanned_by(
                    &field.ty,
                    format!(
                        "a {what} variable is a `String` field, not `{}`",
                        type_name(&field.ty)
                    ),
                );
                let _ = other;
                (None, None)
            }
            (Some(RustTy::F64), None) => (Some(VarType::Float), Some(RustTy::F64)),
            (Some(RustTy::I64), None) => (Some(VarType::Integer), Some(RustTy::I64)),
            (Some(RustTy::String), None) => (Some(VarType::String), Some(RustTy::String)),
            (Some(RustTy::Bool), None) => (Some(VarType::Boolean), Some(RustTy::Bool)),
        }
    } else {
        (None, None)
    };
    let Some(var_type) = var_type else { return };

    let Some(schema) = schema(cx, var, var_type) else {
        return;
    };

    // The default, through the same check every write goes through.
    let mut default = None;
    if let Some(Keyed {
        value: DefaultExpr::Literal(value),
        tokens,
        ..
    }) = &var.default
    {
        match schema.check(value.clone()) {
            Ok(coerced) => default = Some(coerced),
            Err(violation) => {
                cx.error_spanned_by(
                    tokens,
                    format!(
                        "default {value} for `{}` {}",
                        var.name,
                        violation.predicate()
                    ),
                );
                ok = false;
            }
        }
    }
    if ok {
        var.checked = Some(Checked {
            var_type,
            rust_ty: rust,
            default,
            constraints: schema.constraints().clone(),
        });
    }
}

/// `Schema::new` on the declared constraints. A definition can have several mistakes and
/// `Schema::new` reports the first: each is reported on its key, the key is dropped and
/// the definition checked again, so one build lists them all.
fn schema(cx: &Ctxt, var: &VarDecl, var_type: VarType) -> Option<Schema> {
    let mut constraints = Constraints {
        min: var.min.as_ref().map(|k| k.value.clone()),
        max: var.max.as_ref().map(|k| k.value.clone()),
        min_length: var.min_length.as_ref().map(|k| k.value),
        max_length: var.max_length.as_ref().map(|k| k.value),
        pattern: var.pattern.as_ref().map(|k| k.value.clone()),
        choices: var.choices.as_ref().map(|k| k.value.clone()),
    };
    let mut failed = false;
    for _ in 0..8 {
        match Schema::new(var_type, constraints.clone()) {
            Ok(schema) => return (!failed).then_some(schema),
            Err(e) => {
                failed = true;
                let at: TokenStream = match &e {
                    DefinitionError::NotApplicable { key, .. } => key_tokens(var, key, true),
                    DefinitionError::MinAboveMax { min_key, .. } => key_tokens(var, min_key, true),
                    DefinitionError::BadBound { key, .. } => key_tokens(var, key, false),
                    DefinitionError::MissingChoices => match (&var.flag, &var.declared_type) {
                        (Some(flag), _) => flag.tokens.clone(),
                        (_, Some(ty)) => ty.tokens.clone(),
                        _ => var.name_tokens.clone(),
                    },
                    DefinitionError::EmptyChoices => key_tokens(var, "choices", false),
                    DefinitionError::InvalidPattern { .. } => key_tokens(var, "pattern", false),
                    DefinitionError::InvalidName { .. } => var.name_tokens.clone(),
                };
                cx.error_spanned_by(at, Error::from_definition(&var.name, e.clone()));
                match e {
                    DefinitionError::NotApplicable { key, .. }
                    | DefinitionError::BadBound { key, .. } => clear(&mut constraints, key),
                    DefinitionError::MinAboveMax {
                        min_key, max_key, ..
                    } => {
                        clear(&mut constraints, min_key);
                        clear(&mut constraints, max_key);
                    }
                    DefinitionError::InvalidPattern { .. } => constraints.pattern = None,
                    _ => return None,
                }
            }
        }
    }
    None
}

fn clear(c: &mut Constraints, key: &str) {
    match key {
        "min" => c.min = None,
        "max" => c.max = None,
        "min_length" => c.min_length = None,
        "max_length" => c.max_length = None,
        "pattern" => c.pattern = None,
        "choices" => c.choices = None,
        _ => {}
    }
}

/// The tokens of a key (`key: true`) or of its value.
fn key_tokens(var: &VarDecl, key: &str, on_key: bool) -> TokenStream {
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
        "min" => pick(&var.min, on_key),
        "max" => pick(&var.max, on_key),
        "min_length" => pick(&var.min_length, on_key),
        "max_length" => pick(&var.max_length, on_key),
        "pattern" => pick(&var.pattern, on_key),
        "choices" => pick(&var.choices, on_key),
        _ => None,
    };
    found.unwrap_or_else(|| var.name_tokens.clone())
}

/// The checks a `const` default gets at compile time: `(condition, message)` pairs that
/// `expand.rs` turns into `const _: () = assert!(...)`. Only numeric bounds can be
/// checked by the compiler; everything else is checked by `Context::defvariable` at run
/// time.
pub fn const_default_checks(var: &VarDecl) -> Vec<(&'static str, Value, String)> {
    let (
        Some(checked),
        Some(Keyed {
            value: DefaultExpr::Path(path),
            ..
        }),
    ) = (&var.checked, &var.default)
    else {
        return Vec::new();
    };
    if !matches!(checked.var_type, VarType::Float | VarType::Integer) {
        return Vec::new();
    }
    let path = path.to_token_stream().to_string().replace(' ', "");
    let mut checks = Vec::new();
    if let Some(min) = &checked.constraints.min {
        checks.push((
            ">=",
            min.clone(),
            format!(
                "default `{path}` for `{}` is below the minimum {min}",
                var.name
            ),
        ));
    }
    if let Some(max) = &checked.constraints.max {
        checks.push((
            "<=",
            max.clone(),
            format!(
                "default `{path}` for `{}` is above the maximum {max}",
                var.name
            ),
        ));
    }
    checks
}
