//! Variable operations on the Local backend, beside a raw `RwLock<HashMap>` read measured in
//! the same run: the ratio shows what validation, ids and versions cost over a bare map.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::RwLock;

use criterion::{Criterion, criterion_group, criterion_main};
use dspex::{Constraints, Context, Value, VarOptions, VarType};

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

criterion_group!(benches, variables);
criterion_main!(benches);
