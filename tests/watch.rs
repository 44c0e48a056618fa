//! Watching variables from Rust: both backends, across the switch, slow consumers, drops,
//! writes from Python, and the gRPC stream.

use std::time::Duration;

mod common;

use dspex::bridge::pb::{self, variable_bridge_client::VariableBridgeClient};
use dspex::{
    BackendKind, Context, UpdateSource, Value, VarOptions, VarType, VariableUpdate, WatchEvent,
};
use tokio_stream::StreamExt;

fn update(event: Option<WatchEvent>) -> VariableUpdate {
    match event {
        Some(WatchEvent::Update(u)) => u,
        other => panic!("expected an update, got {other:?}"),
    }
}

async fn next(w: &mut dspex::Watcher) -> Option<WatchEvent> {
    tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("an event within 5 s")
}

fn counter() -> dspex::Result<Context> {
    let ctx = Context::new();
    ctx.defvariable("n", VarType::Integer, 0, VarOptions::new())?;
    ctx.defvariable("other", VarType::Integer, 0, VarOptions::new())?;
    Ok(ctx)
}

#[tokio::test]
async fn updates_in_order_with_old_values_and_initial_values() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.set("n", 5)?;
    let mut w = ctx.watch(&["n"], true)?;
    let initial = update(next(&mut w).await);
    assert_eq!(
        initial,
        VariableUpdate {
            name: "n".into(),
            value: Value::Integer(5),
            old_value: None,
            version: 1,
            source: UpdateSource::Rust,
            metadata: Default::default(),
        }
    );
    ctx.set("other", 1)?; // not watched
    ctx.update("n", |n: i64| n + 1)?;
    ctx.update_many([("n", 7), ("other", 2)])?;
    assert!(ctx.set("n", "bad").is_err()); // a failed write is no event
    let a = update(next(&mut w).await);
    let b = update(next(&mut w).await);
    assert_eq!(
        (a.old_value, a.value, a.version),
        (Some(Value::Integer(5)), Value::Integer(6), 2)
    );
    assert_eq!(
        (b.old_value, b.value, b.version),
        (Some(Value::Integer(6)), Value::Integer(7), 3)
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(50), w.next())
            .await
            .is_err(),
        "nothing more"
    );
    assert!(ctx.watch(&["missing"], false).is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_in_the_middle_of_writes_loses_nothing() -> dspex::Result<()> {
    let ctx = counter()?;
    let mut w = ctx.watch(&["n"], false)?;
    let writer = {
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            for _ in 0..1_000 {
                ctx.update("n", |n: i64| n + 1).expect("update");
                std::thread::sleep(Duration::from_micros(20));
            }
        })
    };
    while ctx.get::<i64>("n")? < 100 {
        tokio::task::yield_now().await;
    }
    ctx.ensure_bridged().await?;
    let mut versions = Vec::new();
    let mut migrated = 0;
    while versions.len() < 1_000 {
        let u = update(next(&mut w).await);
        assert_eq!(u.value, Value::Integer(u.version as i64));
        migrated += usize::from(u.metadata.contains_key("migrated_from"));
        versions.push(u.version);
    }
    assert!(
        migrated > 0 && migrated < 1_000,
        "the switch fell mid-stream ({migrated})"
    );
    writer.join().expect("writer");
    assert_eq!(versions, (1..=1_000).collect::<Vec<u64>>());
    assert_eq!(ctx.backend().kind, BackendKind::Bridged);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), w.next())
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn a_stalled_consumer_is_told_it_lagged_and_recovers() -> dspex::Result<()> {
    let ctx = counter()?;
    let mut w = ctx.watch(&["n", "other"], false)?;
    for i in 1..=3_000 {
        ctx.set("n", i)?; // never blocks, whatever the watcher does
    }
    let missed = match next(&mut w).await {
        Some(WatchEvent::Lagged { missed }) => missed,
        other => panic!("expected Lagged, got {other:?}"),
    };
    // Every update it did not receive: the 1,024 buffered ones are dropped too.
    assert_eq!(missed, 3_000);
    // Then the current value of every watched variable that moved since it was last seen
    // (`other` did not: it is not repeated).
    let resync = update(next(&mut w).await);
    assert_eq!(
        (resync.name.as_str(), &resync.value),
        ("n", &Value::Integer(3_000))
    );
    assert_eq!((resync.old_value, resync.version), (None, 3_000));
    ctx.set("n", 1)?;
    let u = update(next(&mut w).await);
    assert_eq!((u.version, u.value), (3_001, Value::Integer(1)));
    Ok(())
}

#[tokio::test]
async fn a_dropped_watcher_frees_its_subscription() -> dspex::Result<()> {
    let ctx = counter()?;
    let w1 = ctx.watch(&[], false)?;
    let w2 = ctx.watch(&["n"], true)?;
    assert_eq!(ctx.watcher_count(), 2);
    drop(w1);
    assert_eq!(ctx.watcher_count(), 1);
    drop(w2);
    assert_eq!(ctx.watcher_count(), 0);
    Ok(())
}

