//! `Context::connect`: a Context on the Redis backend, built and awaited.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use dspex_core::Result;

use crate::Context;
use crate::state::redis::RedisState;

/// What [`Context::connect`] returns: set options, then `.await` it for the Context.
///
/// ```no_run
/// # async fn run() -> dspex::Result<()> {
/// let ctx = dspex::Context::connect("redis://127.0.0.1:6379/0", "checkout-service")
///     .cache(true) // the default
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a ConnectBuilder does nothing until it is awaited"]
pub struct ConnectBuilder {
    url: String,
    namespace: String,
    cache: bool,
}

impl ConnectBuilder {
    /// Whether reads are served from this process's cache of the namespace (default
    /// `true`). The cache is kept current by the namespace's event stream and never goes
    /// back past a value this process wrote or read; with `false`, every read is a round
    /// trip to Redis.
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = cache;
        self
    }
}

impl IntoFuture for ConnectBuilder {
    type Output = Result<Context>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Context>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let state = RedisState::connect(&self.url, &self.namespace, self.cache).await?;
            Ok(Context::with_backend_state(Arc::new(state)))
        })
    }
}

impl Context {
    /// A Context whose variables live in Redis, in `namespace`, shared with every process
    /// connected to the same namespace (feature `redis`). Await it:
    /// `Context::connect("redis://127.0.0.1:6379/0", "checkout-service").await?`.
    ///
    /// Connecting checks that the namespace holds dspex variables (or nothing) and loads
    /// them. Defining a variable that another process defined with the same type and
    /// constraints adopts it, with its current value; other constraints are
    /// [`Error::DefinitionConflict`](crate::Error::DefinitionConflict). A bad URL, wrong
    /// credentials and a namespace holding other data are `InvalidArgument`; an
    /// unreachable server is `BackendUnavailable`.
    pub fn connect(url: &str, namespace: &str) -> ConnectBuilder {
        ConnectBuilder {
            url: url.to_owned(),
            namespace: namespace.to_owned(),
            cache: true,
        }
    }
}
