//! The Redis backend against a real `redis-server` each test starts (on a free loopback
//! port, with a throw-away directory) and stops: several OS processes on one namespace,
//! faults, definitions shared between processes, clear errors, and Python on a Redis
//! Context.
//!
//! The other processes are this test binary itself, started on the `child_process` entry
//! point with `DSPEX_REDIS_CHILD` naming what to do.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dspex::testing::RedisServer;
use dspex::{BackendKind, Constraints, Context, Error, VarOptions, VarType, WatchEvent};

const NAMESPACE: &str = "checkout-service";

async fn connect(url: &str) -> Context {
    Context::connect(url, NAMESPACE)
        .await
        .expect("connect to the test server")
}

/// Runs this binary's `child_process` entry point in a new process, doing `role`.
fn spawn_child(role: &str, url: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("own path"))
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DSPEX_REDIS_CHILD", role)
        .env("DSPEX_REDIS_URL", url)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn a child process")
}

fn run_child(role: &str, url: &str) {
    let status = spawn_child(role, url).wait().expect("child exit");
    assert!(status.success(), "child `{role}` failed: {status}");
}

/// The entry point of the child processes the other tests start; with no role it returns.
#[tokio::test]
async fn child_process() {
    let Ok(role) = std::env::var("DSPEX_REDIS_CHILD") else {
        return;
    };
    let url = std::env::var("DSPEX_REDIS_URL").expect("DSPEX_REDIS_URL");
    let ctx = connect(&url).await;
    match role.as_str() {
        "increment" => {
            ctx.defvariable("count", VarType::Integer, 0, VarOptions::new())
                .expect("declare the shared counter");
            for _ in 0..1_000 {
                ctx.update("count", |n: i64| n + 1).expect("update");
            }
        }
        "invalid_batch" => {
            let err = ctx.update_many([("a", 2), ("b", 99)]).unwrap_err();
            assert!(
                matches!(err, Error::ConstraintViolation { ref name, .. } if name == "b"),
                "{err:?}"
            );
            let err = ctx.update_many([("a", 3), ("missing", 1)]).unwrap_err();
            assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        }
        "write_sequence" => {
            for i in 1..=300 {
                ctx.set("x", i).expect("set");
            }
        }
        "tune" => {
            ctx.set("temperature", 1.25).expect("set temperature");
        }
        "retune" => {
            ctx.set("temperature", 1.75).expect("set temperature");
        }
        other => panic!("unknown child role {other}"),
    }
}

#[tokio::test]
async fn four_processes_times_1000_updates_end_at_4000() {
    let server = RedisServer::start().expect("redis-server");
    let ctx = connect(&server.url()).await;
    ctx.defvariable("count", VarType::Integer, 0, VarOptions::new())
        .expect("define");
    let children: Vec<_> = (0..4)
        .map(|_| spawn_child("increment", &server.url()))
        .collect();
    for mut child in children {
        assert!(child.wait().expect("child").success());
    }
    assert_eq!(ctx.get_fresh::<i64>("count").expect("count"), 4_000);
    assert_eq!(ctx.variable("count").expect("variable").version, 4_000);
}

#[tokio::test]
async fn a_batch_with_one_invalid_entry_changes_nothing_in_any_process() {
    let server = RedisServer::start().expect("redis-server");
    let ctx = connect(&server.url()).await;
    let max10 = || VarOptions::new().constraints(Constraints::new().max(10));
    ctx.defvariable("a", VarType::Integer, 1, max10())
        .expect("define a");
    ctx.defvariable("b", VarType::Integer, 1, max10())
        .expect("define b");
    let mut watcher = ctx.watch(&["a", "b"], false).expect("watch");
    run_child("invalid_batch", &server.url());
    // The next event is this write: the refused batches published nothing.
    ctx.set("b", 5).expect("set");
    let event = tokio::time::timeout(Duration::from_secs(5), watcher.next())
        .await
        .expect("an event");
    let Some(WatchEvent::Update(update)) = event else {
        panic!("{event:?}")
    };
    assert_eq!((update.name.as_str(), update.version), ("b", 1));
    assert_eq!(ctx.get_fresh::<i64>("a").expect("a"), 1);
    assert_eq!(ctx.variable("a").expect("a").version, 0);
    let other = connect(&server.url()).await;
    assert_eq!(other.get_fresh::<i64>("a").expect("a"), 1);
    assert_eq!(other.get_fresh::<i64>("b").expect("b"), 5);
}

