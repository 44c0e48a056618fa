//! Exactly once: a call that may have reached a worker is never sent again. A ReAct agent
//! whose Rust tool counts its runs is called while its worker is SIGKILLed at random points
//! around the calls — just before one, while its tool runs (the worker surely has the call),
//! a random moment after two, or forty, were sent — and no call runs its tool twice, every call that
//! succeeds ran it once, and every call that fails fails with `WorkerCrashed`.
//! (Its own test binary: killing workers must not disturb other tests' calls.)

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{kill9, seen_gone};
use dspex::{Error, Lm, PoolConfig, Prediction, ReAct, Tool};
use serde::Deserialize;

#[derive(Deserialize, schemars::JsonSchema)]
struct Record {
    /// The number of the call.
    id: u64,
}

/// Where a worker is killed, relative to one step of the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Not at all: the call must succeed.
    No,
    /// Just before the call is made, without waiting for the pool to notice.
    Before,
    /// From the call's own tool run: the worker has the call and has started it.
    InTool,
    /// This long after two concurrent calls were sent.
    After(Duration),
    /// This long after `MANY` concurrent calls were sent: more than the worker's call
    /// socket serves one at a time, so that some are on its multiplexed connection.
    AfterMany(Duration),
}

/// More calls at once than a worker's call socket serves one at a time (16).
const MANY: u64 = 40;

/// The one worker's pid, once it serves.
async fn the_worker() -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let [pid] = dspex::worker_pids().await[..] {
            return pid;
        }
        assert!(Instant::now() < deadline, "no worker serves");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A small xorshift generator: the schedule is random, and reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Runs = Arc<Mutex<HashMap<u64, u32>>>;

fn runs_of(runs: &Runs, id: u64) -> u32 {
    runs.lock()
        .expect("the run counts")
        .get(&id)
        .copied()
        .unwrap_or(0)
}

/// Checks one call's outcome against the runs of its tool; whether it succeeded.
fn check(id: u64, outcome: &dspex::Result<Prediction>, runs: &Runs) -> bool {
    let ran = runs_of(runs, id);
    assert!(ran <= 1, "call {id} ran its tool {ran} times");
    match outcome {
        Ok(p) => {
            assert_eq!(ran, 1, "call {id} succeeded without running its tool");
            let trajectory = p.json("trajectory").expect("a trajectory");
            assert_eq!(
                trajectory["observation_0"],
                format!("recorded {id}"),
                "{trajectory}"
            );
            true
        }
        Err(err) => {
            assert!(
                matches!(
                    err,
                    Error::WorkerCrashed {
                        worker: 0,
                        restarting: true,
                        ..
                    }
                ),
                "call {id} failed with {err:?}"
            );
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_call_runs_twice_whenever_its_worker_is_killed() -> dspex::Result<()> {
    let started = Instant::now();
    dspex::configure_workers(PoolConfig {
        size: 1,
        ..PoolConfig::default()
    })?;
    let ctx = common::llm_context()?;
    ctx.configure_lm(Lm::echo()).await?;

    let runs: Runs = Arc::default();
    let kill_in_tool: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let tool = {
        let (runs, kill_in_tool) = (runs.clone(), kill_in_tool.clone());
        Tool::new("record", "Records that a call ran.", move |args: Record| {
            let (runs, kill_in_tool) = (runs.clone(), kill_in_tool.clone());
            async move {
                *runs
                    .lock()
                    .expect("the run counts")
                    .entry(args.id)
                    .or_default() += 1;
                if kill_in_tool
                    .lock()
                    .expect("the kill list")
                    .contains(&args.id)
                {
                    for pid in dspex::worker_pids().await {
                        kill9(pid);
                    }
                }
                format!("recorded {}", args.id)
            }
        })
    };
    let agent = ReAct::with_tools(&ctx, "question -> answer", [tool]).await?;
    let call = |id: u64| {
        let agent = agent.clone();
        async move {
            agent
                .call([("question", format!("Record call {id}"))])
                .await
        }
    };

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    // Seven kills (each costs a restart, about a second) among calls that kill nothing,
    // shuffled.
    let mut schedule = vec![Kill::InTool; 3];
    schedule.extend([Kill::Before; 2]);
    schedule.extend([Kill::No; 4]);
    for _ in 0..2 {
        schedule.push(Kill::After(Duration::from_millis(rng.below(80))));
    }
    schedule.push(Kill::AfterMany(Duration::from_millis(rng.below(80))));
    for i in (1..schedule.len()).rev() {
        schedule.swap(i, rng.below(i as u64 + 1) as usize);
    }
    eprintln!("seed {seed}: {schedule:?}");

    let (mut succeeded, mut crashed) = (0, 0);
    for (step, kill) in schedule.into_iter().enumerate() {
        let id = step as u64 + 1;
        let pid = the_worker().await;
        match kill {
            Kill::No => {
                let outcome = call(id).await;
                assert!(check(id, &outcome, &runs), "call {id} failed with no kill");
                succeeded += 1;
            }
            Kill::Before => {
                kill9(pid);
                let outcome = call(id).await;
                if check(id, &outcome, &runs) {
                    succeeded += 1;
                } else {
                    crashed += 1;
                }
            }
            Kill::InTool => {
                kill_in_tool.lock().expect("the kill list").insert(id);
                let outcome = call(id).await;
                assert!(
                    !check(id, &outcome, &runs),
                    "call {id} succeeded though its worker was killed during it"
                );
                assert_eq!(runs_of(&runs, id), 1, "call {id} reached its tool");
                crashed += 1;
            }
            Kill::After(delay) | Kill::AfterMany(delay) => {
                let count = if kill == Kill::After(delay) { 2 } else { MANY };
                let ids: Vec<u64> = (0..count).map(|i| id + 1000 * i).collect();
                let calls: Vec<_> = ids.iter().map(|&id| tokio::spawn(call(id))).collect();
                tokio::time::sleep(delay).await;
                kill9(pid);
                for (id, handle) in ids.into_iter().zip(calls) {
                    let outcome = handle.await.expect("the call's task");
                    if check(id, &outcome, &runs) {
                        succeeded += 1;
                    } else {
                        crashed += 1;
                    }
                }
            }
        }
        if kill != Kill::No {
            // The next step starts from a worker the pool knows to serve.
            seen_gone(pid).await;
        }
    }

    // Whatever the timing, no call ran its tool more than once.
    let runs = runs.lock().expect("the run counts").clone();
    assert!(runs.values().all(|&n| n == 1), "{runs:?}");
    eprintln!(
        "{succeeded} calls succeeded, {crashed} crashed, in {:?}",
        started.elapsed()
    );
    // The calls that killed nothing succeeded; those killed in their tool crashed.
    assert!(succeeded >= 4 && crashed >= 3, "{succeeded} and {crashed}");
    assert!(started.elapsed() < Duration::from_secs(30));
    Ok(())
}
