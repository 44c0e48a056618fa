//! Rust functions as DSPy tools: real worker processes and real DSPy ReAct agents over the
//! offline test LM (`Lm::echo()`, whose ReAct calls each of its tools once, in order, with
//! arguments from the numbers of the question, then `finish`).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dspex::bridge::pb::{self, variable_bridge_client::VariableBridgeClient};
use dspex::{Context, Lm, ReAct, Tool, ToolRef};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tonic::metadata::MetadataValue;

#[derive(Debug, Clone, Serialize)]
struct Order {
    id: u64,
    status: String,
    amount: f64,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Lookup {
    /// The order number.
    id: u64,
}

type Orders = Arc<std::sync::Mutex<HashMap<u64, Order>>>;

fn orders(entries: &[(u64, &str, f64)]) -> Orders {
    Arc::new(std::sync::Mutex::new(
        entries
            .iter()
            .map(|&(id, status, amount)| {
                (
                    id,
                    Order {
                        id,
                        status: status.into(),
                        amount,
                    },
                )
            })
            .collect(),
    ))
}

/// `lookup_order` over `table`, counting its runs in `runs`.
fn lookup_tool(table: Orders, runs: Arc<AtomicUsize>) -> Tool {
    Tool::new(
        "lookup_order",
        "Looks up an order by its number.",
        move |args: Lookup| {
            let (table, runs) = (table.clone(), runs.clone());
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                table
                    .lock()
                    .expect("the table")
                    .get(&args.id)
                    .cloned()
                    .ok_or_else(|| format!("there is no order {}", args.id))
            }
        },
    )
}

async fn context() -> dspex::Result<Context> {
    let ctx = common::llm_context()?;
    ctx.configure_lm(Lm::echo()).await?;
    Ok(ctx)
}

/// The tool calls of a trajectory, in order: (name, arguments, observation), `finish` left out.
fn tool_calls(trajectory: &Json) -> Vec<(String, Json, Json)> {
    (0..)
        .map_while(|i| {
            let name = trajectory
                .get(format!("tool_name_{i}"))?
                .as_str()?
                .to_owned();
            Some((
                name,
                trajectory[format!("tool_args_{i}")].clone(),
                trajectory[format!("observation_{i}")].clone(),
            ))
        })
        .filter(|(name, _, _)| name != "finish")
        .collect()
}

#[tokio::test]
async fn an_agent_answers_with_a_closure_over_shared_state() -> dspex::Result<()> {
    let ctx = context().await?;
    let table = orders(&[(42, "shipped", 30.0), (7, "lost", 12.5)]);
    let runs = Arc::new(AtomicUsize::new(0));
    let tool = lookup_tool(table.clone(), runs.clone());
    assert_eq!(tool.args_schema()["required"], json!(["id"]));
    let agent = ReAct::with_tools(&ctx, "question -> answer", [tool]).await?;

    let p = agent.call([("question", "Where is order 42?")]).await?;
    let trajectory = p.json("trajectory")?;
    let calls = tool_calls(&trajectory);
    assert_eq!(calls.len(), runs.load(Ordering::SeqCst), "{trajectory}");
    assert_eq!(calls.len(), 1, "{trajectory}");
    assert_eq!(calls[0].0, "lookup_order");
    assert_eq!(calls[0].1, json!({"id": 42}));
    assert_eq!(
        calls[0].2,
        json!({"id": 42, "status": "shipped", "amount": 30.0})
    );
    assert!(
        p.get::<String>("answer")?
            .starts_with("Echo: Where is order 42?")
    );

    // The tool reads the table as it is now: a change made in Rust is what the next call sees.
    table
        .lock()
        .expect("the table")
        .get_mut(&42)
        .expect("order 42")
        .status = "delivered".into();
    let p = agent.call([("question", "And order 42 now?")]).await?;
    let calls = tool_calls(&p.json("trajectory")?);
    assert_eq!(calls[0].2["status"], "delivered");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    Ok(())
}

/// Looks up the refund rule for an order.
#[dspex::tool]
fn refund_rule(
    /// The order number.
    id: u64,
) -> String {
    format!("order {id}: refundable within 30 days")
}