#[tokio::test]
async fn a_watcher_sees_every_write_of_another_process_in_order() {
    let server = RedisServer::start().expect("redis-server");
    let ctx = connect(&server.url()).await;
    ctx.defvariable("x", VarType::Integer, 0, VarOptions::new())
        .expect("define");
    let mut watcher = ctx.watch(&["x"], false).expect("watch");
    let mut child = spawn_child("write_sequence", &server.url());
    for expected in 1..=300i64 {
        let event = tokio::time::timeout(Duration::from_secs(10), watcher.next())
            .await
            .expect("an event in time");
        let Some(WatchEvent::Update(update)) = event else {
            panic!("{event:?}")
        };
        assert_eq!(update.value.as_i64(), Some(expected));
        assert_eq!(update.version, expected as u64);
        assert_eq!(
            update.old_value.and_then(|v| v.as_i64()),
            Some(expected - 1)
        );
    }
    assert!(child.wait().expect("child").success());
    // The read cache followed the same stream.
    assert_eq!(ctx.get::<i64>("x").expect("x"), 300);
}

/// Retries `f` until it succeeds (Redis coming back, the backoff elapsing).
async fn eventually<T>(mut f: impl FnMut() -> dspex::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e, Error::BackendUnavailable { .. }), "{e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("still failing: {e}"),
        }
    }
}

