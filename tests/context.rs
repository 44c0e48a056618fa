//! The Context API on its default (Local) backend: defining, reading, writing, batches,
//! versions, watching nothing leave the process, saving and restoring.

use dspex::{BackendKind, Constraints, Context, Error, Metadata, Value, VarOptions, VarType};

fn bounded(min: f64, max: f64) -> VarOptions {
    VarOptions::new().constraints(Constraints::new().min(min).max(max))
}

#[test]
fn a_new_context_is_local() {
    let ctx = Context::new();
    let info = ctx.backend();
    assert_eq!(info.kind, BackendKind::Local);
    assert!(!info.requires_bridge);
    assert_eq!(info.switches, 0);
    assert_ne!(ctx.id(), Context::new().id());
}

#[test]
fn define_get_set_update() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("temperature", VarType::Float, 0.7, bounded(0.0, 2.0))?;
    assert_eq!(ctx.get::<f64>("temperature")?, 0.7);
    assert_eq!(ctx.set("temperature", 0.9)?, 1);
    assert_eq!(ctx.update("temperature", |t: f64| t * 2.0)?, 2);
    assert_eq!(ctx.get::<f64>("temperature")?, 1.8);
    assert_eq!(ctx.value("temperature")?, Value::Float(1.8));
    assert_eq!(ctx.get::<Value>("temperature")?, Value::Float(1.8));
    Ok(())
}

#[test]
fn invalid_values_leave_value_and_version_unchanged() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("temperature", VarType::Float, 0.7, bounded(0.0, 2.0))?;
    let err = ctx.set("temperature", "hot").unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }));
    assert_eq!(
        err.to_string(),
        "variable `temperature`: expected a float, got the string \"hot\""
    );
    let err = ctx.set("temperature", 2.5).unwrap_err();
    assert!(matches!(err, Error::ConstraintViolation { .. }));
    assert_eq!(
        err.to_string(),
        "variable `temperature`: 2.5 is above the maximum 2.0"
    );
    let err = ctx.update("temperature", |t: f64| t + 10.0).unwrap_err();
    assert!(matches!(err, Error::ConstraintViolation { .. }));
    let var = ctx.variable("temperature")?;
    assert_eq!((var.value, var.version), (Value::Float(0.7), 0));
    Ok(())
}

#[test]
fn coercion_rules() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("f", VarType::Float, 0.0, VarOptions::new())?;
    ctx.set("f", 42)?;
    assert_eq!(ctx.get::<f64>("f")?, 42.0);
    assert!(matches!(
        ctx.set("f", f64::NAN),
        Err(Error::TypeMismatch { .. })
    ));
    ctx.set("f", f64::INFINITY)?; // a value like any other without bounds
    assert_eq!(ctx.get::<f64>("f")?, f64::INFINITY);
    ctx.defvariable("i", VarType::Integer, 0, VarOptions::new())?;
    ctx.set("i", 3.0)?;
    assert_eq!(ctx.get::<i64>("i")?, 3);
    assert!(matches!(ctx.set("i", 3.5), Err(Error::TypeMismatch { .. })));
    assert!(matches!(
        ctx.set("i", 1e300),
        Err(Error::TypeMismatch { .. })
    ));
    assert_eq!(ctx.get::<i64>("i")?, 3);
    Ok(())
}

#[test]
fn typed_get_is_strict() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("i", VarType::Integer, 3, VarOptions::new())?;
    ctx.defvariable(
        "c",
        VarType::Choice,
        "a",
        VarOptions::new().constraints(Constraints::new().choices(["a", "b"])),
    )?;
    assert!(matches!(
        ctx.get::<f64>("i"),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        ctx.get::<bool>("i"),
        Err(Error::TypeMismatch { .. })
    ));
    assert_eq!(ctx.get::<String>("c")?, "a");
    assert!(matches!(
        ctx.get::<i64>("c"),
        Err(Error::TypeMismatch { .. })
    ));
    Ok(())
}

#[test]
fn choices_patterns_and_lengths() -> dspex::Result<()> {
    let ctx = Context::new();
    let model = VarOptions::new().constraints(Constraints::new().choices(["gpt-4", "claude-3"]));
    ctx.defvariable("model", VarType::Choice, "gpt-4", model)?;
    let err = ctx.set("model", "llama").unwrap_err();
    assert!(matches!(err, Error::ConstraintViolation { .. }));
    assert!(
        err.to_string()
            .contains("\"llama\" is not one of the choices")
    );
    let name = VarOptions::new().constraints(
        Constraints::new()
            .min_length(2)
            .max_length(5)
            .pattern("^[a-z]+$"),
    );
    ctx.defvariable("name", VarType::String, "abc", name)?;
    for bad in ["a", "abcdef", "ABC"] {
        assert!(matches!(
            ctx.set("name", bad),
            Err(Error::ConstraintViolation { .. })
        ));
    }
    assert_eq!(ctx.get::<String>("name")?, "abc");
    Ok(())
}

