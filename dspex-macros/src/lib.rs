//! The dspex macros: `#[dspex::program]`, `#[derive(dspex::Variables)]` and
//! `dspex::defvariable!`. Use them through the `dspex` crate, which re-exports them.
//!
//! Every mistake that can be known from the source is a compile error on the offending
//! token: the checks call the same validation code (`dspex-core`) as
//! `Context::defvariable`, so the macros and the runtime never disagree. The expansion is
//! plain calls on the runtime.
//!
//! This file only dispatches. Each macro runs the same phases:
//! - parse: tokens → the parsed model (`ast.rs`; attributes in `attr.rs`, literals in
//!   `lit.rs`, `defvariable!` in `defvariable.rs`, every key in `key.rs`);
//! - check: parsed model → checked model (`check.rs` → `checked.rs`), through
//!   `dspex-core`'s validation;
//! - expand: checked model → code (`expand/`), or, when anything was wrong, the fallback
//!   beside the errors (`fallback.rs`), so that one mistake gives one error. The API both
//!   emit has one shape (`api.rs`). Errors accumulate in `ctxt.rs`.

mod api;
mod ast;
mod attr;
mod check;
mod checked;
mod ctxt;
mod defvariable;
mod expand;
mod fallback;
mod key;
mod lit;
mod signature;
mod tool;

#[cfg(test)]
mod expand_tests;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

use crate::ast::Mode;
use crate::ctxt::Ctxt;

/// Declares a program: typed, constrained variables and the DSPy modules that use them.
///
/// On a struct with named fields, each field is either
/// - a **variable**, `#[var(default = …, key = value, …)]`, whose Rust type gives the
///   variable type: `f64` → float, `i64` → integer, `bool` → boolean, `String` → string
///   (or choice with the `choice` flag, module with the `module` flag). Keys: `default`
///   (required: a literal, `-1.0` included, or the path of a `const`), `min`, `max`
///   (float, integer), `min_length`, `max_length`, `pattern` (string), `choices` (choice:
///   required; module: optional), `description` (else the field's doc comment); or
/// - a **module**, `#[module(ModuleType, signature = "in1, in2 -> out1", bind(var),
///   bind(setting = var))]`, of type `dspex::Module`. `bind(temperature)` passes the
///   variable `temperature` as the DSPy setting `temperature` on every call;
///   `bind(max_tokens = limit)` names both sides. With a typed signature,
///   `#[module(ChainOfThought, signature = Qa, bind(temperature))]` (`Qa` deriving
///   [`Signature`](derive@Signature)), the field is a `dspex::TypedModule<Qa>`: a signature
///   with a field the module type adds itself (`reasoning` for ChainOfThought) is a compile
///   error on `Qa`.
///
/// The struct is rewritten: the variables live in a [`Context`](../dspex/struct.Context.html)
/// (the struct keeps a `ctx: Context` field), and each module field becomes a slot filled
/// on first use. Generated:
/// - `Program::new(ctx: &Context) -> Result<Program>`: registers every variable (and
///   nothing else); the Context stays Local;
/// - `program.context() -> &Context`;
/// - per variable `x`: `program.x() -> Result<T>` and `program.set_x(v) -> Result<u64>`
///   (the new version; a refused value changes nothing);
/// - per module `m`: `program.m().await -> Result<&Module>` (`Result<&TypedModule<S>>`
///   for a typed one), which on first use bridges the Context and creates the Python
///   module with its bindings. A program with no modules never bridges;
/// - an entry in [`dspex::programs()`](../dspex/fn.programs.html) (with `inventory`).
///
/// Checked at compile time, each error on its token: defaults against their type and
/// constraints, the constraints themselves (min ≤ max, keys that apply to the type, a
/// regex that compiles, non-empty choices), unknown and duplicate keys, field types,
/// DSPy signatures, bindings to undeclared variables, two fields with one name. A `const`
/// default is checked against `min`/`max` by a `const` assertion, and fully by
/// `Context::defvariable` when `new` runs.
///
/// `#[dspex::program(crate = "path")]` (or `#[dspex(crate = "path")]` on the struct) names
/// the `dspex` crate when it is not reachable as `::dspex`.
///
/// ```
/// #[dspex::program]
/// pub struct Writer {
///     /// Sampling temperature.
///     #[var(default = 0.7, min = 0.0, max = 2.0)]
///     temperature: f64,
///     #[var(default = 256, min = 1, max = 4096)]
///     max_tokens: i64,
///     #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
///     model: String,
///     #[var(default = "Be brief.", max_length = 200, pattern = "^[A-Z]")]
///     instructions: String,
/// }
///
/// let ctx = dspex::Context::new();
/// let writer = Writer::new(&ctx)?;
/// assert_eq!(writer.temperature()?, 0.7);
/// assert_eq!(writer.set_temperature(1.2)?, 1);
/// assert!(writer.set_max_tokens(0).is_err()); // below min: nothing changes
/// writer.set_model("claude-3")?;
/// assert_eq!(ctx.get::<String>("model")?, "claude-3");
/// assert_eq!(ctx.variable("temperature")?.description.as_deref(), Some("Sampling temperature."));
/// assert_eq!(writer.context().backend().kind, dspex::BackendKind::Local);
/// # Ok::<(), dspex::Error>(())
/// ```
///
/// A typed module, and what the registry says of it:
///
/// ```
/// /// Answer the question.
/// #[derive(dspex::Signature)]
/// pub struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
///     #[output]
///     sources: Vec<String>,
/// }
///
/// #[dspex::program]
/// pub struct Assistant {
///     #[var(default = 0.7, min = 0.0, max = 2.0)]
///     temperature: f64,
///     #[module(ChainOfThought, signature = Qa, bind(temperature))]
///     reason: dspex::TypedModule<Qa>,
/// }
///
/// let info = dspex::programs().find(|p| p.name() == "Assistant").unwrap();
/// let reason = info.module("reason").unwrap();
/// assert_eq!(reason.signature(), "Qa");
/// let types: Vec<_> = reason.fields().iter().map(|f| f.type_name().to_owned()).collect();
/// assert_eq!(types, ["str", "str", "list[str]"]);
/// // `Assistant::new(&ctx)?.reason().await?` is a `&TypedModule<Qa>`.
/// ```
///
/// A typed signature with a field its module type adds itself does not compile:
///
/// ```compile_fail
/// #[derive(dspex::Signature)]
/// pub struct Explain {
///     #[input]
///     question: String,
///     #[output]
///     reasoning: String,
/// }
///
/// #[dspex::program]
/// pub struct Explainer {
///     #[module(ChainOfThought, signature = Explain)] // signature `Explain` cannot be used with ChainOfThought: ...
///     explain: dspex::TypedModule<Explain>,
/// }
/// ```
///
/// A default outside its bounds does not compile:
///
/// ```compile_fail
/// #[dspex::program]
/// struct Bad {
///     #[var(default = 2.5, min = 0.0, max = 2.0)] // default 2.5 for `temperature` is above the maximum 2.0
///     temperature: f64,
/// }
/// ```
#[proc_macro_attribute]
pub fn program(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_program(args.into(), item.into()).into()
}

