//! Workers and modules: worker cold start (spawn → ready, `import dspy` included), a pool
//! of 4 ready, and the call overhead of a Predict through the whole path with the test LM,
//! beside the same Predict called in-process in Python, and beside the same Predict with a
//! typed signature (JSON inputs, a structured signature, the answer read by serde), all
//! measured in the same run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dspex::{Context, Lm, PoolConfig, Predict, TypedModule, VarOptions, VarType};

/// The typed twin of `"question -> answer"`.
#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Spawns `python -m dspex_bridge.worker` and waits for its readiness line.
fn cold_start(python: &std::path::Path) -> Duration {
    let t = Instant::now();
    let mut child = Command::new(python)
        .args(["-m", "dspex_bridge.worker", "--worker-id", "99"])
        .env("DSPEX_BRIDGE_TOKEN", "bench")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn a worker");
    let stdout = child.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("DSPEX_WORKER_READY"));
    let elapsed = t.elapsed();
    assert!(ready, "the worker reported ready");
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn modules(c: &mut Criterion) {
    let python = dspex::python_interpreter().expect("make setup provides the venv");
    let starts: Vec<Duration> = (0..5).map(|_| cold_start(&python)).collect();
    println!(
        "worker cold start (spawn → ready, import dspy included): median {:?} of {starts:?}",
        median(starts.clone())
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    dspex::configure_workers(PoolConfig {
        size: 4,
        ..PoolConfig::default()
    })
    .expect("configure the pool");
    let ctx = Context::new();
    ctx.defvariable("temperature", VarType::Float, 0.7, VarOptions::new())
        .expect("define");
    let t = Instant::now();
    let modules: dspex::Result<(dspex::Module, TypedModule<Qa>)> = rt.block_on(async {
        ctx.configure_lm(Lm::echo()).await?; // waits for every worker of the pool
        let predict = Predict::new(&ctx, "question -> answer").await?;
        predict.bind("temperature", "temperature").await?;
        let typed = Predict::typed::<Qa>(&ctx).await?;
        typed.bind("temperature", "temperature").await?;
        Ok((predict, typed))
    });
    let (predict, typed) = modules.expect("a Predict and a typed Predict on the pool");
    println!(
        "pool of 4 ready (bridge + 4 workers started concurrently): {:?}",
        t.elapsed()
    );

    let in_process = Command::new(&python)
        .args([
            "-c",
            "import time, dspy\n\
             from dspex_bridge.testing import EchoLM\n\
             from dspex_bridge.dspy_integration import VariableAwarePredict\n\
             dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)\n\
             p = VariableAwarePredict('question -> answer')\n\
             lm = EchoLM(max_requests=10)\n\
             ts = []\n\
             with dspy.context(lm=lm):\n\
             \x20   for i in range(600):\n\
             \x20       t = time.perf_counter(); p(question='What is 2+2?', config={'temperature': 0.7}); ts.append(time.perf_counter() - t)\n\
             ts = sorted(ts[100:])\n\
             print(f'{ts[len(ts)//2]*1e6:.0f}')\n",
        ])
        .output()
        .expect("in-process baseline");
    println!(
        "Predict with the test LM called in-process in Python: p50 {} µs ({})",
        String::from_utf8_lossy(&in_process.stdout).trim(),
        String::from_utf8_lossy(&in_process.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );

    c.bench_function("predict_call_through_worker_test_lm", |b| {
        b.iter(|| {
            rt.block_on(predict.call([("question", "What is 2+2?")]))
                .expect("call")
        })
    });
    c.bench_function("typed_predict_call_through_worker_test_lm", |b| {
        b.iter(|| {
            rt.block_on(typed.call(QaInput {
                question: "What is 2+2?".into(),
            }))
            .expect("typed call")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(10));
    targets = modules
}
criterion_main!(benches);