#[tokio::test]
async fn the_watcher_is_a_stream_and_watches_everything_when_given_no_names() -> dspex::Result<()> {
    let ctx = counter()?;
    let w = ctx.watch(&[], false)?;
    ctx.defvariable("later", VarType::Boolean, false, VarOptions::new())?;
    ctx.set("later", true)?;
    ctx.set("n", 1)?;
    let events: Vec<WatchEvent> = w.take(2).collect().await;
    let names: Vec<_> = events
        .into_iter()
        .map(|e| match e {
            WatchEvent::Update(u) => u.name,
            WatchEvent::Lagged { .. } => "lagged".into(),
        })
        .collect();
    assert_eq!(names, ["later", "n"]);
    Ok(())
}

#[tokio::test]
async fn python_writes_reach_rust_watchers_tagged_python() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.ensure_bridged().await?;
    let mut w = ctx.watch(&["n"], false)?;
    common::run_python(
        &ctx,
        "with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   SyncSessionContext(SESSION, ch).set_variable('n', 42, metadata={'by': 'py'})\n",
    );
    let u = update(next(&mut w).await);
    assert_eq!(
        (u.value, u.source, u.version),
        (Value::Integer(42), UpdateSource::Python, 1)
    );
    assert_eq!(u.metadata["by"], "py");
    Ok(())
}

#[tokio::test]
async fn grpc_watch_streams_updates_and_heartbeats_and_frees_the_watcher() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.ensure_bridged().await?;
    let endpoint = ctx.bridge().expect("bridged");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", endpoint.address))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = VariableBridgeClient::new(channel);
    let mut req = tonic::Request::new(pb::WatchVariablesRequest {
        session_id: ctx.id().into(),
        names: vec!["n".into()],
        include_initial: true,
        heartbeat_ms: 20,
    });
    req.metadata_mut().insert(
        dspex::bridge::TOKEN_KEY,
        endpoint.token.parse().expect("ascii"),
    );
    let mut stream = client
        .watch_variables(req)
        .await
        .expect("watch")
        .into_inner();
    let mut kinds = Vec::new();
    ctx.set("n", 9)?;
    let count = |kinds: &[&str], kind: &str| kinds.iter().filter(|k| **k == kind).count();
    while count(&kinds, "heartbeat") < 2 || count(&kinds, "update") < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("an event")
            .expect("stream ok")
            .expect("open stream");
        match event.kind.expect("kind") {
            pb::watch_event::Kind::Update(u) => {
                kinds.push("update");
                if u.version == 1 {
                    assert!(u.timestamp_us > 0);
                    assert_eq!(u.source, pb::UpdateSource::Rust as i32);
                }
            }
            pb::watch_event::Kind::Heartbeat(_) => kinds.push("heartbeat"),
            pb::watch_event::Kind::Lagged(_) => kinds.push("lagged"),
        }
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == "update").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(ctx.watcher_count(), 1);
    drop(stream);
    let mut waited = 0;
    while ctx.watcher_count() > 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(ctx.watcher_count(), 0, "the server dropped its watcher");
    Ok(())
}

#[tokio::test]
async fn a_grpc_watch_ends_when_its_context_is_gone() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.ensure_bridged().await?;
    let endpoint = ctx.bridge().expect("bridged");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", endpoint.address))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut req = tonic::Request::new(pb::WatchVariablesRequest {
        session_id: ctx.id().into(),
        names: vec![],
        include_initial: false,
        heartbeat_ms: 10,
    });
    req.metadata_mut().insert(
        dspex::bridge::TOKEN_KEY,
        endpoint.token.parse().expect("ascii"),
    );
    let mut stream = VariableBridgeClient::new(channel)
        .watch_variables(req)
        .await
        .expect("watch")
        .into_inner();
    drop(ctx);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.message().await {
                Ok(Some(_heartbeat)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status.code()),
            }
        }
    })
    .await
    .expect("the stream ends");
    assert_eq!(ended, Some(tonic::Code::NotFound));
    Ok(())
}

/// Waits (at most 5 s) for a watcher to end, returning every event it still yielded.
async fn drain_to_end(w: &mut dspex::Watcher) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    while let Some(event) = next(w).await {
        events.push(event);
    }
    events
}

#[tokio::test]
async fn a_watcher_ends_when_the_last_clone_of_its_context_is_dropped() -> dspex::Result<()> {
    let ctx = counter()?;
    let clone = ctx.clone();
    let mut w = ctx.watch(&["n"], false)?;
    ctx.set("n", 1)?;
    drop(ctx);
    clone.set("n", 2)?; // a clone still writes: the watcher is still served
    drop(clone);
    let versions: Vec<u64> = drain_to_end(&mut w)
        .await
        .into_iter()
        .map(|e| update(Some(e)).version)
        .collect();
    assert_eq!(versions, [1, 2], "what was sent arrives, then the end");
    assert!(next(&mut w).await.is_none(), "and it stays ended");
    Ok(())
}

