//! Expansion snapshots: representative inputs, expanded and formatted with `prettyplease`,
//! compared with `tests/expand/*.expanded.rs`, so a change to the generated code is a
//! reviewed diff. Rewrite the snapshots with `DSPEX_BLESS=1 cargo test -p dspex-macros`.

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

fn snapshot(name: &str, expanded: TokenStream) {
    let file: syn::File = match syn::parse2(expanded.clone()) {
        Ok(file) => file,
        Err(e) => panic!("{name}: the expansion is not a Rust file: {e}\n{expanded}"),
    };
    let pretty = prettyplease::unparse(&file);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expand")
        .join(format!("{name}.expanded.rs"));
    if std::env::var_os("DSPEX_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != pretty {
        panic!(
            "the expansion of `{name}` changed; review it and bless with DSPEX_BLESS=1\n\
             --- {path}\n{expected}\n+++ now\n{pretty}",
            path = path.display()
        );
    }
}

/// Wraps an expression (what `defvariable!` expands to) in a function, to format it.
fn in_fn(expr: TokenStream) -> TokenStream {
    quote!(
        fn expanded(ctx: &::dspex::Context) -> ::dspex::Result<::dspex::VarId> {
            #expr
        }
    )
}

#[test]
fn program_with_variables_and_a_module() {
    let item = quote! {
        pub struct Qa {
            /// Sampling temperature.
            #[var(default = 0.7, min = 0.0, max = 2.0)]
            temperature: f64,
            #[var(default = 256, min = 1, max = 4096)]
            max_tokens: i64,
            #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
            model: String,
            #[var(default = "Be brief.", max_length = 200, pattern = "^[A-Z]")]
            instructions: String,
            #[var(module, default = "ChainOfThought", choices = ["Predict", "ChainOfThought"])]
            strategy: String,
            #[var(default = false)]
            verbose: bool,
            /// Answers with reasoning.
            #[module(ChainOfThought, signature = "question -> answer", bind(temperature), bind(max_tokens = max_tokens))]
            reason: dspex::Module,
        }
    };
    snapshot("program", crate::expand_program(TokenStream::new(), item));
}

#[test]
fn program_with_typed_modules() {
    let item = quote! {
        pub struct Extraction {
            #[var(default = 0.2, min = 0.0, max = 2.0)]
            temperature: f64,
            /// Reads the order.
            #[module(ChainOfThought, signature = signatures::ExtractOrder, bind(temperature))]
            extract: dspex::TypedModule<signatures::ExtractOrder>,
            #[module(ReAct, signature = Lookup)]
            lookup: dspex::TypedModule<Lookup>,
            #[module(MyRegisteredModule, signature = Lookup)]
            custom: dspex::TypedModule<Lookup>,
        }
    };
    snapshot(
        "program_typed",
        crate::expand_program(TokenStream::new(), item),
    );
}

#[test]
fn program_const_and_negative_defaults_with_crate_path() {
    let item = quote! {
        #[derive(Debug)]
        struct Bounds {
            #[var(default = -1.0, min = -10, max = 10)]
            offset: f64,
            #[var(default = DEFAULT_TOKENS, min = 1, max = 4096)]
            tokens: i64,
            #[var(choice, default = defaults::MODEL, choices = ["gpt-4", "claude-3"])]
            model: String,
        }
    };
    snapshot(
        "program_const",
        crate::expand_program(quote!(crate = "my_dspex"), item),
    );
}

#[test]
fn program_with_an_error_emits_the_fallback() {
    let item = quote! {
        pub struct Qa {
            #[var(default = 2.5, min = 0.0, max = 2.0)]
            temperature: f64,
            #[var(choice, default = "gpt-4", choices = ["gpt-4"])]
            model: String,
        }
    };
    snapshot(
        "program_fallback",
        crate::expand_program(TokenStream::new(), item),
    );
}

#[test]
fn derive_variables() {
    let item = quote! {
        struct Tuning {
            #[var(default = 0.7, min = 0.0, max = 2.0)]
            temperature: f64,
            #[var(default = 256, min = 1)]
            max_tokens: i64,
            #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
            model: String,
            #[var(default = true)]
            stream: bool,
        }
    };
    snapshot("variables", crate::expand_derive(item));
}

#[test]
fn defvariable_forms() {
    let cases = [
        (
            "defvariable_float",
            quote!(ctx, temperature: float = 0.7, min = 0.0, max = 2.0, description = "Sampling temperature"),
        ),
        (
            "defvariable_string",
            quote!(ctx, name: string = "x", min_length = 1, max_length = 20, pattern = "^[a-z]+$"),
        ),
        (
            "defvariable_choice",
            quote!(ctx, model: choice = "gpt-4", choices = ["gpt-4", "claude-3"]),
        ),
        (
            "defvariable_const",
            quote!(ctx, budget: integer = DEFAULT_BUDGET, min = 1, max = 100),
        ),
        (
            "defvariable_runtime",
            quote!(crate = my_dspex; ctx, ratio: float = compute_ratio(), max = 1.0),
        ),
    ];
    for (name, input) in cases {
        snapshot(name, in_fn(crate::expand_defvariable(input)));
    }
}

#[test]
fn program_on_an_enum_keeps_the_item() {
    let item = quote! {
        #[dspex(crate = "my_dspex")]
        pub enum Qa<T> {
            A(#[var(default = 1.0)] T),
        }
    };
    snapshot(
        "program_rejected",
        crate::expand_program(TokenStream::new(), item),
    );
}

#[test]
fn derive_with_an_error_emits_the_fallback() {
    let item = quote! {
        struct Tuning {
            #[var(default = 0.7, maximum = 2.0)]
            temperature: f64,
        }
    };
    snapshot("variables_fallback", crate::expand_derive(item));
}
