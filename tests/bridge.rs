//! The bridge from the Rust side: the switch keeps everything and loses nothing, sessions
//! live as long as their Contexts, and the gRPC server speaks status codes. (The Bridged
//! backend's compliance suite runs in the runtime's unit tests.)

use std::time::Duration;

use dspex::bridge::pb::{self, variable_bridge_client::VariableBridgeClient};
use dspex::{BackendKind, Constraints, Context, Error, SessionStore, Value, VarOptions, VarType};
use tonic::Code;
use tonic::metadata::MetadataValue;

/// Held by the tests that leave an unowned session in the global store, and by the one that
/// sweeps it with a 1 ms TTL: run side by side, the sweep would remove the other's session.
static UNOWNED_SESSIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn sample_context() -> dspex::Result<Context> {
    let ctx = Context::new();
    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.7,
        VarOptions::new()
            .constraints(Constraints::new().min(0.0).max(2.0))
            .description("Sampling temperature")
            .metadata("owner", "tests"),
    )?;
    ctx.defvariable(
        "max_tokens",
        VarType::Integer,
        256,
        VarOptions::new().constraints(Constraints::new().min(1).max(4096)),
    )?;
    ctx.defvariable(
        "model",
        VarType::Choice,
        "gpt-4",
        VarOptions::new().constraints(Constraints::new().choices(["gpt-4", "claude-3"])),
    )?;
    ctx.set("max_tokens", 512)?;
    Ok(ctx)
}

#[tokio::test]
async fn switch_keeps_everything_and_is_idempotent() -> dspex::Result<()> {
    let ctx = sample_context()?;
    let before = ctx.list();
    ctx.ensure_bridged().await?;
    ctx.ensure_bridged().await?;
    let info = ctx.backend();
    assert_eq!(info.kind, BackendKind::Bridged);
    assert!(info.requires_bridge);
    assert_eq!(info.switches, 1);
    let after = ctx.list();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.metadata["migrated_from"], "local");
        let mut a = a.clone();
        a.metadata.remove("migrated_from");
        assert_eq!(&a, b);
    }
    assert_eq!(ctx.variable("max_tokens")?.version, 1);
    assert!(matches!(
        ctx.set("temperature", 3.0),
        Err(Error::ConstraintViolation { .. })
    ));
    let session = SessionStore::global().session(ctx.id())?;
    assert_eq!(session.variable_count(), 3);
    let endpoint = ctx.bridge().expect("an endpoint once bridged");
    assert!(endpoint.address.starts_with("127.0.0.1:"));
    assert_eq!(endpoint.token.len(), 64);
    Ok(())
}

#[tokio::test]
async fn failed_switch_leaves_the_context_local_and_intact() -> dspex::Result<()> {
    let ctx = sample_context()?;
    let before = ctx.list();
    let _sweeps = UNOWNED_SESSIONS.lock().await;
    // Inject the failure: the session id is already taken in the store.
    let squatter = SessionStore::global().create_session(ctx.id())?;
    let err = ctx.ensure_bridged().await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(ctx.backend().kind, BackendKind::Local);
    assert_eq!(ctx.backend().switches, 0);
    assert_eq!(ctx.list(), before);
    assert!(ctx.bridge().is_none());
    ctx.set("temperature", 0.8)?;
    assert!(SessionStore::global().remove_session(squatter.id()));
    ctx.ensure_bridged().await?;
    assert_eq!(ctx.get::<f64>("temperature")?, 0.8);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_the_switch_are_applied_exactly_once() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("count", VarType::Integer, 0, VarOptions::new())?;
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                for _ in 0..5_000 {
                    ctx.update("count", |n: i64| n + 1).expect("update");
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2)).await;
    ctx.ensure_bridged().await?;
    for w in writers {
        w.join().expect("writer thread");
    }
    assert_eq!(ctx.backend().kind, BackendKind::Bridged);
    assert_eq!(ctx.get::<i64>("count")?, 10_000);
    assert_eq!(ctx.variable("count")?.version, 10_000);
    Ok(())
}

#[tokio::test]
async fn dropping_the_context_removes_its_session_and_idle_sessions_expire() -> dspex::Result<()> {
    let ctx = sample_context()?;
    ctx.ensure_bridged().await?;
    let id = ctx.id().to_owned();
    let store = SessionStore::global();
    assert!(store.session(&id).is_ok());
    let clone = ctx.clone();
    drop(ctx);
    assert!(store.session(&id).is_ok(), "a clone still owns it");
    drop(clone);
    assert!(matches!(store.session(&id), Err(Error::NotFound { .. })));

    // An unowned session expires after the TTL; an owned one never does.
    let owned = Context::new();
    owned.ensure_bridged().await?;
    let _sweeps = UNOWNED_SESSIONS.lock().await;
    store.create_session("orphan-session")?;
    let ttl = store.session_ttl();
    store.set_session_ttl(Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.sweep();
    store.set_session_ttl(ttl);
    assert!(store.session("orphan-session").is_err());
    assert!(store.session(owned.id()).is_ok());
    Ok(())
}

async fn client(ctx: &Context) -> (VariableBridgeClient<tonic::transport::Channel>, String) {
    let endpoint = ctx.bridge().expect("bridged");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", endpoint.address))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the bridge");
    (VariableBridgeClient::new(channel), endpoint.token)
}

fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        dspex::bridge::TOKEN_KEY,
        MetadataValue::try_from(token).expect("ascii token"),
    );
    req
}

fn get(session: &str, name: &str) -> pb::GetVariableRequest {
    pb::GetVariableRequest {
        session_id: session.into(),
        name: name.into(),
    }
}

fn float(v: f64) -> Option<pb::Value> {
    Some(pb::Value {
        kind: Some(pb::value::Kind::FloatValue(v)),
    })
}

#[tokio::test]
async fn grpc_status_codes() -> dspex::Result<()> {
    let ctx = sample_context()?;
    ctx.ensure_bridged().await?;
    let (mut client, token) = client(&ctx).await;
    let id = ctx.id().to_owned();

    // No token, wrong token: refused, no data.
    let err = client
        .get_variable(tonic::Request::new(get(&id, "temperature")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = client
        .get_variable(authed(get(&id, "temperature"), "wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(!err.message().contains("0.7"));

    let var = client
        .get_variable(authed(get(&id, "temperature"), &token))
        .await
        .expect("authorised read")
        .into_inner()
        .variable
        .expect("variable");
    assert_eq!(var.value, float(0.7));
    assert_eq!(var.metadata["migrated_from"], "local");

    let err = client
        .get_variable(authed(get("no-such-session", "temperature"), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        err.metadata().get("x-dspex-error").unwrap(),
        "session_not_found"
    );
    let err = client
        .get_variable(authed(get(&id, "nope"), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let set = |value, expected_version| pb::SetVariableRequest {
        session_id: id.clone(),
        name: "temperature".into(),
        value,
        metadata: Default::default(),
        expected_version,
    };
    let err = client
        .set_variable(authed(set(float(2.5), None), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "variable `temperature`: 2.5 is above the maximum 2.0"
    );
    assert_eq!(
        err.metadata().get("x-dspex-error").unwrap(),
        "constraint_violation"
    );
    let err = client
        .set_variable(authed(set(None, None), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .set_variable(authed(set(float(1.0), Some(7)), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(ctx.get::<f64>("temperature")?, 0.7);
    assert_eq!(ctx.variable("temperature")?.version, 0);

    let v = client
        .set_variable(authed(set(float(1.5), Some(0)), &token))
        .await
        .expect("conditional write")
        .into_inner()
        .version;
    assert_eq!(v, 1);
    assert_eq!(ctx.get::<f64>("temperature")?, 1.5);

    // Oversize: refused with RESOURCE_EXHAUSTED naming the limit and its setting, and the
    // server keeps serving.
    let huge = pb::SetVariableRequest {
        session_id: id.clone(),
        name: "model".into(),
        value: Some(pb::Value {
            kind: Some(pb::value::Kind::StringValue(
                "x".repeat(dspex::bridge::DEFAULT_MAX_MESSAGE_SIZE + 1),
            )),
        }),
        metadata: Default::default(),
        expected_version: None,
    };
    let err = client.set_variable(authed(huge, &token)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("BridgeConfig::max_message_size")
            && err.message().contains("DSPEX_MAX_MESSAGE_BYTES"),
        "{}",
        err.message()
    );
    let ok = client
        .ping(authed(pb::PingRequest {}, &token))
        .await
        .is_ok();
    assert!(ok, "the bridge still serves after an oversize request");

    // An atomic batch: one bad value, nothing changes.
    let batch = pb::SetVariablesRequest {
        session_id: id.clone(),
        updates: vec![
            pb::VariableUpdate {
                name: "temperature".into(),
                value: float(0.1),
            },
            pb::VariableUpdate {
                name: "max_tokens".into(),
                value: float(0.5),
            },
        ],
        metadata: Default::default(),
    };
    let err = client
        .set_variables(authed(batch, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("max_tokens"));
    assert_eq!(ctx.get::<f64>("temperature")?, 1.5);

    // Garbage type numbers and empty names are bad arguments, never a panic.
    let reg = pb::RegisterVariableRequest {
        session_id: id.clone(),
        name: "x".into(),
        r#type: 99,
        value: float(1.0),
        constraints: None,
        description: None,
        metadata: Default::default(),
    };
    let err = client
        .register_variable(authed(reg, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(ctx.get::<Value>("temperature")?, Value::Float(1.5));
    Ok(())
}