/// Implements [`dspex::VariableSet`](../dspex/trait.VariableSet.html) for a plain struct
/// whose fields are variables: `register(&ctx)` defines every field with its default,
/// `load(&ctx)` reads them all as one consistent snapshot, `store(&self, &ctx)` writes
/// them all or none, `defaults()` builds the struct from the declared defaults.
///
/// Each field takes `#[var(...)]` with the keys of [`macro@program`] (types `f64`, `i64`,
/// `String`, `bool`; `choice` / `module` flags), checked at compile time the same way.
///
/// ```
/// use dspex::{Context, VariableSet};
///
/// #[derive(dspex::Variables, Debug, PartialEq)]
/// struct Tuning {
///     #[var(default = 0.7, min = 0.0, max = 2.0)]
///     temperature: f64,
///     #[var(default = 256, min = 1)]
///     max_tokens: i64,
///     #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
///     model: String,
/// }
///
/// let ctx = Context::new();
/// Tuning::register(&ctx)?;
/// let mut t = Tuning::load(&ctx)?;
/// assert_eq!(t, Tuning::defaults());
/// t.temperature = 0.1;
/// t.model = "claude-3".into();
/// t.store(&ctx)?;
/// assert_eq!(ctx.get::<String>("model")?, "claude-3");
/// # Ok::<(), dspex::Error>(())
/// ```
///
/// A choice default that is not among its choices does not compile:
///
/// ```compile_fail
/// #[derive(dspex::Variables)]
/// struct Bad {
///     #[var(choice, default = "gpt-5", choices = ["gpt-4", "claude-3"])]
///     model: String,
/// }
/// ```
#[proc_macro_derive(Variables, attributes(var, dspex))]
pub fn derive_variables(input: TokenStream) -> TokenStream {
    expand_derive(input.into()).into()
}

