//! The `VariableBridge` gRPC service over the session store. Each handler is a few lines:
//! find the session, call its state (which validates), convert the answer.

use dspex_core::Result;
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::convert::{
    constraints_from_pb, heartbeat_event, metadata_from_pb, value_from_pb, value_to_pb,
    var_type_from_pb, variable_to_pb, watch_event_to_pb,
};
use super::pb;
use super::pb::variable_bridge_server::VariableBridge;
use super::status::to_status;
use crate::state::WriteOptions;
use crate::store::{Session, SessionStore};
use crate::watch::UpdateSource;
use dspex_core::VarOptions;
use std::sync::Arc;

/// Serves the variables of every session in a store.
pub(crate) struct BridgeService {
    pub(crate) store: &'static SessionStore,
}

type Reply<T> = std::result::Result<Response<T>, Status>;

fn reply<T>(result: Result<T>) -> Reply<T> {
    result.map(Response::new).map_err(to_status)
}

/// A request larger than this (encoded) is handled on the blocking pool: checking its
/// strings against patterns can take milliseconds, and the serving thread is shared by
/// every session, every module call and the workers' health checks.
const OFFLOAD_BYTES: usize = 4096;

/// Runs a handler's work for a request of `size` bytes: inline when it is small, on the
/// blocking pool otherwise.
async fn run<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Reply<T> {
    if size <= OFFLOAD_BYTES {
        return reply(work());
    }
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => reply(result),
        Err(e) => reply(Err(dspex_core::Error::Bridge {
            message: format!("the handling of a request stopped: {e}"),
        })),
    }
}

impl BridgeService {
    fn session(&self, id: &str) -> Result<Arc<Session>> {
        self.store.session(id)
    }
}

/// The stream a `WatchVariables` call returns.
type WatchStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = std::result::Result<pb::WatchEvent, Status>> + Send>,
>;

/// How many events may wait for a slow gRPC client before the watcher's own buffer (and
/// its lag handling) takes over.
const WATCH_STREAM_BUFFER: usize = 64;

/// Tells a watching client that its session no longer exists (NOT_FOUND). A client that
/// has already hung up misses nothing.
async fn send_session_gone(
    tx: &tokio::sync::mpsc::Sender<std::result::Result<pb::WatchEvent, Status>>,
    session_id: &str,
) {
    let gone = dspex_core::Error::NotFound {
        what: "session",
        name: session_id.to_owned(),
    };
    // An error here means the client is gone too: there is no one left to tell.
    let _ = tx.send(Err(to_status(gone))).await;
}

#[tonic::async_trait]
impl VariableBridge for BridgeService {
    type WatchVariablesStream = WatchStream;

