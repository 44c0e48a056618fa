//! The macros, used as a user would: `#[dspex::program]`, `#[derive(dspex::Variables)]`,
//! `defvariable!` and the program registry.

use dspex::{BackendKind, Constraints, Context, Error, Value, VarType, VariableSet};

const DEFAULT_TOKENS: i64 = 512;
const DEFAULT_MODEL: &str = "claude-3";

#[dspex::program]
pub struct Qa {
    /// Sampling temperature.
    #[var(default = 0.7, min = 0.0, max = 2.0)]
    temperature: f64,
    #[var(default = 256, min = 1, max = 4096)]
    max_tokens: i64,
    #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
    model: String,
    ///   Instructions for the model,
    ///   on two lines.
    #[var(default = "Be brief.", max_length = 200, pattern = "^[A-Z]")]
    instructions: String,
    #[var(module, default = "ChainOfThought", choices = ["Predict", "ChainOfThought"])]
    strategy: String,
    #[var(default = false)]
    verbose: bool,
}

#[dspex::program]
struct Bounds {
    #[var(default = -1.0, min = -10, max = 10)]
    offset: f64,
    #[var(default = 1, min = 0.0)]
    ratio: f64,
    #[var(default = -5, min = -10, max = -1)]
    shift: i64,
    #[var(default = DEFAULT_TOKENS, min = 1, max = 4096)]
    tokens: i64,
    #[var(choice, default = DEFAULT_MODEL, choices = ["gpt-4", "claude-3"])]
    model: String,
    #[var(default = 1, description = "  Given by key.  ")]
    r#type: i64,
}

#[test]
fn program_registers_its_variables_and_nothing_else() -> dspex::Result<()> {
    let ctx = Context::new();
    let qa = Qa::new(&ctx)?;
    let names: Vec<String> = ctx.list().into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        [
            "temperature",
            "max_tokens",
            "model",
            "instructions",
            "strategy",
            "verbose"
        ]
    );
    assert_eq!(qa.context().backend().kind, BackendKind::Local);
    assert_eq!(qa.context().id(), ctx.id());

    let t = ctx.variable("temperature")?;
    assert_eq!(t.var_type, VarType::Float);
    assert_eq!(t.value, Value::Float(0.7));
    assert_eq!(t.constraints, Constraints::new().min(0.0).max(2.0));
    assert_eq!(t.description.as_deref(), Some("Sampling temperature."));
    assert_eq!(ctx.variable("model")?.var_type, VarType::Choice);
    assert_eq!(ctx.variable("strategy")?.var_type, VarType::Module);
    assert_eq!(ctx.variable("instructions")?.var_type, VarType::String);
    assert_eq!(ctx.variable("verbose")?.var_type, VarType::Boolean);
    assert_eq!(
        ctx.variable("instructions")?.description.as_deref(),
        Some("Instructions for the model,\non two lines.")
    );
    assert_eq!(ctx.variable("max_tokens")?.description, None);
    Ok(())
}

#[test]
fn program_getters_and_setters() -> dspex::Result<()> {
    let ctx = Context::new();
    let qa = Qa::new(&ctx)?;
    assert_eq!(qa.temperature()?, 0.7);
    assert_eq!(qa.max_tokens()?, 256);
    assert_eq!(qa.model()?, "gpt-4");
    assert_eq!(qa.instructions()?, "Be brief.");
    assert_eq!(qa.strategy()?, "ChainOfThought");
    assert!(!qa.verbose()?);

    assert_eq!(qa.set_temperature(1.5)?, 1);
    assert_eq!(qa.set_temperature(1.0)?, 2);
    assert_eq!(ctx.get::<f64>("temperature")?, 1.0);
    let err = qa.set_temperature(2.5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "variable `temperature`: 2.5 is above the maximum 2.0"
    );
    assert_eq!(qa.temperature()?, 1.0);

    qa.set_model("claude-3")?;
    qa.set_model(String::from("gpt-4"))?;
    assert!(matches!(
        qa.set_model("gpt-5"),
        Err(Error::ConstraintViolation { .. })
    ));
    assert!(qa.set_instructions("lowercase").is_err());
    qa.set_verbose(true)?;
    assert!(qa.verbose()?);
    qa.set_max_tokens(4096)?;
    assert!(qa.set_max_tokens(0).is_err());

    // The Context is the single source of truth: a write through it is seen by the getter.
    ctx.set("temperature", 0.2)?;
    assert_eq!(qa.temperature()?, 0.2);
    Ok(())
}

