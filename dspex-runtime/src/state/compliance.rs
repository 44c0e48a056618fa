//! The compliance suite: behavioural tests every [`StateProvider`] must pass, run
//! against each backend at the end of this file.
//!
//! Each check takes a fresh, empty backend and panics (as a test does) when the backend
//! misbehaves. `compliance_suite!` turns the whole list into `#[test]` functions.

use std::sync::Arc;

use dspex_core::{Constraints, Error, Metadata, Value, VarOptions, VarType};

use super::{StateProvider, WriteOptions};
use crate::watch::UpdateSource;

/// Every write in the suite is made from Rust.
const RUST: UpdateSource = UpdateSource::Rust;

/// A backend under test.
type Backend = Arc<dyn StateProvider>;

fn float_0_2(p: &dyn StateProvider, name: &str, v: f64) {
    let opts = VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0));
    p.register(name, VarType::Float, v.into(), opts, RUST)
        .expect("register a float in [0, 2]");
}

fn set(p: &dyn StateProvider, key: &str, v: impl Into<Value>) -> dspex_core::Result<u64> {
    p.set(key, v.into(), WriteOptions::default())
}

/// register, get, set; versions start at 0 and go up by one per write.
fn define_get_set(p: Backend) {
    float_0_2(&*p, "temperature", 0.7);
    assert_eq!(p.get("temperature").unwrap(), Value::Float(0.7));
    assert_eq!(p.variable("temperature").unwrap().version, 0);
    assert_eq!(set(&*p, "temperature", 0.9).unwrap(), 1);
    assert_eq!(p.get("temperature").unwrap(), Value::Float(0.9));
    assert_eq!(set(&*p, "temperature", 1.1).unwrap(), 2);
}

/// A refused value changes neither the value, nor the version, nor the metadata.
fn refused_writes_change_nothing(p: Backend) {
    float_0_2(&*p, "t", 0.7);
    let before = p.variable("t").unwrap();
    let err = set(&*p, "t", "hot").unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err:?}");
    let err = set(&*p, "t", 2.5).unwrap_err();
    assert!(matches!(err, Error::ConstraintViolation { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "variable `t`: 2.5 is above the maximum 2.0"
    );
    let md: Metadata = [("k".to_owned(), "v".to_owned())].into();
    let opts = WriteOptions {
        metadata: Some(md),
        ..WriteOptions::default()
    };
    let err = p.set("t", Value::Float(-1.0), opts).unwrap_err();
    assert!(matches!(err, Error::ConstraintViolation { .. }), "{err:?}");
    let err = p
        .update("t", &mut |_| Ok(Value::String("x".into())), RUST)
        .unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err:?}");
    assert_eq!(p.variable("t").unwrap(), before);
}

/// Coercions: 42 → 42.0 for a float, 3.0 → 3 for an integer, 3.5 and NaN refused.
fn coercions(p: Backend) {
    p.register(
        "f",
        VarType::Float,
        Value::Integer(1),
        VarOptions::new(),
        RUST,
    )
    .unwrap();
    set(&*p, "f", 42).unwrap();
    assert_eq!(p.get("f").unwrap(), Value::Float(42.0));
    assert!(matches!(
        set(&*p, "f", f64::NAN),
        Err(Error::TypeMismatch { .. })
    ));
    p.register(
        "i",
        VarType::Integer,
        Value::Float(1.0),
        VarOptions::new(),
        RUST,
    )
    .unwrap();
    assert_eq!(p.get("i").unwrap(), Value::Integer(1));
    set(&*p, "i", 3.0).unwrap();
    assert_eq!(p.get("i").unwrap(), Value::Integer(3));
    assert!(matches!(
        set(&*p, "i", 3.5),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        set(&*p, "i", true),
        Err(Error::TypeMismatch { .. })
    ));
    p.register(
        "b",
        VarType::Boolean,
        Value::Boolean(true),
        VarOptions::new(),
        RUST,
    )
    .unwrap();
    assert!(matches!(set(&*p, "b", 1), Err(Error::TypeMismatch { .. })));
    assert!(matches!(
        set(&*p, "b", "true"),
        Err(Error::TypeMismatch { .. })
    ));
    p.register("s", VarType::String, "x".into(), VarOptions::new(), RUST)
        .unwrap();
    assert!(matches!(set(&*p, "s", 1), Err(Error::TypeMismatch { .. })));
    assert_eq!(p.get("i").unwrap(), Value::Integer(3));
}

