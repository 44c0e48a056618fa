//! The pool gives a worker up after `PoolConfig::restart_budget` failed starts in a row,
//! and says so: a crash while it is restarting promises only a wait, and every call after
//! the give-up fails at once with `Error::WorkerUnavailable`.
//!
//! Each scenario runs in a child process of this test binary (the pool and the Python it
//! uses are per process), with `DSPEX_PYTHON` pointing at a shell script that runs the real
//! interpreter for everything but the worker, whose start it lets through a given number
//! of times only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::kill9;
use dspex::{Context, Error, Lm, PoolConfig, Predict, VarOptions, VarType};

/// How many starts in a row may fail in these scenarios.
const BUDGET: u32 = 2;

/// Writes, in a fresh directory, a `python` that behaves like the real one except that
/// `-m dspex_bridge.worker` exits at once after `worker_starts` successful starts.
fn python_whose_worker_starts(worker_starts: u32, scenario: &str) -> PathBuf {
    let real = dspex::python_interpreter().expect("make setup provides the venv");
    let dir =
        std::env::temp_dir().join(format!("dspex-gives-up-{scenario}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let count = dir.join("starts");
    std::fs::write(&count, "").expect("the start counter");
    let script = dir.join("python");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             if [ \"$1\" = \"-m\" ]; then\n\
             \x20 [ \"$(wc -c < '{count}')\" -ge {worker_starts} ] && exit 3\n\
             \x20 printf x >> '{count}'\n\
             fi\n\
             exec '{real}' \"$@\"\n",
            count = count.display(),
            real = real.display(),
        ),
    )
    .expect("the script");
    make_executable(&script);
    script
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the script");
}

/// How the scenario's workers start.
#[derive(Clone, Copy)]
enum Start {
    /// Forked by the fork server (the default on Linux): one interpreter for them all.
    Forked,
    /// Each its own interpreter (`DSPEX_WORKER_FORK=0`).
    OwnInterpreter,
}

/// Runs the ignored test `name` of this binary in a child process with `python` as
/// `DSPEX_PYTHON`, and fails with its output if it fails.
fn run_child(name: &str, python: &Path, start: Start) {
    let fork = match start {
        Start::Forked => "1",
        Start::OwnInterpreter => "0",
    };
    let out = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DSPEX_PYTHON", python)
        .env("DSPEX_WORKER_FORK", fork)
        .output()
        .expect("start the child test process");
    if let Some(dir) = python.parent() {
        // Only a few bytes in the temporary directory are left if this fails.
        let _ = std::fs::remove_dir_all(dir);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What every call gets once the pool gave worker 0 up.
fn assert_unavailable(err: &Error) {
    assert!(
        matches!(
            err,
            Error::WorkerUnavailable {
                worker: 0,
                attempts: BUDGET,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    for part in [
        "worker 0 is unavailable",
        "failed to start 2 times in a row",
        "exited before it was ready",
        "until the program restarts",
        "DSPEX_PYTHON",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

#[test]
fn a_worker_that_never_starts_is_given_up_and_says_why() {
    run_child(
        "child_worker_never_starts",
        &python_whose_worker_starts(0, "never"),
        Start::OwnInterpreter,
    );
}

#[test]
fn a_fork_server_that_never_starts_gives_the_worker_up_and_says_why() {
    run_child(
        "child_worker_never_starts",
        &python_whose_worker_starts(0, "never-forked"),
        Start::Forked,
    );
}

/// Each restart is a new interpreter here: a forked worker's restart runs no interpreter
/// (`tests/worker_start.rs` restarts forked workers).
#[test]
fn a_worker_that_cannot_restart_after_a_crash_is_given_up() {
    run_child(
        "child_worker_cannot_restart",
        &python_whose_worker_starts(1, "once"),
        Start::OwnInterpreter,
    );
}

#[tokio::test]
#[ignore = "run as a child process by a_worker_that_never_starts_is_given_up_and_says_why"]
async fn child_worker_never_starts() -> dspex::Result<()> {
    dspex::configure_workers(PoolConfig {
        size: 1,
        restart_budget: BUDGET,
        ..PoolConfig::default()
    })?;
    let ctx = Context::new();
    let err = Predict::new(&ctx, "question -> answer").await.unwrap_err();
    assert_unavailable(&err);
    // The next call does not wait for anything: the pool has given up.
    let started = Instant::now();
    let err = ctx.configure_lm(Lm::echo()).await.unwrap_err();
    assert_unavailable(&err);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(dspex::worker_pids().await.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by a_worker_that_cannot_restart_after_a_crash_is_given_up"]
async fn child_worker_cannot_restart() -> dspex::Result<()> {
    dspex::configure_workers(PoolConfig {
        size: 1,
        restart_budget: BUDGET,
        ..PoolConfig::default()
    })?;
    let ctx = Context::new();
    ctx.defvariable("temperature", VarType::Float, 0.4, VarOptions::new())?;
    // The slow test LM (1 s per request) keeps a call in flight long enough to kill it.
    ctx.configure_lm(Lm::custom("dspex_bridge.testing:slow_echo_lm"))
        .await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    let p = predict.call([("question", "first")]).await?;
    assert!(p.get::<String>("answer")?.starts_with("Echo: first"));

    let pids = dspex::worker_pids().await;
    assert_eq!(pids.len(), 1);
    let in_flight = {
        let predict = predict.clone();
        tokio::spawn(async move { predict.call([("question", "in flight")]).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    kill9(pids[0]);
    let err = in_flight.await.expect("task").unwrap_err();
    // At the crash the pool is still restarting: the error promises a wait, not an answer.
    assert!(
        matches!(
            err,
            Error::WorkerCrashed {
                worker: 0,
                restarting: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().ends_with(
            "it is being restarted, and the next call to its modules waits for the new worker"
        ),
        "{err}"
    );

    // Every restart exits at once: the next call waits for the verdict and gets it.
    let err = predict
        .call([("question", "after the crash")])
        .await
        .unwrap_err();
    assert_unavailable(&err);
    let started = Instant::now();
    let err = predict.call([("question", "again")]).await.unwrap_err();
    assert_unavailable(&err);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(dspex::worker_pids().await.is_empty());
    assert_eq!(
        ctx.get::<f64>("temperature")?,
        0.4,
        "the variables are untouched"
    );
    Ok(())
}
