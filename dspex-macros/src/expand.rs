//! Phase 3: model → code. The code is plain calls on the runtime — `ctx.defvariable(...)`,
//! `ctx.get::<f64>(...)`, `ctx.update_many(...)` — that a person could have written, and it
//! names only `::dspex::__private::...` paths (or the `crate = "..."` path). When the input
//! had errors, [`fallback`](self) versions keep the item and the API (with bodies that never
//! run) beside the `compile_error!`s, so one mistake gives one error.

use dspex_core::{Constraints, Value, VarType};
use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::check::const_default_checks;
use crate::parse::{
    DefVariableInput, DefaultExpr, ModuleDecl, RustTy, StructInput, VarDecl, unraw,
};

/// A value as a Rust literal of its type: `0.7f64`, `256i64`, `"gpt-4"`, `true`.
fn value_tokens(value: &Value) -> TokenStream {
    match value {
        Value::Float(v) => {
            // `0.0f64`, not `0f64`: written as the value's own display, which always has
            // a decimal point.
            let shown = format!("{}f64", Value::Float(v.abs()));
            let lit = shown
                .parse::<Literal>()
                .unwrap_or_else(|_| Literal::f64_suffixed(v.abs()));
            if v.is_sign_negative() {
                quote!(-#lit)
            } else {
                quote!(#lit)
            }
        }
        Value::Integer(v) => {
            if *v == i64::MIN {
                quote!(::core::primitive::i64::MIN)
            } else if *v < 0 {
                let lit = Literal::i64_suffixed(v.abs());
                quote!(-#lit)
            } else {
                let lit = Literal::i64_suffixed(*v);
                quote!(#lit)
            }
        }
        Value::String(v) => {
            let lit = Literal::string(v);
            quote!(#lit)
        }
        Value::Boolean(v) => quote!(#v),
    }
}

fn var_type_tokens(var_type: VarType, krate: &syn::Path) -> TokenStream {
    let variant = match var_type {
        VarType::Float => quote!(Float),
        VarType::Integer => quote!(Integer),
        VarType::String => quote!(String),
        VarType::Boolean => quote!(Boolean),
        VarType::Choice => quote!(Choice),
        VarType::Module => quote!(Module),
    };
    quote!(#krate::__private::VarType::#variant)
}

/// `Constraints::new().min(0.0f64).max(2.0f64)`, or `None` when there are none.
fn constraints_tokens(c: &Constraints, krate: &syn::Path) -> Option<TokenStream> {
    if c.is_empty() {
        return None;
    }
    let mut calls = TokenStream::new();
    if let Some(min) = &c.min {
        let v = value_tokens(min);
        calls.extend(quote!(.min(#v)));
    }
    if let Some(max) = &c.max {
        let v = value_tokens(max);
        calls.extend(quote!(.max(#v)));
    }
    if let Some(n) = c.min_length {
        let n = Literal::usize_unsuffixed(n);
        calls.extend(quote!(.min_length(#n)));
    }
    if let Some(n) = c.max_length {
        let n = Literal::usize_unsuffixed(n);
        calls.extend(quote!(.max_length(#n)));
    }
    if let Some(p) = &c.pattern {
        calls.extend(quote!(.pattern(#p)));
    }
    if let Some(choices) = &c.choices {
        calls.extend(quote!(.choices([#(#choices),*])));
    }
    Some(quote!(#krate::__private::Constraints::new() #calls))
}

/// `VarOptions::new().constraints(...).description("...")`.
fn options_tokens(var: &VarDecl, c: &Constraints, krate: &syn::Path) -> TokenStream {
    let mut opts = quote!(#krate::__private::VarOptions::new());
    if let Some(c) = constraints_tokens(c, krate) {
        opts.extend(quote!(.constraints(#c)));
    }
    if let Some(d) = &var.description {
        opts.extend(quote!(.description(#d)));
    }
    opts
}

/// The default as an expression of the field's type (`String` for strings).
fn default_owned(var: &VarDecl, krate: &syn::Path) -> TokenStream {
    let checked = var.checked.as_ref();
    let string = checked.is_some_and(|c| c.rust_ty == Some(RustTy::String));
    let expr = default_arg(var);
    if string {
        quote!(#krate::__private::String::from(#expr))
    } else {
        expr
    }
}

/// The default as an argument of `defvariable` (anything `Into<Value>`).
fn default_arg(var: &VarDecl) -> TokenStream {
    let checked = var.checked.as_ref();
    match (
        var.default.as_ref().map(|d| &d.value),
        checked.and_then(|c| c.default.as_ref()),
    ) {
        (Some(DefaultExpr::Literal(_)), Some(coerced)) => value_tokens(coerced),
        (Some(DefaultExpr::Literal(v)), None) => value_tokens(v),
        (Some(DefaultExpr::Path(p)), _) => p.to_token_stream(),
        (Some(DefaultExpr::Expr(e)), _) => e.to_token_stream(),
        (None, _) => quote!(()),
    }
}

/// `ctx.defvariable("name", VarType::Float, 0.7f64, VarOptions::new()...)`.
fn define_call(ctx: &TokenStream, var: &VarDecl, krate: &syn::Path) -> TokenStream {
    let Some(checked) = &var.checked else {
        return quote!(#krate::__private::unreachable_fallback());
    };
    let name = &var.name;
    let ty = var_type_tokens(checked.var_type, krate);
    let default = default_arg(var);
    let opts = options_tokens(var, &checked.constraints, krate);
    quote!(#ctx.defvariable(#name, #ty, #default, #opts))
}

/// `VariableDef::new("name", VarType::Float, 0.7f64, VarOptions::new()...)`, for
/// `ctx.defvariables([...])`: a program's variables are defined all or nothing.
fn definition(var: &VarDecl, krate: &syn::Path) -> TokenStream {
    let Some(checked) = &var.checked else {
        return quote!(#krate::__private::unreachable_fallback());
    };
    let name = &var.name;
    let ty = var_type_tokens(checked.var_type, krate);
    let default = default_arg(var);
    let opts = options_tokens(var, &checked.constraints, krate);
    quote!(#krate::__private::VariableDef::new(#name, #ty, #default, #opts))
}

/// `const _: () = assert!(...)` for a `const` default against numeric bounds.
fn const_checks(var: &VarDecl) -> TokenStream {
    let Some(DefaultExpr::Path(path)) = var.default.as_ref().map(|d| &d.value) else {
        return TokenStream::new();
    };
    const_default_checks(var)
        .into_iter()
        .map(|(op, bound, message)| {
            let bound = value_tokens(&bound);
            let op: TokenStream = op.parse().unwrap_or_default();
            // Spanned on the path, so the failed assertion points at the default.
            quote_spanned!(path.span()=> const _: () = ::core::assert!(#path #op #bound, #message);)
        })
        .collect()
}

fn static_value(var: &VarDecl, krate: &syn::Path, rust: RustTy) -> TokenStream {
    let variant = match rust {
        RustTy::F64 => quote!(Float),
        RustTy::I64 => quote!(Integer),
        RustTy::String => quote!(String),
        RustTy::Bool => quote!(Boolean),
    };
    let expr = default_arg(var);
    quote!(#krate::__private::StaticValue::#variant(#expr))
}

fn static_option<T: ToTokens>(v: &Option<T>, krate: &syn::Path) -> TokenStream {
    match v {
        Some(v) => quote!(#krate::__private::Some(#v)),
        None => quote!(#krate::__private::None),
    }
}

fn static_bound(v: &Option<Value>, krate: &syn::Path) -> TokenStream {
    match v {
        Some(v) => {
            let variant = match v {
                Value::Float(_) => quote!(Float),
                Value::Integer(_) => quote!(Integer),
                Value::String(_) => quote!(String),
                Value::Boolean(_) => quote!(Boolean),
            };
            let v = value_tokens(v);
            quote!(#krate::__private::Some(#krate::__private::StaticValue::#variant(#v)))
        }
        None => quote!(#krate::__private::None),
    }
}

fn variable_info(var: &VarDecl, krate: &syn::Path) -> Option<TokenStream> {
    let checked = var.checked.as_ref()?;
    let name = &var.name;
    let ty = var_type_tokens(checked.var_type, krate);
    let default = static_value(var, krate, checked.rust_ty?);
    let c = &checked.constraints;
    let min = static_bound(&c.min, krate);
    let max = static_bound(&c.max, krate);
    let min_length = static_option(&c.min_length.map(Literal::usize_unsuffixed), krate);
    let max_length = static_option(&c.max_length.map(Literal::usize_unsuffixed), krate);
    let pattern = static_option(&c.pattern, krate);
    let choices = static_option(
        &c.choices.as_ref().map(|choices| quote!(&[#(#choices),*])),
        krate,
    );
    let description = static_option(&var.description, krate);
    let _ = (&min, &max, &min_length, &max_length, &pattern, &choices);
    let mut set = Vec::new();
    if c.min.is_some() {
        set.push(quote!(min: #min));
    }
    if c.max.is_some() {
        set.push(quote!(max: #max));
    }
    if c.min_length.is_some() {
        set.push(quote!(min_length: #min_length));
    }
    if c.max_length.is_some() {
        set.push(quote!(max_length: #max_length));
    }
    if c.pattern.is_some() {
        set.push(quote!(pattern: #pattern));
    }
    if c.choices.is_some() {
        set.push(quote!(choices: #choices));
    }
    let constraints = if set.is_empty() {
        quote!(#krate::__private::StaticConstraints::NONE)
    } else {
        quote!(#krate::__private::StaticConstraints {
            #(#set,)*
            ..#krate::__private::StaticConstraints::NONE
        })
    };
    Some(quote! {
        #krate::__private::VariableInfo::new(#name, #ty, #default, #constraints, #description)
    })
}

fn module_parts(module: &ModuleDecl) -> (String, String, Vec<TokenStream>) {
    let module_type = module.module_type.as_ref().map(unraw).unwrap_or_default();
    let signature = module
        .signature
        .as_ref()
        .map(|s| s.value())
        .unwrap_or_default();
    let bindings = module
        .bindings
        .iter()
        .map(|(setting, variable)| {
            let setting = unraw(setting);
            let variable = unraw(variable);
            quote!((#setting, #variable))
        })
        .collect();
    (module_type, signature, bindings)
}

/// The field's doc comments, then an empty doc line (to start a new paragraph), if any.
fn user_docs(attrs: &[syn::Attribute]) -> TokenStream {
    let docs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("doc")).collect();
    if docs.is_empty() {
        TokenStream::new()
    } else {
        quote!(#(#docs)* #[doc = ""])
    }
}

/// A one-line summary of a variable for the getter's docs: "float, default 0.7, min 0.0".
fn summary(var: &VarDecl) -> String {
    let Some(checked) = &var.checked else {
        return String::new();
    };
    let mut parts = vec![checked.var_type.as_str().to_owned()];
    match (&checked.default, var.default.as_ref().map(|d| &d.value)) {
        (Some(v), _) => parts.push(format!("default {v}")),
        (None, Some(DefaultExpr::Path(p))) => parts.push(format!(
            "default `{}`",
            p.to_token_stream().to_string().replace(' ', "")
        )),
        _ => {}
    }
    let c = &checked.constraints;
    if let Some(v) = &c.min {
        parts.push(format!("min {v}"));
    }
    if let Some(v) = &c.max {
        parts.push(format!("max {v}"));
    }
    if let Some(v) = &c.min_length {
        parts.push(format!("min_length {v}"));
    }
    if let Some(v) = &c.max_length {
        parts.push(format!("max_length {v}"));
    }
    if let Some(v) = &c.pattern {
        parts.push(format!("pattern {v:?}"));
    }
    if let Some(v) = &c.choices {
        parts.push(format!("choices {v:?}"));
    }
    parts.join(", ")
}

/// `#[dspex::program]`: the rewritten struct, its `impl`, and its registry entry. With
/// `fallback`, the same struct and signatures with bodies that never run, and no registry
/// entry.
pub fn program(input: &StructInput, fallback: bool) -> TokenStream {
    let StructInput {
        attrs,
        vis,
        ident,
        krate,
        vars,
        modules,
        ..
    } = input;
    let p = quote!(#krate::__private);
    let never = quote!(#p::unreachable_fallback());

    let slot_fields = modules.iter().map(|m| {
        let field_attrs = &m.field.attrs;
        let field_vis = &m.field.vis;
        let name = &m.field.ident;
        quote!(#(#field_attrs)* #field_vis #name: #p::ModuleSlot)
    });
    let slot_inits = modules.iter().map(|m| {
        let name = &m.field.ident;
        quote!(#name: #p::ModuleSlot::new())
    });

    let definitions = vars.iter().map(|var| definition(var, krate));
    let defines = quote!(ctx.defvariables([#(#definitions),*])?;);
    let new_body = if fallback {
        never.clone()
    } else {
        quote! {
            #defines
            #p::Ok(Self {
                ctx: ::core::clone::Clone::clone(ctx),
                #(#slot_inits,)*
            })
        }
    };

    let accessors = vars.iter().map(|var| {
        let Some(field) = &var.field else {
            return TokenStream::new();
        };
        let name = &var.name;
        let getter = &field.ident;
        let setter = format_ident!("set_{}", unraw(getter), span = getter.span());
        // From the field's type, so that the fallback has the same API even for a
        // variable whose declaration had an error.
        let rust = crate::check::rust_ty(&field.ty);
        let ty = match rust {
            Some(rust) => rust.tokens(krate),
            None => field.ty.to_token_stream(),
        };
        let docs = user_docs(&field.attrs);
        let get_doc = format!(" Reads the variable `{name}` ({}).", summary(var));
        let set_doc = format!(
            " Writes the variable `{name}`; returns its new version. A value it refuses changes nothing."
        );
        let string = rust == Some(RustTy::String);
        let (get_body, set_body, set_arg) = if fallback {
            let set_arg = if string {
                quote!(impl #p::Into<#ty>)
            } else {
                quote!(#ty)
            };
            (never.clone(), never.clone(), set_arg)
        } else if string {
            (
                quote!(self.ctx.get::<#ty>(#name)),
                quote!(self.ctx.set(#name, #p::Into::<#ty>::into(value))),
                quote!(impl #p::Into<#ty>),
            )
        } else {
            (
                quote!(self.ctx.get::<#ty>(#name)),
                quote!(self.ctx.set(#name, value)),
                quote!(#ty),
            )
        };
        quote! {
            #docs
            #[doc = #get_doc]
            pub fn #getter(&self) -> #p::Result<#ty> {
                #get_body
            }

            #[doc = #set_doc]
            pub fn #setter(&self, value: #set_arg) -> #p::Result<u64> {
                #set_body
            }
        }
    });

    let module_accessors = modules.iter().map(|m| {
        let name = &m.field.ident;
        let docs = user_docs(&m.field.attrs);
        let (module_type, signature, bindings) = module_parts(m);
        let doc = format!(
            " The `{module_type}` module (`{signature}`). The first call bridges the Context and creates it; later calls return it."
        );
        let body = if fallback {
            never.clone()
        } else {
            quote! {
                static SPEC: #p::ModuleSpec = #p::ModuleSpec {
                    module_type: #module_type,
                    signature: #signature,
                    bindings: &[#(#bindings),*],
                };
                self.#name.get_or_init(&self.ctx, &SPEC).await
            }
        };
        quote! {
            #docs
            #[doc = #doc]
            pub async fn #name(&self) -> #p::Result<&#p::Module> {
                #body
            }
        }
    });

    let registry = if fallback {
        TokenStream::new()
    } else {
        let name = unraw(ident);
        let var_infos = vars.iter().filter_map(|v| variable_info(v, krate));
        let module_infos = modules.iter().map(|m| {
            let field = unraw(&m.field.ident);
            let (module_type, signature, bindings) = module_parts(m);
            quote!(#p::ModuleInfo::new(#field, #module_type, #signature, &[#(#bindings),*]))
        });
        let checks = vars.iter().map(const_checks);
        quote! {
            const _: () = {
                #(#checks)*
                const PROGRAM: #p::ProgramInfo = #p::ProgramInfo::new(
                    #name,
                    ::core::module_path!(),
                    &[#(#var_infos),*],
                    &[#(#module_infos),*],
                );
                #p::inventory::submit! { PROGRAM }
            };
        }
    };

    let new_doc = format!(
        " Registers the variables of `{}` in `ctx` (each with its default; nothing else; all or none) and returns the program. The Context stays Local until a module is first used.",
        unraw(ident)
    );
    quote! {
        #(#attrs)*
        #vis struct #ident {
            ctx: #p::Context,
            #(#slot_fields,)*
        }

        impl #ident {
            #[doc = #new_doc]
            pub fn new(ctx: &#p::Context) -> #p::Result<Self> {
                #new_body
            }

            /// The Context the program's variables live in.
            pub fn context(&self) -> &#p::Context {
                &self.ctx
            }

            #(#accessors)*

            #(#module_accessors)*
        }

        #registry
    }
}

/// `#[derive(Variables)]`: the `VariableSet` impl (with `fallback`, bodies that never run).
pub fn variables(input: &StructInput, fallback: bool) -> TokenStream {
    let StructInput {
        ident,
        krate,
        vars,
        generics,
        ..
    } = input;
    let p = quote!(#krate::__private);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let header = quote!(impl #impl_generics #p::VariableSet for #ident #ty_generics #where_clause);
    if fallback {
        let never = quote!(#p::unreachable_fallback());
        return quote! {
            #header {
                fn register(_: &#p::Context) -> #p::Result<()> { #never }
                fn load(_: &#p::Context) -> #p::Result<Self> { #never }
                fn store(&self, _: &#p::Context) -> #p::Result<()> { #never }
                fn defaults() -> Self { #never }
            }
        };
    }
    let fields: Vec<&syn::Ident> = vars
        .iter()
        .filter_map(|v| v.field.as_ref().map(|f| &f.ident))
        .collect();
    let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
    let count = vars.len();
    let definitions = vars.iter().map(|var| definition(var, krate));
    let defines = quote!(ctx.defvariables([#(#definitions),*])?;);
    let values = vars.iter().map(|var| {
        let field = var.field.as_ref().map(|f| &f.ident);
        let string = var.checked.as_ref().and_then(|c| c.rust_ty) == Some(RustTy::String);
        if string {
            quote!(#p::Value::from(&self.#field))
        } else {
            quote!(#p::Value::from(self.#field))
        }
    });
    let defaults = vars.iter().map(|var| default_owned(var, krate));
    let checks = vars.iter().map(const_checks);
    quote! {
        #(#checks)*

        #header {
            fn register(ctx: &#p::Context) -> #p::Result<()> {
                #defines
                #p::Ok(())
            }

            fn load(ctx: &#p::Context) -> #p::Result<Self> {
                let mut snapshot = ctx.get_many(&[#(#names),*])?;
                #p::Ok(Self {
                    #(#fields: #p::take_value(&mut snapshot, #names)?,)*
                })
            }

            fn store(&self, ctx: &#p::Context) -> #p::Result<()> {
                let updates: [(&str, #p::Value); #count] = [#((#names, #values)),*];
                ctx.update_many(updates)
            }

            fn defaults() -> Self {
                Self {
                    #(#fields: #defaults,)*
                }
            }
        }
    }
}

/// `defvariable!`: one `defvariable` call on the borrowed context.
pub fn defvariable(input: &DefVariableInput, fallback: bool) -> TokenStream {
    let krate = &input.krate;
    let p = quote!(#krate::__private);
    let ctx = &input.ctx;
    if fallback {
        return quote!({
            let _ = &#ctx;
            #p::unreachable_fallback::<#p::DefResult>()
        });
    }
    // Parenthesised unless it is a simple place or call, so that any expression borrows
    // as a whole.
    let ctx = match ctx {
        syn::Expr::Path(_)
        | syn::Expr::Field(_)
        | syn::Expr::Reference(_)
        | syn::Expr::MethodCall(_)
        | syn::Expr::Call(_)
        | syn::Expr::Paren(_) => quote!(#ctx),
        other => quote!((#other)),
    };
    let call = define_call(&quote!(#p::context(&#ctx)), &input.var, krate);
    // A SCREAMING_CASE path default is taken for a `const` and range-checked at compile
    // time; any other expression is checked by `defvariable` at run time.
    let is_const = matches!(
        input.var.default.as_ref().map(|d| &d.value),
        Some(DefaultExpr::Path(path)) if path.segments.last().is_some_and(|s| {
            let s = s.ident.to_string();
            s.chars().any(|c| c.is_ascii_uppercase()) && !s.chars().any(|c| c.is_ascii_lowercase())
        })
    );
    if is_const {
        let checks = const_checks(&input.var);
        if !checks.is_empty() {
            return quote!({
                #checks
                #call
            });
        }
    }
    call
}
