//! Blocking connections for the Context's own reads and writes. A Context's API is
//! synchronous (a cached read costs nanoseconds, so it cannot be a future), and so are its
//! round trips: each takes an idle connection, or opens one, on the calling thread. No
//! runtime is involved, and no thread hop is added to a round trip.
//!
//! When Redis cannot be reached, connecting again is held off with exponential backoff
//! (25 ms doubling to 500 ms): until the next attempt is due, operations fail at once with
//! `BackendUnavailable`, saying when it is. A broken connection is dropped with every
//! idle one (after a restart they are all dead), and the operation is retried once on a
//! new connection: writes carry a token that makes that retry safe (see `scripts.rs`).

use std::time::{Duration, Instant};

use dspex_core::{Error, Result};
use parking_lot::Mutex;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A server that stops answering (paused, overloaded) fails an operation after this.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Idle connections kept; more are closed when returned.
const MAX_IDLE: usize = 16;

/// Where the Redis server is, as messages show it: the password is never shown.
pub(crate) fn describe_url(info: &redis::ConnectionInfo) -> String {
    format!("redis://{}/{}", info.addr(), info.redis_settings().db())
}

/// The error for a failed round trip: the connection (`BackendUnavailable`), the
/// credentials, or the server's answer.
pub(crate) fn map_error(error: &redis::RedisError, server: &str, namespace: &str) -> Error {
    if error.kind() == redis::ErrorKind::AuthenticationFailed
        || error
            .code()
            .is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH" || c == "NOPERM")
    {
        return Error::InvalidArgument {
            message: format!(
                "Redis at {server} refused the credentials ({error}): check the user and \
                 password in the URL (redis://:PASSWORD@HOST:PORT/DB or \
                 redis://USER:PASSWORD@HOST:PORT/DB)"
            ),
        };
    }
    if error.code() == Some("WRONGTYPE") {
        return super::codec::shape_error(namespace, format!("a key has another type ({error})"));
    }
    Error::BackendUnavailable {
        backend: "redis",
        reason: if is_connection_error(error) {
            format!("lost the connection to Redis at {server}: {error}")
        } else {
            format!("Redis at {server} answered with an error: {error}")
        },
    }
}

/// Whether the connection itself failed (it cannot be used again).
pub(crate) fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
    last_error: String,
}

/// The blocking connections of one Redis Context.
pub(crate) struct Pool {
    client: redis::Client,
    server: String,
    namespace: String,
    idle: Mutex<Vec<redis::Connection>>,
    backoff: Mutex<Backoff>,
}

impl Pool {
    pub fn new(client: redis::Client, namespace: &str) -> Pool {
        Pool {
            server: describe_url(client.get_connection_info()),
            client,
            namespace: namespace.to_owned(),
            idle: Mutex::new(Vec::new()),
            backoff: Mutex::new(Backoff {
                failures: 0,
                next_attempt: None,
                last_error: String::new(),
            }),
        }
    }

    /// Where the server is (no password).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The client, for the stream listener's own connection.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Runs `f` on a connection, retrying it once on a new one if a pooled connection
    /// turns out to be broken.
    pub fn run<T>(
        &self,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let (mut con, pooled) = self.take()?;
        match f(&mut con) {
            Ok(v) => {
                self.give_back(con);
                Ok(v)
            }
            Err(e) if is_connection_error(&e) && pooled => {
                self.idle.lock().clear();
                let (mut con, _) = self.take()?;
                match f(&mut con) {
                    Ok(v) => {
                        self.give_back(con);
                        Ok(v)
                    }
                    Err(e) => Err(self.failed(con, &e)),
                }
            }
            Err(e) => Err(self.failed(con, &e)),
        }
    }

    fn failed(&self, con: redis::Connection, e: &redis::RedisError) -> Error {
        if is_connection_error(e) {
            self.idle.lock().clear();
        } else {
            self.give_back(con);
        }
        map_error(e, &self.server, &self.namespace)
    }

    /// An idle connection (`true`), or a new one (`false`).
    fn take(&self) -> Result<(redis::Connection, bool)> {
        if let Some(con) = self.idle.lock().pop() {
            return Ok((con, true));
        }
        {
            let backoff = self.backoff.lock();
            if let Some(at) = backoff.next_attempt {
                let now = Instant::now();
                if now < at {
                    return Err(Error::BackendUnavailable {
                        backend: "redis",
                        reason: format!(
                            "cannot reach Redis at {} ({}); {} attempt(s) failed, the next is \
                             in {} ms",
                            self.server,
                            backoff.last_error,
                            backoff.failures,
                            (at - now).as_millis().max(1)
                        ),
                    });
                }
            }
        }
        match self.connect() {
            Ok(con) => {
                let mut backoff = self.backoff.lock();
                backoff.failures = 0;
                backoff.next_attempt = None;
                Ok((con, false))
            }
            Err(e) => {
                let error = map_error(&e, &self.server, &self.namespace);
                let mut backoff = self.backoff.lock();
                let delay = FIRST_BACKOFF
                    .saturating_mul(1 << backoff.failures.min(10))
                    .min(MAX_BACKOFF);
                backoff.failures += 1;
                backoff.next_attempt = Some(Instant::now() + delay);
                backoff.last_error = e.to_string();
                Err(error)
            }
        }
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let con = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        con.set_read_timeout(Some(IO_TIMEOUT))?;
        con.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(con)
    }

    fn give_back(&self, con: redis::Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(con);
        }
    }
}
