//! Hostile and oversized input: every case gets a short error of the right kind, in
//! bounded time, in Local and Bridged mode and over gRPC, and while the worst request the
//! limits allow is handled, the rest of the system keeps answering.

mod common;

use std::time::{Duration, Instant};

use dspex::bridge::DEFAULT_MAX_MESSAGE_SIZE;
use dspex::bridge::pb::{self, variable_bridge_client::VariableBridgeClient};
use dspex::limits::{
    MAX_CHOICE_BYTES, MAX_CHOICES, MAX_DESCRIPTION_BYTES, MAX_METADATA_ENTRIES, MAX_PATTERN_BYTES,
    MAX_STRING_BYTES,
};
use dspex::quote::MAX_STATUS_MESSAGE_BYTES;
use dspex::{Constraints, Context, Error, Lm, Predict, ReAct, VarOptions, VarType};
use tonic::Code;
use tonic::metadata::MetadataValue;

/// The longest message a Rust error about one oversized input may have: a few bounded
/// quotes and a sentence.
const MAX_ERROR_BYTES: usize = 2048;

/// The pattern that made one 400 kB write take 13.8 s.
const PATHOLOGICAL_PATTERN: &str = r"(?:[\s\S]{0,1000}z){5}q";

/// The same shape, as large as the compiled size limit lets it be: the costliest pattern
/// a definition can have.
const WORST_ALLOWED_PATTERN: &str = r"(?:[\s\S]{0,50}z){10}q";

/// How long the worst allowed write may take here. The benchmark measures the real figure
/// (≤ 50 ms in a release build); tests share two cores with everything else.
const WORST_WRITE_BOUND: Duration = Duration::from_millis(500);

/// Every test here measures how long something took, and some of them keep both cores busy
/// on purpose: run side by side, they would time each other rather than the code.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A Local Context with a plain string, a float, and a choice among many long choices.
fn sample() -> dspex::Result<Context> {
    let ctx = Context::new();
    ctx.defvariable("prompt", VarType::String, "hi", VarOptions::new())?;
    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.7,
        VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0)),
    )?;
    let choices: Vec<String> = (0..1000)
        .map(|i| format!("{i:04}{}", "c".repeat(996)))
        .collect();
    let first = choices[0].clone();
    ctx.defvariable(
        "model",
        VarType::Choice,
        first,
        VarOptions::new().constraints(Constraints::new().choices(choices)),
    )?;
    Ok(ctx)
}

/// The sample, Local and Bridged.
async fn both_modes() -> dspex::Result<[Context; 2]> {
    let bridged = sample()?;
    bridged.ensure_bridged().await?;
    Ok([sample()?, bridged])
}

/// Runs `f`, returns its result and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Asserts an error is short, came quickly, and returns its message.
fn short(err: &Error, took: Duration, bound: Duration) -> String {
    let message = err.to_string();
    assert!(
        message.len() <= MAX_ERROR_BYTES,
        "{} bytes: {}…",
        message.len(),
        &message[..200]
    );
    assert!(took < bound, "took {took:?}: {message}");
    message
}

