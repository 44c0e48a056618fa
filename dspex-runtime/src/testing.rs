//! Test support: a throw-away `redis-server` on a free loopback port, with its data in a
//! temporary directory, for the tests, benchmarks and examples of the Redis backend. Not
//! public API.
//!
//! The server keeps an append-only file, which Redis writes before it replies to a write,
//! so a server killed and restarted ([`RedisServer::kill`], [`RedisServer::restart`])
//! keeps every write it acknowledged (the file is synced to disk once a second, which
//! matters only if the machine itself goes down). `DSPEX_REDIS_SERVER` names the binary (default `redis-server` on the
//! `PATH`; `make setup` installs it).

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` this process started; it is killed and its directory removed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
}

impl RedisServer {
    /// Starts a server with no password.
    pub fn start() -> io::Result<RedisServer> {
        Self::start_with(None)
    }

    /// Starts a server that requires `password`.
    pub fn start_with_password(password: &str) -> io::Result<RedisServer> {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> io::Result<RedisServer> {
        let dir = std::env::temp_dir().join(format!(
            "dspex-redis-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut last_error = None;
        // A free port can be taken by someone else before the server binds it: try again.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut server = RedisServer {
                child: None,
                port,
                dir: dir.clone(),
                password: password.clone(),
            };
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    server.kill();
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// `redis://[:password@]127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already gone is fine: either way it is not running any more.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.launch() {
                Ok(()) => return Ok(()),
                // The port may linger for a moment after the kill.
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "redis-server restart, retrying");
                    self.kill();
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn launch(&mut self) -> io::Result<()> {
        let binary =
            std::env::var_os("DSPEX_REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        let mut command = Command::new(&binary);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--daemonize", "no", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = &self.password {
            command.args(["--requirepass", p]);
        }
        let child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "could not start {binary:?} ({e}): install Redis 7 with `make setup` (or \
                     `apt-get install redis-server`), or set DSPEX_REDIS_SERVER"
                ),
            )
        })?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the server answers PING (it answers LOADING while it reads its data).
    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url()).map_err(io::Error::other)?;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "redis-server exited with {status}: {}",
                    log.lines().last().unwrap_or("")
                )));
            }
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con));
            match pong {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(io::Error::other(format!(
                        "redis-server never answered: {e}"
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

static NEXT_DIR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        // Best effort: a leftover temporary directory is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