#[tokio::test]
async fn rust_and_python_tools_mix_in_order() -> dspex::Result<()> {
    let ctx = context().await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let tools: Vec<ToolRef> = vec![
        lookup_tool(orders(&[(3, "shipped", 1.0)]), runs.clone()).into(),
        "dspex_bridge.testing:add_numbers".into(),
        refund_rule_tool().into(),
    ];
    let agent = ReAct::with_tools(&ctx, "question -> answer", tools).await?;
    // Each tool takes the numbers of the question from the first: 3, then 3 and 4.
    let p = agent.call([("question", "Order 3: add 4 and 5")]).await?;
    let calls = tool_calls(&p.json("trajectory")?);
    let names: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["lookup_order", "add_numbers", "refund_rule"]);
    assert_eq!(calls[0].2["status"], "shipped");
    assert_eq!(calls[1].2, json!(7));
    assert_eq!(calls[2].2, json!("order 3: refundable within 30 days"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    Ok(())
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Nothing {}

#[tokio::test]
async fn failing_panicking_and_slow_tools_are_observations() -> dspex::Result<()> {
    let ctx = context().await?;
    let failing = Tool::new("failing", "Always fails.", |_: Nothing| async {
        Err::<u32, _>("the warehouse is closed")
    });
    let panicking = Tool::new("panicking", "Always panics.", |_: Nothing| async {
        if std::hint::black_box(true) {
            panic!("the tool blew up");
        }
        0_u32
    });
    let slow_dropped = Arc::new(AtomicBool::new(false));
    let dropped = slow_dropped.clone();
    let slow = Tool::new("slow", "Takes too long.", move |_: Nothing| {
        let guard = DropFlag(dropped.clone());
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(30)).await;
            1
        }
    })
    .timeout(Duration::from_millis(300));
    let agent = ReAct::with_tools(&ctx, "question -> answer", [failing, panicking, slow]).await?;

    let p = agent.call([("question", "Try everything")]).await?;
    let calls = tool_calls(&p.json("trajectory")?);
    let observation = |i: usize| calls[i].2.as_str().unwrap_or_default().to_owned();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        observation(0).contains("tool `failing` failed: the warehouse is closed"),
        "{}",
        observation(0)
    );
    assert!(
        observation(1).contains("tool `panicking` panicked: the tool blew up"),
        "{}",
        observation(1)
    );
    assert!(
        observation(2).contains("tool `slow` did not answer within 300ms"),
        "{}",
        observation(2)
    );
    assert!(
        slow_dropped.load(Ordering::SeqCst),
        "the slow tool is cancelled at its timeout"
    );
    assert!(
        p.get::<String>("answer")?
            .starts_with("Echo: Try everything")
    );

    // The process, the bridge and the worker serve the next call.
    let runs = Arc::new(AtomicUsize::new(0));
    let agent = ReAct::with_tools(
        &ctx,
        "question -> answer",
        [lookup_tool(orders(&[(1, "ok", 1.0)]), runs.clone())],
    )
    .await?;
    let p = agent.call([("question", "Order 1?")]).await?;
    assert_eq!(tool_calls(&p.json("trajectory")?)[0].2["status"], "ok");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    Ok(())
}

