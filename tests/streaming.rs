//! Streamed module calls: real worker processes running `dspy.streamify` over the offline
//! test LM, which streams its answers in pieces (`Lm::echo()`; with `chunk_delay` seconds
//! between pieces, and `request_log` a file where it notes every request it receives).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dspex::{ChainOfThought, Context, Lm, Module, Predict, ReAct, StreamEvent, Tool};
use tokio_stream::StreamExt;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Lookup {
    /// The order number.
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

/// Everything a stream yielded, until `Done` (which must be last).
async fn collect(module: &Module, question: &str) -> dspex::Result<Vec<StreamEvent>> {
    let mut stream = module.stream([("question", question)]);
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event?);
    }
    assert!(
        matches!(events.last(), Some(StreamEvent::Done(_))),
        "the stream ends with its prediction: {events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Done(_)))
            .count(),
        1
    );
    Ok(events)
}

fn statuses(events: &[StreamEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Status(line) => Some(line.as_str()),
            _ => None,
        })
        .collect()
}

/// Each field's tokens, in order.
fn tokens(events: &[StreamEvent]) -> BTreeMap<&str, Vec<&str>> {
    let mut by_field: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for event in events {
        if let StreamEvent::Token { field, text } = event {
            by_field.entry(field).or_default().push(text);
        }
    }
    by_field
}

fn done(events: &[StreamEvent]) -> &dspex::Prediction {
    match events.last() {
        Some(StreamEvent::Done(p)) => p,
        other => panic!("no prediction: {other:?}"),
    }
}

async fn context(lm: Lm) -> dspex::Result<Context> {
    let ctx = common::llm_context()?;
    ctx.configure_lm(lm).await?;
    Ok(ctx)
}

#[tokio::test]
async fn a_stream_yields_status_tokens_in_order_and_the_prediction() -> dspex::Result<()> {
    let ctx = context(Lm::echo()).await?;
    let cot = ChainOfThought::new(&ctx, "question -> answer").await?;
    cot.bind("temperature", "temperature").await?;
    let events = collect(&cot, "What is the capital of France?").await?;
    let prediction = done(&events);
    assert_eq!(statuses(&events), ["running `predict`"]);

    let tokens = tokens(&events);
    assert_eq!(
        tokens.keys().copied().collect::<Vec<_>>(),
        ["answer", "reasoning"]
    );
    for (field, pieces) in &tokens {
        assert!(pieces.len() > 3, "`{field}` comes in pieces: {pieces:?}");
        assert_eq!(
            pieces.concat(),
            prediction.get::<String>(field)?,
            "`{field}`"
        );
    }
    // The reasoning is written before the answer.
    let first = |field: &str| {
        events
            .iter()
            .position(|e| matches!(e, StreamEvent::Token { field: f, .. } if f == field))
    };
    assert!(first("reasoning") < first("answer"));

    // The same call, not streamed: the same prediction (bound settings included).
    assert_eq!(
        &cot.call([("question", "What is the capital of France?")])
            .await?,
        prediction
    );
    assert!(
        prediction
            .get::<String>("answer")?
            .contains("temperature=0.7")
    );
    Ok(())
}

