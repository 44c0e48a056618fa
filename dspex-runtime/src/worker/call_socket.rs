//! The client of a worker's call socket: `CallModule` on a Unix socket, framed (`CallFrame`
//! and `CallAnswer` in `worker.proto`; the worker's side is `dspex_bridge.worker.call_socket`).
//!
//! gRPC's Python server costs each call about 0.4 ms of the worker's CPU; on the call socket
//! the worker's thread that reads a call runs it and writes its answer. A connection carries
//! one call at a time: a call takes an idle connection, or opens one while fewer than the
//! worker's `call_threads` are open, or (all busy) goes on the socket's one
//! [multiplexed](super::call_mux) connection, which the worker serves on its event loop.
//!
//! What a failure means for sending again is exact: a connection is opened and greeted (the
//! worker answers its `hello`) before the call is written, and the worker runs a call only
//! once its whole frame arrived, so a call whose connection failed before, or whose frame
//! could not be written whole, never ran ([`Outcome::NotSent`]). One whose answer did not
//! come may have run ([`Outcome::Lost`]).
//!
//! The connections live on the library's runtime (a caller's runtime may end, or have no
//! I/O driver): opened there, their readiness followed by its reactor, while each call is
//! written and read in its caller's task. A call given up while the worker runs it is
//! cancelled by id (`CancelCall`, on gRPC), and its connection closed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dspex_core::Error;
use parking_lot::Mutex;
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tonic::metadata::{MetadataMap, MetadataValue};

use super::call_mux::Multiplexed;
use super::client::Client;
use super::pb;
use crate::bridge::{ERROR_KIND_KEY, EXCEPTION_KEY};

/// What a frame may hold beyond the message size limit (its call id and tags): as the worker.
const FRAME_SLACK_BYTES: usize = 1024;

/// Call ids, unique in the process (what `CancelCall` names).
static NEXT_CALL_ID: AtomicU64 = AtomicU64::new(1);

/// One worker's call socket, as its callers share it.
pub(crate) struct CallSocket {
    path: PathBuf,
    token: String,
    /// How many connections may be open (the worker's `call_threads`).
    max_connections: usize,
    max_frame: usize,
    idle: Mutex<Vec<UnixStream>>,
    open: AtomicUsize,
    /// Where the calls past `max_connections` go.
    pub(super) multiplexed: Multiplexed,
}

/// How a call on the call socket ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The worker's answer.
    Answered(pb::CallModuleResponse),
    /// The worker refused the call: its status, as the `CallModule` RPC would have it.
    Refused(tonic::Status),
    /// The worker never ran the call (its connection could not be opened or greeted, or
    /// its frame was not written whole): it may be sent again, another way.
    NotSent(io::Error),
    /// The call was written, and its answer did not come: it may have run.
    Lost(io::Error),
}

impl CallSocket {
    /// The call socket at `path` (no connection is opened before a call needs one).
    pub(crate) fn new(
        path: PathBuf,
        token: String,
        max_connections: usize,
        max_message_size: usize,
    ) -> Self {
        Self {
            path,
            token,
            max_connections: max_connections.max(1),
            max_frame: max_message_size.saturating_add(FRAME_SLACK_BYTES),
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            multiplexed: Multiplexed::default(),
        }
    }

    /// Removes what a worker that was killed left of its socket: the socket, and its
    /// directory if it is the worker's own (`dspex-calls-*`, empty then).
    pub(crate) fn remove_leftovers(&self) {
        if std::fs::remove_file(&self.path).is_err() {
            return; // the worker removed it (it stopped cleanly), or it was never there
        }
        if let Some(directory) = self.path.parent().filter(|d| is_workers_own(d)) {
            let _ = std::fs::remove_dir(directory);
        }
    }

    /// Calls a module; `client` is the worker's gRPC client, which cancels the call if it is
    /// given up (dropped) after it was written.
    ///
    /// The call is written and its answer read in the caller's task: a connection lives on
    /// the library's runtime (opened there, its readiness followed by that runtime's
    /// reactor), which only wakes the caller when the answer comes.
    pub(crate) async fn call(
        self: &Arc<Self>,
        request: &pb::CallModuleRequest,
        client: &Client,
    ) -> Result<Outcome, Error> {
        let Some(mut lease) = self.lease() else {
            return Ok(self.multiplexed.call(self, request).await);
        };
        let stream = match lease.stream.take() {
            Some(stream) => stream,
            None => match self.open_on_runtime(false).await {
                Ok(stream) => stream,
                Err(e) => return Ok(Outcome::NotSent(e)),
            },
        };
        let (call_id, frame) = call_frame(request);
        Ok(lease.call(stream, call_id, &frame, client).await)
    }

