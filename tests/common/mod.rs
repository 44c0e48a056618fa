//! Helpers shared by the integration tests (each test binary uses its own subset).
#![allow(dead_code)]

use std::process::Command;

use dspex::{Constraints, Context, VarOptions, VarType};

/// A Local Context with `temperature` (float 0.7 in [0, 2]) and `max_tokens` (integer 256
/// in [1, 4096]): the two settings most LM calls bind.
pub fn llm_context() -> dspex::Result<Context> {
    let ctx = Context::new();
    ctx.defvariable(
        "temperature",
        VarType::Float,
        0.7,
        VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0)),
    )?;
    ctx.defvariable(
        "max_tokens",
        VarType::Integer,
        256,
        VarOptions::new().constraints(Constraints::new().min(1).max(4096)),
    )?;
    Ok(ctx)
}

/// The temperature the test LM reports having received: its string outputs read
/// `Echo: <input> [temperature=<t> max_tokens=<m>]`.
pub fn temperature_seen(answer: &str) -> &str {
    answer
        .split("temperature=")
        .nth(1)
        .and_then(|rest| rest.split([' ', ']']).next())
        .unwrap_or_default()
}

/// Runs a Python snippet against a bridged `ctx`'s session and returns its stdout
/// (trimmed). The snippet sees `ADDRESS`, `SESSION`, `asyncio`, `json`, `os`, `grpc`, and
/// `SessionContext`, `SyncSessionContext`, `ValidationError`, `VersionConflictError`; the
/// token is in the environment, where `SessionContext` looks for it.
pub fn run_python(ctx: &Context, script: &str) -> String {
    run_python_with(ctx, script, &[])
}

/// [`run_python`] with more environment variables for the snippet.
pub fn run_python_with(ctx: &Context, script: &str, env: &[(&str, &str)]) -> String {
    let endpoint = ctx.bridge().expect("bridged");
    let python = dspex::python_interpreter().expect("make setup provides the venv");
    let prelude = "import asyncio, json, os, grpc\n\
                   from dspex_bridge import SessionContext, SyncSessionContext, ValidationError, VersionConflictError\n\
                   ADDRESS = os.environ['DSPEX_BRIDGE_ADDRESS']\n\
                   SESSION = os.environ['DSPEX_SESSION']\n";
    let out = Command::new(python)
        .args(["-c", &format!("{prelude}{script}")])
        .env("DSPEX_BRIDGE_ADDRESS", &endpoint.address)
        .env("DSPEX_BRIDGE_TOKEN", &endpoint.token)
        .env("DSPEX_SESSION", ctx.id())
        .envs(env.iter().copied())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// SIGKILLs `pid` (a worker, or the process that holds them).
pub fn kill9(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// The fields of `/proc/<pid>/stat` after the command name (state, ppid, ...), while it runs.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit(')').next()?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// True while `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| !f[0].starts_with('Z') && !f[0].starts_with('X'))
}

/// The parent of `pid`, while it runs.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Waits (at most 10 s) until the pool no longer lists `pid` among the workers that serve.
pub async fn seen_gone(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while dspex::worker_pids().await.contains(&pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool never saw worker {pid} exit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
