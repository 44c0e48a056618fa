//! Variable operations on the Local backend, beside a raw `RwLock<HashMap>` read measured in
//! the same run: the ratio shows what validation, ids and versions cost over a bare map.
//! `watch_fan_out` measures one writer's writes with no watcher, one and 100 watchers that
//! drain their events meanwhile (on a runtime thread of their own): what watchers cost the
//! writer; `watch_paced_latency`, how soon 100 watchers see the writes of a writer paced at
//! 10,000 a second.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dspex::limits::MAX_STRING_BYTES;
use dspex::{Constraints, Context, Value, VarOptions, VarType, WatchEvent};

fn context_with(n: usize) -> Context {
    let ctx = Context::new();
    let opts = || VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0));
    ctx.defvariable("temperature", VarType::Float, 0.7, opts())
        .expect("define temperature");
    for i in 0..n {
        ctx.defvariable(&format!("v{i}"), VarType::Float, 0.5, opts())
            .expect("define a variable");
    }
    ctx
}

fn variables(c: &mut Criterion) {
    let raw: RwLock<HashMap<String, f64>> =
        RwLock::new([("temperature".to_string(), 0.7)].into_iter().collect());
    c.bench_function("raw_rwlock_hashmap_read", |b| {
        b.iter(|| {
            let map = raw.read().expect("lock");
            black_box(*map.get(black_box("temperature")).expect("key"))
        })
    });

    let ctx = context_with(10);
    c.bench_function("local_get_f64", |b| {
        b.iter(|| black_box(ctx.get::<f64>(black_box("temperature")).expect("get")))
    });
    let mut x = 0.0;
    c.bench_function("local_set_validated_f64", |b| {
        b.iter(|| {
            x = if x > 1.5 { 0.0 } else { x + 0.25 };
            black_box(ctx.set(black_box("temperature"), x).expect("set"))
        })
    });
    let names: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let keys: Vec<&str> = names.iter().map(String::as_str).collect();
    c.bench_function("local_get_many_10", |b| {
        b.iter(|| black_box(ctx.get_many(black_box(&keys)).expect("get_many")))
    });
    c.bench_function("local_update_many_10", |b| {
        b.iter(|| {
            ctx.update_many(keys.iter().map(|k| (*k, Value::Float(1.0))))
                .expect("update_many")
        })
    });
}

/// Patterns shaped like the one that made a 400 kB write take 13.8 s, at every size the
/// compiled size limit lets through: the worst write the limits allow is among them.
/// Each with a value it accepts, to define the variable with.
fn worst_patterns() -> Vec<(String, String)> {
    let mut patterns = Vec::new();
    for width in [10, 20, 50, 100, 150, 200, 300] {
        for count in [2, 3, 5, 10, 20] {
            patterns.push((
                format!(r"(?:[\s\S]{{0,{width}}}z){{{count}}}q"),
                format!("{}q", "z".repeat(count)),
            ));
        }
    }
    patterns.push((r"^\w{1,8}$".to_owned(), "a".to_owned()));
    patterns.push((r"^[\w.-]+@[\w.-]+$".to_owned(), "a@b".to_owned()));
    patterns
}

/// The values that cost such a pattern the most: as long as a string may be, matching
/// only at its end, or not at all.
fn worst_values() -> Vec<String> {
    let n = MAX_STRING_BYTES;
    vec![
        format!("{}q", "z".repeat(n - 1)),
        "z".repeat(n),
        "za".repeat(n / 2),
        "é".repeat(n / 2),
    ]
}

/// Prints the slowest write validation the limits allow (each write repeated, so that a
/// lazy DFA that gives up on a pattern is measured after it did), then benches it.
fn worst_case_write(c: &mut Criterion) {
    let ctx = Context::new();
    let values = worst_values();
    let mut worst = (std::time::Duration::ZERO, String::new(), String::new(), 0);
    let mut allowed = 0;
    for (i, (pattern, initial)) in worst_patterns().into_iter().enumerate() {
        let name = format!("p{i}");
        let opts = VarOptions::new().constraints(Constraints::new().pattern(&pattern));
        if ctx
            .defvariable(&name, VarType::String, initial.as_str(), opts)
            .is_err()
        {
            continue; // refused at definition: its writes cannot happen
        }
        allowed += 1;
        for (v, value) in values.iter().enumerate() {
            for _ in 0..5 {
                let start = std::time::Instant::now();
                // Accepted or refused, the check ran to the end.
                let _ = black_box(ctx.set(&name, value.as_str()));
                let took = start.elapsed();
                if took > worst.0 {
                    worst = (took, pattern.clone(), initial.clone(), v);
                }
            }
        }
    }
    let (took, pattern, initial, v) = worst;
    println!(
        "worst-case write validation: {took:?} ({allowed} patterns allowed; pattern {pattern:?}, \
         value #{v} of {MAX_STRING_BYTES} bytes)"
    );
    let opts = VarOptions::new().constraints(Constraints::new().pattern(&pattern));
    ctx.defvariable("worst", VarType::String, initial, opts)
        .expect("an allowed pattern");
    let value = values[v].clone();
    let mut group = c.benchmark_group("limits");
    group.sample_size(10);
    group.bench_function("worst_allowed_write", |b| {
        b.iter(|| black_box(ctx.set("worst", value.as_str()).is_ok()))
    });
    group.finish();
}