    /// A new greeted connection, opened on the library's runtime.
    pub(super) async fn open_on_runtime(
        self: &Arc<Self>,
        multiplexed: bool,
    ) -> io::Result<UnixStream> {
        let handle = crate::runtime::handle().map_err(|e| io::Error::other(e.to_string()))?;
        let socket = self.clone();
        handle
            .spawn(async move { socket.connect(multiplexed).await })
            .await
            .map_err(io::Error::other)?
    }

    /// A connection slot, if fewer than `max_connections` are in use.
    fn lease(self: &Arc<Self>) -> Option<Lease> {
        if let Some(stream) = self.idle.lock().pop() {
            return Some(Lease {
                socket: self.clone(),
                stream: Some(stream),
                reusable: false,
            });
        }
        let mut open = self.open.load(Ordering::Relaxed);
        loop {
            if open >= self.max_connections {
                return None;
            }
            match self.open.compare_exchange_weak(
                open,
                open + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Lease {
                        socket: self.clone(),
                        stream: None,
                        reusable: false,
                    });
                }
                Err(now) => open = now,
            }
        }
    }

    /// The largest answer frame a connection reads.
    pub(super) fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Opens and greets a connection (one call at a time, or `multiplexed`): the worker
    /// answers the `hello` with an empty answer.
    pub(super) async fn connect(&self, multiplexed: bool) -> io::Result<UnixStream> {
        let mut stream = UnixStream::connect(&self.path).await?;
        let hello = pb::CallFrame {
            call_id: 0,
            frame: Some(pb::call_frame::Frame::Hello(pb::CallHello {
                token: self.token.clone(),
                multiplexed,
            })),
        };
        stream.write_all(&framed(&hello)).await?;
        let answer = read_answer(&mut stream, self.max_frame).await?;
        match answer.answer {
            None => Ok(stream),
            Some(_) => Err(protocol_error("the worker did not accept the connection")),
        }
    }
}

/// A connection (or the right to open one) held by one call: back to the idle ones if the
/// call ended cleanly, else closed.
struct Lease {
    socket: Arc<CallSocket>,
    stream: Option<UnixStream>,
    reusable: bool,
}

