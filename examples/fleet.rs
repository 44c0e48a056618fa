//! A fleet sharing its knobs through Redis: one process tunes, another serves and watches.
//!
//! ```sh
//! cargo run --example fleet --features redis                 # both, on a throw-away redis-server
//! REDIS_URL=redis://127.0.0.1:6379/0 cargo run --example fleet --features redis -- serve
//! REDIS_URL=redis://127.0.0.1:6379/0 cargo run --example fleet --features redis -- tune
//! ```
//!
//! Every replica declares the same variables: the first one defines them, the others adopt
//! them (with the values the fleet has now) after checking that the definitions match.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use dspex::{Constraints, Context, Metadata, VarOptions, VarType, WatchEvent};

const NAMESPACE: &str = "fleet-example";

/// The knobs every replica declares.
fn declare(ctx: &Context) -> dspex::Result<()> {
    let temperature = VarOptions::new()
        .constraints(Constraints::new().min(0.0).max(2.0))
        .description("Sampling temperature");
    ctx.defvariable("temperature", VarType::Float, 0.7, temperature)?;
    let model = VarOptions::new().constraints(Constraints::new().choices(["gpt-4", "claude-3"]));
    ctx.defvariable("model", VarType::Choice, "gpt-4", model)?;
    ctx.defvariable("draining", VarType::Boolean, false, VarOptions::new())?;
    Ok(())
}

/// Serves "requests" with the current knobs and reports every change, until drained.
async fn serve(url: &str) -> dspex::Result<()> {
    let ctx = Context::connect(url, NAMESPACE).await?;
    declare(&ctx)?;
    ctx.set("draining", false)?;
    let mut watcher = ctx.watch(&[], false)?;
    println!("ready");
    std::io::stdout().flush().ok();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), watcher.next()).await {
            Ok(Some(WatchEvent::Update(u))) => {
                println!(
                    "serve: {} = {} (v{}, by {:?})",
                    u.name,
                    u.value,
                    u.version,
                    u.metadata.get("by")
                );
                if u.name == "draining" && u.value.as_bool() == Some(true) {
                    break;
                }
                // A request reads its knobs from the local cache: nanoseconds, no round trip.
                let t: f64 = ctx.get("temperature")?;
                let model: String = ctx.get("model")?;
                println!("serve: handling a request with {model} at temperature {t}");
            }
            Ok(Some(WatchEvent::Lagged { missed })) => println!("serve: missed {missed} updates"),
            Ok(None) | Err(_) => break,
        }
    }
    println!("serve: drained");
    Ok(())
}

/// Retunes the fleet, then drains it.
async fn tune(url: &str) -> dspex::Result<()> {
    let ctx = Context::connect(url, NAMESPACE).await?;
    declare(&ctx)?;
    let by: Metadata = [("by".to_owned(), "tuner".to_owned())].into();
    for t in [0.2, 0.9, 1.3] {
        ctx.set_with_metadata("temperature", t, by.clone())?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ctx.update_many_with_metadata([("model", "claude-3")], &by)?;
    if let Err(e) = ctx.set("temperature", 5.0) {
        println!("tune: refused before anything was written: {e}");
    }
    ctx.set("draining", true)?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let role = std::env::args().nth(1);
    // Without REDIS_URL, a redis-server of our own, for the length of the demo.
    let own_server = match std::env::var("REDIS_URL") {
        Ok(_) => None,
        Err(_) => Some(dspex::testing::RedisServer::start()?),
    };
    let url = match &own_server {
        Some(server) => server.url(),
        None => std::env::var("REDIS_URL")?,
    };
    match role.as_deref() {
        Some("serve") => serve(&url).await?,
        Some("tune") => tune(&url).await?,
        None => {
            let mut server = Command::new(std::env::current_exe()?)
                .arg("serve")
                .env("REDIS_URL", &url)
                .stdout(Stdio::piped())
                .spawn()?;
            let stdout = server.stdout.take().ok_or("no stdout")?;
            let mut lines = BufReader::new(stdout).lines();
            // Tune once the server watches, then show what it saw.
            match lines.next() {
                Some(Ok(line)) if line == "ready" => tune(&url).await?,
                other => return Err(format!("the serving process did not start: {other:?}").into()),
            }
            for line in lines {
                println!("{}", line?);
            }
            server.wait()?;
        }
        Some(other) => return Err(format!("unknown role {other:?}: use serve or tune").into()),
    }
    Ok(())
}
