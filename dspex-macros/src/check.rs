//! Phase 2: the parsed model (`ast.rs`) against the rules, into the checked model
//! (`checked.rs`). Every rule of the variable model is checked by calling `dspex_core` —
//! `Schema::new` for a definition, `Schema::check` for a default, `check_name`,
//! `Signature::parse` — the very code `Context::defvariable` and the bridge run, so the
//! macros and the runtime cannot disagree. This file decides which token each error
//! points at, and builds the checked model only from parts that had none.

use dspex_core::{Constraints, DefinitionError, Error, Schema, Signature, VarType};
use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::ast::{self, DefaultExpr, Flag, Keyed, Mode, RustTy, SignatureArg, unraw};
use crate::checked::{self, BoundOp, ConstCheck, DefaultValue};
use crate::ctxt::Ctxt;
use crate::key::Key;

/// Checks every variable and module of a struct, and the names across them. `None` when
/// anything was wrong (the errors are recorded), or when the struct repeats a field name
/// (rustc's error, for a derive).
pub fn check_struct(cx: &Ctxt, input: &ast::Struct, mode: Mode) -> Option<checked::Struct> {
    let vars: Vec<Option<checked::FieldVar>> = input
        .vars
        .iter()
        .map(|var| check_field_var(cx, var))
        .collect();
    let modules = if mode == Mode::Program {
        check_names(cx, input)
    } else {
        Vec::new()
    };
    if input.duplicate_fields {
        return None;
    }
    Some(checked::Struct {
        attrs: input.attrs.clone(),
        vis: input.vis.clone(),
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        krate: input.krate.clone(),
        vars: vars.into_iter().collect::<Option<_>>()?,
        modules: modules.into_iter().collect::<Option<_>>()?,
    })
}

/// Checks a `defvariable!` call.
pub fn check_defvariable(cx: &Ctxt, input: &ast::DefVariable) -> Option<checked::DefVariable> {
    let name_ok = check_name(cx, &input.var);
    let var_type = input.var.declared_type.as_ref()?.value;
    let var = check_var(cx, &input.var, var_type);
    Some(checked::DefVariable {
        krate: input.krate.clone(),
        ctx: input.ctx.clone(),
        var: var.filter(|_| name_ok)?,
    })
}

/// A program's names, then its modules: variables and modules share one namespace (each
/// has an accessor), beside the generated `new`, `context` and setters.
fn check_names(cx: &Ctxt, input: &ast::Struct) -> Vec<Option<checked::Module>> {
    let var_names: Vec<String> = input.vars.iter().map(|v| v.name.clone()).collect();
    let module_names: Vec<String> = input.modules.iter().map(|m| m.field.name()).collect();
    let all: Vec<&str> = var_names
        .iter()
        .chain(&module_names)
        .map(String::as_str)
        .collect();
    for var in &input.vars {
        reserved(cx, &var.name, &var.name_tokens, &all);
    }
    input
        .modules
        .iter()
        .map(|module| {
            let name = module.field.name();
            reserved(cx, &name, &module.field.ident.to_token_stream(), &all);
            let mut ok = true;
            if name == "ctx" {
                cx.error_spanned_by(
                    &module.field.ident,
                    "`ctx` is the program's Context field: name the module otherwise",
                );
                ok = false;
            }
            check_module(cx, module, &var_names).filter(|_| ok)
        })
        .collect()
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

fn check_module(cx: &Ctxt, module: &ast::Module, var_names: &[String]) -> Option<checked::Module> {
    let mut ok = check_module_type(cx, module);
    let signature = match module.signature.as_ref() {
        Some(SignatureArg::Text(sig)) => match Signature::parse(&sig.value()) {
            Ok(_) => Some(checked::ModuleSignature::Text(sig.value())),
            Err(e) => {
                cx.error_spanned_by(sig, e);
                None
            }
        },
        Some(SignatureArg::Typed(path)) => Some(checked::ModuleSignature::Typed(path.clone())),
        None => None,
    };
    let mut bindings: Vec<(String, String)> = Vec::new();
    for (setting, variable) in &module.bindings {
        let setting_name = unraw(setting);
        if bindings.iter().any(|(s, _)| *s == setting_name) {
            cx.error_spanned_by(
                setting,
                format!("the setting `{setting_name}` is bound twice in this module"),
            );
            ok = false;
        }
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
            ok = false;
        }
        bindings.push((setting_name, var));
    }
    Some(checked::Module {
        field: module.field.clone(),
        module_type: module.module_type.clone()?,
        signature: signature?,
        bindings: ok.then_some(bindings)?,
    })
}

