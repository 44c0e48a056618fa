//! A real bridge for the Python test suite and benchmarks (not an example for users).
//!
//! Prints one JSON line `{"address", "token", "session_id"}`; that session holds
//! `temperature` (float 0.7 in [0, 2]) and `max_tokens` (integer 256 in [1, 4096]). Then
//! answers commands on stdin, one JSON line each:
//! - `new_session` → `{"session_id": ...}` (a new, empty bridged Context)
//! - `get <session_id> <name>` → `{"value": ...}` or `{"error": ...}` (read from Rust)
//! - `set <session_id> <name> <json value>` → `{"version": n}` or `{"error": ...}`
//! - `set_at <session_id> <name> <json value>` → the same with `"at_us"`: when the write
//!   returned, in µs since the epoch
//! - `burst <session_id> <name> <count> [<pause_us>]` → sets the integers 1..=count, as fast
//!   as it can (or sleeping `pause_us` between writes):
//!   `{"version": last, "elapsed_us": d, "at_us": t}` or `{"error": ...}`
//! - `watchers <session_id>` → `{"count": n}` (`Context::watcher_count`)
//! - `quit` (or end of input) → exits.

use std::collections::HashMap;
use std::io::BufRead;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dspex::{Constraints, Context, Value, VarOptions, VarType};

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn burst(ctx: &Context, name: &str, count: i64, pause_us: u64) -> dspex::Result<serde_json::Value> {
    let start = Instant::now();
    let mut version = 0;
    for i in 1..=count {
        version = ctx.set(name, i)?;
        if pause_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(pause_us));
        }
    }
    let elapsed_us = start.elapsed().as_micros();
    Ok(serde_json::json!({"version": version, "elapsed_us": elapsed_us, "at_us": now_us()}))
}

fn from_json(v: serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::Bool(b) => Some(Value::Boolean(b)),
        serde_json::Value::String(s) => Some(Value::String(s)),
        serde_json::Value::Number(n) if n.is_i64() => n.as_i64().map(Value::Integer),
        serde_json::Value::Number(n) => n.as_f64().map(Value::Float),
        _ => None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = Context::new();
    let range =
        |lo: Value, hi: Value| VarOptions::new().constraints(Constraints::new().min(lo).max(hi));
    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.7,
        range(0.0.into(), 2.0.into()),
    )?;
    ctx.defvariable(
        "max_tokens",
        VarType::Integer,
        256,
        range(1.into(), 4096.into()),
    )?;
    ctx.ensure_bridged().await?;
    let endpoint = ctx.bridge().ok_or("bridged context has no endpoint")?;
    println!(
        "{}",
        serde_json::json!({"address": endpoint.address, "token": endpoint.token, "session_id": ctx.id()})
    );

    let mut contexts: HashMap<String, Context> = HashMap::new();
    contexts.insert(ctx.id().to_owned(), ctx);
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut parts = line.splitn(4, ' ');
        let reply = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("new_session"), ..) => {
                let ctx = Context::new();
                ctx.ensure_bridged().await?;
                let id = ctx.id().to_owned();
                contexts.insert(id.clone(), ctx);
                serde_json::json!({"session_id": id})
            }
            (Some("get"), Some(session), Some(name), None) => match contexts.get(session) {
                Some(ctx) => match ctx.value(name) {
                    Ok(v) => serde_json::json!({"value": v}),
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                },
                None => serde_json::json!({"error": format!("no session {session}")}),
            },
            (Some(cmd @ ("set" | "set_at")), Some(session), Some(name), Some(raw)) => {
                let value = serde_json::from_str(raw).ok().and_then(from_json);
                match (contexts.get(session), value) {
                    (Some(ctx), Some(v)) => match ctx.set(name, v) {
                        Ok(version) if cmd == "set_at" => {
                            serde_json::json!({"version": version, "at_us": now_us()})
                        }
                        Ok(version) => serde_json::json!({"version": version}),
                        Err(e) => serde_json::json!({"error": e.to_string()}),
                    },
                    _ => serde_json::json!({"error": "unknown session or bad value"}),
                }
            }
            (Some("burst"), Some(session), Some(name), Some(args)) => {
                let mut args = args.split_whitespace().map(str::parse::<u64>);
                let (count, pause) = (args.next(), args.next().unwrap_or(Ok(0)));
                match (contexts.get(session), count, pause) {
                    (Some(ctx), Some(Ok(count)), Ok(pause)) => {
                        burst(ctx, name, count as i64, pause)
                            .unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}))
                    }
                    _ => serde_json::json!({"error": "unknown session or bad count"}),
                }
            }
            (Some("watchers"), Some(session), None, None) => match contexts.get(session) {
                Some(ctx) => serde_json::json!({"count": ctx.watcher_count()}),
                None => serde_json::json!({"error": format!("no session {session}")}),
            },
            (Some("quit"), ..) => break,
            _ => serde_json::json!({"error": format!("unknown command {line:?}")}),
        };
        println!("{reply}");
    }
    Ok(())
}
