//! Load test for watching: 100 watchers — 50 Rust, 50 Python (one process,
//! asyncio tasks over the gRPC stream) — while one writer does 10,000 updates. Every
//! watcher must end on the final value. Prints delivery latency p50/p99 per language and
//! writer throughput with and without watchers, as JSON. Loopback only, bounded in count
//! and time.
//!
//! `cargo run --release --example watch_load` (after `make setup`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dspex::{Context, VarOptions, VarType, WatchEvent};

const WRITES: i64 = 10_000;
const RUST_WATCHERS: usize = 50;
const PYTHON_WATCHERS: usize = 50;

const PYTHON_WATCHERS_SCRIPT: &str = r#"
import asyncio, json, os, sys, time
import grpc
from dspex_bridge import SessionContext

async def watch(session, final, out):
    lat = []
    last = None
    async for u in session.watch_variables(["n"], include_initial=True):
        if getattr(u, "name", None) != "n":
            continue
        if u.old_value is not None:
            lat.append(time.time() * 1e6 - u.timestamp_us)
        last = u.value
        if last == final:
            break
    out.append((last, lat))

async def main():
    n, final = int(sys.argv[1]), int(sys.argv[2])
    out = []
    async with grpc.aio.insecure_channel(os.environ["DSPEX_BRIDGE_ADDRESS"]) as ch:
        session = SessionContext(os.environ["DSPEX_SESSION"], ch)
        tasks = [asyncio.create_task(watch(session, final, out)) for _ in range(n)]
        await asyncio.sleep(1.0)  # every stream is open (initial values arrive first)
        print("READY", flush=True)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    lats = sorted(l for _, ls in out for l in ls)
    pick = lambda q: lats[min(len(lats) - 1, int(q * len(lats)))] if lats else None
    print(json.dumps({"watchers": len(out), "all_final": all(v == final for v, _ in out),
                      "delivered": len(lats), "p50_us": pick(0.5), "p99_us": pick(0.99)}), flush=True)

asyncio.run(main())
"#;

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn write_all(ctx: &Context, stamps: &[AtomicU64], start: Instant) -> Duration {
    let t = Instant::now();
    for i in 1..=WRITES {
        let version = ctx.set("n", i).expect("set");
        if let Some(slot) = stamps.get(version as usize) {
            slot.store(start.elapsed().as_nanos() as u64, Ordering::Release);
        }
    }
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();

    // Baseline: the same writes with nobody watching.
    let quiet = Context::new();
    quiet.defvariable("n", VarType::Integer, 0, VarOptions::new())?;
    quiet.ensure_bridged().await?;
    let no_stamps: Vec<AtomicU64> = Vec::new();
    let baseline = write_all(&quiet, &no_stamps, start);

    let ctx = Context::new();
    ctx.defvariable("n", VarType::Integer, 0, VarOptions::new())?;
    ctx.ensure_bridged().await?;
    let endpoint = ctx.bridge().ok_or("not bridged")?;
    let stamps: Arc<Vec<AtomicU64>> =
        Arc::new((0..=WRITES as usize).map(|_| AtomicU64::new(0)).collect());

    let mut rust = Vec::new();
    for _ in 0..RUST_WATCHERS {
        let mut watcher = ctx.watch(&["n"], false)?;
        let stamps = stamps.clone();
        rust.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut lagged = 0u64;
            let mut last = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while last != WRITES {
                match tokio::time::timeout_at(deadline, watcher.next()).await {
                    Ok(Some(WatchEvent::Update(u))) => {
                        last = u.value.as_i64().unwrap_or_default();
                        let written = stamps[u.version as usize].load(Ordering::Acquire);
                        if u.old_value.is_some() && written > 0 {
                            let now = start.elapsed().as_nanos() as u64;
                            latencies.push(now.saturating_sub(written) / 1000);
                        }
                    }
                    Ok(Some(WatchEvent::Lagged { missed })) => lagged += missed,
                    Ok(None) | Err(_) => break,
                }
            }
            (last, latencies, lagged)
        }));
    }

    let python = dspex::python_interpreter()?;
    let mut py = Command::new(python)
        .args(["-c", PYTHON_WATCHERS_SCRIPT])
        .arg(PYTHON_WATCHERS.to_string())
        .arg(WRITES.to_string())
        .env("DSPEX_BRIDGE_ADDRESS", &endpoint.address)
        .env("DSPEX_BRIDGE_TOKEN", &endpoint.token)
        .env("DSPEX_SESSION", ctx.id())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(py.stdout.take().ok_or("no stdout")?).lines();
    let ready = lines.next().transpose()?.unwrap_or_default();
    if ready != "READY" {
        return Err(format!("python watchers did not start: {ready:?}").into());
    }

    let writer = {
        let ctx = ctx.clone();
        let stamps = stamps.clone();
        tokio::task::spawn_blocking(move || write_all(&ctx, &stamps, start))
    };
    let with_watchers = writer.await?;

    let mut rust_lat = Vec::new();
    let mut rust_final = 0;
    let mut rust_lagged = 0;
    for task in rust {
        let (last, lat, lagged) = task.await?;
        rust_final += usize::from(last == WRITES);
        rust_lat.extend(lat);
        rust_lagged += lagged;
    }
    rust_lat.sort_unstable();
    let py_report = lines.next().transpose()?.unwrap_or_default();
    let _ = py.wait();

    let throughput = |d: Duration| (WRITES as f64 / d.as_secs_f64()).round();
    let report = serde_json::json!({
        "writes": WRITES,
        "writer_throughput_per_s": {
            "without_watchers": throughput(baseline),
            "with_100_watchers": throughput(with_watchers),
        },
        "rust_watchers": {
            "count": RUST_WATCHERS,
            "ended_on_final_value": rust_final,
            "delivered": rust_lat.len(),
            "lagged_missed_total": rust_lagged,
            "latency_p50_us": percentile(&rust_lat, 0.50),
            "latency_p99_us": percentile(&rust_lat, 0.99),
        },
        "python_watchers": serde_json::from_str::<serde_json::Value>(&py_report)
            .unwrap_or(serde_json::Value::String(py_report)),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    if rust_final != RUST_WATCHERS {
        return Err("a Rust watcher did not end on the final value".into());
    }
    Ok(())
}
