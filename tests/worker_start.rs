//! Workers are forked from the fork server (Linux's default): a pool of four serves, each
//! worker a child of one fork server that has imported DSPy (never a child of this
//! process); a killed worker is replaced by a new fork of the same server, and a killed
//! fork server by a new one, with every module serving again. (Its own test binary: the
//! pool is per process, and killing workers must not disturb other tests' calls. How fast
//! they start is measured by `benches/worker_start.rs`, not asserted here.)

use std::time::{Duration, Instant};

mod common;

use common::{alive, kill9, parent_of};
use dspex::{Context, Error, Lm, Module, PoolConfig, Predict};

fn command_line(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default()
}

/// Waits until `count` workers serve, none of them in `not`; their pids.
async fn serving(count: usize, not: &[u32]) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pids = dspex::worker_pids().await;
        if pids.len() == count && pids.iter().all(|p| !not.contains(p)) {
            return pids;
        }
        assert!(Instant::now() < deadline, "workers serving: {pids:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Calls `module` until it answers: a call sent before the pool saw the kill fails with
/// `WorkerCrashed` (it may have reached the dying worker, so it is not resent).
async fn answers_again(module: &Module, question: &str) -> dspex::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match module.call([("question", question)]).await {
            Ok(p) => return p.get::<String>("answer"),
            Err(Error::WorkerCrashed { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_forked_workers_and_their_fork_server_are_replaced_when_killed() -> dspex::Result<()> {
    dspex::configure_workers(PoolConfig {
        size: 4,
        ..PoolConfig::default()
    })?;
    let started = Instant::now();
    let ctx = Context::new();
    ctx.configure_lm(Lm::echo()).await?;
    // Placed round robin: one module on each worker.
    let (a, b, c, d) = tokio::try_join!(
        Predict::new(&ctx, "question -> answer"),
        Predict::new(&ctx, "question -> answer"),
        Predict::new(&ctx, "question -> answer"),
        Predict::new(&ctx, "question -> answer"),
    )?;
    let modules = [a, b, c, d];
    let pids = serving(4, &[]).await;
    println!("pool of 4 serving after {:?}", started.elapsed());

    // One fork server, parent of all four, that imported DSPy; not this process.
    let fork_server = parent_of(pids[0]).expect("a worker that serves");
    assert_ne!(fork_server, std::process::id());
    assert!(
        pids.iter().all(|p| parent_of(*p) == Some(fork_server)),
        "{pids:?}"
    );
    assert!(
        command_line(fork_server).contains("dspex_bridge.worker.forkserver"),
        "{}",
        command_line(fork_server)
    );
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);
    for (i, module) in modules.iter().enumerate() {
        let answer = answers_again(module, &format!("question {i}")).await?;
        assert!(
            answer.starts_with(&format!("Echo: question {i}")),
            "{answer}"
        );
    }

    // A killed worker: a new fork of the same server serves its module again.
    let killed = pids[0];
    let at = Instant::now();
    kill9(killed);
    for module in &modules {
        let answer = answers_again(module, "after a worker's kill").await?;
        assert!(
            answer.starts_with("Echo: after a worker's kill"),
            "{answer}"
        );
    }
    println!(
        "every module answering {:?} after a worker's kill",
        at.elapsed()
    );
    let now = serving(4, &[killed]).await;
    assert!(
        now.iter().all(|p| parent_of(*p) == Some(fork_server)),
        "{now:?}"
    );

    // The fork server killed: its workers die with it, and a new one forks their
    // replacements.
    kill9(fork_server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while now.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "workers outlived their fork server"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for module in &modules {
        let answer = answers_again(module, "after the fork server's kill").await?;
        assert!(
            answer.starts_with("Echo: after the fork server's kill"),
            "{answer}"
        );
    }
    let replaced = serving(4, &now).await;
    let new_server = parent_of(replaced[0]).expect("a worker that serves");
    assert_ne!(new_server, fork_server);
    assert!(
        replaced.iter().all(|p| parent_of(*p) == Some(new_server)),
        "{replaced:?}"
    );
    Ok(())
}