/// A context with an integer `n` and `watchers` watchers of it, each draining its events on
/// `rt` until the context is dropped; their tasks, each ending with the last value it saw.
fn watched(
    rt: &tokio::runtime::Runtime,
    watchers: usize,
) -> (Context, Vec<tokio::task::JoinHandle<i64>>) {
    let ctx = Context::new();
    ctx.defvariable("n", VarType::Integer, 0, VarOptions::new())
        .expect("define n");
    let tasks = (0..watchers)
        .map(|_| {
            let mut watcher = ctx.watch(&["n"], false).expect("watch");
            rt.spawn(async move {
                let mut last = 0;
                while let Some(event) = watcher.next().await {
                    if let WatchEvent::Update(update) = event {
                        last = update.value.as_i64().unwrap_or_default();
                    }
                }
                last
            })
        })
        .collect();
    (ctx, tasks)
}

/// Writes `writes` values to `n` as fast as it can; how long it took.
fn burst(ctx: &Context, from: i64, writes: i64) -> Duration {
    let start = Instant::now();
    for i in from..from + writes {
        ctx.set("n", black_box(i)).expect("set");
    }
    start.elapsed()
}

fn watch_fan_out(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("watch_fan_out");
    group.throughput(Throughput::Elements(1));
    let mut per_write = Vec::new();
    for watchers in [0, 1, 100] {
        let (ctx, tasks) = watched(&rt, watchers);
        let mut i = 0i64;
        group.bench_with_input(BenchmarkId::new("set_i64", watchers), &watchers, |b, _| {
            b.iter(|| {
                i += 1;
                black_box(ctx.set("n", i).expect("set"))
            })
        });
        // The same, outside criterion: one burst, for the ratio and the final values.
        let writes = 1_000_000;
        let took = burst(&ctx, i + 1, writes);
        let last = i + writes;
        per_write.push(took.as_secs_f64() / writes as f64);
        // Let the watchers catch up before their context goes.
        std::thread::sleep(Duration::from_millis(200));
        drop(ctx);
        let ended: Vec<i64> = rt.block_on(async {
            let mut ended = Vec::new();
            for task in tasks {
                ended.push(task.await.expect("a watcher task"));
            }
            ended
        });
        assert!(
            ended.iter().all(|&v| v == last),
            "every watcher ends on the final value {last}"
        );
        println!(
            "watch_fan_out: {watchers} watchers: {:.1} M writes/s",
            1e-6 / per_write[per_write.len() - 1]
        );
    }
    group.finish();
    // [0, 1, 100] watchers: what watching costs a write at all, and what each more
    // watcher adds to it (nothing, when delivery is off the writer's path).
    println!(
        "watch_fan_out: a write with 100 watchers costs {:.2}x one with none, {:.2}x one with 1",
        per_write[2] / per_write[0],
        per_write[2] / per_write[1]
    );
}

/// Delivery latency to Rust watchers under a paced writer: 100 watchers, 10,000 writes a
/// second for a second (the writer's own thread, sleeping to its schedule; the watchers on
/// a runtime thread of their own). Latency: when a watcher received write `i`, minus when
/// `set` of it began. Not a criterion measurement: one run, printed as p50 / p99 / max.
fn watch_paced_latency(_: &mut Criterion) {
    const WATCHERS: usize = 100;
    const RATE: u64 = 10_000;
    const WRITES: usize = 10_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let ctx = Context::new();
    ctx.defvariable("n", VarType::Integer, -1, VarOptions::new())
        .expect("define n");
    let tasks: Vec<_> = (0..WATCHERS)
        .map(|_| {
            let mut watcher = ctx.watch(&["n"], false).expect("watch");
            rt.spawn(async move {
                let mut seen = Vec::with_capacity(WRITES);
                let mut lagged = 0u64;
                let mut last = -1;
                while let Some(event) = watcher.next().await {
                    match event {
                        WatchEvent::Update(update) => {
                            last = update.value.as_i64().unwrap_or_default();
                            if update.old_value.is_some() {
                                seen.push((last, Instant::now()));
                            }
                        }
                        WatchEvent::Lagged { missed } => lagged += missed,
                    }
                }
                (seen, lagged, last)
            })
        })
        .collect();
    let interval = Duration::from_nanos(1_000_000_000 / RATE);
    let mut sent = Vec::with_capacity(WRITES);
    let start = Instant::now();
    for i in 0..WRITES {
        // Sleeping to its schedule (a write comes early when the sleep overran), not
        // spinning: a spinning writer would take a core from the watchers.
        let due = start + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        sent.push(Instant::now());
        ctx.set("n", i as i64).expect("set");
    }
    let took = start.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    drop(ctx);
    let mut latencies = Vec::with_capacity(WATCHERS * WRITES);
    let mut lagged = 0;
    for task in tasks {
        let (seen, missed, last) = rt.block_on(task).expect("a watcher task");
        assert_eq!(
            last,
            WRITES as i64 - 1,
            "every watcher ends on the final value"
        );
        lagged += missed;
        for (value, at) in seen {
            latencies.push(at.duration_since(sent[value as usize]));
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "watch_paced_latency: {WATCHERS} Rust watchers, {WRITES} writes at {:.0}/s: delivery \
         p50 {:?}, p99 {:?}, max {:?} ({} deliveries, {lagged} updates lagged)",
        WRITES as f64 / took.as_secs_f64(),
        at(0.5),
        at(0.99),
        at(1.0),
        latencies.len()
    );
}

criterion_group!(
    benches,
    variables,
    worst_case_write,
    watch_fan_out,
    watch_paced_latency
);
criterion_main!(benches);
