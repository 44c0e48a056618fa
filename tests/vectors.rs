//! The cross-language test vectors (`tests/vectors/variables.json`) run against the
//! variable model in Rust. `python/tests/test_vectors.py` runs the same file through the
//! bridge, so the two languages cannot drift apart.
//!
//! Each case registers a variable (type, constraints, initial value) on a fresh Context,
//! writes `input` when there is one, and compares the outcome with `expect`:
//! `{"value": typed}`, `{"error": kind}`, `{"definition_error": true}` or
//! `{"initial_error": kind}`. Typed values are one-key objects (`{"float": 1.0}`,
//! `{"integer": 3}`, `{"string": "a"}`, `{"boolean": true}`); floats may be written as the
//! strings `"nan"`, `"inf"` and `"-inf"`.

use dspex::{Constraints, Context, Error, Value, VarOptions, VarType};
use serde_json::{Map, Value as Json};

const VECTORS: &str = include_str!("vectors/variables.json");

/// The name every case registers (a fresh Context per case).
const NAME: &str = "v";

fn typed(json: &Json) -> Result<Value, String> {
    let obj = json
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("a typed value must be a one-key object, got {json}"))?;
    let (kind, raw) = obj.iter().next().expect("one key");
    match (kind.as_str(), raw) {
        ("float", Json::String(s)) => match s.as_str() {
            "nan" => Ok(Value::Float(f64::NAN)),
            "inf" => Ok(Value::Float(f64::INFINITY)),
            "-inf" => Ok(Value::Float(f64::NEG_INFINITY)),
            other => Err(format!("unknown float spelling {other:?}")),
        },
        ("float", Json::Number(n)) => n
            .as_f64()
            .map(Value::Float)
            .ok_or_else(|| format!("bad float {n}")),
        ("integer", Json::Number(n)) => n
            .as_i64()
            .map(Value::Integer)
            .ok_or_else(|| format!("bad integer {n}")),
        ("string", Json::String(s)) => Ok(Value::String(s.clone())),
        ("boolean", Json::Bool(b)) => Ok(Value::Boolean(*b)),
        _ => Err(format!("bad typed value {json}")),
    }
}

fn length(json: &Json) -> Result<usize, String> {
    json.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("a length must be a non-negative integer, got {json}"))
}

fn constraints(json: Option<&Json>) -> Result<Constraints, String> {
    let mut c = Constraints::new();
    let Some(json) = json else { return Ok(c) };
    let obj = json
        .as_object()
        .ok_or_else(|| format!("constraints must be an object, got {json}"))?;
    for (key, raw) in obj {
        match key.as_str() {
            "min" => c.min = Some(typed(raw)?),
            "max" => c.max = Some(typed(raw)?),
            "min_length" => c.min_length = Some(length(raw)?),
            "max_length" => c.max_length = Some(length(raw)?),
            "pattern" => {
                c.pattern = Some(
                    raw.as_str()
                        .ok_or_else(|| format!("pattern must be a string, got {raw}"))?
                        .to_owned(),
                )
            }
            "choices" => {
                let list = raw
                    .as_array()
                    .ok_or_else(|| format!("choices must be a list, got {raw}"))?;
                let choices = list
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("choices must be strings, got {raw}"))?;
                c.choices = Some(choices);
            }
            other => return Err(format!("unknown constraint key {other:?}")),
        }
    }
    Ok(c)
}

/// The kind name of an error, as the bridge spells it in `x-dspex-error`.
fn kind(err: &Error) -> &'static str {
    match err {
        Error::TypeMismatch { .. } => "type_mismatch",
        Error::ConstraintViolation { .. } => "constraint_violation",
        Error::InvalidDefinition { .. } => "invalid_definition",
        Error::NotFound { .. } => "not_found",
        Error::AlreadyExists { .. } => "already_exists",
        Error::VersionConflict { .. } => "version_conflict",
        _ => "other",
    }
}

/// Same value, same kind: floats compare bit-for-bit except that every NaN is equal
/// (so `-0.0` and `0.0` are told apart, as Python's `repr` would).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        _ => a == b,
    }
}

/// Runs one case; `Err` describes how the outcome differs from the expectation.
fn run(case: &Map<String, Json>) -> Result<(), String> {
    let var_type: VarType = case["type"]
        .as_str()
        .ok_or("type must be a string")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let constraints = constraints(case.get("constraints"))?;
    let initial = typed(&case["initial"])?;
    let expect = case["expect"]
        .as_object()
        .ok_or("expect must be an object")?;

    let ctx = Context::new();
    let registered = ctx.defvariable(
        NAME,
        var_type,
        initial,
        VarOptions::new().constraints(constraints),
    );

    if expect.contains_key("definition_error") {
        return match registered {
            Err(Error::InvalidDefinition { .. }) => Ok(()),
            other => Err(format!("expected invalid_definition, got {other:?}")),
        };
    }
    if let Some(want) = expect.get("initial_error") {
        return match registered {
            Err(err) if Some(kind(&err)) == want.as_str() => Ok(()),
            other => Err(format!(
                "expected the initial value to fail with {want}, got {other:?}"
            )),
        };
    }
    registered.map_err(|e| format!("registration failed: {e}"))?;

    let before = ctx.variable(NAME).map_err(|e| e.to_string())?;
    let written = match case.get("input") {
        Some(input) => ctx.set(NAME, typed(input)?).map(Some),
        None => Ok(None),
    };

    if let Some(want) = expect.get("error") {
        let err = match written {
            Err(err) => err,
            Ok(v) => return Err(format!("expected {want}, but the write succeeded ({v:?})")),
        };
        if Some(kind(&err)) != want.as_str() {
            return Err(format!("expected {want}, got {err:?}"));
        }
        let after = ctx.variable(NAME).map_err(|e| e.to_string())?;
        if !same(&after.value, &before.value) || after.version != before.version {
            return Err(format!(
                "a refused write changed the variable: {before:?} -> {after:?}"
            ));
        }
        return Ok(());
    }

    let want = typed(expect.get("value").ok_or("expect has no known key")?)?;
    let version = written.map_err(|e| format!("expected {want:?}, got the error {e}"))?;
    if let Some(version) = version
        && version != before.version + 1
    {
        return Err(format!(
            "the write returned version {version}, expected {}",
            before.version + 1
        ));
    }
    let got = ctx.value(NAME).map_err(|e| e.to_string())?;
    if !same(&got, &want) {
        return Err(format!("expected {want:?}, got {got:?}"));
    }
    Ok(())
}

#[test]
fn every_vector_holds_in_rust() {
    let cases: Vec<Json> = serde_json::from_str(VECTORS).expect("variables.json is valid JSON");
    assert!(cases.len() >= 60, "only {} vectors", cases.len());

    let mut ids = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        let case = case.as_object().expect("each case is an object");
        let id = case["id"].as_str().expect("each case has an id");
        assert!(ids.insert(id), "duplicate vector id {id}");
        if let Err(why) = run(case) {
            failures.push(format!("{id}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_vectors_cover_every_type_and_outcome() {
    let cases: Vec<Json> = serde_json::from_str(VECTORS).expect("valid JSON");
    let has = |pred: &dyn Fn(&Map<String, Json>) -> bool| {
        cases.iter().filter_map(Json::as_object).any(pred)
    };
    for ty in VarType::ALL {
        assert!(
            has(&|c| c["type"] == ty.as_str()),
            "no vector for the type {ty}"
        );
    }
    for outcome in ["value", "error", "definition_error", "initial_error"] {
        assert!(
            has(&|c| c["expect"].get(outcome).is_some()),
            "no vector expecting {outcome}"
        );
    }
}