/// choices, pattern, min_length and max_length.
fn string_constraints(p: Backend) {
    let choices = VarOptions::new().constraints(Constraints::new().choices(["a", "b"]));
    p.register("c", VarType::Choice, "a".into(), choices, RUST)
        .unwrap();
    assert!(matches!(
        set(&*p, "c", "z"),
        Err(Error::ConstraintViolation { .. })
    ));
    set(&*p, "c", "b").unwrap();
    let s = VarOptions::new().constraints(
        Constraints::new()
            .min_length(2)
            .max_length(4)
            .pattern("^[a-zé]+$"),
    );
    p.register("s", VarType::String, "abc".into(), s, RUST)
        .unwrap();
    assert!(matches!(
        set(&*p, "s", "a"),
        Err(Error::ConstraintViolation { .. })
    ));
    assert!(matches!(
        set(&*p, "s", "abcde"),
        Err(Error::ConstraintViolation { .. })
    ));
    assert!(matches!(
        set(&*p, "s", "AB"),
        Err(Error::ConstraintViolation { .. })
    ));
    set(&*p, "s", "éééé").unwrap(); // four scalar values, eight bytes
    assert_eq!(p.get("s").unwrap(), Value::String("éééé".into()));
    let m = VarOptions::new().constraints(Constraints::new().choices(["Predict"]));
    p.register("m", VarType::Module, "Predict".into(), m, RUST)
        .unwrap();
    assert!(matches!(
        set(&*p, "m", "ReAct"),
        Err(Error::ConstraintViolation { .. })
    ));
    assert_eq!(p.get("m").unwrap(), Value::String("Predict".into()));
}

/// Bad definitions are refused and register nothing.
fn invalid_definitions(p: Backend) {
    let cases = [
        (
            VarType::Float,
            Constraints::new().min(2.0).max(1.0),
            Value::Float(1.5),
        ),
        (
            VarType::Float,
            Constraints::new().choices(["a"]),
            Value::Float(1.0),
        ),
        (VarType::Choice, Constraints::new(), Value::from("a")),
        (
            VarType::Choice,
            Constraints::new().choices(Vec::<String>::new()),
            Value::from("a"),
        ),
        (
            VarType::String,
            Constraints::new().pattern("("),
            Value::from("a"),
        ),
        (
            VarType::Boolean,
            Constraints::new().min(0),
            Value::Boolean(true),
        ),
    ];
    for (var_type, constraints, initial) in cases {
        let err = p
            .register(
                "x",
                var_type,
                initial,
                VarOptions::new().constraints(constraints),
                RUST,
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidDefinition { .. }), "{err:?}");
        assert!(!p.exists("x"));
    }
    let err = p
        .register(
            "x",
            VarType::Float,
            3.0.into(),
            VarOptions::new().constraints(Constraints::new().max(2.0)),
            RUST,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ConstraintViolation { .. }), "{err:?}");
    assert!(!p.exists("x"));
}

