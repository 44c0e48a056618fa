//! The bridge from the Rust side: `get` on a bridged Context beside Local `get` (same run),
//! and the cost of the Local → Bridged switch.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dspex::{Constraints, Context, VarOptions, VarType};

fn context_with(n: usize) -> Context {
    let ctx = Context::new();
    let opts = || VarOptions::new().constraints(Constraints::new().min(0.0).max(2.0));
    ctx.defvariable("temperature", VarType::Float, 0.7, opts())
        .expect("define temperature");
    for i in 1..n {
        ctx.defvariable(&format!("v{i}"), VarType::Float, 0.5, opts())
            .expect("define a variable");
    }
    ctx
}

fn bridge(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // The first switch in the process includes starting the bridge server: measured once.
    let first = context_with(100);
    let t = Instant::now();
    rt.block_on(first.ensure_bridged()).expect("bridge");
    println!(
        "first ensure_bridged in process (100 variables, server start included): {:?}",
        t.elapsed()
    );

    let local = context_with(10);
    let bridged = context_with(10);
    rt.block_on(bridged.ensure_bridged()).expect("bridge");
    c.bench_function("local_get_f64", |b| {
        b.iter(|| black_box(local.get::<f64>(black_box("temperature")).expect("get")))
    });
    c.bench_function("bridged_get_f64", |b| {
        b.iter(|| black_box(bridged.get::<f64>(black_box("temperature")).expect("get")))
    });
    let mut x = 0.0;
    c.bench_function("bridged_set_validated_f64", |b| {
        b.iter(|| {
            x = if x > 1.5 { 0.0 } else { x + 0.25 };
            black_box(bridged.set(black_box("temperature"), x).expect("set"))
        })
    });

    for n in [100usize, 10_000] {
        let mut group = c.benchmark_group("ensure_bridged");
        if n > 1000 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_function(format!("{n}_variables"), |b| {
            b.iter_batched(
                || context_with(n),
                |ctx| {
                    rt.block_on(ctx.ensure_bridged()).expect("bridge");
                    ctx
                },
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bridge);
criterion_main!(benches);
