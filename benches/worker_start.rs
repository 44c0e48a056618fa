//! Worker start: how long a pool of four takes to serve, and how long a killed worker takes
//! to serve again, with workers forked from the fork server (Linux's default) and, as the
//! baseline in the same run, each worker its own interpreter (`DSPEX_WORKER_FORK=0`).
//!
//! The pool is per process, so each start is measured in a new process: this binary runs
//! itself as the child (`DSPEX_BENCH_WORKER_START=child`), which prints its figures.
//!
//! ```sh
//! cargo bench --bench worker_start
//! ```

use std::process::Command;
use std::time::{Duration, Instant};

use dspex::{Context, Error, Lm, Module, PoolConfig, Predict};

const CHILD_ENV: &str = "DSPEX_BENCH_WORKER_START";
const POOL: usize = 4;
const STARTS: usize = 5;
/// Kills per child; each kills the worker of the next module, which has served over a
/// second (a worker dying sooner is restarted after a pause: see the supervisor).
const KILLS: usize = 4;

fn main() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("child") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        if let Err(e) = runtime.block_on(child()) {
            eprintln!("worker_start child failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    println!("worker_start: a pool of {POOL}, {STARTS} starts each way (a new process each)");
    let mut rows = Vec::new();
    for (name, fork) in [("forked (fork server)", "1"), ("own interpreter each", "0")] {
        let mut ready = Vec::new();
        let mut restarts = Vec::new();
        for _ in 0..STARTS {
            let (r, mut k) = run_child(fork);
            ready.push(r);
            restarts.append(&mut k);
        }
        rows.push((name, median(&mut ready), median(&mut restarts)));
    }
    println!(
        "{:<24} {:>22} {:>30}",
        "workers", "pool of 4 serving", "killed worker serving again"
    );
    for (name, ready, restart) in rows {
        println!("{name:<24} {ready:>19.1} ms {restart:>27.1} ms");
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One child process: the time to a serving pool, and each kill's time to serving again (ms).
fn run_child(fork: &str) -> (f64, Vec<f64>) {
    let out = Command::new(std::env::current_exe().expect("this binary"))
        .env(CHILD_ENV, "child")
        .env("DSPEX_WORKER_FORK", fork)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ready = f64::NAN;
    let mut restarts = Vec::new();
    for line in stdout.lines() {
        if let Some(ms) = line.strip_prefix("READY_MS ") {
            ready = ms.parse().expect("a number");
        } else if let Some(ms) = line.strip_prefix("RESTART_MS ") {
            restarts.push(ms.parse().expect("a number"));
        }
    }
    (ready, restarts)
}

async fn child() -> dspex::Result<()> {
    dspex::configure_workers(PoolConfig {
        size: POOL,
        ..PoolConfig::default()
    })?;
    let started = Instant::now();
    let ctx = Context::new();
    ctx.configure_lm(Lm::echo()).await?;
    let mut modules = Vec::new();
    for _ in 0..POOL {
        modules.push(Predict::new(&ctx, "question -> answer").await?);
    }
    while dspex::worker_pids().await.len() < POOL {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("READY_MS {}", started.elapsed().as_secs_f64() * 1e3);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for kill in 0..KILLS {
        let module = &modules[kill % POOL];
        let pid = worker_of(module, &modules).await?;
        let at = Instant::now();
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        answers(module).await?;
        println!("RESTART_MS {}", at.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}

/// The pid of the worker serving `module`, once every worker serves: modules are placed
/// round robin (module i on worker i), and `worker_pids` lists the workers in order.
async fn worker_of(module: &Module, modules: &[Module]) -> dspex::Result<u32> {
    let index = modules
        .iter()
        .position(|m| std::ptr::eq(m, module))
        .unwrap_or(0);
    for module in modules {
        answers(module).await?;
    }
    let pids = dspex::worker_pids().await;
    Ok(pids[index % pids.len()])
}

/// Calls `module` until it answers (a call sent before the pool saw the kill fails with
/// `WorkerCrashed`: it may have reached the dying worker).
async fn answers(module: &Module) -> dspex::Result<()> {
    loop {
        match module.call([("question", "are you there?")]).await {
            Ok(_) => return Ok(()),
            Err(Error::WorkerCrashed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
}