/// Names are unique; unknown names are `NotFound`; ids work wherever names do.
fn names_and_ids(p: Backend) {
    let id = p
        .register("n", VarType::Integer, 1.into(), VarOptions::new(), RUST)
        .unwrap();
    assert!(matches!(
        p.register("n", VarType::Integer, 1.into(), VarOptions::new(), RUST),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(p.get("missing"), Err(Error::NotFound { .. })));
    assert!(matches!(
        set(&*p, "missing", 1),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(p.get(&id).unwrap(), Value::Integer(1));
    set(&*p, &id, 5).unwrap();
    assert_eq!(p.get("n").unwrap(), Value::Integer(5));
    assert_eq!(p.variable(&id).unwrap().name, "n");
    assert!(p.exists("n") && p.exists(&id) && !p.exists("nope"));
}

/// Several definitions at once: all or nothing (a bad one, a taken name, a name twice).
fn register_many_is_all_or_nothing(p: Backend) {
    use dspex_core::VariableDef;
    let def = |name: &str, v: Value| VariableDef::new(name, VarType::Integer, v, VarOptions::new());
    p.register("taken", VarType::Integer, 0.into(), VarOptions::new(), RUST)
        .unwrap();
    let refused = |batch| p.register_many(batch, RUST).unwrap_err();
    let err = refused(vec![def("a", 1.into()), def("b", "x".into())]);
    assert!(
        matches!(err, Error::TypeMismatch { ref name, .. } if name == "b"),
        "{err:?}"
    );
    let err = refused(vec![def("a", 1.into()), def("taken", 1.into())]);
    assert_eq!(
        err,
        Error::AlreadyExists {
            name: "taken".into()
        }
    );
    let err = refused(vec![def("a", 1.into()), def("a", 2.into())]);
    assert_eq!(err, Error::AlreadyExists { name: "a".into() });
    assert_eq!(p.list().len(), 1, "no refused batch added anything");
    assert!(!p.exists("a"));
    let ids = p
        .register_many(vec![def("a", 1.into()), def("b", 2.into())], RUST)
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(p.get(&ids[1]).unwrap(), Value::Integer(2));
}

/// set with metadata merges keys; set at an expected version refuses a moved version.
fn metadata_and_versions(p: Backend) {
    let opts = VarOptions::new().metadata("owner", "me").description("d");
    p.register("v", VarType::Integer, 0.into(), opts, RUST)
        .unwrap();
    let md: Metadata = [("reason".to_owned(), "tuning".to_owned())].into();
    let write = WriteOptions {
        metadata: Some(md),
        ..WriteOptions::default()
    };
    assert_eq!(p.set("v", 1.into(), write).unwrap(), 1);
    let var = p.variable("v").unwrap();
    assert_eq!(var.metadata["owner"], "me");
    assert_eq!(var.metadata["reason"], "tuning");
    assert_eq!(var.description.as_deref(), Some("d"));
    let at = |v| WriteOptions {
        expected_version: Some(v),
        ..WriteOptions::default()
    };
    assert_eq!(p.set("v", 2.into(), at(1)).unwrap(), 2);
    let err = p.set("v", 3.into(), at(1)).unwrap_err();
    assert_eq!(
        err,
        Error::VersionConflict {
            name: "v".into(),
            expected: 1,
            actual: 2
        }
    );
    assert_eq!(p.get("v").unwrap(), Value::Integer(2));
}

/// get_many omits unknown names; update_many is all or nothing and names the culprit.
fn batches(p: Backend) {
    float_0_2(&*p, "a", 0.1);
    float_0_2(&*p, "b", 0.2);
    let got = p.get_many(&["a", "b", "zzz"]).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got["b"], Value::Float(0.2));
    let err = p
        .update_many(
            vec![("a".into(), 0.5.into()), ("b".into(), 9.0.into())],
            None,
            RUST,
        )
        .unwrap_err();
    assert_eq!(err.variable(), Some("b"));
    let err = p
        .update_many(
            vec![("a".into(), 0.5.into()), ("q".into(), 1.0.into())],
            None,
            RUST,
        )
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(p.get("a").unwrap(), Value::Float(0.1));
    assert_eq!(p.variable("a").unwrap().version, 0);
    p.update_many(
        vec![("a".into(), 1.into()), ("b".into(), 1.5.into())],
        None,
        RUST,
    )
    .unwrap();
    assert_eq!(p.get("a").unwrap(), Value::Float(1.0));
    assert_eq!(p.variable("b").unwrap().version, 1);
}

/// list is in registration order; import into another backend moves whole variables
/// (ids, versions, metadata), and importing them twice is refused.
fn list_and_import(p: Backend, empty: Backend) {
    for name in ["z", "a", "m"] {
        p.register(name, VarType::Boolean, true.into(), VarOptions::new(), RUST)
            .unwrap();
    }
    set(&*p, "a", false).unwrap();
    let names: Vec<String> = p.list().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["z", "a", "m"]);
    let exported = p.list();
    empty.import(exported.clone()).unwrap();
    assert_eq!(empty.list(), exported);
    assert_eq!(empty.variable("a").unwrap().version, 1);
    assert!(matches!(
        empty.import(exported),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(empty.list().len(), 3, "the refused import added nothing");
}

/// Concurrent read-modify-writes lose nothing: 2 threads × 10,000 increments = 20,000.
fn update_is_atomic(p: Backend) {
    p.register("count", VarType::Integer, 0.into(), VarOptions::new(), RUST)
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    p.update(
                        "count",
                        &mut |v| Ok(Value::Integer(v.as_i64().unwrap_or_default() + 1)),
                        RUST,
                    )
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(p.get("count").unwrap(), Value::Integer(20_000));
    assert_eq!(p.variable("count").unwrap().version, 20_000);
}

/// Generates one `#[test]` per compliance check for a backend constructor
/// (`Fn() -> Arc<dyn StateProvider>`).
macro_rules! compliance_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            fn make() -> super::Backend {
                let f = $make;
                f()
            }
            #[test]
            fn define_get_set() {
                super::define_get_set(make())
            }
            #[test]
            fn refused_writes_change_nothing() {
                super::refused_writes_change_nothing(make())
            }
            #[test]
            fn coercions() {
                super::coercions(make())
            }
            #[test]
            fn string_constraints() {
                super::string_constraints(make())
            }
            #[test]
            fn invalid_definitions() {
                super::invalid_definitions(make())
            }
            #[test]
            fn names_and_ids() {
                super::names_and_ids(make())
            }
            #[test]
            fn register_many_is_all_or_nothing() {
                super::register_many_is_all_or_nothing(make())
            }
            #[test]
            fn metadata_and_versions() {
                super::metadata_and_versions(make())
            }
            #[test]
            fn batches() {
                super::batches(make())
            }
            #[test]
            fn list_and_import() {
                super::list_and_import(make(), make())
            }
            #[test]
            fn update_is_atomic() {
                super::update_is_atomic(make())
            }
        }
    };
}

compliance_suite!(local_backend, || {
    std::sync::Arc::new(crate::state::LocalState::default())
});

#[cfg(feature = "python")]
compliance_suite!(bridged_backend, || {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = format!("compliance-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let local: std::sync::Arc<dyn super::StateProvider> =
        std::sync::Arc::new(crate::state::LocalState::default());
    // The same switch a Context makes: the local table is published as a session.
    local
        .serve(crate::store::SessionStore::global(), &id)
        .expect("a fresh session id")
});

/// A Redis backend on a fresh namespace of a `redis-server` this test thread started (and
/// stops when it ends).
#[cfg(feature = "redis")]
fn redis_backend() -> Backend {
    use std::sync::atomic::{AtomicU64, Ordering};
    thread_local! {
        static SERVER: crate::testing::RedisServer =
            crate::testing::RedisServer::start().expect("start redis-server");
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = SERVER.with(|s| s.url());
    let namespace = format!("compliance-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let state = runtime
        .block_on(super::redis::RedisState::connect(&url, &namespace, true))
        .expect("connect to the test server");
    std::sync::Arc::new(state)
}

#[cfg(feature = "redis")]
compliance_suite!(redis_backend, super::redis_backend);
