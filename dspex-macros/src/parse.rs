//! Phase 1: tokens → model. Reads `#[var(...)]`, `#[module(...)]`, `#[dspex(crate = ...)]`
//! and the `defvariable!` arguments into [`VarDecl`] / [`ModuleDecl`], recording every
//! syntax error in the [`Ctxt`] and going on with the next field. Nothing is validated
//! against the variable model here: that is `check.rs`.

use dspex_core::{Value, VarType};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitStr, Token, UnOp};

use crate::ctxt::Ctxt;

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
#[derive(Clone)]
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
#[derive(Clone, Copy, PartialEq, Eq)]
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
    pub fn tokens(self, krate: &syn::Path) -> TokenStream {
        match self {
            RustTy::F64 => quote!(f64),
            RustTy::I64 => quote!(i64),
            RustTy::String => quote!(#krate::__private::String),
            RustTy::Bool => quote!(bool),
        }
    }
}

/// One declared variable: a `#[var]` field, or a `defvariable!` call.
pub struct VarDecl {
    /// The variable's name.
    pub name: String,
    /// Where errors about the whole variable point (the field's name).
    pub name_tokens: TokenStream,
    /// The field (program, derive).
    pub field: Option<FieldInfo>,
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
    /// Filled in by `check.rs`.
    pub checked: Option<Checked>,
}

/// What `check.rs` learnt about a variable that had no error.
pub struct Checked {
    pub var_type: VarType,
    /// The Rust type of the field (and of the getter); `None` for `defvariable!`.
    pub rust_ty: Option<RustTy>,
    /// The default, coerced to the type (for a literal default).
    pub default: Option<Value>,
    /// The constraints, normalised to the type (`min = 0` on a float is `0.0`).
    pub constraints: dspex_core::Constraints,
}

/// The parts of a struct field a variable or module came from.
pub struct FieldInfo {
    pub ident: Ident,
    pub ty: syn::Type,
    pub vis: syn::Visibility,
    /// The field's attributes other than `#[var]` / `#[module]` (docs, cfgs, ...).
    pub attrs: Vec<Attribute>,
}

/// A `#[module(Type, signature = "...", bind(...))]` field.
pub struct ModuleDecl {
    pub field: FieldInfo,
    pub module_type: Option<Ident>,
    pub signature: Option<LitStr>,
    /// `(setting, variable)`.
    pub bindings: Vec<(Ident, Ident)>,
}

/// A struct under `#[dspex::program]` or `#[derive(Variables)]`.
pub struct StructInput {
    pub attrs: Vec<Attribute>,
    pub vis: syn::Visibility,
    pub ident: Ident,
    pub generics: syn::Generics,
    pub krate: syn::Path,
    pub vars: Vec<VarDecl>,
    pub modules: Vec<ModuleDecl>,
    /// A field whose name was taken already (a rustc error for a derive).
    pub duplicate_fields: bool,
}

/// The `defvariable!` arguments.
pub struct DefVariableInput {
    pub krate: syn::Path,
    pub ctx: Expr,
    pub var: VarDecl,
}

pub const VAR_KEYS: &str =
    "default, min, max, min_length, max_length, pattern, choices, description, choice, module";

/// `::dspex`, or the path given by `crate = "..."`.
pub fn default_crate() -> syn::Path {
    syn::parse_quote!(::dspex)
}

fn parse_crate_value(cx: &Ctxt, expr: &Expr) -> Option<syn::Path> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => match s.parse::<syn::Path>() {
            Ok(path) => Some(path),
            Err(_) => {
                cx.error_spanned_by(s, format!("`crate = {:?}` is not a path", s.value()));
                None
            }
        },
        Expr::Path(p) => Some(p.path.clone()),
        other => {
            cx.error_spanned_by(other, "expected `crate = \"path::to::dspex\"`");
            None
        }
    }
}

/// A `key`, `key = expr` or `key(...)` entry of an attribute list.
pub enum Entry {
    Flag(Ident),
    Value(Ident, Expr),
    List(Ident, TokenStream),
}