#[tokio::test]
async fn an_oversized_value_gets_a_short_error_of_its_kind() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    for ctx in both_modes().await? {
        let mode = ctx.backend().kind;
        let huge = "y".repeat(1_000_000);
        let (result, took) = timed(|| ctx.set("prompt", huge.as_str()));
        let err = result.unwrap_err();
        assert!(
            matches!(err, Error::ConstraintViolation { .. }),
            "{mode:?}: {err:?}"
        );
        let message = short(&err, took, Duration::from_millis(100));
        assert!(message.contains("(1000000 bytes)"), "{message}");
        assert!(message.contains(&MAX_STRING_BYTES.to_string()), "{message}");

        let (result, took) = timed(|| ctx.set("temperature", "z".repeat(100_000)));
        let err = result.unwrap_err();
        assert!(
            matches!(err, Error::TypeMismatch { .. }),
            "{mode:?}: {err:?}"
        );
        let message = short(&err, took, Duration::from_millis(100));
        assert!(message.contains("(100000 bytes)"), "{message}");

        // Checked against a megabyte of choices: the error shows ten of them.
        let (result, took) = timed(|| ctx.set("model", "none of them"));
        let err = result.unwrap_err();
        assert!(
            matches!(err, Error::ConstraintViolation { .. }),
            "{mode:?}: {err:?}"
        );
        let message = short(&err, took, Duration::from_millis(100));
        assert!(message.contains("… 999 more]"), "{message}");

        for name in ["prompt", "temperature", "model"] {
            assert_eq!(ctx.variable(name)?.version, 0, "{mode:?}: {name} unchanged");
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_oversized_name_gets_a_short_error_of_its_kind() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    for ctx in both_modes().await? {
        let name = "n".repeat(100_000);
        let (result, took) =
            timed(|| ctx.defvariable(&name, VarType::Float, 0.5, VarOptions::new()));
        let err = result.unwrap_err();
        assert!(matches!(err, Error::InvalidDefinition { .. }), "{err:?}");
        let message = short(&err, took, Duration::from_millis(100));
        assert!(message.contains("(100000 bytes)"), "{message}");

        let (result, took) = timed(|| ctx.get::<f64>(&name));
        let err = result.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        short(&err, took, Duration::from_millis(100));
        assert_eq!(ctx.list().len(), 3);
    }
    Ok(())
}

#[tokio::test]
async fn each_part_of_a_definition_has_its_limit() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let string_with = |c: Constraints| VarOptions::new().constraints(c);
    let choices_of = |n: usize, len: usize| {
        let choices: Vec<String> = (0..n).map(|i| format!("{i:0len$}")).collect();
        VarOptions::new().constraints(Constraints::new().choices(choices))
    };
    let many_entries = (0..=MAX_METADATA_ENTRIES).fold(VarOptions::new(), |opts, i| {
        opts.metadata(&format!("k{i}"), "v")
    });
    let cases: Vec<(&str, VarType, &str, VarOptions, &str)> = vec![
        (
            "too many choices",
            VarType::Choice,
            "0000",
            choices_of(MAX_CHOICES + 1, 4),
            "entries",
        ),
        (
            "a choice too long",
            VarType::Choice,
            "",
            choices_of(1, MAX_CHOICE_BYTES + 1),
            "a choice is",
        ),
        (
            "a pattern too long",
            VarType::String,
            "a",
            string_with(Constraints::new().pattern(&"a".repeat(MAX_PATTERN_BYTES + 1))),
            "the pattern is",
        ),
        (
            "a description too long",
            VarType::String,
            "a",
            VarOptions::new().description(&"d".repeat(MAX_DESCRIPTION_BYTES + 1)),
            "the description is",
        ),
        (
            "too much metadata",
            VarType::String,
            "a",
            many_entries,
            "metadata has",
        ),
    ];
    for ctx in both_modes().await? {
        for (case, var_type, initial, opts, says) in cases.clone() {
            let initial = if initial.is_empty() {
                "0".repeat(MAX_CHOICE_BYTES + 1)
            } else {
                initial.to_owned()
            };
            let (result, took) = timed(|| ctx.defvariable("v", var_type, initial, opts));
            let err = result.unwrap_err();
            assert!(
                matches!(err, Error::InvalidDefinition { .. }),
                "{case}: {err:?}"
            );
            let message = short(&err, took, Duration::from_millis(200));
            assert!(
                message.contains(says) && message.contains("over the limit"),
                "{case}: {message}"
            );
            assert!(!ctx.exists("v"), "{case}: nothing defined");
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_pathological_pattern_is_refused_at_definition() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    for ctx in both_modes().await? {
        let opts = VarOptions::new().constraints(Constraints::new().pattern(PATHOLOGICAL_PATTERN));
        let (result, took) = timed(|| ctx.defvariable("v", VarType::String, "zzzzzzzzzzq", opts));
        let err = result.unwrap_err();
        assert!(matches!(err, Error::InvalidDefinition { .. }), "{err:?}");
        let message = short(&err, took, Duration::from_secs(1));
        assert!(message.contains("compiles to more than"), "{message}");
    }
    Ok(())
}

#[tokio::test]
async fn the_worst_allowed_write_is_checked_in_bounded_time() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let matching = format!("{}q", "z".repeat(MAX_STRING_BYTES - 1));
    let failing = "z".repeat(MAX_STRING_BYTES);
    for ctx in both_modes().await? {
        let opts = VarOptions::new().constraints(Constraints::new().pattern(WORST_ALLOWED_PATTERN));
        ctx.defvariable("v", VarType::String, "zzzzzzzzzzq", opts)?;
        let (result, took) = timed(|| ctx.set("v", matching.as_str()));
        assert_eq!(result?, 1);
        assert!(took < WORST_WRITE_BOUND, "accepted in {took:?}");
        let (result, took) = timed(|| ctx.set("v", failing.as_str()));
        let err = result.unwrap_err();
        assert!(matches!(err, Error::ConstraintViolation { .. }), "{err:?}");
        short(&err, took, WORST_WRITE_BOUND);
        assert_eq!(ctx.variable("v")?.version, 1);
    }
    Ok(())
}

/// A gRPC client to the bridge of a bridged Context, and its token.
async fn client(ctx: &Context) -> (VariableBridgeClient<tonic::transport::Channel>, String) {
    let endpoint = ctx.bridge().expect("bridged");
    let client = VariableBridgeClient::connect(format!("http://{}", endpoint.address))
        .await
        .expect("connect to the bridge");
    (client, endpoint.token)
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        "x-dspex-token",
        MetadataValue::try_from(token).expect("ascii token"),
    );
    req
}

