//! The bridge with real Python processes (`dspex_bridge.SessionContext`): Python reads and
//! writes what Rust defined, by the same rules and with the same messages, atomically.

mod common;

use common::run_python as python;
use dspex::{BackendKind, Context, VarOptions, VarType};

async fn bridged_context() -> dspex::Result<Context> {
    let ctx = common::llm_context()?;
    assert_eq!(ctx.backend().kind, BackendKind::Local);
    ctx.ensure_bridged().await?;
    Ok(ctx)
}

#[tokio::test]
async fn python_reads_and_writes_what_rust_defined() -> dspex::Result<()> {
    let ctx = bridged_context().await?;
    let out = python(
        &ctx,
        "async def main():\n\
         \x20   async with grpc.aio.insecure_channel(ADDRESS) as ch:\n\
         \x20       s = SessionContext(SESSION, ch)\n\
         \x20       t = await s.get_variable('temperature')\n\
         \x20       m = await s.get_variable('max_tokens')\n\
         \x20       v = await s.set_variable('temperature', 0.95)\n\
         \x20       print(json.dumps([t, type(t).__name__, m, type(m).__name__, v]))\n\
         asyncio.run(main())\n",
    );
    assert_eq!(out, r#"[0.7, "float", 256, "int", 1]"#);
    assert_eq!(ctx.get::<f64>("temperature")?, 0.95);
    assert_eq!(ctx.variable("temperature")?.version, 1);
    Ok(())
}

#[tokio::test]
async fn python_constraint_violation_is_a_value_error_with_the_rust_message() -> dspex::Result<()> {
    let ctx = bridged_context().await?;
    let out = python(
        &ctx,
        "with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   s = SyncSessionContext(SESSION, ch)\n\
         \x20   try:\n\
         \x20       s.set_variable('temperature', 2.5)\n\
         \x20   except ValueError as e:\n\
         \x20       print(str(e))\n",
    );
    let rust_err = ctx.set("temperature", 2.5).unwrap_err();
    assert_eq!(out, rust_err.to_string());
    assert_eq!(ctx.get::<f64>("temperature")?, 0.7);
    assert_eq!(ctx.variable("temperature")?.version, 0);
    Ok(())
}

#[tokio::test]
async fn python_batches_are_atomic() -> dspex::Result<()> {
    let ctx = bridged_context().await?;
    let out = python(
        &ctx,
        "with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   s = SyncSessionContext(SESSION, ch)\n\
         \x20   try:\n\
         \x20       s.update_variables({'temperature': 1.0, 'max_tokens': 99999})\n\
         \x20   except ValidationError as e:\n\
         \x20       print('refused')\n\
         \x20   s.update_variables({'temperature': 1.5, 'max_tokens': 512}, metadata={'by': 'python'})\n\
         \x20   print('ok')\n",
    );
    assert_eq!(out, "refused\nok");
    assert_eq!(ctx.get::<f64>("temperature")?, 1.5);
    assert_eq!(ctx.get::<i64>("max_tokens")?, 512);
    assert_eq!(ctx.variable("max_tokens")?.metadata["by"], "python");
    assert_eq!(ctx.variable("max_tokens")?.version, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_python_increments_with_set_if_version_add_up() -> dspex::Result<()> {
    let ctx = Context::new();
    ctx.defvariable("counter", VarType::Integer, 0, VarOptions::new())?;
    ctx.ensure_bridged().await?;
    let rust = {
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let mut done = 0;
            while done < 1_000 {
                let var = ctx.variable("counter").expect("read");
                let next = var.value.as_i64().expect("integer") + 1;
                if ctx.set_if_version("counter", next, var.version).is_ok() {
                    done += 1;
                }
            }
        })
    };
    let out = python(
        &ctx,
        "with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   s = SyncSessionContext(SESSION, ch)\n\
         \x20   done = conflicts = 0\n\
         \x20   while done < 1000:\n\
         \x20       info = s.get_variable_info('counter')\n\
         \x20       try:\n\
         \x20           s.set_variable('counter', info['value'] + 1, expected_version=info['version'])\n\
         \x20           done += 1\n\
         \x20       except VersionConflictError:\n\
         \x20           conflicts += 1\n\
         \x20   print(done)\n",
    );
    rust.join().expect("rust thread");
    assert_eq!(out, "1000");
    assert_eq!(ctx.get::<i64>("counter")?, 2_000);
    assert_eq!(ctx.variable("counter")?.version, 2_000);
    Ok(())
}

#[tokio::test]
async fn wrong_token_is_refused_with_no_data() -> dspex::Result<()> {
    let ctx = bridged_context().await?;
    let out = python(
        &ctx,
        "from dspex_bridge import AuthenticationError\n\
         with grpc.insecure_channel(ADDRESS) as ch:\n\
         \x20   s = SyncSessionContext(SESSION, ch, token='not-the-token')\n\
         \x20   try:\n\
         \x20       print(s.get_variable('temperature'))\n\
         \x20   except AuthenticationError as e:\n\
         \x20       print('refused', isinstance(e, PermissionError), '0.7' in str(e))\n",
    );
    assert_eq!(out, "refused True False");
    Ok(())
}
