//! Module calls go by the worker's call socket (its own threads run them where they read
//! them); what exceeds its connections goes by gRPC, where the worker's pool threads and its
//! event loop take them. (A call given up while the worker runs it is cancelled there:
//! `dropping_the_call_cancels_its_tool_calls` in `tests/tools.rs`.) The LM answers with the name of the worker thread that called it
//! (`tests/support/thread_lm.py`).

use std::collections::HashMap;

mod common;

use dspex::{Lm, Predict};
use tokio::task::JoinSet;

/// The worker thread that ran a call on the call socket.
const SOCKET_THREAD: &str = "dspex-call-socket";

/// How many calls a worker's call socket serves at once (`--threads`, its default).
const SOCKET_CONNECTIONS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_by_the_call_socket_and_past_its_connections_by_grpc() -> dspex::Result<()> {
    let ctx = common::llm_context()?;
    ctx.configure_lm(Lm::custom("tests.support.thread_lm:thread_lm").setting("delay", 0.3))
        .await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;

    let one = predict.call([("question", "where?")]).await?;
    assert_eq!(one.get::<String>("answer")?, SOCKET_THREAD);

    // More calls at once than the socket has connections: each runs, somewhere.
    let in_flight = SOCKET_CONNECTIONS * 3;
    let mut calls = JoinSet::new();
    for i in 0..in_flight {
        let predict = predict.clone();
        calls.spawn(async move { predict.call([("question", format!("q{i}"))]).await });
    }
    let mut threads: HashMap<String, usize> = HashMap::new();
    while let Some(joined) = calls.join_next().await {
        let answer = joined.expect("a call task")?.get::<String>("answer")?;
        *threads.entry(answer).or_default() += 1;
    }
    let on_socket = threads.get(SOCKET_THREAD).copied().unwrap_or(0);
    assert!((1..=SOCKET_CONNECTIONS).contains(&on_socket), "{threads:?}");
    assert_eq!(threads.values().sum::<usize>(), in_flight, "{threads:?}");
    assert!(
        threads
            .keys()
            .any(|t| t.starts_with("dspex-call_") || t == "MainThread"),
        "the calls past the one-at-a-time connections ran as the RPC runs them: {threads:?}"
    );

    // Its connections are reused: the socket serves again once they are free.
    let again = predict.call([("question", "again")]).await?;
    assert_eq!(again.get::<String>("answer")?, SOCKET_THREAD);
    Ok(())
}

#[test]
fn without_the_call_socket_calls_go_by_grpc() {
    // The pool reads `DSPEX_CALL_SOCKET` when it starts: the scenario runs in a child
    // process of this test binary.
    let out = std::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "grpc_only_scenario",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DSPEX_CALL_SOCKET", "0")
        .output()
        .expect("start the child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run by without_the_call_socket_calls_go_by_grpc, with DSPEX_CALL_SOCKET=0"]
async fn grpc_only_scenario() -> dspex::Result<()> {
    let ctx = common::llm_context()?;
    ctx.configure_lm(Lm::custom("tests.support.thread_lm:thread_lm"))
        .await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    let answer = predict
        .call([("question", "where?")])
        .await?
        .get::<String>("answer")?;
    assert!(
        answer.starts_with("dspex-call_"),
        "a gRPC pool thread: {answer}"
    );
    Ok(())
}