/// Defines a variable, checked at compile time where the arguments are literals:
/// `defvariable!(ctx, name: type = default, key = value, …)` → `Result<VarId>`, like
/// `ctx.defvariable(...)`.
///
/// `ctx` is any expression of type `Context` or `&Context`; the macro borrows it. `type`
/// is one of `float`, `integer`, `string`, `boolean`, `choice`, `module`. Keys: `min`,
/// `max`, `min_length`, `max_length`, `pattern`, `choices`, `description`. The name may be
/// a string literal for dotted names (`"llm.temperature": float = 0.7`).
///
/// A literal default is checked against the type and constraints at compile time. A
/// SCREAMING_CASE path default is taken for a `const` and checked against `min`/`max` by a
/// `const` assertion; any other expression (a local variable, a call) is checked by
/// `defvariable` at run time, like every value. `defvariable!(crate = path; ctx, …)` names
/// the `dspex` crate when it is not `::dspex`.
///
/// ```
/// let ctx = dspex::Context::new();
/// dspex::defvariable!(ctx, temperature: float = 0.7, min = 0.0, max = 2.0, description = "Sampling temperature")?;
/// dspex::defvariable!(&ctx, count: integer = 10, min = 0, max = 100)?;
/// dspex::defvariable!(ctx, name: string = "x", min_length = 1, max_length = 20, pattern = "^[a-z]+$")?;
/// dspex::defvariable!(ctx, verbose: boolean = true)?;
/// dspex::defvariable!(ctx, model: choice = "gpt-4", choices = ["gpt-4", "claude-3"])?;
/// dspex::defvariable!(ctx, strategy: module = "ChainOfThought")?;
/// assert_eq!(ctx.get::<f64>("temperature")?, 0.7);
/// assert_eq!(ctx.list().len(), 6);
/// # Ok::<(), dspex::Error>(())
/// ```
///
/// A default of the wrong kind does not compile:
///
/// ```compile_fail
/// let ctx = dspex::Context::new();
/// dspex::defvariable!(ctx, verbose: boolean = 1); // default 1 for `verbose` is an integer, not a boolean
/// ```
#[proc_macro]
pub fn defvariable(input: TokenStream) -> TokenStream {
    expand_defvariable(input.into()).into()
}

/// Turns a function into a DSPy tool: beside it, `{name}_tool() -> dspex::Tool` builds a
/// [`Tool`](../dspex/struct.Tool.html) named after the function, described by its doc
/// comment, whose arguments are its parameters (each described by its own doc comment)
/// and which calls it. The function stays as it is, callable as before.
///
/// On an `async fn` or a plain `fn` whose parameters are `serde::Deserialize +
/// schemars::JsonSchema` owned types (a plain `fn` runs inside the tool's task: keep it
/// short). It returns `T` or `Result<T, E>` with `T: Serialize`: an `Err(e)` becomes an
/// observation telling the agent that the tool failed, with `e`'s `Display`.
///
/// ```
/// #[derive(serde::Serialize)]
/// pub struct Order {
///     id: u64,
///     status: String,
/// }
///
/// /// Looks up an order by its number.
/// #[dspex::tool]
/// async fn lookup_order(
///     /// The order number.
///     id: u64,
/// ) -> Result<Order, String> {
///     match id {
///         7 => Ok(Order { id, status: "shipped".into() }),
///         _ => Err(format!("there is no order {id}")),
///     }
/// }
///
/// /// Whether an order of `amount` euros placed `days` days ago can be refunded.
/// #[dspex::tool]
/// fn refund_allowed(days: u32, amount: f64) -> bool {
///     days <= 30 && amount < 500.0
/// }
///
/// let tool = lookup_order_tool();
/// assert_eq!(tool.name(), "lookup_order");
/// assert_eq!(tool.description(), "Looks up an order by its number.");
/// assert_eq!(tool.args_schema()["properties"]["id"]["description"], "The order number.");
/// assert_eq!(tool.args_schema()["required"], serde_json::json!(["id"]));
/// assert!(refund_allowed(3, 20.0)); // still an ordinary function
/// let _agent_tools = [lookup_order_tool(), refund_allowed_tool()];
/// ```
///
/// `#[dspex::tool(crate = "path")]` names the `dspex` crate when it is not reachable as
/// `::dspex`. A method, a generic function, and a parameter that is a reference or a
/// pattern are compile errors:
///
/// ```compile_fail
/// #[dspex::tool]
/// fn shout(text: &str) -> String { // parameter `text`: a tool's arguments are owned values
///     text.to_uppercase()
/// }
/// ```
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_tool(args.into(), item.into()).into()
}