impl Entry {
    fn key(&self) -> &Ident {
        match self {
            Entry::Flag(k) | Entry::Value(k, _) | Entry::List(k, _) => k,
        }
    }
}

fn parse_entry(input: ParseStream) -> syn::Result<Entry> {
    let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(Entry::Value(key, input.parse()?))
    } else if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        Ok(Entry::List(key, content.parse()?))
    } else {
        Ok(Entry::Flag(key))
    }
}

/// Parses `entry, entry, ...`.
pub fn parse_entries(tokens: TokenStream) -> syn::Result<Vec<Entry>> {
    let parser = |input: ParseStream| {
        Punctuated::<Entry, Token![,]>::parse_terminated_with(input, parse_entry)
    };
    Ok(parser.parse2(tokens)?.into_iter().collect())
}

/// The crate path from `#[dspex(crate = "...")]` attributes (removed from `attrs`).
pub fn take_crate_attr(cx: &Ctxt, attrs: &mut Vec<Attribute>) -> Option<syn::Path> {
    let mut krate = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("dspex") {
            return true;
        }
        match attr
            .meta
            .require_list()
            .and_then(|l| parse_entries(l.tokens.clone()))
        {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Entry::Value(k, v) if k == "crate" => {
                            if krate.is_some() {
                                cx.error_spanned_by(&k, "duplicate key `crate`");
                            }
                            krate = parse_crate_value(cx, &v).or(krate.take());
                        }
                        other => cx.error_spanned_by(
                            other.key(),
                            format!(
                                "unknown key `{}` in #[dspex]: expected `crate`",
                                other.key()
                            ),
                        ),
                    }
                }
            }
            Err(e) => cx.syn_error(e),
        }
        false
    });
    krate
}

/// Parses the arguments of `#[dspex::program(...)]`: only `crate = "..."`.
pub fn parse_program_args(cx: &Ctxt, args: TokenStream) -> Option<syn::Path> {
    let mut krate = None;
    match parse_entries(args) {
        Ok(entries) => {
            for entry in entries {
                match entry {
                    Entry::Value(k, v) if k == "crate" => krate = parse_crate_value(cx, &v),
                    other => cx.error_spanned_by(
                        other.key(),
                        format!(
                            "unknown argument `{}` of #[dspex::program]: expected `crate = \"...\"`",
                            other.key()
                        ),
                    ),
                }
            }
        }
        Err(e) => cx.syn_error(e),
    }
    krate
}

/// What a struct is being parsed for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Program,
    Derive,
}

/// Parses a struct for `#[dspex::program]` or `#[derive(Variables)]`. `None` when it is
/// not a struct with named fields (the error is recorded).
pub fn parse_struct(cx: &Ctxt, item: syn::DeriveInput, mode: Mode) -> Option<StructInput> {
    let syn::DeriveInput {
        mut attrs,
        vis,
        ident,
        generics,
        data,
    } = item;
    let krate = take_crate_attr(cx, &mut attrs).unwrap_or_else(default_crate);
    let what = match mode {
        Mode::Program => "#[dspex::program]",
        Mode::Derive => "#[derive(Variables)]",
    };
    let fields = match data {
        syn::Data::Struct(syn::DataStruct {
            fields: syn::Fields::Named(fields),
            ..
        }) => fields.named,
        syn::Data::Struct(syn::DataStruct {
            fields: syn::Fields::Unit,
            ..
        }) => Punctuated::new(),
        _ => {
            cx.error_spanned_by(
                &ident,
                format!("{what} applies to a struct with named fields"),
            );
            return None;
        }
    };
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error_spanned_by(&generics, format!("{what} does not take a generic struct"));
    }

    let mut vars = Vec::new();
    let mut modules = Vec::new();
    let mut seen: Vec<Ident> = Vec::new();
    let mut duplicate_fields = false;
    for field in fields {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        if seen.contains(&ident) {
            duplicate_fields = true;
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
        let info = FieldInfo {
            ident: ident.clone(),
            ty: field.ty,
            vis: field.vis,
            attrs: other_attrs,
        };
        match (var_attrs.len(), module_attrs.len()) {
            (0, 0) => {
                let expected = match mode {
                    Mode::Program => "`#[var(default = …)]` or `#[module(…)]`",
                    Mode::Derive => "`#[var(default = …)]`",
                };
                cx.error_spanned_by(
                    &ident,
                    format!("the field `{}` needs {expected}", unraw(&ident)),
                );
            }
            (_, 0) => {
                for extra in &var_attrs[1..] {
                    cx.error_spanned_by(
                        extra,
                        "one #[var(...)] per field: put every key in the first",
                    );
                }
                vars.push(parse_var_attr(cx, &var_attrs[0], info));
            }
            (0, _) => {
                for extra in &module_attrs[1..] {
                    cx.error_spanned_by(extra, "one #[module(...)] per field");
                }
                modules.push(parse_module_attr(cx, &module_attrs[0], info));
            }
            _ => cx.error_spanned_by(
                &module_attrs[0],
                format!(
                    "the field `{}` has both #[var] and #[module]: a field is one or the other",
                    unraw(&ident)
                ),
            ),
        }
    }
    Some(StructInput {
        attrs,
        vis,
        ident,
        generics,
        krate,
        vars,
        modules,
        duplicate_fields,
    })
}