#[tokio::test]
async fn a_watcher_stream_ends_when_its_bridged_context_is_dropped() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.ensure_bridged().await?;
    let w = ctx.watch(&[], true)?;
    drop(ctx);
    let events: Vec<WatchEvent> = tokio::time::timeout(Duration::from_secs(5), w.collect())
        .await
        .expect("the stream ends");
    let names: Vec<String> = events.into_iter().map(|e| update(Some(e)).name).collect();
    assert_eq!(names, ["n", "other"], "the initial values, then the end");
    Ok(())
}

#[tokio::test]
async fn a_watcher_ends_when_its_session_is_removed() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.ensure_bridged().await?;
    let mut w = ctx.watch(&["n"], false)?;
    assert_eq!(ctx.watcher_count(), 1);
    assert!(dspex::SessionStore::global().remove_session(ctx.id()));
    assert!(drain_to_end(&mut w).await.is_empty());
    assert_eq!(ctx.watcher_count(), 0);
    // A watcher asked for afterwards has nothing to wait for either.
    let mut late = ctx.watch(&["n"], true)?;
    assert_eq!(
        update(next(&mut late).await).version,
        0,
        "its initial value"
    );
    assert!(next(&mut late).await.is_none());
    Ok(())
}

#[tokio::test]
async fn a_resynchronised_update_reports_who_wrote_the_value() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.ensure_bridged().await?;
    let mut w = ctx.watch(&["n", "other"], false)?;
    for i in 1..=2_000 {
        ctx.set("n", i)?; // more than the watcher buffers: it will lag
    }
    ctx.set("other", 5)?;
    common::run_python(
        &ctx,
        "with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   SyncSessionContext(SESSION, ch).set_variable('n', 42)\n",
    );
    assert!(matches!(
        next(&mut w).await,
        Some(WatchEvent::Lagged { missed: 2_002 })
    ));
    let mut resync: Vec<_> = [update(next(&mut w).await), update(next(&mut w).await)]
        .into_iter()
        .map(|u| (u.name, u.value, u.old_value, u.source))
        .collect();
    resync.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        resync,
        [
            ("n".into(), Value::Integer(42), None, UpdateSource::Python),
            ("other".into(), Value::Integer(5), None, UpdateSource::Rust),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_lagged_watcher_resynchronises_variables_the_log_no_longer_holds() -> dspex::Result<()> {
    // `n` was written long before the writes the log still holds, `other` among them: the
    // current values come from the log for `other` and from the variables for `n`.
    let ctx = counter()?;
    let mut w = ctx.watch(&["n", "other"], false)?;
    ctx.set_with_metadata("n", 9, [("by".into(), "first".into())].into())?;
    for i in 1..=3_000 {
        ctx.set("other", i)?;
    }
    assert!(matches!(
        next(&mut w).await,
        Some(WatchEvent::Lagged { missed: 3_001 })
    ));
    let mut resync: Vec<_> = [update(next(&mut w).await), update(next(&mut w).await)]
        .into_iter()
        .map(|u| {
            (
                u.name,
                u.value,
                u.old_value,
                u.version,
                u.metadata.get("by").cloned(),
            )
        })
        .collect();
    resync.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        resync,
        [
            ("n".into(), Value::Integer(9), None, 1, Some("first".into())),
            ("other".into(), Value::Integer(3_000), None, 3_000, None),
        ]
    );
    ctx.set("n", 10)?;
    let u = update(next(&mut w).await);
    assert_eq!(
        (u.name.as_str(), u.version, u.old_value),
        ("n", 2, Some(Value::Integer(9)))
    );
    Ok(())
}