impl Lease {
    /// Writes `frame` (call `call_id`'s) on `stream`, then reads its answer.
    async fn call(
        mut self,
        mut stream: UnixStream,
        call_id: u64,
        frame: &[u8],
        client: &Client,
    ) -> Outcome {
        // Written without waiting when the socket takes it (a call is far smaller than a
        // socket's buffer); until it is written whole, the worker has not run it.
        let mut written = 0;
        while written < frame.len() {
            match stream.try_write(&frame[written..]) {
                Ok(0) => return Outcome::NotSent(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Outcome::NotSent(e),
            }
        }
        if let Err(e) = stream.write_all(&frame[written..]).await {
            return Outcome::NotSent(e);
        }
        let cancel = CancelOnDrop {
            call_id,
            client: client.clone(),
            armed: true,
        };
        let answer = read_answer(&mut stream, self.socket.max_frame).await;
        cancel.disarm();
        let answer = match answer {
            Ok(answer) if answer.call_id == call_id => answer,
            Ok(other) => {
                return Outcome::Lost(protocol_error(&format!(
                    "the worker answered call {} for call {call_id}",
                    other.call_id
                )));
            }
            Err(e) => return Outcome::Lost(e),
        };
        let outcome = outcome_of(answer);
        if !matches!(outcome, Outcome::Lost(_)) {
            self.stream = Some(stream);
            self.reusable = true;
        }
        outcome
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        match self.stream.take() {
            Some(stream) if self.reusable => self.socket.idle.lock().push(stream),
            _ => {
                self.socket.open.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Whether `directory` is one a worker made for its socket.
fn is_workers_own(directory: &Path) -> bool {
    directory
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("dspex-calls-"))
}

/// Cancels a call the worker may be running (written whole, answer not read) when it is
/// dropped so.
struct CancelOnDrop {
    call_id: u64,
    client: Client,
    armed: bool,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (call_id, mut client) = (self.call_id, self.client.clone());
        if let Ok(handle) = crate::runtime::handle() {
            handle.spawn(async move {
                if let Err(status) = client.cancel_call(pb::CancelCallRequest { call_id }).await {
                    tracing::debug!(call_id, %status, "could not cancel a call");
                }
            });
        }
    }
}

/// What an answer says.
pub(super) fn outcome_of(answer: pb::CallAnswer) -> Outcome {
    match answer.answer {
        Some(pb::call_answer::Answer::Response(response)) => Outcome::Answered(response),
        Some(pb::call_answer::Answer::Refusal(refusal)) => Outcome::Refused(status(refusal)),
        None => Outcome::Lost(protocol_error("the worker's answer is empty")),
    }
}

/// A new call id, and the call's frame: `CallFrame { call_id, call }` encoded by hand, so
/// that the request is not copied into the message.
pub(super) fn call_frame(request: &pb::CallModuleRequest) -> (u64, Vec<u8>) {
    let call_id = NEXT_CALL_ID.fetch_add(1, Ordering::Relaxed);
    let len = prost::encoding::uint64::encoded_len(1, &call_id)
        + prost::encoding::message::encoded_len(3, request);
    let mut buf = Vec::with_capacity(4 + len);
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    prost::encoding::uint64::encode(1, &call_id, &mut buf);
    prost::encoding::message::encode(3, request, &mut buf);
    (call_id, buf)
}

/// A message after its length.
pub(super) fn framed(message: &impl Message) -> Vec<u8> {
    let len = message.encoded_len();
    let mut buf = Vec::with_capacity(4 + len);
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    // A Vec grows as needed: encoding into it cannot fail.
    let _ = message.encode(&mut buf);
    buf
}

/// The next answer on a connection, at most `max_frame` bytes.
pub(super) async fn read_answer(
    stream: &mut (impl AsyncRead + Unpin),
    max_frame: usize,
) -> io::Result<pb::CallAnswer> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let len = u32::from_le_bytes(header) as usize;
    if len > max_frame {
        return Err(protocol_error(&format!(
            "an answer of {len} bytes, over the limit of {max_frame}"
        )));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    pb::CallAnswer::decode(body.as_slice())
        .map_err(|e| protocol_error(&format!("an answer that does not parse: {e}")))
}

fn protocol_error(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// A refusal as the status the `CallModule` RPC would have ended with.
fn status(refusal: pb::CallRefusal) -> tonic::Status {
    let mut metadata = MetadataMap::new();
    if let Ok(kind) = MetadataValue::try_from(refusal.kind.as_str()) {
        metadata.insert(ERROR_KIND_KEY, kind);
    }
    if !refusal.exception.is_empty()
        && let Ok(class) = MetadataValue::try_from(refusal.exception.as_str())
    {
        metadata.insert(EXCEPTION_KEY, class);
    }
    tonic::Status::with_metadata(
        tonic::Code::from_i32(refusal.code),
        refusal.message,
        metadata,
    )
}

/// A peer that speaks the worker's side of the call socket, for the tests of the runtime's.
#[cfg(test)]
pub(super) mod testing {
    use std::path::PathBuf;
    use std::sync::Arc;

    use prost::Message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    use super::{CallSocket, framed};
    use crate::worker::pb;

    pub(crate) const TOKEN: &str = "test-token";

    /// A listener at a fresh path that greets one connection, reads `calls` call frames,
    /// writes what `answer` makes of them, and closes the connection.
    pub(crate) struct Peer {
        pub(crate) path: PathBuf,
        task: tokio::task::JoinHandle<()>,
    }

    impl Peer {
        pub(crate) fn start(
            answer: impl FnOnce(Vec<pb::CallFrame>) -> Vec<pb::CallAnswer> + Send + 'static,
            calls: usize,
        ) -> Peer {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = PathBuf::from(format!("\0dspex-test-peer-{}-{n}", std::process::id()));
            let listener = UnixListener::bind(&path).expect("bind the peer");
            let task = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let hello = read_frame(&mut stream).await;
                assert!(
                    matches!(hello.frame, Some(pb::call_frame::Frame::Hello(ref h)) if h.token == TOKEN)
                );
                stream
                    .write_all(&framed(&pb::CallAnswer::default()))
                    .await
                    .expect("greet");
                let mut frames = Vec::new();
                for _ in 0..calls {
                    frames.push(read_frame(&mut stream).await);
                }
                for reply in answer(frames) {
                    stream.write_all(&framed(&reply)).await.expect("answer");
                }
            });
            Peer { path, task }
        }

        /// The answer to a call: one output named after its module.
        pub(crate) fn answer_to(frame: &pb::CallFrame) -> pb::CallAnswer {
            let Some(pb::call_frame::Frame::Call(call)) = &frame.frame else {
                panic!("not a call: {frame:?}")
            };
            pb::CallAnswer {
                call_id: frame.call_id,
                answer: Some(pb::call_answer::Answer::Response(pb::CallModuleResponse {
                    outputs: [(call.module_id.clone(), pb::Output::default())].into(),
                    parse_failure: None,
                })),
            }
        }

        /// Waits until the peer closed its connection (and its listener).
        pub(crate) async fn stop(self) {
            self.task.await.expect("the peer");
        }
    }

    async fn read_frame(stream: &mut tokio::net::UnixStream) -> pb::CallFrame {
        let mut header = [0u8; 4];
        stream
            .read_exact(&mut header)
            .await
            .expect("a frame's length");
        let mut body = vec![0u8; u32::from_le_bytes(header) as usize];
        stream.read_exact(&mut body).await.expect("a frame");
        pb::CallFrame::decode(body.as_slice()).expect("a CallFrame")
    }

    /// The runtime's side of the socket at `path`, with `connections` one-at-a-time
    /// connections (0: every call multiplexed).
    pub(crate) fn socket_at(path: &std::path::Path, connections: usize) -> Arc<CallSocket> {
        let socket = CallSocket::new(path.to_owned(), TOKEN.into(), connections, 1 << 20);
        Arc::new(socket)
    }

    /// A gRPC client that is never connected (what a call cancels through; unused here).
    pub(crate) fn unconnected_client() -> crate::worker::client::Client {
        let channel = tonic::transport::Channel::from_static("http://127.0.0.1:9").connect_lazy();
        crate::worker::pb::worker_client::WorkerClient::with_interceptor(
            channel,
            crate::worker::client::Token(tonic::metadata::MetadataValue::from_static(TOKEN)),
        )
    }

    /// A call to `module`.
    pub(crate) fn call_request(module: &str) -> pb::CallModuleRequest {
        pb::CallModuleRequest {
            module_id: module.into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::testing::{Peer, call_request, socket_at, unconnected_client};

    #[tokio::test]
    async fn a_call_is_answered_and_its_connection_reused() {
        let peer = Peer::start(|frames| frames.iter().map(Peer::answer_to).collect(), 1);
        let socket = socket_at(&peer.path, 1);
        let outcome = socket
            .call(&call_request("a"), &unconnected_client())
            .await
            .expect("a call");
        assert!(matches!(outcome, Outcome::Answered(_)), "{outcome:?}");
        assert_eq!(
            socket.idle.lock().len(),
            1,
            "back among the idle connections"
        );
        peer.stop().await;
    }

    #[tokio::test]
    async fn a_call_whose_answer_does_not_come_may_have_run() {
        let peer = Peer::start(|_| Vec::new(), 1);
        let socket = socket_at(&peer.path, 1);
        let outcome = socket
            .call(&call_request("a"), &unconnected_client())
            .await
            .expect("a call");
        assert!(matches!(outcome, Outcome::Lost(_)), "{outcome:?}");
        assert_eq!(
            socket.open.load(Ordering::Relaxed),
            0,
            "its connection closed"
        );
    }

    #[tokio::test]
    async fn a_call_to_a_socket_nobody_serves_never_left() {
        let socket = socket_at(std::path::Path::new("\0dspex-test-nobody-listens"), 1);
        let outcome = socket
            .call(&call_request("a"), &unconnected_client())
            .await
            .expect("a call");
        assert!(matches!(outcome, Outcome::NotSent(_)), "{outcome:?}");
    }

    #[test]
    fn a_call_frame_is_the_call_frame_message() {
        let request = pb::CallModuleRequest {
            module_id: "m".into(),
            ..Default::default()
        };
        let (call_id, frame) = call_frame(&request);
        let len = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
        assert_eq!(len, frame.len() - 4);
        let decoded = pb::CallFrame::decode(&frame[4..]).expect("a CallFrame");
        assert_eq!(decoded.frame, Some(pb::call_frame::Frame::Call(request)));
        assert_eq!(call_id, decoded.call_id);
        assert_ne!(call_frame(&Default::default()).0, call_id);
    }

    #[test]
    fn a_refusal_reads_as_the_rpcs_status() {
        let status = status(pb::CallRefusal {
            code: tonic::Code::NotFound as i32,
            message: "unknown module `m`".into(),
            kind: "not_found".into(),
            exception: String::new(),
        });
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(
            status
                .metadata()
                .get(ERROR_KIND_KEY)
                .and_then(|v| v.to_str().ok()),
            Some("not_found")
        );
        assert!(status.metadata().get(EXCEPTION_KEY).is_none());
    }
}
