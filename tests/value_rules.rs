//! Property tests over the value rules: random values written to variables with random
//! constraints are either accepted, and then satisfy the constraints, or refused with a
//! short error of the kind an independent reading of the rules expects, changing nothing —
//! on the Local and the Bridged backend, and from Python through the real bridge.

mod common;

use std::sync::Mutex;

use dspex::limits::MAX_STRING_BYTES;
use dspex::{Constraints, Context, Error, Value, VarOptions, VarType};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The longest message an error about one value may have.
const MAX_ERROR_BYTES: usize = 2048;

/// The patterns a string variable may get.
const PATTERNS: [&str; 4] = [r"^[a-z]+$", r"\d", r"^a", r"(?:ab){2}"];

/// One random definition and one random write.
#[derive(Debug, Clone)]
struct Case {
    var_type: VarType,
    constraints: Constraints,
    value: Value,
}

/// What a write should do, by the rules as the documentation states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    TypeMismatch,
    ConstraintViolation,
}

impl Outcome {
    fn kind(self) -> &'static str {
        match self {
            Outcome::Accepted => "ok",
            Outcome::TypeMismatch => "type_mismatch",
            Outcome::ConstraintViolation => "constraint_violation",
        }
    }
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        -10.0..10.0f64,
        (-10i64..10).prop_map(|i| i as f64),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(9.3e18),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,12}",
        "(ab){0,3}[0-9]?",
        Just("y".repeat(MAX_STRING_BYTES + 1)),
        Just("a".repeat(MAX_STRING_BYTES)),
        "[ -~é🚀\n]{0,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        float().prop_map(Value::Float),
        prop_oneof![-10i64..10, Just(i64::MAX), Just(i64::MIN)].prop_map(Value::Integer),
        string().prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let bounds = (
        proptest::option::of(-5i64..5),
        proptest::option::of(-5i64..5),
    );
    let numeric = (
        prop_oneof![Just(VarType::Float), Just(VarType::Integer)],
        bounds,
    )
        .prop_map(|(var_type, (lo, hi))| {
            let (lo, hi) = match (lo, hi) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            let mut c = Constraints::new();
            c.min = lo.map(Value::Integer);
            c.max = hi.map(Value::Integer);
            (var_type, c)
        });
    let strings = (
        proptest::option::of(0usize..4),
        proptest::option::of(0usize..10),
        proptest::option::of(proptest::sample::select(&PATTERNS[..])),
    )
        .prop_map(|(lo, extra, pattern)| {
            let mut c = Constraints::new();
            c.min_length = lo;
            c.max_length = extra.map(|e| lo.unwrap_or(0) + e);
            c.pattern = pattern.map(str::to_owned);
            (VarType::String, c)
        });
    let choices = proptest::collection::vec("[a-c]{1,2}", 1..4)
        .prop_map(|choices| (VarType::Choice, Constraints::new().choices(choices)));
    let plain = prop_oneof![Just(VarType::Boolean), Just(VarType::String)]
        .prop_map(|t| (t, Constraints::new()));
    (prop_oneof![numeric, strings, choices, plain], value()).prop_map(
        |((var_type, constraints), value)| Case {
            var_type,
            constraints,
            value,
        },
    )
}

/// 2^63: the first float past the integers an i64 holds.
const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;