/// Sets its flag when dropped: the future that holds it is gone.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_calls_get_their_own_results() -> dspex::Result<()> {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut calls = tokio::task::JoinSet::new();
    for c in 0..4u64 {
        let ctx = context().await?;
        // Each Context has its own table: order n of context c is `c{c}-{n}`.
        let table: Orders = orders(&[]);
        for n in 0..4u64 {
            table.lock().expect("the table").insert(
                100 * c + n,
                Order {
                    id: 100 * c + n,
                    status: format!("c{c}-{n}"),
                    amount: 0.0,
                },
            );
        }
        let (in_flight, most) = (in_flight.clone(), most.clone());
        let tool = Tool::new("lookup_order", "Looks up an order.", move |args: Lookup| {
            let (table, in_flight, most) = (table.clone(), in_flight.clone(), most.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                table
                    .lock()
                    .expect("the table")
                    .get(&args.id)
                    .map(|o| o.status.clone())
                    .ok_or("no such order")
            }
        });
        let agent = ReAct::with_tools(&ctx, "question -> answer", [tool]).await?;
        for n in 0..4u64 {
            let agent = agent.clone();
            let ctx = ctx.clone();
            calls.spawn(async move {
                let _ctx = ctx;
                let question = format!("Where is order {}?", 100 * c + n);
                let p = agent.call([("question", question.as_str())]).await?;
                let calls = tool_calls(&p.json("trajectory")?);
                Ok::<_, dspex::Error>((c, n, calls[0].2.clone()))
            });
        }
    }
    let mut seen = 0;
    while let Some(done) = calls.join_next().await {
        let (c, n, observation) = done.expect("the call's task")?;
        assert_eq!(observation, json!(format!("c{c}-{n}")));
        seen += 1;
    }
    assert_eq!(seen, 16);
    assert!(
        most.load(Ordering::SeqCst) > 1,
        "tool calls overlap: at most {} at once",
        most.load(Ordering::SeqCst)
    );
    Ok(())
}

async fn bridge_client(ctx: &Context) -> (VariableBridgeClient<tonic::transport::Channel>, String) {
    let endpoint = ctx.bridge().expect("bridged");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", endpoint.address))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the bridge");
    (VariableBridgeClient::new(channel), endpoint.token)
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        dspex::bridge::TOKEN_KEY,
        MetadataValue::try_from(token).expect("ascii token"),
    );
    request
}

/// Applies a discount to an order.
#[dspex::tool]
async fn discount(
    /// The order number.
    id: u64,
    /// The discount, in percent.
    percent: u8,
) -> Result<String, std::io::Error> {
    DISCOUNT_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("order {id}: {percent}% off"))
}

