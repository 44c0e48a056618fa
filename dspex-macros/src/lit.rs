//! Literals both ways: the values a user writes (`0.7`, `-1`, `"gpt-4"`, `true`,
//! `["a", "b"]`, a length) read into `dspex-core` [`Value`]s, and values written back as
//! Rust literals of their type (`0.7f64`, `-1i64`) in the generated code.

use dspex_core::Value;
use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::{Expr, ExprLit, Lit, UnOp};

/// The value of a literal, or of `-` before a number literal. `None` for any other
/// expression (a path, a call, ...).
pub fn value(expr: &Expr) -> Option<syn::Result<Value>> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit_value(lit, false)),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => match &*u.expr {
            Expr::Lit(ExprLit {
                lit: lit @ (Lit::Int(_) | Lit::Float(_)),
                ..
            }) => Some(lit_value(lit, true)),
            _ => None,
        },
        Expr::Group(g) => value(&g.expr),
        Expr::Paren(p) => value(&p.expr),
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

/// A number literal, the value of `key`.
pub fn number(expr: &Expr, key: &str) -> syn::Result<Value> {
    value(expr).unwrap_or_else(|| {
        Err(syn::Error::new_spanned(
            expr,
            format!("expected a number literal for `{key}`"),
        ))
    })
}

/// A length (a non-negative integer literal), the value of `key`.
pub fn length(expr: &Expr, key: &str) -> syn::Result<usize> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<usize>(),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a length (a non-negative integer literal) for `{key}`"),
        )),
    }
}

/// A string literal, the value of `key`.
pub fn string(expr: &Expr, key: &str) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal for `{key}`"),
        )),
    }
}

/// `["a", "b"]`: a list of string literals. Every element that is not one is an error.
pub fn strings(expr: &Expr) -> Result<Vec<String>, Vec<syn::Error>> {
    let Expr::Array(array) = expr else {
        return Err(vec![syn::Error::new_spanned(
            expr,
            "expected a list of string literals: `choices = [\"a\", \"b\"]`",
        )]);
    };
    let mut strings = Vec::new();
    let mut errors = Vec::new();
    for elem in &array.elems {
        match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => strings.push(s.value()),
            other => errors.push(syn::Error::new_spanned(
                other,
                "expected a string literal in `choices`",
            )),
        }
    }
    if errors.is_empty() {
        Ok(strings)
    } else {
        Err(errors)
    }
}

/// A value as a Rust literal of its type: `0.7f64`, `256i64`, `"gpt-4"`, `true`.
pub fn tokens(value: &Value) -> TokenStream {
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