/// The name of an identifier without `r#`.
pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

fn empty_var(name: String, name_tokens: TokenStream, field: Option<FieldInfo>) -> VarDecl {
    VarDecl {
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
        checked: None,
    }
}

fn parse_var_attr(cx: &Ctxt, attr: &Attribute, field: FieldInfo) -> VarDecl {
    let name = unraw(&field.ident);
    let name_tokens = field.ident.to_token_stream();
    let description = doc_comment(&field.attrs);
    let mut var = empty_var(name, name_tokens, Some(field));
    var.description = description;
    let entries = match attr.meta.require_list() {
        Ok(list) => parse_entries(list.tokens.clone()),
        Err(_) => Err(syn::Error::new_spanned(
            attr,
            "expected #[var(default = …, …)]",
        )),
    };
    match entries {
        Ok(entries) => {
            for entry in entries {
                apply_var_entry(cx, &mut var, entry, true);
            }
        }
        Err(e) => cx.syn_error(e),
    }
    if var.default.is_none() {
        cx.error_spanned_by(
            attr,
            format!("the variable `{}` needs a `default = …`", var.name),
        );
    }
    var
}

/// The trimmed text of the `///` comments, if any.
pub fn doc_comment(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let doc = lines.join("\n").trim().to_owned();
    (!doc.is_empty()).then_some(doc)
}

fn set_once<T>(cx: &Ctxt, slot: &mut Option<Keyed<T>>, keyed: Keyed<T>) {
    if slot.is_some() {
        cx.error_spanned_by(
            &keyed.key,
            format!("duplicate key `{}`: give each key once", keyed.key),
        );
    } else {
        *slot = Some(keyed);
    }
}