/// The rules, read independently of the library: what a write of `value` should do.
fn expected(case: &Case) -> (Outcome, Option<Value>) {
    use Outcome::*;
    let c = &case.constraints;
    let coerced = match (case.var_type, &case.value) {
        (VarType::Float, Value::Float(f)) if !f.is_nan() => Value::Float(*f),
        (VarType::Float, Value::Integer(i)) => Value::Float(*i as f64),
        (VarType::Integer, Value::Integer(i)) => Value::Integer(*i),
        (VarType::Integer, Value::Float(f))
            if f.fract() == 0.0 && *f >= -TWO_TO_63 && *f < TWO_TO_63 =>
        {
            Value::Integer(*f as i64)
        }
        (VarType::String | VarType::Choice, Value::String(s)) => Value::String(s.clone()),
        (VarType::Boolean, Value::Boolean(b)) => Value::Boolean(*b),
        _ => return (TypeMismatch, None),
    };
    let number = |v: &Option<Value>| match v {
        Some(Value::Integer(i)) => Some(*i as f64),
        _ => None,
    };
    let ok = match &coerced {
        Value::Float(f) => {
            number(&c.min).is_none_or(|lo| *f >= lo) && number(&c.max).is_none_or(|hi| *f <= hi)
        }
        Value::Integer(i) => {
            let (lo, hi) = (number(&c.min), number(&c.max));
            lo.is_none_or(|lo| *i as f64 >= lo) && hi.is_none_or(|hi| *i as f64 <= hi)
        }
        Value::String(s) => {
            let chars = s.chars().count();
            s.len() <= MAX_STRING_BYTES
                && c.min_length.is_none_or(|n| chars >= n)
                && c.max_length.is_none_or(|n| chars <= n)
                && c.pattern
                    .as_deref()
                    .is_none_or(|p| regex::Regex::new(p).expect("a test pattern").is_match(s))
                && c.choices.as_ref().is_none_or(|choices| choices.contains(s))
        }
        Value::Boolean(_) => true,
    };
    if ok {
        (Accepted, Some(coerced))
    } else {
        (ConstraintViolation, None)
    }
}

/// A value the variable accepts, to define it with.
fn initial(case: &Case) -> Value {
    let c = &case.constraints;
    match case.var_type {
        VarType::Float | VarType::Integer => {
            let lo = c.min.clone().unwrap_or(Value::Integer(0));
            match (&lo, &c.max) {
                (Value::Integer(l), Some(Value::Integer(h))) if l > h => Value::Integer(*h),
                _ => lo,
            }
        }
        VarType::String => {
            let n = c.min_length.unwrap_or(0).max(4);
            let n = c
                .max_length
                .map_or(n, |m| n.min(m).max(c.min_length.unwrap_or(0)));
            match c.pattern.as_deref() {
                Some(r"\d") => Value::String(format!("{:1<n$}", "1")),
                Some(r"(?:ab){2}") => Value::String(format!("{:a<n$}", "abab")),
                _ => Value::String("a".repeat(n)),
            }
        }
        VarType::Choice => Value::String(c.choices.as_ref().expect("choices")[0].clone()),
        _ => Value::Boolean(false),
    }
}

/// Writes the case's value to a new variable of `ctx` and checks what happened. Returns
/// the outcome, or `None` when the case's definition cannot have an initial value.
fn check(ctx: &Context, name: &str, case: &Case) -> Result<Option<Outcome>, TestCaseError> {
    let opts = VarOptions::new().constraints(case.constraints.clone());
    if ctx
        .defvariable(name, case.var_type, initial(case), opts)
        .is_err()
    {
        return Ok(None);
    }
    let before = ctx.variable(name).expect("defined");
    let (outcome, stored) = expected(case);
    match ctx.set(name, case.value.clone()) {
        Ok(version) => {
            prop_assert_eq!(outcome, Outcome::Accepted, "accepted {:?}", case);
            prop_assert_eq!(version, 1);
            let now = ctx.get::<Value>(name).expect("readable");
            let stored = stored.expect("a stored value");
            match (&now, &stored) {
                (Value::Float(a), Value::Float(b)) => {
                    prop_assert!(a == b || (a.is_nan() && b.is_nan()))
                }
                _ => prop_assert_eq!(&now, &stored),
            }
        }
        Err(err) => {
            let got = match err {
                Error::TypeMismatch { .. } => Outcome::TypeMismatch,
                Error::ConstraintViolation { .. } => Outcome::ConstraintViolation,
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            };
            prop_assert_eq!(got, outcome, "{:?}: {}", case, err);
            prop_assert!(
                err.to_string().len() <= MAX_ERROR_BYTES,
                "{} bytes",
                err.to_string().len()
            );
            prop_assert_eq!(
                ctx.variable(name).expect("still there"),
                before,
                "unchanged"
            );
        }
    }
    Ok(Some(outcome))
}