#[tokio::test]
async fn a_streamed_agent_says_which_tools_it_calls() -> dspex::Result<()> {
    let ctx = context(Lm::echo()).await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let lookup = Tool::new("lookup_order", "Looks up an order.", move |args: Lookup| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(format!("order {} shipped", args.id))
        }
    });
    let agent = ReAct::with_tools(&ctx, "question -> answer", [lookup]).await?;
    let events = collect(&agent, "Where is order 12?").await?;
    assert_eq!(
        statuses(&events),
        [
            "running `react`",
            "calling tool `lookup_order`",
            "tool `lookup_order` finished",
            "running `react`",
            "running `extract.predict`",
        ]
    );
    let prediction = done(&events);
    let trajectory = prediction.json("trajectory")?;
    assert_eq!(trajectory["observation_0"], "order 12 shipped");
    for (field, pieces) in tokens(&events) {
        assert_eq!(
            pieces.concat(),
            prediction.get::<String>(field)?,
            "`{field}`"
        );
    }
    assert_eq!(
        &agent.call([("question", "Where is order 12?")]).await?,
        prediction
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn a_stream_of_a_call_the_worker_refuses_ends_with_its_error() -> dspex::Result<()> {
    let ctx = context(Lm::echo()).await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    let mut stream = predict.stream([("no_such_input", "x")]);
    let first = stream.next().await.expect("an event");
    let err = first.expect_err("unknown input");
    assert!(matches!(err, dspex::Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("no_such_input"), "{err}");
    assert!(stream.next().await.is_none());
    // The module serves the next stream.
    collect(&predict, "Still there?").await?;
    Ok(())
}

/// The requests the test LM noted in `log` so far.
fn requests_logged(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(r#""kind": "request""#))
        .count()
}

fn log_file(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("dspex-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn dropping_a_stream_during_a_tool_call_stops_the_agent() -> dspex::Result<()> {
    let log = log_file("drop-during-tool");
    let lm = Lm::echo().setting("request_log", log.to_string_lossy().as_ref());
    let ctx = context(lm).await?;
    let (started, dropped, finished) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (on_start, on_drop, on_finish) = (started.clone(), dropped.clone(), finished.clone());
    // Without the cancellation it would answer after a second, and the agent would go on.
    let slow = Tool::new("slow", "Answers after a second.", move |_: Nothing| {
        let guard = DropFlag(on_drop.clone());
        let (on_start, on_finish) = (on_start.clone(), on_finish.clone());
        async move {
            let _guard = guard;
            on_start.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
            on_finish.store(true, Ordering::SeqCst);
            "done"
        }
    });
    let agent = ReAct::with_tools(&ctx, "question -> answer", [slow]).await?;
    let mut stream = agent.stream([("question", "Take your time")]);
    let mut statuses = Vec::new();
    tokio::select! {
        () = started.notified() => {}
        () = async {
            while let Some(Ok(StreamEvent::Status(line))) = stream.next().await {
                statuses.push(line);
            }
        } => panic!("the stream ended before the tool ran: {statuses:?}"),
    }
    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tool call was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !finished.load(Ordering::SeqCst),
        "the tool was cancelled, not finished"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        requests_logged(&log),
        1,
        "only the step that called the tool"
    );
    let _ = std::fs::remove_file(&log);
    Ok(())
}

#[tokio::test]
async fn dropping_a_stream_mid_answer_stops_the_worker() -> dspex::Result<()> {
    let log = log_file("drop-mid-answer");
    let lm = Lm::echo()
        .setting("request_log", log.to_string_lossy().as_ref())
        .setting("chunk_delay", 0.02);
    let ctx = context(lm).await?;
    // Python tools: each step of the agent is one slow streamed LM request.
    let agent = ReAct::new(
        &ctx,
        "question -> answer",
        &[
            "dspex_bridge.testing:add_numbers",
            "dspex_bridge.testing:word_count",
        ],
    )
    .await?;
    let mut stream = agent.stream([("question", "Add 2 and 3, then count the words")]);
    while let Some(event) = stream.next().await {
        if matches!(&event?, StreamEvent::Status(line) if line == "tool `add_numbers` finished") {
            break;
        }
    }
    drop(stream);
    // What reached the LM before the drop was known is all it ever gets.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = requests_logged(&log);
    assert!(seen <= 2, "{seen} requests");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        requests_logged(&log),
        seen,
        "no request after the stream was dropped"
    );
    let _ = std::fs::remove_file(&log);

    // Unstreamed, the same agent makes four requests (two tools, finish, the answer).
    let log = log_file("drop-mid-answer-whole");
    let lm = Lm::echo().setting("request_log", log.to_string_lossy().as_ref());
    ctx.configure_lm(lm).await?;
    agent
        .call([("question", "Add 2 and 3, then count the words")])
        .await?;
    assert_eq!(requests_logged(&log), 4);
    let _ = std::fs::remove_file(&log);
    Ok(())
}

/// Answer the question.
#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

#[tokio::test]
async fn a_typed_stream_ends_with_the_typed_prediction_of_the_same_call() -> dspex::Result<()> {
    let ctx = context(Lm::echo()).await?;
    let cot = ChainOfThought::typed::<Qa>(&ctx).await?;
    let input = QaInput {
        question: "What is the capital of France?".into(),
    };
    let mut stream = cot.stream(input.clone());
    let mut answer = String::new();
    let mut done = None;
    while let Some(event) = stream.next().await {
        match event? {
            dspex::TypedStreamEvent::Status(_) => {}
            dspex::TypedStreamEvent::Token { field, text } => {
                if field == "answer" {
                    answer.push_str(&text);
                }
            }
            dspex::TypedStreamEvent::Done(prediction) => done = Some(prediction),
        }
    }
    let done = done.expect("the stream ends with its prediction");
    assert!(!answer.is_empty(), "the answer came in tokens");
    assert_eq!(answer, done.output.answer);
    assert_eq!(done.output, cot.call(input).await?);
    assert!(done.extra::<String>("reasoning")?.starts_with("Echo: "));
    Ok(())
}

#[tokio::test]
async fn a_typed_agent_calls_a_rust_tool() -> dspex::Result<()> {
    let ctx = context(Lm::echo()).await?;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let lookup = Tool::new("lookup_order", "Looks up an order.", move |args: Lookup| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(format!("order {} shipped", args.id))
        }
    });
    let agent = ReAct::typed::<Qa>(&ctx, [lookup]).await?;
    let full = agent
        .call_full(QaInput {
            question: "Where is order 42?".into(),
        })
        .await?;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let trajectory: serde_json::Value = full.extra("trajectory")?;
    assert!(
        trajectory.to_string().contains("order 42 shipped"),
        "{trajectory}"
    );
    Ok(())
}