/// The field's type against the signature: `dspex::Module` for the string form,
/// `dspex::TypedModule<S>` for `signature = S` (the same `S`). Whether the field has the
/// right type.
fn check_module_type(cx: &Ctxt, module: &ast::Module) -> bool {
    let ty = &module.field.ty;
    let last = match ty {
        syn::Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    };
    let is = |name: &str| last.is_some_and(|s| s.ident == name);
    match module.typed_signature() {
        // No signature (an error already): nothing to check the type against.
        None if module.signature.is_none() => true,
        None if is("Module") && last.is_some_and(|s| s.arguments.is_none()) => true,
        None if is("TypedModule") => {
            cx.error_spanned_by(
                ty,
                "a #[module] with a string signature has the type `dspex::Module`; for a \
                 `dspex::TypedModule<S>`, name the signature type: `signature = S`",
            );
            false
        }
        None => {
            cx.error_spanned_by(ty, "a #[module] field has the type `dspex::Module`");
            false
        }
        Some(signature) => {
            let wanted = type_name(&syn::parse_quote!(#signature));
            let argument = last.and_then(|s| match &s.arguments {
                syn::PathArguments::AngleBracketed(a) if a.args.len() == 1 => a.args.first(),
                _ => None,
            });
            match argument {
                Some(syn::GenericArgument::Type(arg)) if is("TypedModule") => {
                    if type_name(arg) == wanted {
                        return true;
                    }
                    cx.error_spanned_by(
                        arg,
                        format!(
                            "this module's signature is `{wanted}` (`signature = {wanted}`): the \
                             field's type is `dspex::TypedModule<{wanted}>`"
                        ),
                    );
                    false
                }
                _ => {
                    cx.error_spanned_by(
                        ty,
                        format!(
                            "a #[module] with the typed signature `{wanted}` has the type \
                             `dspex::TypedModule<{wanted}>`"
                        ),
                    );
                    false
                }
            }
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

/// The variable's name against `check_name`.
fn check_name(cx: &Ctxt, var: &ast::Var) -> bool {
    match dspex_core::check_name(&var.name) {
        Ok(()) => true,
        Err(e) => {
            cx.error_spanned_by(&var.name_tokens, e);
            false
        }
    }
}

/// A `#[var]` field: its name, the type its Rust type and flag give, its definition.
fn check_field_var(cx: &Ctxt, var: &ast::Var) -> Option<checked::FieldVar> {
    let name_ok = check_name(cx, var);
    let field = var.field.as_ref()?;
    let (var_type, rust_ty) = field_type(cx, field, var.flag.as_ref())?;
    let checked = check_var(cx, var, var_type);
    Some(checked::FieldVar {
        field: field.clone(),
        rust_ty,
        var: checked.filter(|_| name_ok)?,
    })
}

/// The variable type of a field: from its Rust type, and the `choice` / `module` flag.
fn field_type(
    cx: &Ctxt,
    field: &ast::Field,
    flag: Option<&Keyed<Flag>>,
) -> Option<(VarType, RustTy)> {
    let Some(rust) = RustTy::of(&field.ty) else {
        cx.error_spanned_by(
            &field.ty,
            format!(
                "the type `{}` does not fit a variable: use f64 (float), i64 (integer), \
                 String (string, choice, module) or bool (boolean)",
                type_name(&field.ty)
            ),
        );
        return None;
    };
    let var_type = match (rust, flag.map(|f| f.value)) {
        (RustTy::String, Some(Flag::Choice)) => VarType::Choice,
        (RustTy::String, Some(Flag::Module)) => VarType::Module,
        (_, Some(flag)) => {
            let what = match flag {
                Flag::Choice => Key::Choice.name(),
                Flag::Module => Key::Module.name(),
            };
            cx.error_spanned_by(
                &field.ty,
                format!(
                    "a {what} variable is a `String` field, not `{}`",
                    type_name(&field.ty)
                ),
            );
            return None;
        }
        (RustTy::F64, None) => VarType::Float,
        (RustTy::I64, None) => VarType::Integer,
        (RustTy::String, None) => VarType::String,
        (RustTy::Bool, None) => VarType::Boolean,
    };
    Some((var_type, rust))
}

/// A variable's definition and default, once its type is known.
fn check_var(cx: &Ctxt, var: &ast::Var, var_type: VarType) -> Option<checked::Var> {
    let schema = schema(cx, var, var_type)?;
    // The default, through the same check every write goes through.
    let default = match &var.default.as_ref()?.value {
        DefaultExpr::Literal(value) => match schema.check(value.clone()) {
            Ok(coerced) => DefaultValue::Literal(coerced),
            Err(violation) => {
                cx.error_spanned_by(
                    var.key_tokens(Key::Default, false),
                    format!(
                        "default {value} for `{}` {}",
                        var.name,
                        violation.predicate()
                    ),
                );
                return None;
            }
        },
        // A field's default is a literal or a `const`; in `defvariable!` a path is taken
        // for a `const` when it is SCREAMING_CASE, and any other expression runs.
        DefaultExpr::Path(path) if var.field.is_some() || is_const_name(path) => {
            DefaultValue::Const(path.clone())
        }
        DefaultExpr::Path(path) => DefaultValue::Runtime(path.to_token_stream()),
        DefaultExpr::Expr(expr) => DefaultValue::Runtime(expr.to_token_stream()),
    };
    let constraints = schema.constraints().clone();
    let const_checks = const_checks(&var.name, var_type, &default, &constraints);
    Some(checked::Var {
        name: var.name.clone(),
        var_type,
        default,
        constraints,
        description: var.description.clone(),
        const_checks,
    })
}

fn is_const_name(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| {
        let s = s.ident.to_string();
        s.chars().any(|c| c.is_ascii_uppercase()) && !s.chars().any(|c| c.is_ascii_lowercase())
    })
}

/// `Schema::new` on the declared constraints. A definition can have several mistakes and
/// `Schema::new` reports the first: each is reported on its key, the key is dropped and
/// the definition checked again, so one build lists them all.
fn schema(cx: &Ctxt, var: &ast::Var, var_type: VarType) -> Option<dspex_core::Schema> {
    let mut constraints = var.constraints();
    let mut failed = false;
    // Each round drops at least one key, so the rounds end; the bound is only a guard.
    for _ in 0..=Key::ALL.len() {
        let e = match Schema::new(var_type, constraints.clone()) {
            Ok(schema) => return (!failed).then_some(schema),
            Err(e) => e,
        };
        failed = true;
        cx.error_spanned_by(
            error_tokens(var, &e),
            Error::from_definition(&var.name, e.clone()),
        );
        if !drop_offending(&mut constraints, &e) {
            return None;
        }
    }
    None
}

/// The token a definition error points at.
fn error_tokens(var: &ast::Var, e: &DefinitionError) -> TokenStream {
    // dspex-core names keys by `Key::name`; a name it might add later points at the variable.
    let at = |name: &str, on_key: bool| match Key::from_name(name) {
        Some(key) => var.key_tokens(key, on_key),
        None => var.name_tokens.clone(),
    };
    match e {
        DefinitionError::NotApplicable { key, .. } => at(key, true),
        DefinitionError::MinAboveMax { min_key, .. } => at(min_key, true),
        DefinitionError::BadBound { key, .. } => at(key, false),
        DefinitionError::MissingChoices => match (&var.flag, &var.declared_type) {
            (Some(flag), _) => flag.tokens.clone(),
            (_, Some(ty)) => ty.tokens.clone(),
            _ => var.name_tokens.clone(),
        },
        DefinitionError::EmptyChoices => var.key_tokens(Key::Choices, false),
        DefinitionError::InvalidPattern { .. } => var.key_tokens(Key::Pattern, false),
        DefinitionError::InvalidName { .. } => var.name_tokens.clone(),
        DefinitionError::OverLimit(limit) => at(limit.subject, false),
    }
}

/// Drops the keys a definition error is about, so the next round can find the next
/// mistake. `false` when nothing can be dropped (the definition cannot be fixed by
/// leaving a key out).
fn drop_offending(constraints: &mut Constraints, e: &DefinitionError) -> bool {
    let keys: Vec<&str> = match e {
        DefinitionError::NotApplicable { key, .. } | DefinitionError::BadBound { key, .. } => {
            vec![*key]
        }
        DefinitionError::MinAboveMax {
            min_key, max_key, ..
        } => vec![*min_key, *max_key],
        DefinitionError::InvalidPattern { .. } => vec![Key::Pattern.name()],
        DefinitionError::OverLimit(limit) => vec![limit.subject],
        _ => return false,
    };
    let keys: Vec<Key> = keys.into_iter().filter_map(Key::from_name).collect();
    keys.iter().for_each(|key| key.clear(constraints));
    !keys.is_empty()
}

/// The checks a `const` default gets at compile time. Only numeric bounds can be checked
/// by the compiler; everything else is checked by `Context::defvariable` at run time.
fn const_checks(
    name: &str,
    var_type: VarType,
    default: &DefaultValue,
    constraints: &Constraints,
) -> Vec<ConstCheck> {
    let DefaultValue::Const(path) = default else {
        return Vec::new();
    };
    if !matches!(var_type, VarType::Float | VarType::Integer) {
        return Vec::new();
    }
    let path = path.to_token_stream().to_string().replace(' ', "");
    let mut checks = Vec::new();
    if let Some(min) = &constraints.min {
        checks.push(ConstCheck {
            op: BoundOp::AtLeast,
            bound: min.clone(),
            message: format!("default `{path}` for `{name}` is below the minimum {min}"),
        });
    }
    if let Some(max) = &constraints.max {
        checks.push(ConstCheck {
            op: BoundOp::AtMost,
            bound: max.clone(),
            message: format!("default `{path}` for `{name}` is above the maximum {max}"),
        });
    }
    checks
}
