//! The same DSPy `Predict("question -> answer")` with the same offline test LM (what
//! `Lm::echo()` builds in a worker: `EchoLM(max_requests=1000)`, DSPy's default adapter),
//! called three ways:
//!
//! - `python_loop`: a Python loop in the embedded interpreter (what a Python program pays);
//! - `pyo3_call`: one `predict(question=...)` call from Rust through PyO3, with the GIL;
//! - `dspex_call`: one `Predict::call` through dspex (a worker process, gRPC).
//!
//! Criterion measures each; then ~2,000 timed calls of each give the median and p99 of the
//! table printed at the end. Last, 1,000 concurrent calls with an LM answering after 50 ms:
//! through PyO3 (asyncio in the embedded interpreter, and one Rust thread per call) and
//! through dspex (one module on one worker, and two modules on the two workers).

use std::ffi::CString;
use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use dspex::{Context, Lm, Module, Predict, Prediction};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

const QUESTION: &str = "What is 2+2?";
const SAMPLES: usize = 2000;
const CONCURRENT: usize = 1000;
const DELAY_S: f64 = 0.05;

const PYTHON: &str = r#"
import asyncio, time
import dspy
from dspex_bridge.testing import EchoLM, slow_echo_lm
from dspex_bridge.worker.lm import MAX_ECHO_REQUESTS

dspy.configure(lm=EchoLM(max_requests=MAX_ECHO_REQUESTS))
predict = dspy.Predict("question -> answer")
slow = slow_echo_lm(DELAY_S)

def call(question):
    return predict(question=question).answer

def loop_total(n, question):
    start = time.perf_counter()
    for _ in range(n):
        predict(question=question)
    return time.perf_counter() - start

def timed_calls(n, question):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        predict(question=question)
        times.append(time.perf_counter() - start)
    return times

async def _concurrent(n):
    with dspy.context(lm=slow):
        return await asyncio.gather(*(predict.acall(question=f"q{i}") for i in range(n)))

def concurrent_asyncio(n):
    start = time.perf_counter()
    answers = asyncio.run(_concurrent(n))
    wall = time.perf_counter() - start
    for i, answer in enumerate(answers):
        assert answer.answer.startswith(f"Echo: q{i} ["), answer
    return wall

def slow_call(i):
    with dspy.context(lm=slow):
        return predict(question=f"q{i}").answer
"#;

/// The interpreter dspex's workers run (`DSPEX_PYTHON`, else the venv dspex finds).
fn venv_python() -> std::path::PathBuf {
    dspex::python_interpreter().unwrap_or_else(|e| panic!("no Python for the workers: {e}"))
}

