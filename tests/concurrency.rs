//! Many module calls in flight at once: a thousand `Predict` calls on the default pool (two
//! workers), each with an LM answering after 50 ms, all answer their own question with the
//! temperature bound when they were made. The wall time and the memory per call in flight are
//! printed (`cargo test --release --test concurrency -- --nocapture`), not asserted: the
//! machine decides them. (Its own test binary: its load must not slow other tests' calls.)

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

mod common;

use common::temperature_seen;
use dspex::{Context, Lm, Module, Predict, Prediction};
use tokio::task::JoinSet;

const CALLS: usize = 1000;
const DELAY_S: f64 = 0.05;
/// Far above what the calls take: only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(30);

type Call = Pin<Box<dyn Future<Output = dspex::Result<Prediction>> + Send>>;

/// Resident memory (KiB) of a process, from `/proc/<pid>/status`.
fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory (KiB) of this process and of each worker.
async fn memory() -> (u64, Vec<u64>) {
    let workers = dspex::worker_pids().await;
    (
        rss_kib("self"),
        workers
            .iter()
            .map(|pid| rss_kib(&pid.to_string()))
            .collect(),
    )
}

/// `CALLS` calls, spread over `modules` in turn, all in flight at once; call `i` asks `q<i>`
/// with temperature `i / 1000`. Returns each call's temperature, its answer, the wall time
/// and the most memory seen meanwhile (this process, the workers).
async fn many_calls(
    ctx: &Context,
    modules: &[&Module],
) -> dspex::Result<(Vec<(f64, String)>, Duration, (u64, Vec<u64>))> {
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for i in 0..CALLS {
        let temperature = i as f64 / 1000.0;
        ctx.set("temperature", temperature)?;
        let module = modules[i % modules.len()].clone();
        let mut call: Call =
            Box::pin(async move { module.call([("question", format!("q{i}"))]).await });
        // Polled once here, the call reads its bound temperature now (it is set again for
        // the next one at once); then it runs with the others.
        std::future::poll_fn(|cx| {
            let _ = call.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
        calls.spawn(async move { (i, call.await) });
    }
    let mut peak = memory().await;
    let mut answers = vec![(0.0, String::new()); CALLS];
    let collect = async {
        let mut sampled = Instant::now();
        while let Some(joined) = calls.join_next().await {
            let Ok((i, answer)) = joined else {
                panic!("a call task panicked");
            };
            answers[i] = (i as f64 / 1000.0, answer?.get::<String>("answer")?);
            if sampled.elapsed() > Duration::from_millis(20) {
                let now = memory().await;
                peak.0 = peak.0.max(now.0);
                for (seen, worker) in peak.1.iter_mut().zip(now.1) {
                    *seen = (*seen).max(worker);
                }
                sampled = Instant::now();
            }
        }
        dspex::Result::Ok(())
    };
    tokio::time::timeout(HANG_GUARD, collect)
        .await
        .unwrap_or_else(|_| panic!("{CALLS} calls of {DELAY_S} s did not end in {HANG_GUARD:?}"))?;
    Ok((answers, started.elapsed(), peak))
}

fn check(answers: &[(f64, String)]) {
    for (i, (temperature, answer)) in answers.iter().enumerate() {
        assert!(
            answer.starts_with(&format!("Echo: q{i} [")),
            "call {i} got {answer}"
        );
        let seen: f64 = temperature_seen(answer).parse().unwrap_or(f64::NAN);
        assert_eq!(seen, *temperature, "call {i}: {answer}");
    }
}

fn per_call_kib(during: u64, before: u64) -> f64 {
    during.saturating_sub(before) as f64 / CALLS as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_in_flight_each_answer_their_own_question() -> dspex::Result<()> {
    let ctx = common::llm_context()?;
    let lm = Lm::custom("dspex_bridge.testing:slow_echo_lm").setting("delay", DELAY_S);
    ctx.configure_lm(lm).await?;
    // Two modules: the pool places them on its two workers.
    let first = Predict::new(&ctx, "question -> answer").await?;
    let second = Predict::new(&ctx, "question -> answer").await?;
    assert_ne!(first.worker(), second.worker(), "one module per worker");
    for module in [&first, &second] {
        module.bind("temperature", "temperature").await?;
        // Warm-up: the first call of a worker builds what DSPy needs.
        module.call([("question", "warm-up")]).await?;
    }

    for modules in [vec![&first], vec![&first, &second]] {
        let before = memory().await;
        let (answers, wall, during) = many_calls(&ctx, &modules).await?;
        check(&answers);
        let workers: Vec<String> = before
            .1
            .iter()
            .zip(&during.1)
            .map(|(b, d)| {
                format!(
                    "{b} -> {d} KiB ({:.1} KiB/call)",
                    per_call_kib(*d, *b) * modules.len() as f64
                )
            })
            .collect();
        println!(
            "{CALLS} concurrent calls of {} ms on {} worker(s): {:.3} s wall; Rust RSS {} -> {} KiB \
             ({:.1} KiB/call); workers {}",
            DELAY_S * 1000.0,
            modules.len(),
            wall.as_secs_f64(),
            before.0,
            during.0,
            per_call_kib(during.0, before.0),
            workers.join(", "),
        );
    }
    Ok(())
}