    async fn watch_variables(
        &self,
        req: Request<pb::WatchVariablesRequest>,
    ) -> Reply<Self::WatchVariablesStream> {
        let req = req.into_inner();
        let session = self.session(&req.session_id).map_err(to_status)?;
        let keys: Vec<&str> = req.names.iter().map(String::as_str).collect();
        let source = session.clone();
        let snapshot = Box::new(move |names: Option<&std::collections::HashSet<String>>| {
            source.state().snapshot(names)
        });
        let mut watcher = session
            .state()
            .watch(&keys, req.include_initial, snapshot, true)
            .map_err(to_status)?;
        let heartbeat = std::time::Duration::from_millis(match req.heartbeat_ms {
            0 => 1000,
            ms => u64::from(ms.max(10)),
        });
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_STREAM_BUFFER);
        let store = self.store;
        let session_id = req.session_id;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let event = tokio::select! {
                    event = watcher.next_timed() => match event {
                        Some((event, at)) => watch_event_to_pb(event, at),
                        // The watcher ends only when its Context is dropped or its session
                        // removed: either way the session is gone.
                        None => {
                            send_session_gone(&tx, &session_id).await;
                            break;
                        }
                    },
                    _ = tick.tick() => {
                        if !store.contains(&session_id) {
                            // Gone without closing its watchers (a failed switch rolled it
                            // back): end the stream instead of beating forever.
                            send_session_gone(&tx, &session_id).await;
                            break;
                        }
                        heartbeat_event()
                    }
                    () = tx.closed() => break,
                };
                if tx.send(Ok(event)).await.is_err() {
                    break;
                }
            }
            // Dropping the watcher here unsubscribes it: nothing stays behind a closed stream.
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn call_tool(&self, req: Request<pb::CallToolRequest>) -> Reply<pb::CallToolResponse> {
        reply(crate::tool::registry::serve(req.into_inner()).await)
    }

    async fn ping(&self, _: Request<pb::PingRequest>) -> Reply<pb::PingResponse> {
        Ok(Response::new(pb::PingResponse {}))
    }

    async fn get_session(
        &self,
        req: Request<pb::GetSessionRequest>,
    ) -> Reply<pb::GetSessionResponse> {
        let req = req.into_inner();
        reply(
            self.session(&req.session_id)
                .map(|s| pb::GetSessionResponse {
                    session_id: s.id().to_owned(),
                    variable_count: s.variable_count() as u64,
                    created_at_ms: s.created_at_ms(),
                    last_access_ms: s.last_access_ms(),
                }),
        )
    }

    async fn register_variable(
        &self,
        req: Request<pb::RegisterVariableRequest>,
    ) -> Reply<pb::RegisterVariableResponse> {
        let req = req.into_inner();
        let store = self.store;
        run(req.encoded_len(), move || {
            let session = store.session(&req.session_id)?;
            let var_type = var_type_from_pb(req.r#type)?;
            let value = value_from_pb(req.value, &req.name)?;
            let opts = VarOptions {
                constraints: constraints_from_pb(req.constraints)?,
                description: req.description,
                metadata: req.metadata.into_iter().collect(),
            };
            let id =
                session
                    .state()
                    .register(&req.name, var_type, value, opts, UpdateSource::Python)?;
            Ok(pb::RegisterVariableResponse { id })
        })
        .await
    }

    async fn get_variable(
        &self,
        req: Request<pb::GetVariableRequest>,
    ) -> Reply<pb::GetVariableResponse> {
        let req = req.into_inner();
        reply((|| {
            let session = self.session(&req.session_id)?;
            let variable = session.state().variable(&req.name)?;
            Ok(pb::GetVariableResponse {
                variable: Some(variable_to_pb(&variable)),
            })
        })())
    }

    async fn set_variable(
        &self,
        req: Request<pb::SetVariableRequest>,
    ) -> Reply<pb::SetVariableResponse> {
        let req = req.into_inner();
        let store = self.store;
        run(req.encoded_len(), move || {
            let session = store.session(&req.session_id)?;
            let value = value_from_pb(req.value, &req.name)?;
            let opts = WriteOptions {
                metadata: metadata_from_pb(req.metadata),
                expected_version: req.expected_version,
                source: UpdateSource::Python,
            };
            let version = session.state().set(&req.name, value, opts)?;
            Ok(pb::SetVariableResponse { version })
        })
        .await
    }

    async fn get_variables(
        &self,
        req: Request<pb::GetVariablesRequest>,
    ) -> Reply<pb::GetVariablesResponse> {
        let req = req.into_inner();
        reply((|| {
            let session = self.session(&req.session_id)?;
            let names: Vec<&str> = req.names.iter().map(String::as_str).collect();
            let values = session
                .state()
                .get_many(&names)?
                .into_iter()
                .map(|(k, v)| (k, value_to_pb(&v)))
                .collect();
            Ok(pb::GetVariablesResponse { values })
        })())
    }

    async fn set_variables(
        &self,
        req: Request<pb::SetVariablesRequest>,
    ) -> Reply<pb::SetVariablesResponse> {
        let req = req.into_inner();
        let store = self.store;
        run(req.encoded_len(), move || {
            let session = store.session(&req.session_id)?;
            let updates = req
                .updates
                .into_iter()
                .map(|u| Ok((u.name.clone(), value_from_pb(u.value, &u.name)?)))
                .collect::<Result<Vec<_>>>()?;
            let metadata = metadata_from_pb(req.metadata);
            session
                .state()
                .update_many(updates, metadata.as_ref(), UpdateSource::Python)?;
            Ok(pb::SetVariablesResponse {})
        })
        .await
    }

    async fn list_variables(
        &self,
        req: Request<pb::ListVariablesRequest>,
    ) -> Reply<pb::ListVariablesResponse> {
        let req = req.into_inner();
        reply((|| {
            let session = self.session(&req.session_id)?;
            let variables = session.state().list().iter().map(variable_to_pb).collect();
            Ok(pb::ListVariablesResponse { variables })
        })())
    }
}