#[tokio::test]
async fn redis_killed_and_restarted_loses_nothing_acknowledged() {
    let mut server = RedisServer::start().expect("redis-server");
    let ctx = connect(&server.url()).await;
    ctx.defvariable("a", VarType::Integer, 0, VarOptions::new())
        .expect("define a");
    ctx.defvariable("b", VarType::Integer, 0, VarOptions::new())
        .expect("define b");
    let mut watcher = ctx.watch(&["a"], false).expect("watch");
    for i in 1..=50 {
        ctx.set("a", i).expect("acknowledged write");
    }
    ctx.update_many([("a", 51), ("b", 51)])
        .expect("acknowledged batch");

    server.kill();
    let err = ctx.set("a", 1_000).unwrap_err();
    assert!(matches!(err, Error::BackendUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("redis"), "{err}");
    let err = ctx.update_many([("a", 1_000), ("b", 1_000)]).unwrap_err();
    assert!(matches!(err, Error::BackendUnavailable { .. }), "{err:?}");
    let err = ctx.get_fresh::<i64>("a").unwrap_err();
    assert!(matches!(err, Error::BackendUnavailable { .. }), "{err:?}");
    // The cache still answers, with the last value it knew.
    assert_eq!(ctx.get::<i64>("a").expect("cached"), 51);

    server.restart().expect("restart redis-server");
    assert_eq!(eventually(|| ctx.get_fresh::<i64>("a")).await, 51);
    assert_eq!(ctx.get_fresh::<i64>("b").expect("b"), 51);
    assert_eq!(ctx.variable("a").expect("a").version, 51);
    assert_eq!(eventually(|| ctx.set("a", 52)).await, 52);

    // The watcher saw every acknowledged write, then resumed after the reconnection.
    let mut seen = Vec::new();
    while seen.last() != Some(&52) {
        let event = tokio::time::timeout(Duration::from_secs(10), watcher.next())
            .await
            .expect("an event in time");
        match event {
            Some(WatchEvent::Update(u)) => seen.push(u.value.as_i64().expect("integer")),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, (1..=52).collect::<Vec<i64>>());
}

#[tokio::test]
async fn a_second_process_checks_its_declarations_against_the_stored_ones() {
    let server = RedisServer::start().expect("redis-server");
    let first = connect(&server.url()).await;
    let opts = |max: f64| VarOptions::new().constraints(Constraints::new().min(0.0).max(max));
    first
        .defvariable("temperature", VarType::Float, 0.7, opts(2.0))
        .expect("define");
    first.set("temperature", 1.5).expect("tune");

    let second = connect(&server.url()).await;
    let err = second
        .defvariable("temperature", VarType::Float, 0.7, opts(1.0))
        .unwrap_err();
    let Error::DefinitionConflict { ref name, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(name, "temperature");
    let message = err.to_string();
    assert!(
        message.contains("\"max\":2.0") && message.contains("\"max\":1.0"),
        "{message}"
    );
    let err = second
        .defvariable("temperature", VarType::Integer, 1, VarOptions::new())
        .unwrap_err();
    assert!(matches!(err, Error::DefinitionConflict { .. }), "{err:?}");

    // The same declaration adopts the stored variable, value and all.
    let id = second
        .defvariable("temperature", VarType::Float, 0.7, opts(2.0))
        .expect("same definition");
    assert_eq!(id, first.variable("temperature").expect("first").id);
    assert_eq!(second.get::<f64>("temperature").expect("get"), 1.5);
    assert_eq!(second.backend().kind, BackendKind::Redis);
    // Within one Context a name is still defined once.
    let err = second
        .defvariable("temperature", VarType::Float, 0.7, opts(2.0))
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    // Both validate before writing: a value outside the stored bounds is refused here.
    let err = second.set("temperature", 2.5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "variable `temperature`: 2.5 is above the maximum 2.0"
    );
}

#[tokio::test]
async fn two_processes_never_both_win_set_if_version() {
    let server = RedisServer::start().expect("redis-server");
    let a = connect(&server.url()).await;
    a.defvariable("n", VarType::Integer, 0, VarOptions::new())
        .expect("define");
    let b = connect(&server.url()).await;
    b.defvariable("n", VarType::Integer, 0, VarOptions::new())
        .expect("adopt");
    assert_eq!(a.set_if_version("n", 1, 0).expect("first wins"), 1);
    let err = b.set_if_version("n", 2, 0).unwrap_err();
    assert_eq!(
        err,
        Error::VersionConflict {
            name: "n".into(),
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(b.get_fresh::<i64>("n").expect("n"), 1);
}

#[tokio::test]
async fn bad_urls_passwords_and_namespaces_are_clear_errors() {
    let err = Context::connect("http://nope", NAMESPACE)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(err.to_string().contains("not a Redis URL"), "{err}");

    let err = Context::connect("redis://127.0.0.1:1/0", NAMESPACE)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BackendUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");

    let server = RedisServer::start_with_password("s3cret-pw").expect("redis-server");
    let wrong = server.url().replace("s3cret-pw", "wrong-pw");
    let err = Context::connect(&wrong, NAMESPACE).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(!message.contains("wrong-pw"), "{message}");
    let ctx = connect(&server.url()).await;
    ctx.defvariable("ok", VarType::Boolean, true, VarOptions::new())
        .expect("the right password works");

    let err = Context::connect(&server.url(), "has space")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not valid"), "{err}");

    let client = redis::Client::open(server.url()).expect("client");
    let mut raw = client.get_connection().expect("connection");
    redis::cmd("SET")
        .arg("dspex:{other-shape}:names")
        .arg("a plain string")
        .exec(&mut raw)
        .expect("SET");
    let err = Context::connect(&server.url(), "other-shape")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(
        err.to_string().contains("holds data of another shape"),
        "{err}"
    );
}

#[tokio::test]
async fn python_on_a_redis_context_reads_and_watches_what_another_process_wrote() {
    let server = RedisServer::start().expect("redis-server");
    let ctx = connect(&server.url()).await;
    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.7,
        VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0)),
    )
    .expect("define");
    run_child("tune", &server.url());
    // The other process's write reached this one (through the stream or a fresh read).
    assert_eq!(ctx.get_fresh::<f64>("temperature").expect("fresh"), 1.25);
    ctx.ensure_bridged().await.expect("served by the bridge");
    assert_eq!(ctx.backend().kind, BackendKind::Redis);
    assert!(ctx.backend().requires_bridge);
    let out = common::run_python(
        &ctx,
        "with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   s = SyncSessionContext(SESSION, ch)\n\
         \x20   print(s.get_variable('temperature'))\n\
         \x20   print(s.set_variable('temperature', 0.5))\n",
    );
    assert_eq!(out, "1.25\n2");
    // Python's write went to Redis: another process sees it.
    let other = connect(&server.url()).await;
    assert_eq!(other.get_fresh::<f64>("temperature").expect("fresh"), 0.5);

    // A Python watcher sees the write of another Rust process, which Python starts once
    // its watcher is registered.
    let child = format!(
        "[{:?}, 'child_process', '--exact', '--test-threads=1']",
        std::env::current_exe().expect("own path")
    );
    let out = common::run_python(
        &ctx,
        &format!(
            "import subprocess\n\
             async def main():\n\
             \x20   async with grpc.aio.insecure_channel(ADDRESS) as ch:\n\
             \x20       s = SessionContext(SESSION, ch)\n\
             \x20       watch = s.watch_variables(['temperature'])\n\
             \x20       await watch.ready()\n\
             \x20       env = dict(os.environ, DSPEX_REDIS_CHILD='retune', DSPEX_REDIS_URL={url:?})\n\
             \x20       proc = subprocess.run({child}, env=env, capture_output=True)\n\
             \x20       assert proc.returncode == 0, proc.stderr\n\
             \x20       async for update in watch:\n\
             \x20           print(update.value, update.old_value, update.version)\n\
             \x20           break\n\
             asyncio.run(main())\n",
            url = server.url()
        ),
    );
    assert_eq!(out, "1.75 0.5 3");
}

#[tokio::test]
async fn a_module_on_a_redis_context_runs_with_the_value_another_process_set() {
    let server = RedisServer::start().expect("redis-server");
    let ctx = connect(&server.url()).await;
    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.7,
        VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0)),
    )
    .expect("define");
    ctx.configure_lm(dspex::Lm::echo()).await.expect("test LM");
    let predict = dspex::Predict::new(&ctx, "question -> answer")
        .await
        .expect("module");
    predict
        .bind("temperature", "temperature")
        .await
        .expect("bind");
    run_child("tune", &server.url());
    assert_eq!(ctx.get_fresh::<f64>("temperature").expect("fresh"), 1.25);
    let prediction = predict
        .call([("question", "hot or cold?")])
        .await
        .expect("call");
    let answer: String = prediction.get("answer").expect("answer");
    assert_eq!(common::temperature_seen(&answer), "1.25", "{answer}");
}