fn string(s: String) -> Option<pb::Value> {
    Some(pb::Value {
        kind: Some(pb::value::Kind::StringValue(s)),
    })
}

fn set(session: &str, name: &str, value: Option<pb::Value>) -> pb::SetVariableRequest {
    pb::SetVariableRequest {
        session_id: session.to_owned(),
        name: name.to_owned(),
        value,
        metadata: Default::default(),
        expected_version: None,
    }
}

/// Asserts a status is INVALID_ARGUMENT of `kind` with a short message, in bounded time.
fn short_status(err: &tonic::Status, kind: &str, took: Duration) {
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(err.metadata().get("x-dspex-error").unwrap(), kind);
    assert!(
        err.message().len() <= MAX_STATUS_MESSAGE_BYTES,
        "{} bytes",
        err.message().len()
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn a_grpc_client_sending_huge_values_gets_short_invalid_argument() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let ctx = sample()?;
    ctx.ensure_bridged().await?;
    let (mut client, token) = client(&ctx).await;
    let session = ctx.id().to_owned();

    let start = Instant::now();
    let err = client
        .set_variable(authed(
            set(&session, "prompt", string("y".repeat(1_000_000))),
            &token,
        ))
        .await
        .unwrap_err();
    short_status(&err, "constraint_violation", start.elapsed());
    assert!(
        err.message().contains("(1000000 bytes)"),
        "{}",
        err.message()
    );

    let start = Instant::now();
    let err = client
        .set_variable(authed(
            set(&session, "temperature", string("z".repeat(100_000))),
            &token,
        ))
        .await
        .unwrap_err();
    short_status(&err, "type_mismatch", start.elapsed());

    let start = Instant::now();
    let err = client
        .set_variable(authed(
            set(&session, "model", string("m".repeat(60_000))),
            &token,
        ))
        .await
        .unwrap_err();
    short_status(&err, "constraint_violation", start.elapsed());

    let register = |name: String, choices: Vec<String>| pb::RegisterVariableRequest {
        session_id: session.clone(),
        name,
        r#type: pb::VarType::Choice as i32,
        value: string("a".into()),
        constraints: Some(pb::Constraints {
            has_choices: true,
            choices,
            ..Default::default()
        }),
        description: None,
        metadata: Default::default(),
    };
    let start = Instant::now();
    let err = client
        .register_variable(authed(
            register("n".repeat(100_000), vec!["a".into()]),
            &token,
        ))
        .await
        .unwrap_err();
    short_status(&err, "invalid_definition", start.elapsed());

    let two_megabytes = (0..2048).map(|i| format!("{i:01024}")).collect();
    let start = Instant::now();
    let err = client
        .register_variable(authed(register("big".into(), two_megabytes), &token))
        .await
        .unwrap_err();
    short_status(&err, "invalid_definition", start.elapsed());

    let mut write = set(&session, "prompt", string("ok".into()));
    write.metadata = (0..1000)
        .map(|i| (format!("k{i}"), "v".repeat(3000)))
        .collect();
    let start = Instant::now();
    let err = client
        .set_variable(authed(write, &token))
        .await
        .unwrap_err();
    short_status(&err, "invalid_argument", start.elapsed());

    assert_eq!(ctx.list().len(), 3);
    assert!(ctx.list().iter().all(|v| v.version == 0));
    Ok(())
}

#[tokio::test]
async fn more_than_one_token_is_refused_in_either_order() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let ctx = sample()?;
    ctx.ensure_bridged().await?;
    let (mut client, token) = client(&ctx).await;
    let wrong = "0".repeat(token.len());
    for pair in [[&token, &wrong], [&wrong, &token], [&token, &token]] {
        let mut req = tonic::Request::new(pb::PingRequest {});
        for value in pair {
            req.metadata_mut().append(
                "x-dspex-token",
                MetadataValue::try_from(value.as_str()).expect("ascii"),
            );
        }
        let err = client.ping(req).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    }
    assert!(
        client
            .ping(authed(pb::PingRequest {}, &token))
            .await
            .is_ok()
    );
    Ok(())
}

