//! The bridge: one tonic gRPC server per process over the [`SessionStore`], started on
//! first need, on `127.0.0.1` and an OS-assigned port by default. Every call must carry the
//! bridge's random token; user errors map to status codes (see `status.rs`).

mod auth;
pub(crate) mod convert;
mod service;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dspex_core::{Error, Result};
use parking_lot::Mutex;
use tonic::transport::server::TcpIncoming;

pub use auth::TOKEN_KEY;
pub use status::{ERROR_KIND_KEY, EXCEPTION_KEY};

use crate::store::SessionStore;

/// The generated protocol types (package `dspex.bridge.v1`).
// Hidden, not private: the integration tests drive the bridge with the generated client.
// Programs talk to the bridge through `Context`, and Python through `dspex_bridge`.
#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("dspex.bridge.v1");
}

/// Where the bridge listens and the token its clients must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeEndpoint {
    /// `"127.0.0.1:PORT"`.
    pub address: String,
    /// The secret token, sent in the `x-dspex-token` metadata entry.
    pub token: String,
}

/// How the bridge is started. Set it with [`configure_bridge`] before the first Context is
/// bridged.
///
/// ```
/// let config = dspex::BridgeConfig::default();
/// assert_eq!(config.address, "127.0.0.1:0");
/// assert_eq!(config.max_message_size, 8 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The address to bind (`127.0.0.1:0`: loopback, OS-assigned port). The environment
    /// variable `DSPEX_BRIDGE_ADDRESS` overrides the default.
    pub address: String,
    /// The largest gRPC message, in bytes, on every connection of the process: requests to
    /// the bridge (larger ones are refused with RESOURCE_EXHAUSTED), and calls to and answers
    /// from the workers, which get the same limit through the environment variable
    /// `DSPEX_MAX_MESSAGE_BYTES`. Default 8 MiB; that environment variable, set for the Rust
    /// process, overrides the default.
    pub max_message_size: usize,
    /// How long a session that no live Context owns may stay idle (default 1 h).
    pub session_ttl: Duration,
    /// How often idle sessions are swept (default 60 s).
    pub sweep_interval: Duration,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            address: std::env::var("DSPEX_BRIDGE_ADDRESS")
                .unwrap_or_else(|_| "127.0.0.1:0".to_owned()),
            max_message_size: default_max_message_size(),
            session_ttl: crate::store::DEFAULT_SESSION_TTL,
            sweep_interval: Duration::from_secs(60),
        }
    }
}

/// The environment variable that sets the message size limit, for the Rust process (the
/// default of [`BridgeConfig::max_message_size`]) and for the workers (which the pool
/// starts with the bridge's limit in it).
pub const MAX_MESSAGE_BYTES_ENV: &str = "DSPEX_MAX_MESSAGE_BYTES";

/// The message size limit when neither the configuration nor the environment sets one.
///
/// 8 MiB: while a worker receives and handles the largest call this allows, its health
/// checks still answer within 100 ms. Receiving, parsing and DSPy's own string work each
/// hold Python's GIL for about a millisecond per megabyte, so at 16 MiB a health check
/// already takes 75–125 ms and at 64 MiB up to half a second.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8 * 1024 * 1024;

fn default_max_message_size() -> usize {
    match std::env::var(MAX_MESSAGE_BYTES_ENV) {
        Ok(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                tracing::warn!(
                    value = %raw,
                    "{MAX_MESSAGE_BYTES_ENV} is not a positive number of bytes; using {DEFAULT_MAX_MESSAGE_SIZE}"
                );
                DEFAULT_MAX_MESSAGE_SIZE
            }
        },
        Err(_) => DEFAULT_MAX_MESSAGE_SIZE,
    }
}

struct BridgeState {
    /// `None` until [`configure_bridge`]: the default then applies.
    config: Option<BridgeConfig>,
    running: Option<Running>,
}

/// The running bridge: where it listens, and the limit it was started with.
struct Running {
    endpoint: Arc<BridgeEndpoint>,
    max_message_size: usize,
}

static BRIDGE: Mutex<BridgeState> = Mutex::new(BridgeState {
    config: None,
    running: None,
});