#[tokio::test]
async fn a_watcher_that_missed_trimmed_events_gets_lagged_then_the_current_value() {
    let server = RedisServer::start().expect("redis-server");
    let ctx = connect(&server.url()).await;
    ctx.defvariable("x", VarType::Integer, 0, VarOptions::new())
        .expect("define");
    let mut watcher = ctx.watch(&["x"], false).expect("watch");
    let client = redis::Client::open(server.url()).expect("client");
    let mut raw = client.get_connection().expect("connection");
    let command = |raw: &mut redis::Connection, args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.exec(raw).expect("raw command");
    };
    // Lock this Context out (its stream follower cannot reconnect) while another writes and
    // the stream is trimmed past what this one read.
    command(&mut raw, &["CONFIG", "SET", "requirepass", "pw"]);
    command(
        &mut raw,
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    let with_password = server.url().replace("redis://", "redis://:pw@");
    let other = connect(&with_password).await;
    other
        .defvariable("x", VarType::Integer, 0, VarOptions::new())
        .expect("adopt");
    for i in 1..=5 {
        other.set("x", i).expect("set");
    }
    command(
        &mut raw,
        &["XTRIM", "dspex:{checkout-service}:events", "MAXLEN", "0"],
    );
    command(&mut raw, &["CONFIG", "SET", "requirepass", ""]);

    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), watcher.next())
            .await
            .expect("an event in time")
    };
    assert_eq!(next().await, Some(WatchEvent::Lagged { missed: 5 }));
    let Some(WatchEvent::Update(current)) = next().await else {
        panic!("expected the current value")
    };
    assert_eq!((current.value.as_i64(), current.version), (Some(5), 5));
    assert_eq!(current.old_value, None);
    assert_eq!(ctx.get::<i64>("x").expect("cached"), 5);
    // And it follows the stream again.
    other.set("x", 6).expect("set");
    let Some(WatchEvent::Update(update)) = next().await else {
        panic!("expected an update")
    };
    assert_eq!(update.version, 6);
}