#[test]
fn invalid_definitions_are_rejected() {
    let ctx = Context::new();
    let err = ctx
        .defvariable("t", VarType::Float, 1.0, bounded(2.0, 1.0))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidDefinition { .. }));
    assert_eq!(
        err.to_string(),
        "invalid definition of variable `t`: min 2.0 is above max 1.0"
    );
    let err = ctx
        .defvariable(
            "b",
            VarType::Boolean,
            true,
            VarOptions::new().constraints(Constraints::new().max_length(3)),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`max_length` does not apply to a boolean")
    );
    let err = ctx
        .defvariable("9x", VarType::Boolean, true, VarOptions::new())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidDefinition { .. }), "{err:?}");
    assert!(ctx.list().is_empty());
}

#[test]
fn duplicate_and_unknown_names() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("n", VarType::Integer, 1, VarOptions::new())?;
    let err = ctx
        .defvariable("n", VarType::Integer, 2, VarOptions::new())
        .unwrap_err();
    assert_eq!(err, Error::AlreadyExists { name: "n".into() });
    let err = ctx.get::<i64>("missing").unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(err.to_string(), "variable `missing` not found");
    assert!(!ctx.exists("missing"));
    Ok(())
}

#[test]
fn lookups_by_id() -> dspex::Result<()> {
    let ctx = Context::new();
    let id = ctx.defvariable("n", VarType::Integer, 1, VarOptions::new())?;
    assert!(ctx.exists(&id));
    assert_eq!(ctx.get::<i64>(&id)?, 1);
    ctx.set(&id, 2)?;
    assert_eq!(ctx.variable("n")?.id, id);
    assert_eq!(ctx.get::<i64>("n")?, 2);
    Ok(())
}

#[test]
fn get_many_update_many_and_list() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("a", VarType::Float, 0.5, bounded(0.0, 1.0))?;
    ctx.defvariable("b", VarType::Integer, 1, VarOptions::new())?;
    ctx.defvariable("c", VarType::Boolean, false, VarOptions::new())?;
    let got = ctx.get_many(&["a", "c", "unknown"])?;
    assert_eq!(got.len(), 2);
    assert_eq!(got["c"], Value::Boolean(false));
    let err = ctx
        .update_many([
            ("a", Value::from(0.9)),
            ("b", Value::from(2)),
            ("c", Value::from(1)),
        ])
        .unwrap_err();
    assert_eq!(err.variable(), Some("c"));
    assert_eq!(ctx.get::<f64>("a")?, 0.5);
    assert_eq!(ctx.get::<i64>("b")?, 1);
    ctx.update_many(vec![
        ("a".to_string(), Value::from(0.9)),
        ("b".to_string(), Value::from(2)),
    ])?;
    assert_eq!(ctx.get::<f64>("a")?, 0.9);
    let names: Vec<_> = ctx.list().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["a", "b", "c"]);
    Ok(())
}

#[test]
fn set_with_metadata_and_set_if_version() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable(
        "t",
        VarType::Float,
        0.1,
        VarOptions::new()
            .metadata("owner", "me")
            .description("temp"),
    )?;
    let md: Metadata = [("why".to_string(), "tuning".to_string())].into();
    assert_eq!(ctx.set_with_metadata("t", 0.2, md)?, 1);
    let var = ctx.variable("t")?;
    assert_eq!(var.metadata.len(), 2);
    assert_eq!(
        (var.metadata["owner"].as_str(), var.metadata["why"].as_str()),
        ("me", "tuning")
    );
    assert_eq!(ctx.set_if_version("t", 0.3, 1)?, 2);
    let err = ctx.set_if_version("t", 0.4, 1).unwrap_err();
    assert_eq!(
        err,
        Error::VersionConflict {
            name: "t".into(),
            expected: 1,
            actual: 2
        }
    );
    assert_eq!(ctx.get::<f64>("t")?, 0.3);
    Ok(())
}

#[test]
fn clones_share_state() -> dspex::Result<()> {
    let ctx = Context::new();
    let other = ctx.clone();
    ctx.defvariable("n", VarType::Integer, 1, VarOptions::new())?;
    other.set("n", 2)?;
    assert_eq!(ctx.get::<i64>("n")?, 2);
    assert_eq!(ctx.id(), other.id());
    Ok(())
}

#[test]
fn concurrent_updates_lose_nothing() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("count", VarType::Integer, 0, VarOptions::new())?;
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    ctx.update("count", |n: i64| n + 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ctx.get::<i64>("count")?, 20_000);
    Ok(())
}

#[test]
fn save_and_restore_as_json() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable(
        "t",
        VarType::Float,
        0.7,
        bounded(0.0, 2.0).description("temp").metadata("k", "v"),
    )?;
    ctx.defvariable("n", VarType::Integer, 2, VarOptions::new())?;
    ctx.defvariable(
        "m",
        VarType::Module,
        "Predict",
        VarOptions::new().constraints(Constraints::new().choices(["Predict", "ReAct"])),
    )?;
    ctx.set("t", 1.0)?;
    let json = ctx.to_json()?;
    let restored = Context::from_json(&json)?;
    assert_eq!(restored.list(), ctx.list());
    assert_ne!(restored.id(), ctx.id());
    assert!(matches!(
        restored.set("t", 3.0),
        Err(Error::ConstraintViolation { .. })
    )); // constraints came along
    assert_eq!(restored.variable("t")?.metadata["k"], "v");
    assert!(matches!(
        Context::from_json("{"),
        Err(Error::Serialization { .. })
    ));
    Ok(())
}