/// Applies one `#[var]` entry (or one `defvariable!` key). `fields`: the flags `choice`
/// and `module` are allowed (in a `defvariable!`, the type says it).
fn apply_var_entry(cx: &Ctxt, var: &mut VarDecl, entry: Entry, fields: bool) {
    let (key, expr) = match entry {
        Entry::Flag(key) => {
            let flag = match key.to_string().as_str() {
                "choice" if fields => Some(Flag::Choice),
                "module" if fields => Some(Flag::Module),
                _ => None,
            };
            match flag {
                Some(flag) => {
                    if var.flag.is_some() {
                        cx.error_spanned_by(&key, "give one of `choice` and `module`, once");
                    } else {
                        var.flag = Some(Keyed {
                            tokens: key.to_token_stream(),
                            key,
                            value: flag,
                        });
                    }
                }
                None if is_var_key(&key) => {
                    cx.error_spanned_by(&key, format!("the key `{key}` needs a value: `{key} = …`"))
                }
                None => unknown_key(cx, &key, fields),
            }
            return;
        }
        Entry::Value(key, expr) => (key, expr),
        Entry::List(key, tokens) => {
            if is_var_key(&key) {
                cx.error_spanned_by(&key, format!("expected `{key} = …`, not `{key}(…)`"));
            } else {
                let _ = tokens;
                unknown_key(cx, &key, fields);
            }
            return;
        }
    };
    let tokens = expr.to_token_stream();
    macro_rules! keyed {
        ($slot:ident, $value:expr) => {{
            if let Some(value) = $value {
                set_once(cx, &mut var.$slot, Keyed { key, tokens, value });
            } else if var.$slot.is_some() {
                cx.error_spanned_by(&key, format!("duplicate key `{key}`: give each key once"));
            }
        }};
    }
    match key.to_string().as_str() {
        "default" => {
            let value = match literal_value(&expr) {
                Some(Ok(v)) => Some(DefaultExpr::Literal(v)),
                Some(Err(e)) => {
                    cx.syn_error(e);
                    None
                }
                None => match &expr {
                    Expr::Path(p) if p.qself.is_none() => Some(DefaultExpr::Path(p.path.clone())),
                    _ if !fields => Some(DefaultExpr::Expr(expr.clone())),
                    other => {
                        cx.error_spanned_by(
                            other,
                            "expected a literal (a number, a string, `true` or `false`) or the path of a `const`",
                        );
                        None
                    }
                },
            };
            keyed!(default, value)
        }
        "min" | "max" => {
            let value = match literal_value(&expr) {
                Some(Ok(v)) => Some(v),
                Some(Err(e)) => {
                    cx.syn_error(e);
                    None
                }
                None => {
                    cx.error_spanned_by(&expr, format!("expected a number literal for `{key}`"));
                    None
                }
            };
            if key == "min" {
                keyed!(min, value)
            } else {
                keyed!(max, value)
            }
        }
        "min_length" | "max_length" => {
            let value = match &expr {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) => match i.base10_parse::<usize>() {
                    Ok(n) => Some(n),
                    Err(e) => {
                        cx.syn_error(e);
                        None
                    }
                },
                other => {
                    cx.error_spanned_by(
                        other,
                        format!("expected a length (a non-negative integer literal) for `{key}`"),
                    );
                    None
                }
            };
            if key == "min_length" {
                keyed!(min_length, value)
            } else {
                keyed!(max_length, value)
            }
        }
        "pattern" | "description" => {
            let value = match &expr {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                other => {
                    cx.error_spanned_by(other, format!("expected a string literal for `{key}`"));
                    None
                }
            };
            if key == "pattern" {
                keyed!(pattern, value)
            } else if let Some(value) = value {
                var.description = Some(value.trim().to_owned());
            }
        }
        "choices" => {
            let value = match &expr {
                Expr::Array(array) => {
                    let mut choices = Vec::new();
                    let mut ok = true;
                    for elem in &array.elems {
                        match elem {
                            Expr::Lit(ExprLit {
                                lit: Lit::Str(s), ..
                            }) => choices.push(s.value()),
                            other => {
                                ok = false;
                                cx.error_spanned_by(
                                    other,
                                    "expected a string literal in `choices`",
                                );
                            }
                        }
                    }
                    ok.then_some(choices)
                }
                other => {
                    cx.error_spanned_by(
                        other,
                        "expected a list of string literals: `choices = [\"a\", \"b\"]`",
                    );
                    None
                }
            };
            keyed!(choices, value)
        }
        "choice" | "module" if fields => cx.error_spanned_by(
            &key,
            format!("`{key}` is a flag: write `#[var({key}, default = …)]`"),
        ),
        _ => unknown_key(cx, &key, fields),
    }
}

fn is_var_key(key: &Ident) -> bool {
    matches!(
        key.to_string().as_str(),
        "default"
            | "min"
            | "max"
            | "min_length"
            | "max_length"
            | "pattern"
            | "choices"
            | "description"
    )
}