/// The whole length an error says a text had: the number in its last `(N bytes)`.
fn said_length(message: &str) -> Option<usize> {
    let (before, _) = message.rsplit_once(" bytes)")?;
    let (_, number) = before.rsplit_once('(')?;
    number.parse().ok()
}

/// Asserts `err` is `Error::Python` naming `class` first, within a status's bound, saying
/// the whole length of the exception's text (at least `at_least` bytes).
fn python_error_naming(err: &Error, class: &str, at_least: usize) {
    let Error::Python { message } = err else {
        panic!("expected Error::Python, got {err:?}");
    };
    assert!(message.starts_with(&format!("{class}: ")), "{message}");
    assert!(
        message.len() <= MAX_STATUS_MESSAGE_BYTES,
        "{} bytes",
        message.len()
    );
    assert!(
        err.to_string().len() <= MAX_ERROR_BYTES,
        "{}",
        err.to_string().len()
    );
    let whole = said_length(message).unwrap_or_default();
    assert!(whole >= at_least, "says {whole} bytes: {message}");
}

#[tokio::test]
async fn a_python_exception_arrives_as_itself_at_once() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let ctx = common::llm_context()?;
    ctx.configure_lm(Lm::custom("tests.support.hostile_lm:rambling_lm").setting("size", 51_200))
        .await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    let pids = dspex::worker_pids().await;
    let start = Instant::now();
    let err = predict
        .call([("question", "What is the capital of France?")])
        .await
        .unwrap_err();
    let took = start.elapsed();
    python_error_naming(&err, "AdapterParseError", 51_200);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(dspex::worker_pids().await, pids, "no worker restarted");
    Ok(())
}