#[tokio::test]
async fn initial_values_report_who_wrote_them() -> dspex::Result<()> {
    let ctx = counter()?;
    ctx.ensure_bridged().await?;
    common::run_python(
        &ctx,
        "with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   s = SyncSessionContext(SESSION, ch)\n\
         \x20   s.set_variable('n', 3)\n\
         \x20   s.register_variable('from_python', 'integer', 1)\n",
    );
    ctx.set("other", 4)?;
    let mut w = ctx.watch(&[], true)?;
    let mut sources = Vec::new();
    for _ in 0..3 {
        let u = update(next(&mut w).await);
        sources.push((u.name, u.source));
    }
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        sources,
        [
            ("from_python".into(), UpdateSource::Python),
            ("n".into(), UpdateSource::Python),
            ("other".into(), UpdateSource::Rust),
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_that_keep_up_see_every_write_in_the_order_it_was_made() -> dspex::Result<()> {
    let ctx = counter()?;
    let (written, batches) = (500u64, 8u64);
    let total = written * batches;
    // Eight watchers read as the writes come, each telling how far it got; one does not
    // read until the end.
    let mut fast = Vec::new();
    let mut progress = Vec::new();
    for _ in 0..8 {
        let mut w = ctx.watch(&["n", "other"], false)?;
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        progress.push(rx);
        fast.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while (seen.len() as u64) < total {
                match next(&mut w).await {
                    Some(WatchEvent::Update(u)) => {
                        seen.push((u.name, u.version, u.value));
                        let _ = tx.send(seen.len() as u64);
                    }
                    other => panic!("a watcher that keeps up got {other:?}"),
                }
            }
            seen
        }));
    }
    let mut slow = ctx.watch(&["n", "other"], false)?;

    // Writes alternate between the two variables, in batches shorter than the log: every
    // fast watcher has read a batch before the next one is written.
    let mut expected = Vec::new();
    for batch in 0..batches {
        for i in 0..written {
            let k = batch * written + i;
            let name = if k % 2 == 0 { "n" } else { "other" };
            let version = ctx.set(name, k as i64)?;
            expected.push((name.to_owned(), version, Value::Integer(k as i64)));
        }
        for rx in &mut progress {
            let reached = (batch + 1) * written;
            tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|n| *n >= reached))
                .await
                .expect("a fast watcher keeps up")
                .expect("a fast watcher's progress");
        }
    }
    for task in fast {
        assert_eq!(task.await.expect("a fast watcher"), expected);
    }

    // The slow one missed all but the log's last entries: told how many updates of its
    // variables it did not get, then their current values, then it follows again.
    let missed = match next(&mut slow).await {
        Some(WatchEvent::Lagged { missed }) => missed,
        other => panic!("expected Lagged, got {other:?}"),
    };
    assert_eq!(missed, total);
    let mut resync: Vec<_> = [update(next(&mut slow).await), update(next(&mut slow).await)]
        .into_iter()
        .map(|u| (u.name, u.version, u.value, u.old_value))
        .collect();
    resync.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        resync,
        [
            (
                "n".into(),
                total / 2,
                Value::Integer(total as i64 - 2),
                None
            ),
            (
                "other".into(),
                total / 2,
                Value::Integer(total as i64 - 1),
                None
            ),
        ]
    );
    ctx.set("n", -1)?;
    let u = update(next(&mut slow).await);
    assert_eq!((u.version, u.value), (total / 2 + 1, Value::Integer(-1)));
    Ok(())
}

#[tokio::test]
async fn writes_to_other_variables_never_make_a_watcher_lag() -> dspex::Result<()> {
    let ctx = counter()?;
    let mut w = ctx.watch(&["other"], false)?;
    for i in 1..=3_000 {
        ctx.set("n", i)?; // three times the log, none of it watched
    }
    ctx.set("other", 7)?;
    let u = update(next(&mut w).await);
    assert_eq!((u.name.as_str(), u.version), ("other", 1));
    assert_eq!(u.old_value, Some(Value::Integer(0)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_flat_out_burst_every_watcher_ends_on_the_final_value() -> dspex::Result<()> {
    let ctx = counter()?;
    let writes = 200_000i64;
    let watchers: Vec<_> = (0..100)
        .map(|_| {
            let mut w = ctx.watch(&["n"], false)?;
            Ok(tokio::spawn(async move {
                let (mut last_version, mut lags, mut updates) = (0, 0u64, 0u64);
                loop {
                    match next(&mut w).await {
                        Some(WatchEvent::Update(u)) => {
                            assert!(u.version > last_version, "versions only increase");
                            last_version = u.version;
                            updates += 1;
                            if u.value == Value::Integer(writes) {
                                return (lags, updates);
                            }
                        }
                        Some(WatchEvent::Lagged { missed }) => {
                            assert!(missed > 0);
                            lags += 1;
                        }
                        None => panic!("the watcher ended before the final value"),
                    }
                }
            }))
        })
        .collect::<dspex::Result<_>>()?;
    let writer = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || {
            let start = std::time::Instant::now();
            for i in 1..=writes {
                ctx.set("n", i).expect("set");
            }
            start.elapsed()
        })
    };
    let took = writer.await.expect("the writer");
    let (mut lagged, mut delivered) = (0, 0);
    for w in watchers {
        let (lags, updates) = w.await.expect("a watcher");
        lagged += u64::from(lags > 0);
        delivered += updates;
    }
    eprintln!(
        "{writes} writes in {took:?} ({:.1} M/s) with 100 watchers; {lagged} of them lagged, \
         {delivered} updates delivered in all",
        writes as f64 / took.as_secs_f64() / 1e6
    );
    Ok(())
}