static DISCOUNT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[tokio::test]
async fn bad_arguments_never_reach_the_function() -> dspex::Result<()> {
    let ctx = context().await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let agent = ReAct::with_tools(
        &ctx,
        "question -> answer",
        [lookup_tool(orders(&[]), runs.clone())],
    )
    .await?;

    // Through the agent: the worker checks the arguments against the schema (an order number
    // is at least 0), before anything is sent.
    let p = agent.call([("question", "Where is order -5?")]).await?;
    let calls = tool_calls(&p.json("trajectory")?);
    assert_eq!(calls[0].1, json!({"id": -5}));
    let observation = calls[0].2.as_str().unwrap_or_default();
    assert!(observation.contains("Arg id is invalid"), "{observation}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // Straight to the bridge, as a worker would send it: refused in Rust, naming the argument.
    let (mut client, token) = bridge_client(&ctx).await;
    let call = |module: &str, tool: &str, arguments: &str| {
        authed(
            pb::CallToolRequest {
                session_id: ctx.id().to_owned(),
                module_id: module.to_owned(),
                tool: tool.to_owned(),
                arguments_json: arguments.to_owned(),
            },
            &token,
        )
    };
    let refusal = |response: pb::CallToolResponse| match response.outcome {
        Some(pb::call_tool_response::Outcome::Failure(f)) => {
            assert_eq!(
                f.kind,
                pb::ToolFailureKind::InvalidArguments as i32,
                "{f:?}"
            );
            f.message
        }
        other => panic!("not refused: {other:?}"),
    };
    let wrong_type = client
        .call_tool(call(agent.id(), "lookup_order", r#"{"id": "abc"}"#))
        .await
        .expect("served")
        .into_inner();
    let message = refusal(wrong_type);
    assert!(message.contains("argument `id`"), "{message}");
    let missing = client
        .call_tool(call(agent.id(), "lookup_order", "{}"))
        .await
        .expect("served")
        .into_inner();
    assert!(refusal(missing).contains("missing argument `id`"));
    let not_json = client
        .call_tool(call(agent.id(), "lookup_order", "{id: 1"))
        .await
        .expect("served")
        .into_inner();
    assert!(refusal(not_json).contains("not JSON"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // `#[dspex::tool]` refuses arguments the function does not take.
    let agent = ReAct::with_tools(&ctx, "question -> answer", [discount_tool()]).await?;
    let unknown = client
        .call_tool(call(
            agent.id(),
            "discount",
            r#"{"id": 1, "percent": 5, "coupon": "x"}"#,
        ))
        .await
        .expect("served")
        .into_inner();
    let message = refusal(unknown);
    assert!(message.contains("unknown argument `coupon`"), "{message}");
    let too_big = client
        .call_tool(call(agent.id(), "discount", r#"{"id": 1, "percent": 300}"#))
        .await
        .expect("served")
        .into_inner();
    assert!(refusal(too_big).contains("argument `percent`"));
    assert_eq!(DISCOUNT_RUNS.load(Ordering::SeqCst), 0);
    let fits = client
        .call_tool(call(agent.id(), "discount", r#"{"id": 1, "percent": 5}"#))
        .await
        .expect("served")
        .into_inner();
    assert_eq!(
        fits.outcome,
        Some(pb::call_tool_response::Outcome::ResultJson(
            json!("order 1: 5% off").to_string()
        ))
    );
    assert_eq!(DISCOUNT_RUNS.load(Ordering::SeqCst), 1);

    // A call names its session: another Context's module, or an unknown tool, is not found.
    let status = client
        .call_tool(authed(
            pb::CallToolRequest {
                session_id: "some-other-session".into(),
                module_id: agent.id().to_owned(),
                tool: "discount".into(),
                arguments_json: "{}".into(),
            },
            &token,
        ))
        .await
        .expect_err("not this session's module");
    assert_eq!(status.code(), tonic::Code::NotFound);
    let status = client
        .call_tool(call(agent.id(), "no_such_tool", "{}"))
        .await
        .expect_err("no such tool");
    assert_eq!(status.code(), tonic::Code::NotFound);
    // And, like every call to the bridge, carries its token.
    let status = client
        .call_tool(pb::CallToolRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    Ok(())
}

#[tokio::test]
async fn dropping_the_call_cancels_its_tool_calls() -> dspex::Result<()> {
    let ctx = context().await?;
    let started = Arc::new(tokio::sync::Notify::new());
    let dropped = Arc::new(AtomicBool::new(false));
    let (on_start, on_drop) = (started.clone(), dropped.clone());
    let stuck = Tool::new("stuck", "Never answers.", move |_: Nothing| {
        let guard = DropFlag(on_drop.clone());
        let on_start = on_start.clone();
        async move {
            let _guard = guard;
            on_start.notify_one();
            tokio::time::sleep(Duration::from_secs(60)).await;
            0
        }
    });
    let agent = ReAct::with_tools(&ctx, "question -> answer", [stuck]).await?;
    tokio::select! {
        result = agent.call([("question", "Wait for it")]) => panic!("the call ended: {result:?}"),
        () = started.notified() => {}
    }
    // The call's future is gone: its tool call is cancelled in this process.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tool call was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::test]
async fn tools_are_checked_when_the_agent_is_created() -> dspex::Result<()> {
    let ctx = context().await?;
    let runs = Arc::new(AtomicUsize::new(0));
    let named = |name: &str| Tool::new(name, "x", |_: Nothing| async { 0 });
    for (tools, expected) in [
        (vec![named("finish")], "`finish` is ReAct's own"),
        (vec![named("two words")], "is not an identifier"),
        (
            vec![named("same"), named("same")],
            "two tools are named `same`",
        ),
    ] {
        let err = ReAct::with_tools(&ctx, "question -> answer", tools)
            .await
            .unwrap_err();
        assert!(matches!(err, dspex::Error::InvalidArgument { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let scalar = Tool::new("scalar", "x", |n: u64| async move { n });
    let err = ReAct::with_tools(&ctx, "question -> answer", [scalar])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("must be a struct with named fields"),
        "{err}"
    );
    // A Rust tool named like a Python one of the same agent: the worker refuses it.
    let tools: [ToolRef; 2] = [
        Tool::new("add_numbers", "x", |_: Nothing| async { 0 }).into(),
        "dspex_bridge.testing:add_numbers".into(),
    ];
    let err = ReAct::with_tools(&ctx, "question -> answer", tools)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("two tools are named `add_numbers`"),
        "{err}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    Ok(())
}