#[tokio::test]
async fn a_tool_that_raises_at_import_arrives_as_a_short_python_error() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let ctx = common::llm_context()?;
    ctx.configure_lm(Lm::echo()).await?;
    let pids = dspex::worker_pids().await;
    let start = Instant::now();
    let err = ReAct::new(
        &ctx,
        "question -> answer",
        &["tests.support.hostile_tool:tool"],
    )
    .await
    .unwrap_err();
    let took = start.elapsed();
    python_error_naming(&err, "RuntimeError", 20_000);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(dspex::worker_pids().await, pids, "no worker restarted");
    Ok(())
}

#[tokio::test]
async fn a_long_tool_path_gets_a_short_refusal() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let ctx = common::llm_context()?;
    ctx.configure_lm(Lm::echo()).await?;
    let path = format!("{}:tool", "p".repeat(20_000));
    let start = Instant::now();
    let err = ReAct::new(&ctx, "question -> answer", &[path.as_str()])
        .await
        .unwrap_err();
    let took = start.elapsed();
    // A path that names no module is a wrong argument, not the failure of Python code.
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let message = short(&err, took, Duration::from_secs(3));
    assert!(message.contains("(20005 bytes)"), "{message}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_keep_answering_while_the_worst_request_is_handled() -> dspex::Result<()> {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let ctx = common::llm_context()?;
    let opts = VarOptions::new().constraints(Constraints::new().pattern(WORST_ALLOWED_PATTERN));
    ctx.defvariable("document", VarType::String, "zzzzzzzzzzq", opts)?;
    ctx.configure_lm(Lm::echo()).await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    predict.call([("question", "warm up")]).await?;
    let pids = dspex::worker_pids().await;
    let endpoint = ctx.bridge().expect("bridged");
    let session = ctx.id().to_owned();

    // The heavy client runs on its own thread and runtime: only the bridge is shared.
    let heavy = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let mut client = VariableBridgeClient::connect(format!("http://{}", endpoint.address))
                .await
                .expect("connect")
                .max_encoding_message_size(usize::MAX);
            let matching = format!("{}q", "z".repeat(MAX_STRING_BYTES - 1));
            let batch = pb::SetVariablesRequest {
                session_id: session.clone(),
                updates: (0..40)
                    .map(|_| pb::VariableUpdate {
                        name: "document".into(),
                        value: string(matching.clone()),
                    })
                    .collect(),
                metadata: Default::default(),
            };
            let start = Instant::now();
            client
                .set_variables(authed(batch, &endpoint.token))
                .await
                .expect("the batch is accepted");
            let batch_took = start.elapsed();
            // The largest write the default message size allows (the rest of the request is
            // well under 1 KiB), five times: received whole, then refused for the value's
            // length.
            let worst = "x".repeat(DEFAULT_MAX_MESSAGE_SIZE - 1024);
            let start = Instant::now();
            for _ in 0..5 {
                let refused = client
                    .set_variable(authed(
                        set(&session, "document", string(worst.clone())),
                        &endpoint.token,
                    ))
                    .await
                    .unwrap_err();
                assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
            }
            (batch_took, start.elapsed())
        })
    });

    let (mut client, token) = client(&ctx).await;
    let mut worst = Duration::ZERO;
    let mut pings = 0;
    while !heavy.is_finished() {
        let start = Instant::now();
        client
            .ping(authed(pb::PingRequest {}, &token))
            .await
            .expect("ping");
        worst = worst.max(start.elapsed());
        pings += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (batch_took, huge_took) = heavy.join().expect("the heavy client");
    let call = Instant::now();
    predict.call([("question", "still there?")]).await?;
    eprintln!(
        "batch {batch_took:?}, the largest write x5 {huge_took:?}; {pings} pings, slowest {worst:?}; \
         a module call after: {:?}",
        call.elapsed()
    );
    assert!(
        pings > 5,
        "the heavy requests took {batch_took:?} + {huge_took:?}"
    );
    assert!(worst < Duration::from_millis(100), "a ping took {worst:?}");
    assert_eq!(ctx.variable("document")?.version, 40);
    assert_eq!(dspex::worker_pids().await, pids, "no worker restarted");
    Ok(())
}