#[test]
fn program_new_fails_on_a_taken_name() {
    let ctx = Context::new();
    Qa::new(&ctx).unwrap();
    assert!(matches!(Qa::new(&ctx), Err(Error::AlreadyExists { .. })));

    // All or nothing: one taken name, and none of the program's variables is added.
    let other = Context::new();
    dspex::defvariable!(other, model: string = "taken").unwrap();
    assert!(matches!(Qa::new(&other), Err(Error::AlreadyExists { .. })));
    assert_eq!(other.list().len(), 1);
}

#[test]
fn negative_and_const_defaults() -> dspex::Result<()> {
    let ctx = Context::new();
    let b = Bounds::new(&ctx)?;
    assert_eq!(b.offset()?, -1.0);
    assert_eq!(b.ratio()?, 1.0);
    assert_eq!(b.shift()?, -5);
    assert_eq!(b.tokens()?, 512);
    assert_eq!(b.model()?, "claude-3");
    assert_eq!(b.r#type()?, 1);
    b.set_type(2)?;
    assert_eq!(ctx.get::<i64>("type")?, 2);
    assert_eq!(
        ctx.variable("type")?.description.as_deref(),
        Some("Given by key.")
    );
    assert_eq!(
        ctx.variable("offset")?.constraints,
        Constraints::new().min(-10.0).max(10.0)
    );
    Ok(())
}

#[derive(dspex::Variables, Debug, Clone, PartialEq)]
struct Tuning {
    #[var(default = 0.7, min = 0.0, max = 2.0)]
    temperature: f64,
    #[var(default = 256, min = 1)]
    max_tokens: i64,
    #[var(choice, default = "gpt-4", choices = ["gpt-4", "claude-3"])]
    model: String,
    #[var(default = true)]
    stream: bool,
    #[var(default = DEFAULT_TOKENS)]
    budget: i64,
}

#[derive(dspex::Variables, Debug, PartialEq)]
struct Empty {}

#[test]
fn variables_register_load_store_defaults() -> dspex::Result<()> {
    let ctx = Context::new();
    Tuning::register(&ctx)?;
    assert_eq!(ctx.list().len(), 5);
    assert_eq!(
        Tuning::defaults(),
        Tuning {
            temperature: 0.7,
            max_tokens: 256,
            model: "gpt-4".into(),
            stream: true,
            budget: 512,
        }
    );
    let mut t = Tuning::load(&ctx)?;
    assert_eq!(t, Tuning::defaults());

    t.temperature = 1.1;
    t.model = "claude-3".into();
    t.stream = false;
    t.store(&ctx)?;
    assert_eq!(Tuning::load(&ctx)?, t);
    assert_eq!(ctx.variable("temperature")?.version, 1);

    // All or nothing: one bad field and no field changes.
    let mut bad = t.clone();
    bad.temperature = 0.3;
    bad.max_tokens = 0;
    let err = bad.store(&ctx).unwrap_err();
    assert_eq!(err.variable(), Some("max_tokens"));
    assert_eq!(Tuning::load(&ctx)?, t);

    // Load reports a missing variable.
    let other = Context::new();
    assert!(matches!(Tuning::load(&other), Err(Error::NotFound { .. })));

    Empty::register(&ctx)?;
    assert_eq!(Empty::load(&ctx)?, Empty {});
    Empty {}.store(&ctx)?;
    Ok(())
}

#[test]
fn defvariable_macro() -> dspex::Result<()> {
    let ctx = Context::new();
    let id = dspex::defvariable!(ctx, temperature: float = 0.7, min = 0.0, max = 2.0, description = "Sampling temperature")?;
    assert_eq!(ctx.get::<f64>(&id)?, 0.7);
    dspex::defvariable!(ctx, count: integer = 10, min = 0, max = 100)?;
    dspex::defvariable!(ctx, name: string = "x", min_length = 1, max_length = 20, pattern = "^[a-z]+$")?;
    dspex::defvariable!(ctx, verbose: boolean = true)?;
    dspex::defvariable!(ctx, model: choice = "gpt-4", choices = ["gpt-4", "claude-3"])?;
    dspex::defvariable!(ctx, strategy: module = "ChainOfThought")?;
    // ctx stays usable; &Context works too.
    let r = &ctx;
    dspex::defvariable!(r, offset: float = -1.5)?;
    dspex::defvariable!(&ctx, whole: float = 1)?;
    dspex::defvariable!(ctx, "llm.top_p": float = 0.9, max = 1.0)?;
    dspex::defvariable!(ctx, budget: integer = DEFAULT_TOKENS, min = 1)?;
    let runtime_value = 3.5;
    let err = dspex::defvariable!(ctx, runtime: float = runtime_value, max = 1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "variable `runtime`: 3.5 is above the maximum 1.0"
    );

    assert_eq!(ctx.get::<f64>("whole")?, 1.0);
    assert_eq!(ctx.get::<f64>("offset")?, -1.5);
    assert_eq!(ctx.get::<f64>("llm.top_p")?, 0.9);
    assert_eq!(ctx.variable("model")?.var_type, VarType::Choice);
    assert_eq!(ctx.variable("strategy")?.var_type, VarType::Module);
    assert_eq!(
        ctx.variable("temperature")?.description.as_deref(),
        Some("Sampling temperature")
    );
    assert_eq!(
        ctx.variable("name")?.constraints,
        Constraints::new()
            .min_length(1)
            .max_length(20)
            .pattern("^[a-z]+$")
    );
    assert!(matches!(
        dspex::defvariable!(ctx, count: integer = 1),
        Err(Error::AlreadyExists { .. })
    ));
    Ok(())
}

#[test]
fn defvariable_on_an_owned_context_expression() -> dspex::Result<()> {
    struct Holder {
        ctx: Context,
    }
    let h = Holder {
        ctx: Context::new(),
    };
    dspex::defvariable!(h.ctx, n: integer = 1)?;
    let holders = [&h];
    dspex::defvariable!(holders[0].ctx, m: integer = 2)?;
    let pick = |i: usize| &holders[i].ctx;
    dspex::defvariable!(*pick(0), k: integer = 3)?;
    assert_eq!(h.ctx.get::<i64>("n")?, 1);
    Ok(())
}

#[test]
fn registry_lists_programs() {
    let qa = dspex::programs()
        .find(|p| p.name() == "Qa")
        .expect("Qa is registered");
    assert_eq!(qa.module_path(), "macros");
    assert_eq!(qa.path(), "macros::Qa");
    let names: Vec<&str> = qa.variables().iter().map(|v| v.name()).collect();
    assert_eq!(
        names,
        [
            "temperature",
            "max_tokens",
            "model",
            "instructions",
            "strategy",
            "verbose"
        ]
    );
    let t = qa.variable("temperature").unwrap();
    assert_eq!(t.var_type(), VarType::Float);
    assert_eq!(t.default_value(), Value::Float(0.7));
    assert_eq!(t.constraints(), Constraints::new().min(0.0).max(2.0));
    assert_eq!(t.description(), Some("Sampling temperature."));
    let m = qa.variable("model").unwrap();
    assert_eq!(m.var_type(), VarType::Choice);
    assert_eq!(
        m.constraints(),
        Constraints::new().choices(["gpt-4", "claude-3"])
    );
    let i = qa.variable("instructions").unwrap();
    assert_eq!(
        i.constraints(),
        Constraints::new().max_length(200).pattern("^[A-Z]")
    );
    assert!(qa.modules().is_empty());

    let b = dspex::programs().find(|p| p.name() == "Bounds").unwrap();
    assert_eq!(
        b.variable("tokens").unwrap().default_value(),
        Value::Integer(512)
    );
    assert_eq!(
        b.variable("offset").unwrap().default_value(),
        Value::Float(-1.0)
    );
    assert_eq!(
        b.variable("model").unwrap().default_value(),
        Value::from("claude-3")
    );
    // Every registered default passes its own definition (the runtime's check).
    for program in dspex::programs() {
        let ctx = Context::new();
        for v in program.variables() {
            let opts = dspex::VarOptions::new().constraints(v.constraints());
            ctx.defvariable(v.name(), v.var_type(), v.default_value(), opts)
                .unwrap();
        }
    }
}