fn unknown_key(cx: &Ctxt, key: &Ident, fields: bool) {
    let keys = if fields {
        VAR_KEYS
    } else {
        "min, max, min_length, max_length, pattern, choices, description"
    };
    cx.error_spanned_by(key, format!("unknown key `{key}`: expected one of {keys}"));
}

/// The value of a literal, or of `-` before a number literal. `None` for any other
/// expression.
pub fn literal_value(expr: &Expr) -> Option<syn::Result<Value>> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit_value(lit, false)),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => match &*u.expr {
            Expr::Lit(ExprLit {
                lit: lit @ (Lit::Int(_) | Lit::Float(_)),
                ..
            }) => Some(lit_value(lit, true)),
            _ => None,
        },
        Expr::Group(g) => literal_value(&g.expr),
        Expr::Paren(p) => literal_value(&p.expr),
        _ => None,
    }
}

fn lit_value(lit: &Lit, negative: bool) -> syn::Result<Value> {
    let sign = if negative { "-" } else { "" };
    match lit {
        Lit::Int(i) => {
            if !matches!(
                i.suffix(),
                "" | "i64" | "i32" | "u32" | "u8" | "i8" | "i16" | "u16"
            ) {
                return Err(syn::Error::new_spanned(
                    i,
                    format!(
                        "an integer literal with the suffix `{}` does not fit a variable",
                        i.suffix()
                    ),
                ));
            }
            format!("{sign}{}", i.base10_digits())
                .parse::<i64>()
                .map(Value::Integer)
                .map_err(|_| {
                    syn::Error::new_spanned(
                        i,
                        format!(
                            "{sign}{} is out of the integer (i64) range",
                            i.base10_digits()
                        ),
                    )
                })
        }
        Lit::Float(f) => {
            if !matches!(f.suffix(), "" | "f64") {
                return Err(syn::Error::new_spanned(
                    f,
                    format!(
                        "a float literal with the suffix `{}` does not fit a variable: use f64",
                        f.suffix()
                    ),
                ));
            }
            format!("{sign}{}", f.base10_digits())
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Value::Float)
                .ok_or_else(|| syn::Error::new_spanned(f, "not a finite f64"))
        }
        Lit::Str(s) => Ok(Value::String(s.value())),
        Lit::Bool(b) => Ok(Value::Boolean(b.value)),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a number, a string, `true` or `false`",
        )),
    }
}

fn parse_module_attr(cx: &Ctxt, attr: &Attribute, field: FieldInfo) -> ModuleDecl {
    let mut module = ModuleDecl {
        field,
        module_type: None,
        signature: None,
        bindings: Vec::new(),
    };
    let entries = match attr.meta.require_list() {
        Ok(list) => parse_entries(list.tokens.clone()),
        Err(_) => Err(syn::Error::new_spanned(
            attr,
            "expected #[module(ModuleType, signature = \"in -> out\", bind(...))]",
        )),
    };
    let entries = match entries {
        Ok(entries) => entries,
        Err(e) => {
            cx.syn_error(e);
            return module;
        }
    };
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            Entry::Flag(ty) if i == 0 => module.module_type = Some(ty),
            Entry::Value(key, expr) if key == "signature" => {
                if module.signature.is_some() {
                    cx.error_spanned_by(&key, "duplicate key `signature`: give each key once");
                }
                match expr {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => module.signature = Some(s),
                    other => cx.error_spanned_by(
                        other,
                        "expected a string literal: `signature = \"question -> answer\"`",
                    ),
                }
            }
            Entry::List(key, tokens) if key == "bind" => {
                let parsed = parse_entries(tokens);
                match parsed {
                    Ok(binds) => {
                        for bind in binds {
                            match bind {
                                Entry::Flag(var) => module.bindings.push((var.clone(), var)),
                                Entry::Value(setting, Expr::Path(p))
                                    if p.qself.is_none() && p.path.get_ident().is_some() =>
                                {
                                    if let Some(var) = p.path.get_ident() {
                                        module.bindings.push((setting, var.clone()));
                                    }
                                }
                                Entry::Value(_, other) => cx.error_spanned_by(
                                    other,
                                    "expected the name of a variable: `bind(setting = variable)`",
                                ),
                                Entry::List(key, _) => cx.error_spanned_by(
                                    key,
                                    "expected `bind(variable)` or `bind(setting = variable)`",
                                ),
                            }
                        }
                    }
                    Err(e) => cx.syn_error(e),
                }
            }
            Entry::Flag(key) | Entry::Value(key, _) | Entry::List(key, _) => cx.error_spanned_by(
                &key,
                if i == 0 {
                    format!(
                        "unknown key `{key}`: #[module] starts with the module type, e.g. `#[module(ChainOfThought, signature = \"question -> answer\")]`"
                    )
                } else {
                    format!(
                        "unknown key `{key}`: expected `signature = \"…\"` or `bind(…)` (the module type comes first)"
                    )
                },
            ),
        }
    }
    if module.module_type.is_none() {
        cx.error_spanned_by(
            attr,
            "#[module] needs the module type first, e.g. `#[module(ChainOfThought, signature = \"question -> answer\")]`",
        );
    }
    if module.signature.is_none() {
        cx.error_spanned_by(
            attr,
            "#[module] needs a `signature = \"inputs -> outputs\"`",
        );
    }
    module
}

