//! Attribute parsing: the `key`, `key = value` and `key(...)` lists of `#[var(...)]`,
//! `#[module(...)]`, `#[dspex(...)]` and `#[dspex::program(...)]`, read into the parsed
//! model (`ast.rs`). Keys are recognised through [`Key`]; values are read by `lit.rs`.
//! Every mistake is recorded in the [`Ctxt`] and the next entry is read, so one build
//! reports them all.

use dspex_core::VarType;
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, Token};

use crate::ast::{DefaultExpr, Field, Flag, Keyed, Module, SignatureArg, Var};
use crate::ctxt::Ctxt;
use crate::key::{Form, Key, Site};
use crate::lit;

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

    fn form(&self) -> Form {
        match self {
            Entry::Flag(_) => Form::Flag,
            Entry::Value(..) => Form::Value,
            Entry::List(..) => Form::List,
        }
    }
}

/// Parses one entry.
pub fn parse_entry(input: ParseStream) -> syn::Result<Entry> {
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

fn crate_value(cx: &Ctxt, expr: &Expr) -> Option<syn::Path> {
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

/// Whether `entry` is `crate = …`.
fn crate_entry(entry: &Entry) -> Option<(&Ident, &Expr)> {
    match entry {
        Entry::Value(key, value) if Key::from_name(&key.to_string()) == Some(Key::Crate) => {
            Some((key, value))
        }
        _ => None,
    }
}

/// The crate path from `#[dspex(crate = "...")]` attributes (removed from `attrs`).
pub fn take_crate_attr(cx: &Ctxt, attrs: &mut Vec<Attribute>) -> Option<syn::Path> {
    let mut krate = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("dspex") {
            return true;
        }
        let entries = attr
            .meta
            .require_list()
            .and_then(|l| parse_entries(l.tokens.clone()));
        match entries {
            Ok(entries) => {
                for entry in &entries {
                    match crate_entry(entry) {
                        Some((key, value)) => {
                            if krate.is_some() {
                                cx.error_spanned_by(key, "duplicate key `crate`");
                            }
                            krate = crate_value(cx, value).or(krate.take());
                        }
                        None => cx.error_spanned_by(
                            entry.key(),
                            format!(
                                "unknown key `{}` in #[dspex]: expected `{}`",
                                entry.key(),
                                Key::listed(Site::Dspex)
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

/// The arguments of `#[dspex::program(...)]`: only `crate = "..."`.
pub fn program_args(cx: &Ctxt, args: TokenStream) -> Option<syn::Path> {
    crate_args(cx, args, "#[dspex::program]")
}

/// Reads the arguments of an attribute macro `macro_name` that takes only
/// `crate = "path"`.
pub fn crate_args(cx: &Ctxt, args: TokenStream, macro_name: &str) -> Option<syn::Path> {
    let mut krate = None;
    match parse_entries(args) {
        Ok(entries) => {
            for entry in &entries {
                match crate_entry(entry) {
                    Some((_, value)) => krate = crate_value(cx, value),
                    None => cx.error_spanned_by(
                        entry.key(),
                        format!(
                            "unknown argument `{}` of {macro_name}: expected `crate = \"...\"`",
                            entry.key()
                        ),
                    ),
                }
            }
        }
        Err(e) => cx.syn_error(e),
    }
    krate
}

/// Reads a `#[var(...)]` attribute into the variable of `field`.
pub fn var_attr(cx: &Ctxt, attr: &Attribute, field: Field) -> Var {
    let name = field.name();
    let name_tokens = field.ident.to_token_stream();
    let description = doc_comment(&field.attrs);
    let mut var = Var::new(name, name_tokens, Some(field));
    var.description = description;
    let entries = match attr.meta.require_list() {
        Ok(list) => parse_entries(list.tokens.clone()),
        Err(_) => Err(syn::Error::new_spanned(
            attr,
            "expected #[var(default = …, …)]",
        )),
    };
    let mut keys = VarKeys::new(cx, &mut var, Site::Var);
    match entries {
        Ok(entries) => entries.into_iter().for_each(|entry| keys.apply(entry)),
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

/// Applies the keys of one variable (a `#[var]` list, or the keys of a `defvariable!`),
/// remembering which were given so that each is given once.
pub struct VarKeys<'a> {
    cx: &'a Ctxt,
    var: &'a mut Var,
    site: Site,
    seen: Vec<Key>,
}

impl<'a> VarKeys<'a> {
    /// Keys of `var`, written in `site`.
    pub fn new(cx: &'a Ctxt, var: &'a mut Var, site: Site) -> VarKeys<'a> {
        VarKeys {
            cx,
            var,
            site,
            seen: Vec::new(),
        }
    }

    /// Applies one entry.
    pub fn apply(&mut self, entry: Entry) {
        let cx = self.cx;
        let ident = entry.key().clone();
        let key = match Key::from_name(&ident.to_string()) {
            Some(key) if key.accepted_in(self.site) => key,
            // A key this site does not take, given once already: the positional default
            // of `defvariable!` given again as `default = …`.
            Some(key) if self.seen.contains(&key) => return self.duplicate(&ident),
            _ => return self.unknown(&ident),
        };
        match (key.form(), entry) {
            (Form::Flag, Entry::Flag(ident)) => self.flag(key, ident),
            (Form::Value, Entry::Value(ident, expr)) => {
                if self.seen.contains(&key) {
                    return self.duplicate(&ident);
                }
                self.seen.push(key);
                self.value(key, ident, expr);
            }
            (Form::Value, Entry::Flag(_)) => cx.error_spanned_by(
                &ident,
                format!("the key `{ident}` needs a value: `{ident} = …`"),
            ),
            (Form::Value, Entry::List(..)) => {
                cx.error_spanned_by(&ident, format!("expected `{ident} = …`, not `{ident}(…)`"))
            }
            (Form::Flag, _) => cx.error_spanned_by(
                &ident,
                format!("`{ident}` is a flag: write `#[var({ident}, default = …)]`"),
            ),
            (Form::List, _) => self.unknown(&ident),
        }
    }

    fn unknown(&self, key: &Ident) {
        self.cx.error_spanned_by(
            key,
            format!(
                "unknown key `{key}`: expected one of {}",
                Key::listed(self.site)
            ),
        );
    }

    fn duplicate(&self, key: &Ident) {
        self.cx
            .error_spanned_by(key, format!("duplicate key `{key}`: give each key once"));
    }

    fn flag(&mut self, key: Key, ident: Ident) {
        let flag = if key == Key::Choice {
            Flag::Choice
        } else {
            Flag::Module
        };
        if self.var.flag.is_some() {
            self.cx
                .error_spanned_by(&ident, "give one of `choice` and `module`, once");
            return;
        }
        self.seen.push(key);
        self.var.flag = Some(Keyed {
            tokens: ident.to_token_stream(),
            key: ident,
            value: flag,
        });
    }

    /// Sets the default (`default = …`, or `defvariable!`'s positional default).
    pub fn set_default(&mut self, ident: Ident, expr: Expr) {
        if !self.seen.contains(&Key::Default) {
            self.seen.push(Key::Default);
        }
        let value = match lit::value(&expr) {
            Some(value) => value.map(DefaultExpr::Literal),
            None => match &expr {
                Expr::Path(p) if p.qself.is_none() => Ok(DefaultExpr::Path(p.path.clone())),
                _ if self.site == Site::DefVariable => Ok(DefaultExpr::Expr(expr.clone())),
                other => Err(syn::Error::new_spanned(
                    other,
                    "expected a literal (a number, a string, `true` or `false`) or the path of a `const`",
                )),
            },
        };
        self.set(ident, &expr, value, |var| &mut var.default);
    }

    fn value(&mut self, key: Key, ident: Ident, expr: Expr) {
        let name = key.name();
        match key {
            Key::Default => self.set_default(ident, expr),
            Key::Min => self.set(ident, &expr, lit::number(&expr, name), |var| &mut var.min),
            Key::Max => self.set(ident, &expr, lit::number(&expr, name), |var| &mut var.max),
            Key::MinLength => self.set(ident, &expr, lit::length(&expr, name), |var| {
                &mut var.min_length
            }),
            Key::MaxLength => self.set(ident, &expr, lit::length(&expr, name), |var| {
                &mut var.max_length
            }),
            Key::Pattern => self.set(ident, &expr, lit::string(&expr, name), |var| {
                &mut var.pattern
            }),
            Key::Choices => match lit::strings(&expr) {
                Ok(choices) => self.set(ident, &expr, Ok(choices), |var| &mut var.choices),
                Err(errors) => errors.into_iter().for_each(|e| self.cx.syn_error(e)),
            },
            Key::Description => match lit::string(&expr, name) {
                Ok(text) => self.var.description = Some(text.trim().to_owned()),
                Err(e) => self.cx.syn_error(e),
            },
            Key::Choice | Key::Module | Key::Signature | Key::Bind | Key::Crate => {
                self.unknown(&ident)
            }
        }
    }

    fn set<T>(
        &mut self,
        key: Ident,
        expr: &Expr,
        value: syn::Result<T>,
        slot: impl FnOnce(&mut Var) -> &mut Option<Keyed<T>>,
    ) {
        match value {
            Ok(value) => {
                *slot(self.var) = Some(Keyed {
                    key,
                    tokens: expr.to_token_stream(),
                    value,
                })
            }
            Err(e) => self.cx.syn_error(e),
        }
    }
}

/// The type of a `defvariable!`, `float`, `integer`, ...
pub fn declared_type(cx: &Ctxt, var: &mut Var, ty: Ident) {
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
}

/// Reads a `#[module(ModuleType, signature = "...", bind(...))]` attribute.
pub fn module_attr(cx: &Ctxt, attr: &Attribute, field: Field) -> Module {
    let mut module = Module {
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
    let mut seen: Vec<Key> = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let key = Key::from_name(&entry.key().to_string())
            .filter(|key| key.accepted_in(Site::Module) && key.form() == entry.form());
        match (key, entry) {
            // The module type comes first, as a bare name (which may look like a key).
            (_, Entry::Flag(ty)) if i == 0 => module.module_type = Some(ty),
            (Some(key), entry) if !key.repeatable() && seen.contains(&key) => cx.error_spanned_by(
                entry.key(),
                format!("duplicate key `{}`: give each key once", entry.key()),
            ),
            (Some(Key::Signature), Entry::Value(_, expr)) => {
                seen.push(Key::Signature);
                match expr {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => module.signature = Some(SignatureArg::Text(s)),
                    Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => {
                        module.signature = Some(SignatureArg::Typed(p.path))
                    }
                    other => cx.error_spanned_by(
                        other,
                        "expected a string literal or a signature type: `signature = \"question -> answer\"`, or `signature = Qa` for a type deriving `dspex::Signature`",
                    ),
                }
            }
            (Some(Key::Bind), Entry::List(_, tokens)) => bindings(cx, &mut module, tokens),
            (_, entry) => {
                let key = entry.key();
                cx.error_spanned_by(
                    key,
                    if i == 0 {
                        format!(
                            "unknown key `{key}`: #[module] starts with the module type, e.g. `#[module(ChainOfThought, signature = \"question -> answer\")]`"
                        )
                    } else {
                        format!(
                            "unknown key `{key}`: expected `signature = \"…\"` or `bind(…)` (the module type comes first)"
                        )
                    },
                )
            }
        }
    }
    if module.module_type.is_none() {
        cx.error_spanned_by(
            attr,
            "#[module] needs the module type first, e.g. `#[module(ChainOfThought, signature = \"question -> answer\")]`",
        );
    }
    // A signature given in a form it cannot have was reported where it is written.
    if module.signature.is_none() && !seen.contains(&Key::Signature) {
        cx.error_spanned_by(
            attr,
            "#[module] needs a `signature = \"inputs -> outputs\"`, or `signature = Qa` for a type deriving `dspex::Signature`",
        );
    }
    module
}

/// `bind(variable)`, `bind(setting = variable)`, several per list.
fn bindings(cx: &Ctxt, module: &mut Module, tokens: TokenStream) {
    let binds = match parse_entries(tokens) {
        Ok(binds) => binds,
        Err(e) => return cx.syn_error(e),
    };
    for bind in binds {
        match bind {
            Entry::Flag(var) => module.bindings.push((var.clone(), var)),
            Entry::Value(setting, Expr::Path(p)) if p.qself.is_none() => match p.path.get_ident() {
                Some(var) => module.bindings.push((setting, var.clone())),
                None => cx.error_spanned_by(
                    p,
                    "expected the name of a variable: `bind(setting = variable)`",
                ),
            },
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