/// A value as the Python script rebuilds it: its Python type and a text it parses.
fn python_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Float(f) => serde_json::json!(["float", format!("{f:?}")]),
        Value::Integer(i) => serde_json::json!(["int", i.to_string()]),
        Value::String(s) => serde_json::json!(["str", s]),
        Value::Boolean(b) => serde_json::json!(["bool", b]),
    }
}

const PYTHON_WRITES: &str = r#"
cases = json.load(open(os.environ["DSPEX_CASES"]))
parse = {"float": float, "int": int, "str": str, "bool": bool}

async def main():
    async with grpc.aio.insecure_channel(ADDRESS) as channel:
        session = SessionContext(SESSION, channel)
        outcomes = []
        for case in cases:
            kind, raw = case["value"]
            try:
                await session.set_variable(case["name"], parse[kind](raw))
                outcomes.append("ok")
            except Exception as error:
                outcomes.append(getattr(error, "kind", type(error).__name__))
        print(json.dumps(outcomes))

asyncio.run(main())
"#;

#[test]
fn random_writes_follow_the_rules_in_rust_and_python() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let local = Context::new();
    let bridged = Context::new();
    let from_python = Context::new();
    rt.block_on(async {
        bridged.ensure_bridged().await.expect("bridged");
        from_python.ensure_bridged().await.expect("bridged");
    });

    let recorded = Mutex::new(Vec::new());
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let next = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&case(), |case| {
            // Shrinking reruns cases: every run gets a name of its own.
            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("v{n}");
            let Some(outcome) = check(&local, &name, &case)? else {
                return Ok(());
            };
            prop_assert_eq!(check(&bridged, &name, &case)?, Some(outcome), "{:?}", case);
            let opts = VarOptions::new().constraints(case.constraints.clone());
            from_python
                .defvariable(&name, case.var_type, initial(&case), opts)
                .expect("defined as in Local");
            recorded.lock().expect("cases").push((name, case, outcome));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));

    let recorded = recorded.into_inner().expect("cases");
    assert!(recorded.len() > 100, "{} usable cases", recorded.len());
    for outcome in [
        Outcome::Accepted,
        Outcome::TypeMismatch,
        Outcome::ConstraintViolation,
    ] {
        let seen = recorded.iter().filter(|(_, _, o)| *o == outcome).count();
        assert!(seen >= 10, "only {seen} cases of {outcome:?}");
    }
    let cases: Vec<_> = recorded
        .iter()
        .map(
            |(name, case, _)| serde_json::json!({"name": name, "value": python_value(&case.value)}),
        )
        .collect();
    let path = std::env::temp_dir().join(format!("dspex-value-rules-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_string(&cases).expect("json")).expect("write the cases");
    let out = common::run_python_with(
        &from_python,
        PYTHON_WRITES,
        &[("DSPEX_CASES", path.to_string_lossy().as_ref())],
    );
    let _ = std::fs::remove_file(&path);
    let outcomes: Vec<String> = serde_json::from_str(&out).expect("the outcomes, as JSON");
    assert_eq!(outcomes.len(), recorded.len());
    for ((name, case, outcome), from_python_kind) in recorded.iter().zip(&outcomes) {
        assert_eq!(from_python_kind, outcome.kind(), "{name}: {case:?}");
        let var = from_python.variable(name).expect("defined");
        let expected_version = u64::from(*outcome == Outcome::Accepted);
        assert_eq!(var.version, expected_version, "{name}: {case:?}");
        if *outcome == Outcome::Accepted {
            let rust = local.get::<Value>(name).expect("readable");
            match (&var.value, &rust) {
                (Value::Float(a), Value::Float(b)) => assert!(a == b || (a.is_nan() && b.is_nan())),
                _ => assert_eq!(var.value, rust, "{name}"),
            }
        }
    }
}
