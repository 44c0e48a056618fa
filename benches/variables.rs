//! Variable operations on the Local backend, beside a raw `RwLock<HashMap>` read measured in
//! the same run: the ratio shows what validation, ids and versions cost over a bare map.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::RwLock;

use criterion::{Criterion, criterion_group, criterion_main};
use dspex::limits::MAX_STRING_BYTES;
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

criterion_group!(benches, variables, worst_case_write);
criterion_main!(benches);