/// Sets how the bridge will be started. Fails once the bridge runs.
pub fn configure_bridge(config: BridgeConfig) -> Result<()> {
    let mut state = BRIDGE.lock();
    if state.running.is_some() {
        return Err(Error::Bridge {
            message: "the bridge is already running; configure it before the first Context is \
                      bridged"
                .into(),
        });
    }
    state.config = Some(config);
    Ok(())
}

/// The running bridge's endpoint: `None` until the first Context is bridged (it then runs
/// for the rest of the process).
pub fn bridge_endpoint() -> Option<BridgeEndpoint> {
    BRIDGE
        .lock()
        .running
        .as_ref()
        .map(|r| (*r.endpoint).clone())
}

/// The message size limit of the running bridge (or of the one that will start): the
/// worker pool applies the same one.
pub(crate) fn max_message_size() -> usize {
    let state = BRIDGE.lock();
    match (&state.running, &state.config) {
        (Some(running), _) => running.max_message_size,
        (None, Some(config)) => config.max_message_size,
        (None, None) => default_max_message_size(),
    }
}

/// Refuses a message to a worker larger than the limit before it is encoded and sent, with
/// an error naming the limit and how to raise it.
pub(crate) fn check_message_size(what: &str, message: &impl prost::Message) -> Result<()> {
    let limit = max_message_size();
    let size = message.encoded_len();
    if size <= limit {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        message: format!(
            "{what} is {size} bytes, over the message size limit; {}",
            oversize_hint(limit)
        ),
    })
}

/// What a message over `limit` bytes is told: the limit, and the settings that raise it.
pub(crate) fn oversize_hint(limit: usize) -> String {
    format!(
        "the limit is {limit} bytes; raise it with BridgeConfig::max_message_size \
         (dspex::configure_bridge) or the environment variable {MAX_MESSAGE_BYTES_ENV}"
    )
}

/// Starts the bridge if it does not run yet; returns its endpoint. A failed start can be
/// retried (after fixing the configuration).
pub(crate) fn ensure_started() -> Result<Arc<BridgeEndpoint>> {
    let mut state = BRIDGE.lock();
    if let Some(running) = &state.running {
        return Ok(running.endpoint.clone());
    }
    let config = state.config.clone().unwrap_or_default();
    let endpoint = Arc::new(start(&config)?);
    state.running = Some(Running {
        endpoint: endpoint.clone(),
        max_message_size: config.max_message_size,
    });
    Ok(endpoint)
}

fn start(config: &BridgeConfig) -> Result<BridgeEndpoint> {
    let bridge_error = |message: String| Error::Bridge { message };
    let addr: SocketAddr = config.address.parse().map_err(|e| {
        bridge_error(format!(
            "bridge address {:?} is not an IP:port: {e}",
            config.address
        ))
    })?;
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| bridge_error(format!("could not listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| bridge_error(format!("could not read the bridge's address: {e}")))?;
    let token = auth::new_token()?;

    let store = SessionStore::global();
    store.set_session_ttl(config.session_ttl);
    let server =
        pb::variable_bridge_server::VariableBridgeServer::new(service::BridgeService { store })
            .max_decoding_message_size(config.max_message_size)
            .max_encoding_message_size(config.max_message_size);
    let service = tonic::service::interceptor::InterceptedService::new(
        server,
        auth::require_token(token.clone()),
    );

    let limit = config.max_message_size;
    let handle = crate::runtime::handle()?;
    let sweep_every = config.sweep_interval.max(Duration::from_millis(10));
    handle.spawn(async move {
        let mut tick = tokio::time::interval(sweep_every);
        loop {
            tick.tick().await;
            let removed = store.sweep();
            if removed > 0 {
                tracing::debug!(removed, "swept idle bridge sessions");
            }
        }
    });
    handle.spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "bridge listener could not join the runtime");
                return;
            }
        };
        // Set on the incoming itself: the builder's `tcp_nodelay` is ignored by
        // `serve_with_incoming`, and with Nagle on, a small answer or watch event waits up
        // to the peer's delayed ACK (40 ms) behind the one before it.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let served = tonic::transport::Server::builder()
            .layer(tower::util::MapResponseLayer::new(
                move |res: http::Response<tonic::body::Body>| {
                    status::oversize_as_resource_exhausted(res, limit)
                },
            ))
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "bridge server stopped");
        }
    });
    tracing::info!(address = %local, "bridge listening");
    Ok(BridgeEndpoint {
        address: local.to_string(),
        token,
    })
}
