//! Rust tools and streaming, measured once (not criterion: each figure needs a worker-side
//! clock):
//! - the round trip of one Rust tool call seen from the worker — the worker's own
//!   `dspy.Tool` over `CallTool` to this process, called from a worker thread as ReAct
//!   calls it — beside a Python `dspy.Tool` doing the same work (a dict lookup), same run;
//! - how long a token takes from leaving the test LM (its own clock, in its request log)
//!   to arriving here as a `StreamEvent::Token`, p50 and p99.
//!
//! `cargo bench --bench tools` (release); prints one JSON object.

use std::collections::HashMap;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use dspex::{Context, Lm, Predict, ReAct, StreamEvent, Tool};
use tokio_stream::StreamExt;

const TOOL_CALLS: usize = 2000;
const STREAMED_CALLS: usize = 40;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Lookup {
    /// The order number.
    id: u64,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Times the worker's dspy.Tool for the Rust tool and a Python twin, from a worker thread.
const TOOL_SCRIPT: &str = r#"
import asyncio, json, os, statistics, sys, time
import dspy, grpc
from dspex_bridge._proto_loader import worker_pb
from dspex_bridge.worker.tools import ToolBridge

spec = json.loads(sys.argv[1])
ORDERS = {i: {"id": i, "status": "shipped"} for i in range(100)}

def lookup_order(id: int) -> dict:
    """Looks up an order."""
    order = ORDERS.get(id)
    if order is None:
        raise ValueError(f"there is no order {id}")
    return order

def timed(tool, n):
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        tool(id=i % 100)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples

async def main():
    channel = grpc.aio.insecure_channel(os.environ["DSPEX_BRIDGE_ADDRESS"])
    bridge = ToolBridge(channel, os.environ["DSPEX_BRIDGE_TOKEN"])
    rust = bridge.tool(worker_pb.RustTool(**spec["tool"]), spec["session"], spec["module"])
    python = dspy.Tool(lookup_order)
    loop = asyncio.get_running_loop()
    n = spec["calls"]
    await loop.run_in_executor(None, timed, rust, 200)
    await loop.run_in_executor(None, timed, python, 200)
    rust_us = await loop.run_in_executor(None, timed, rust, n)
    python_us = await loop.run_in_executor(None, timed, python, n)
    print(json.dumps({"rust_us": rust_us, "python_us": python_us}))
    await channel.close()

asyncio.run(main())
"#;

async fn tool_round_trip() -> dspex::Result<serde_json::Value> {
    let ctx = Context::new();
    ctx.configure_lm(Lm::echo()).await?;
    let orders: HashMap<u64, serde_json::Value> = (0..100)
        .map(|i| (i, serde_json::json!({"id": i, "status": "shipped"})))
        .collect();
    let tool = Tool::new("lookup_order", "Looks up an order.", move |args: Lookup| {
        let order = orders.get(&args.id).cloned();
        async move { order.ok_or_else(|| format!("there is no order {}", args.id)) }
    });
    let spec = serde_json::json!({
        "tool": {
            "name": tool.name(),
            "description": tool.description(),
            "args_schema_json": tool.args_schema().to_string(),
            "timeout_ms": 30_000,
        },
        "calls": TOOL_CALLS,
    });
    let agent = ReAct::with_tools(&ctx, "question -> answer", [tool]).await?;
    let mut spec = spec;
    spec["session"] = ctx.id().into();
    spec["module"] = agent.id().into();
    let endpoint = ctx.bridge().expect("bridged by the module");
    let python = dspex::python_interpreter()?;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", TOOL_SCRIPT, &spec.to_string()])
            .env("DSPEX_BRIDGE_ADDRESS", &endpoint.address)
            .env("DSPEX_BRIDGE_TOKEN", &endpoint.token)
            .output()
    })
    .await
    .expect("the timing script's thread")
    .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    let summary = |key: &str| {
        let mut v: Vec<f64> = samples[key]
            .as_array()
            .expect("samples")
            .iter()
            .filter_map(|x| x.as_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        serde_json::json!({"p50_us": percentile(&v, 0.5), "p99_us": percentile(&v, 0.99), "n": v.len()})
    };
    drop(agent);
    Ok(serde_json::json!({"rust_tool": summary("rust_us"), "python_tool": summary("python_us")}))
}

async fn token_latency() -> dspex::Result<serde_json::Value> {
    let log = std::env::temp_dir().join(format!("dspex-bench-tokens-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let ctx = Context::new();
    // A few milliseconds between tokens, as an LM writes them: each token is measured on its
    // own, not queued behind a burst.
    ctx.configure_lm(
        Lm::echo()
            .setting("request_log", log.to_string_lossy().as_ref())
            .setting("chunk_delay", 0.005),
    )
    .await?;
    let predict = Predict::new(&ctx, "question -> answer").await?;
    let mut received: Vec<Vec<(u64, usize)>> = Vec::new();
    let mut answers = Vec::new();
    for i in 0..STREAMED_CALLS {
        let question = format!("Question number {i}: what is the time from a token to its event?");
        let mut events = predict.stream([("question", question.as_str())]);
        let mut tokens = Vec::new();
        let mut length = 0;
        while let Some(event) = events.next().await {
            match event? {
                StreamEvent::Token { field, text } if field == "answer" => {
                    length += text.len();
                    tokens.push((now_us(), length));
                }
                StreamEvent::Done(p) => answers.push(p.get::<String>("answer")?),
                _ => {}
            }
        }
        received.push(tokens);
    }
    // The log: per request its text, then when each piece left (t_us, offset, text).
    let text = std::fs::read_to_string(&log).expect("the test LM's log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["kind"] == "request").collect();
    let chunks: Vec<&serde_json::Value> = lines.iter().filter(|l| l["kind"] == "chunks").collect();
    let mut latencies = Vec::new();
    for ((request, sent), (tokens, answer)) in requests
        .iter()
        .zip(&chunks)
        .zip(received.iter().zip(&answers))
    {
        let response = request["text"].as_str().unwrap_or_default();
        let header = response.find("[[ ## answer ## ]]").unwrap_or(0);
        let Some(start) = response[header..].find(answer.as_str()).map(|i| i + header) else {
            continue;
        };
        let pieces: Vec<(u64, usize, usize)> = sent["chunks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let t = c[0].as_u64()?;
                let offset = c[1].as_u64()? as usize;
                Some((t, offset, offset + c[2].as_str()?.len()))
            })
            .collect();
        for &(at, end) in tokens {
            // The piece that holds the token's last character left the LM when the token could.
            let last = start + end - 1;
            if let Some(&(left, _, _)) = pieces
                .iter()
                .find(|&&(_, from, to)| from <= last && last < to)
            {
                latencies.push(at.saturating_sub(left) as f64);
            }
        }
    }
    let _ = std::fs::remove_file(&log);
    latencies.sort_by(f64::total_cmp);
    assert!(
        !latencies.is_empty(),
        "tokens were matched to the LM's pieces"
    );
    Ok(serde_json::json!({
        "p50_us": percentile(&latencies, 0.5),
        "p99_us": percentile(&latencies, 0.99),
        "n": latencies.len(),
    }))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        let tools = tool_round_trip().await?;
        let tokens = token_latency().await?;
        Ok::<_, dspex::Error>(serde_json::json!({
            "tool_call_seen_from_the_worker": tools,
            "token_to_stream_event": tokens,
        }))
    });
    match result {
        Ok(figures) => println!("{figures:#}"),
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