/// Parse → expand for `#[dspex::tool]`.
pub(crate) fn expand_tool(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let cx = Ctxt::new();
    let parsed = tool::parse::parse(&cx, args, item.clone());
    match (cx.check(), parsed) {
        (Ok(()), Some(parsed)) => tool::expand::tool(&parsed),
        (Err(errors), Some(parsed)) => {
            let fallback = tool::expand::fallback(&parsed);
            let errors = errors.into_compile_error();
            quote!(#fallback #errors)
        }
        // Not a function: the item as written, with the error.
        (result, None) => {
            let errors = result.err().map(syn::Error::into_compile_error);
            quote!(#item #errors)
        }
    }
}

/// Parse → check → expand for `#[dspex::program]`.
pub(crate) fn expand_program(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let derive_input = match syn::parse2::<syn::DeriveInput>(item.clone()) {
        Ok(derive_input) => derive_input,
        Err(e) => {
            // Not a struct, enum or union: keep the item as written, with the error.
            let error = syn::Error::new(e.span(), "#[dspex::program] applies to a struct")
                .to_compile_error();
            return quote!(#item #error);
        }
    };
    let cx = Ctxt::new();
    let arg_crate = attr::program_args(&cx, args);
    match ast::Struct::from_syn(&cx, &derive_input, Mode::Program) {
        Ok(mut input) => {
            if let Some(krate) = arg_crate {
                input.krate = krate;
            }
            let checked = check::check_struct(&cx, &input, Mode::Program);
            let code = checked.map(|c| expand::program(&c));
            finish(cx, code, || fallback::program(&input))
        }
        Err(rejected) => {
            let krate = arg_crate.unwrap_or(rejected.krate);
            finish(cx, None, || {
                fallback::rejected_program(&derive_input, &krate)
            })
        }
    }
}

/// Parse → check → expand for `#[derive(Variables)]`.
pub(crate) fn expand_derive(input: TokenStream2) -> TokenStream2 {
    let derive_input: syn::DeriveInput = match syn::parse2(input) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let cx = Ctxt::new();
    let (checked, krate) = match ast::Struct::from_syn(&cx, &derive_input, Mode::Derive) {
        Ok(input) => (
            check::check_struct(&cx, &input, Mode::Derive).map(|c| expand::variables(&c)),
            input.krate,
        ),
        Err(rejected) => (None, rejected.krate),
    };
    finish(cx, checked, || {
        fallback::variables(&derive_input.ident, &derive_input.generics, &krate)
    })
}

/// Parse → check → expand for `defvariable!`. An expression: the errors go inside it.
pub(crate) fn expand_defvariable(input: TokenStream2) -> TokenStream2 {
    let cx = Ctxt::new();
    let parsed = defvariable::parse(&cx, input);
    let checked = parsed
        .as_ref()
        .and_then(|input| check::check_defvariable(&cx, input));
    match (cx.check(), parsed, checked) {
        (Ok(()), _, Some(checked)) => expand::defvariable(&checked),
        (result, Some(parsed), _) => {
            let errors = result.err().map(syn::Error::into_compile_error);
            let fallback = fallback::defvariable(&parsed);
            quote!({ #errors #fallback })
        }
        // Not even the shape of the arguments: nothing to keep.
        (result, None, _) => result
            .err()
            .map(syn::Error::into_compile_error)
            .unwrap_or_default(),
    }
}

/// The expansion when nothing was wrong; else the fallback, beside the errors. A check
/// that found nothing to report but could not build the checked model (a repeated field,
/// which rustc reports) gets the fallback alone.
fn finish(
    cx: Ctxt,
    checked: Option<TokenStream2>,
    fallback: impl FnOnce() -> TokenStream2,
) -> TokenStream2 {
    match (cx.check(), checked) {
        (Ok(()), Some(code)) => code,
        (Ok(()), None) => fallback(),
        (Err(errors), _) => {
            let fallback = fallback();
            let errors = errors.into_compile_error();
            quote!(#fallback #errors)
        }
    }
}

/// Declares a typed DSPy signature: Rust structs in, Rust structs out.
///
/// On a struct with named fields, each marked `#[input]` or `#[output]`. The struct's doc
/// comment is the signature's instructions; a field's doc comment is its description
/// (both trimmed). A field's name in DSPy is its Rust name, or its
/// `#[serde(rename = "...")]`. Generated, with the struct's visibility:
/// - `{Name}Input` and `{Name}Output`: the input and the output fields, deriving `Debug,
///   Clone, PartialEq, Serialize, Deserialize` (the fields' `#[serde]` attributes kept);
/// - `impl dspex::Signature for {Name}`, whose `spec()` describes every field and its
///   type to the worker (built once).
///
/// Field types: `String`, `bool`, every integer type, `f32` / `f64`, `Vec<T>`,
/// `Option<T>` (optional in DSPy), `HashMap<String, T>` / `BTreeMap<String, T>`,
/// unit-only enums (a `Literal[...]` of their serde names), and any struct or enum
/// deriving `Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize,
/// schemars::JsonSchema` (a pydantic model built from its JSON Schema).
///
/// ```
/// use dspex::{Signature, TypeDescriptor};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
/// enum Sentiment { Positive, Negative, #[serde(rename = "mixed")] Mixed }
///
/// /// Classify the review.
/// #[derive(dspex::Signature)]
/// pub struct Classify {
///     /// The review text.
///     #[input]
///     review: String,
///     #[output]
///     sentiment: Sentiment,
///     /// Between 0 and 10.
///     #[output]
///     #[serde(rename = "stars")]
///     score: u8,
/// }
///
/// let spec = Classify::spec();
/// assert_eq!(spec.instructions(), "Classify the review.");
/// assert_eq!(spec.outputs()[0].type_name(), "Literal['Positive', 'Negative', 'mixed']");
/// assert_eq!(spec.outputs()[1].name(), "stars");
/// assert_eq!(
///     spec.outputs()[1].descriptor(),
///     &TypeDescriptor::Int { min: Some(0), max: Some(255) }
/// );
/// let out: ClassifyOutput = serde_json::from_str(r#"{"sentiment": "mixed", "stars": 7}"#)?;
/// assert_eq!((out.sentiment, out.score), (Sentiment::Mixed, 7));
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// `#[dspex(crate = "path")]` on the struct names the `dspex` crate when it is not
/// reachable as `::dspex`.
///
/// Each mistake is a compile error on its token. A signature with no input field:
///
/// ```compile_fail
/// #[derive(dspex::Signature)]
/// struct Qa { // signature `Qa` has no #[input] field
///     #[output]
///     answer: String,
/// }
/// ```
///
/// with no output field:
///
/// ```compile_fail
/// #[derive(dspex::Signature)]
/// struct Qa { // signature `Qa` has no #[output] field
///     #[input]
///     question: String,
/// }
/// ```
///
/// a field marked both:
///
/// ```compile_fail
/// #[derive(dspex::Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[input]
///     #[output] // field `answer` is marked both #[input] and #[output]
///     answer: String,
/// }
/// ```
///
/// a field marked neither:
///
/// ```compile_fail
/// #[derive(dspex::Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
///     notes: String, // field `notes` of signature `Qa` is neither #[input] nor #[output]
/// }
/// ```
///
/// two fields with one DSPy name:
///
/// ```compile_fail
/// #[derive(dspex::Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     #[serde(rename = "question")] // field `answer` is named `question` in DSPy, like field `question`
///     answer: String,
/// }
/// ```
///
/// a field type that is not a signature field type:
///
/// ```compile_fail
/// #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] // no JsonSchema
/// struct Order { id: u32 }
///
/// #[derive(dspex::Signature)]
/// struct Extract {
///     #[input]
///     text: String,
///     #[output]
///     order: Order, // `Order` cannot be the type of a signature field
/// }
/// ```
///
/// and a field a module type adds itself, where a typed module of that type is created
/// with the signature (here `reasoning`, which ChainOfThought adds; Predict adds nothing,
/// so `Predict::typed::<Qa>` compiles):
///
/// ```compile_fail
/// #[derive(dspex::Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     reasoning: String,
/// }
///
/// let ctx = dspex::Context::new();
/// let cot = dspex::ChainOfThought::typed::<Qa>(&ctx); // signature `Qa` cannot be used with ChainOfThought: its field `reasoning` is ...
/// # drop(cot);
/// ```
///
/// The same in a program, `#[module(ChainOfThought, signature = Qa)]`, is reported on
/// `Qa` (see [`macro@program`]). Each compile error has a case with its expected message
/// in the repository's `tests/ui/signature/`.
#[proc_macro_derive(Signature, attributes(input, output, serde, dspex))]
pub fn derive_signature(input: TokenStream) -> TokenStream {
    expand_signature(input.into()).into()
}

/// Parse → check → expand for `#[derive(Signature)]`.
pub(crate) fn expand_signature(input: TokenStream2) -> TokenStream2 {
    let item: syn::DeriveInput = match syn::parse2(input) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let cx = Ctxt::new();
    // Not a plain struct (an enum, generics): nothing to build a fallback from.
    let Some(input) = signature::parse::parse_signature(&cx, item) else {
        return finish(cx, None, TokenStream2::new);
    };
    let code = signature::check::check_signature(&cx, &input)
        .map(|checked| signature::expand::signature(&input, &checked));
    finish(cx, code, || signature::fallback::signature(&input))
}