/// The embedded interpreter with the venv's `sys.path` (PyO3 links the base CPython, which
/// knows nothing of the venv), and the benchmark's Python functions.
fn python_module(py: Python<'_>) -> Bound<'_, PyModule> {
    let out = Command::new(venv_python())
        .args([
            "-c",
            "import json, site; print(json.dumps(site.getsitepackages()))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("the venv's Python does not run: {e}"));
    let site_dirs = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // The venv's site-packages first, their `.pth` files run (the editable install's finder).
    let code = format!(
        "import site, sys\n\
         _dirs = {site_dirs}\n\
         for _d in _dirs:\n    site.addsitedir(_d)\n\
         sys.path[:] = [p for p in sys.path if any(p.startswith(d) for d in _dirs)] + \
         [p for p in sys.path if not any(p.startswith(d) for d in _dirs)]\n\
         DELAY_S = {DELAY_S}\n{PYTHON}"
    );
    let code = CString::new(code).unwrap_or_default();
    PyModule::from_code(py, &code, c"baseline.py", c"baseline")
        .unwrap_or_else(|e| panic!("the benchmark's Python: {e}"))
}

/// The median and 99th percentile of `times`.
fn median_p99(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Criterion's median (ns) of `id`, from its `estimates.json`.
fn criterion_median(id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{id}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

type Call = Pin<Box<dyn Future<Output = dspex::Result<Prediction>> + Send>>;

/// `CONCURRENT` calls through dspex, spread over `modules`, all in flight at once; the wall
/// time. Each answer is checked to echo its own question.
async fn dspex_concurrent(modules: &[&Module]) -> Duration {
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CONCURRENT {
        let module = modules[i % modules.len()].clone();
        let call: Call =
            Box::pin(async move { module.call([("question", format!("q{i}"))]).await });
        calls.spawn(async move { (i, call.await) });
    }
    while let Some(joined) = calls.join_next().await {
        let (i, answer) = joined.unwrap_or_else(|e| panic!("a call task failed: {e}"));
        let answer = answer
            .and_then(|p| p.get::<String>("answer"))
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert!(answer.starts_with(&format!("Echo: q{i} [")), "{answer}");
    }
    started.elapsed()
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let ctx = Context::new();
    let setup: dspex::Result<(Module, (Context, Module, Module))> = rt.block_on(async {
        ctx.configure_lm(Lm::echo()).await?;
        let predict = Predict::new(&ctx, "question -> answer").await?;
        predict.call([("question", QUESTION)]).await?;
        let slow_ctx = Context::new();
        let slow = Lm::custom("dspex_bridge.testing:slow_echo_lm").setting("delay", DELAY_S);
        slow_ctx.configure_lm(slow).await?;
        let first = Predict::new(&slow_ctx, "question -> answer").await?;
        let second = Predict::new(&slow_ctx, "question -> answer").await?;
        for module in [&first, &second] {
            module.call([("question", "warm-up")]).await?;
        }
        Ok((predict, (slow_ctx, first, second)))
    });
    let (predict, slow_modules) = setup.unwrap_or_else(|e| panic!("dspex set-up: {e}"));

    let mut rows: Vec<(&str, Option<f64>, Duration, Duration)> = Vec::new();
    Python::attach(|py| {
        let module = python_module(py);
        let loop_total = module
            .getattr("loop_total")
            .unwrap_or_else(|e| panic!("{e}"));
        let call = module.getattr("call").unwrap_or_else(|e| panic!("{e}"));
        let timed_calls = module
            .getattr("timed_calls")
            .unwrap_or_else(|e| panic!("{e}"));
        let answer: String = call
            .call1((QUESTION,))
            .and_then(|a| a.extract())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer.starts_with("Echo: What is 2+2? ["), "{answer}");

        criterion.bench_function("python_loop", |b| {
            b.iter_custom(|iters| {
                let total: f64 = loop_total
                    .call1((iters, QUESTION))
                    .and_then(|t| t.extract())
                    .unwrap_or_else(|e| panic!("{e}"));
                Duration::from_secs_f64(total)
            })
        });
        let kwargs = PyDict::new(py);
        kwargs
            .set_item("question", QUESTION)
            .unwrap_or_else(|e| panic!("{e}"));
        let predict_py = module.getattr("predict").unwrap_or_else(|e| panic!("{e}"));
        criterion.bench_function("pyo3_call", |b| {
            b.iter(|| {
                predict_py
                    .call((), Some(&kwargs))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        });

        let python_times: Vec<f64> = timed_calls
            .call1((SAMPLES, QUESTION))
            .and_then(|t| t.extract())
            .unwrap_or_else(|e| panic!("{e}"));
        let python_times = python_times
            .into_iter()
            .map(Duration::from_secs_f64)
            .collect();
        let (m, p) = median_p99(python_times);
        rows.push(("python_loop", None, m, p));
        let mut pyo3_times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            predict_py
                .call((), Some(&kwargs))
                .unwrap_or_else(|e| panic!("{e}"));
            pyo3_times.push(start.elapsed());
        }
        let (m, p) = median_p99(pyo3_times);
        rows.push(("pyo3_call", None, m, p));
    });

    criterion.bench_function("dspex_call", |b| {
        b.iter(|| {
            rt.block_on(predict.call([("question", QUESTION)]))
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let mut dspex_times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        rt.block_on(predict.call([("question", QUESTION)]))
            .unwrap_or_else(|e| panic!("{e}"));
        dspex_times.push(start.elapsed());
    }
    let (m, p) = median_p99(dspex_times);
    rows.push(("dspex_call", None, m, p));
    criterion.final_summary();

    // 1,000 concurrent calls of the 50 ms LM.
    let (asyncio_wall, threads_wall) = Python::attach(|py| {
        let module = python_module(py);
        let concurrent = module
            .getattr("concurrent_asyncio")
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = concurrent.call1((10,));
        let wall: f64 = concurrent
            .call1((CONCURRENT,))
            .and_then(|t| t.extract())
            .unwrap_or_else(|e| panic!("{e}"));
        let slow_call = module
            .getattr("slow_call")
            .unwrap_or_else(|e| panic!("{e}"))
            .unbind();
        // One Rust thread per call, each taking the GIL for its call (the LM's sleep lets it go).
        let threads = py.detach(|| {
            let started = Instant::now();
            std::thread::scope(|scope| {
                for i in 0..CONCURRENT {
                    let slow_call = &slow_call;
                    scope.spawn(move || {
                        Python::attach(|py| {
                            let answer: String = slow_call
                                .call1(py, (i,))
                                .and_then(|a| a.extract(py))
                                .unwrap_or_else(|e| panic!("{e}"));
                            assert!(answer.starts_with(&format!("Echo: q{i} [")), "{answer}");
                        })
                    });
                }
            });
            started.elapsed()
        });
        (Duration::from_secs_f64(wall), threads)
    });
    let (_slow_ctx, first, second) = &slow_modules;
    let one_worker = rt.block_on(dspex_concurrent(&[first]));
    let two_workers = rt.block_on(dspex_concurrent(&[first, second]));

    println!(
        "\nOne call of Predict(\"question -> answer\") with the test LM ({SAMPLES} timed calls each):"
    );
    println!("| variant | criterion median (µs) | median (µs) | p99 (µs) |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, _, median, p99) in &rows {
        let criterion = criterion_median(name)
            .map(|ns| format!("{:.1}", ns / 1000.0))
            .unwrap_or_else(|| "-".into());
        println!("| {name} | {criterion} | {} | {} |", us(*median), us(*p99));
    }
    println!(
        "\n{CONCURRENT} concurrent calls, LM answering after {} ms (wall time):",
        DELAY_S * 1000.0
    );
    println!("| variant | wall (s) |");
    println!("| --- | ---: |");
    println!(
        "| PyO3, asyncio.gather of predict.acall | {:.3} |",
        asyncio_wall.as_secs_f64()
    );
    println!(
        "| PyO3, one Rust thread per call (GIL) | {:.3} |",
        threads_wall.as_secs_f64()
    );
    println!(
        "| dspex, one module (one worker) | {:.3} |",
        one_worker.as_secs_f64()
    );
    println!(
        "| dspex, two modules (two workers) | {:.3} |",
        two_workers.as_secs_f64()
    );
}
