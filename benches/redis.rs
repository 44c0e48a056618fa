//! The Redis backend against bare `redis` crate calls on the same server, in the same run:
//! an uncached `get` beside a bare GET, a validated `set` beside a bare EVALSHA of a script
//! doing the same server-side work (read the version, write value and version, append the
//! event), a cached `get`; then, measured by hand, the delay from a write in another
//! process to this process's watcher (p50/p99; the read cache is updated in the same step,
//! so this is also its staleness) and the `update` throughput of four processes on one
//! variable.
//!
//! On a shared machine, round-trip times drift between criterion's runs, so both
//! comparisons are also measured interleaved — one raw call, one dspex call, in turn — and
//! printed as `interleaved_*` lines with their ratio.
//!
//! The other processes are this benchmark binary, started with `DSPEX_BENCH_ROLE` set.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use dspex::testing::RedisServer;
use dspex::{Context, VarOptions, VarType, WatchEvent};

const WRITES: usize = 2_000;
const INCREMENTS: usize = 1_000;

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn connect(rt: &tokio::runtime::Runtime, url: &str, namespace: &str, cache: bool) -> Context {
    rt.block_on(async { Context::connect(url, namespace).cache(cache).await })
        .expect("connect")
}

/// What a child process does, then exits.
fn child(role: &str) {
    let url = std::env::var("DSPEX_BENCH_URL").expect("DSPEX_BENCH_URL");
    let rt = runtime();
    let ctx = connect(&rt, &url, "bench", true);
    match role {
        // Writes the time of each write as its value, a little apart.
        "writer" => {
            for _ in 0..WRITES {
                ctx.set("sent_us", now_us()).expect("set");
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        "incrementer" => {
            for _ in 0..INCREMENTS {
                ctx.update("count", |n: i64| n + 1).expect("update");
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn(role: &str, url: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("own path"))
        .env("DSPEX_BENCH_ROLE", role)
        .env("DSPEX_BENCH_URL", url)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn a child process")
}

/// Mean time of `raw` and of `ours`, called in turn `n` times.
fn interleaved(name: &str, n: u32, mut raw: impl FnMut(), mut ours: impl FnMut()) {
    let (mut raw_t, mut ours_t) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n {
        let t = Instant::now();
        raw();
        raw_t += t.elapsed();
        let t = Instant::now();
        ours();
        ours_t += t.elapsed();
    }
    let (raw_t, ours_t) = (raw_t / n, ours_t / n);
    println!(
        "interleaved_{name}: raw {raw_t:?} dspex {ours_t:?} ratio {:.2}",
        ours_t.as_secs_f64() / raw_t.as_secs_f64()
    );
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn benches(c: &mut Criterion, server: &RedisServer) {
    let url = server.url();
    let rt = runtime();
    let cached = connect(&rt, &url, "bench", true);
    cached
        .defvariable("temperature", VarType::Float, 0.7, VarOptions::new())
        .expect("define");
    cached
        .defvariable("sent_us", VarType::Integer, 0, VarOptions::new())
        .expect("define");
    cached
        .defvariable("count", VarType::Integer, 0, VarOptions::new())
        .expect("define");
    let uncached = connect(&rt, &url, "bench", false);

    // The same TCP settings as the backend's connections (no Nagle delay).
    let info = redis::IntoConnectionInfo::into_connection_info(url.as_str()).expect("url");
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    let client = redis::Client::open(info.set_tcp_settings(tcp)).expect("client");
    let mut raw = client.get_connection().expect("connection");
    redis::cmd("SET")
        .arg("raw:temperature")
        .arg("0.7")
        .exec(&mut raw)
        .expect("SET");
    c.bench_function("raw_redis_get", |b| {
        b.iter(|| {
            let v: String = redis::cmd("GET")
                .arg(black_box("raw:temperature"))
                .query(&mut raw)
                .expect("GET");
            black_box(v)
        })
    });
    c.bench_function("redis_get_uncached_f64", |b| {
        b.iter(|| black_box(uncached.get::<f64>(black_box("temperature")).expect("get")))
    });

    let script = redis::Script::new(
        r"
        local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
        redis.call('HSET', KEYS[1], 'value', ARGV[1], 'updated', ARGV[2])
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'n', 'temperature', 'v', v, 'val', ARGV[1])
        return v",
    );
    let mut x = 0.0;
    c.bench_function("raw_redis_evalsha_versioned_set", |b| {
        b.iter(|| {
            x = if x > 1.5 { 0.0 } else { x + 0.25 };
            let v: i64 = script
                .key("raw:var")
                .key("raw:events")
                .arg(x)
                .arg(now_us())
                .invoke(&mut raw)
                .expect("EVALSHA");
            black_box(v)
        })
    });
    c.bench_function("redis_set_validated_f64", |b| {
        b.iter(|| {
            x = if x > 1.5 { 0.0 } else { x + 0.25 };
            black_box(cached.set(black_box("temperature"), x).expect("set"))
        })
    });
    let mut y = 0.0;
    interleaved(
        "get",
        10_000,
        || {
            let v: String = redis::cmd("GET")
                .arg("raw:temperature")
                .query(&mut raw)
                .expect("GET");
            black_box(v);
        },
        || {
            black_box(uncached.get::<f64>("temperature").expect("get"));
        },
    );
    let mut raw_set = client.get_connection().expect("connection");
    interleaved(
        "set",
        5_000,
        || {
            let v: i64 = script
                .key("raw:var")
                .key("raw:events")
                .arg(0.5)
                .arg(now_us())
                .invoke(&mut raw_set)
                .expect("EVALSHA");
            black_box(v);
        },
        || {
            y = if y > 1.5 { 0.0 } else { y + 0.25 };
            black_box(cached.set("temperature", y).expect("set"));
        },
    );
    c.bench_function("redis_get_cached_f64", |b| {
        b.iter(|| black_box(cached.get::<f64>(black_box("temperature")).expect("get")))
    });

    // Cross-process write → watcher delivery.
    let mut watcher = cached.watch(&["sent_us"], false).expect("watch");
    let mut writer = spawn("writer", &url);
    let mut delays = Vec::with_capacity(WRITES);
    rt.block_on(async {
        while delays.len() < WRITES {
            let next = tokio::time::timeout(Duration::from_secs(10), watcher.next()).await;
            match next {
                Ok(Some(WatchEvent::Update(u))) => {
                    delays.push(now_us() - u.value.as_i64().unwrap_or_default())
                }
                Ok(Some(WatchEvent::Lagged { missed })) => panic!("watcher lagged by {missed}"),
                Ok(None) | Err(_) => panic!("the watcher stopped after {}", delays.len()),
            }
        }
    });
    assert!(writer.wait().expect("writer").success());
    delays.sort_unstable();
    println!(
        "cross_process_write_to_watcher_us: p50 {} p99 {} max {} ({} writes)",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1],
        delays.len()
    );

    // Four processes incrementing one variable.
    let before: i64 = cached.get_fresh("count").expect("count");
    let started = Instant::now();
    let children: Vec<_> = (0..4).map(|_| spawn("incrementer", &url)).collect();
    for mut child in children {
        assert!(child.wait().expect("incrementer").success());
    }
    let elapsed = started.elapsed();
    let after: i64 = cached.get_fresh("count").expect("count");
    assert_eq!(after - before, 4 * INCREMENTS as i64);
    println!(
        "four_process_updates: {} increments in {:?} ({:.0}/s, process start-up included)",
        4 * INCREMENTS,
        elapsed,
        (4 * INCREMENTS) as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    if let Ok(role) = std::env::var("DSPEX_BENCH_ROLE") {
        child(&role);
        return;
    }
    let server = RedisServer::start().expect("start redis-server");
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &server);
    c.final_summary();
}