/// Parses `defvariable!(ctx, name: type = default, key = value, ...)`, optionally preceded
/// by `crate = path;`.
pub fn parse_defvariable(cx: &Ctxt, tokens: TokenStream) -> Option<DefVariableInput> {
    /// `(crate, ctx, name, name tokens, type, default, other keys)`.
    type Raw = (
        Option<syn::Path>,
        Expr,
        Ident,
        TokenStream,
        Ident,
        Expr,
        Vec<Entry>,
    );
    let parser = |input: ParseStream| -> syn::Result<Raw> {
        let krate = if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            let path: syn::Path = input.parse()?;
            input.parse::<Token![;]>()?;
            Some(path)
        } else {
            None
        };
        let ctx: Expr = input.parse()?;
        input.parse::<Token![,]>()?;
        let (name, name_tokens) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            (
                Ident::new("__dspex_name", lit.span()),
                lit.to_token_stream(),
            )
        } else {
            let ident: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            let tokens = ident.to_token_stream();
            (ident, tokens)
        };
        input.parse::<Token![:]>()?;
        let ty: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        input.parse::<Token![=]>()?;
        let default: Expr = input.parse()?;
        let mut entries = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            entries.push(parse_entry(input)?);
        }
        Ok((krate, ctx, name, name_tokens, ty, default, entries))
    };
    let (krate, ctx, name_ident, name_tokens, ty, default, entries) = match parser.parse2(tokens) {
        Ok(parsed) => parsed,
        Err(e) => {
            cx.syn_error(syn::Error::new(
                e.span(),
                format!(
                    "{e}\nexpected `defvariable!(ctx, name: type = default, key = value, …)`, \
                     with type one of float, integer, string, boolean, choice, module"
                ),
            ));
            return None;
        }
    };
    let name = match syn::parse2::<LitStr>(name_tokens.clone()) {
        Ok(lit) => lit.value(),
        Err(_) => unraw(&name_ident),
    };
    let mut var = empty_var(name, name_tokens, None);
    match ty.to_string().parse::<VarType>() {
        Ok(var_type) => {
            var.declared_type = Some(Keyed {
                tokens: ty.to_token_stream(),
                key: ty,
                value: var_type,
            })
        }
        Err(e) => cx.error_spanned_by(&ty, e),
    }
    apply_var_entry(
        cx,
        &mut var,
        Entry::Value(Ident::new("default", Span::call_site()), default),
        false,
    );
    for entry in entries {
        apply_var_entry(cx, &mut var, entry, false);
    }
    Some(DefVariableInput {
        krate: krate.unwrap_or_else(default_crate),
        ctx,
        var,
    })
}
