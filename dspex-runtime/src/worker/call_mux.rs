//! The multiplexed connection of a worker's call socket: the calls past its one-at-a-time
//! connections, many at once on one connection (the worker runs them on its event loop, or
//! its thread pool, as the `CallModule` RPC does), each answered by id as it ends.
//!
//! A writer task owns the connection's sending half and writes the frames in the order
//! they come; a reader task hands each answer to its call. Sending again is decided as on
//! the other connections: a call whose frame the writer had not started to write when the
//! connection failed never ran ([`Outcome::NotSent`]); one it had may have
//! ([`Outcome::Lost`]). A call given up is cancelled by a `cancel` frame.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::call_socket::{CallSocket, Outcome, call_frame, framed, outcome_of, read_answer};
use super::pb;

/// The multiplexed connection of one call socket: opened on first need, again after it broke.
#[derive(Default)]
pub(crate) struct Multiplexed {
    current: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

/// What the writer task writes.
enum Write {
    Call(u64, Vec<u8>),
    Cancel(u64),
}

/// One multiplexed connection.
struct Connection {
    writes: mpsc::UnboundedSender<Write>,
    pending: Mutex<HashMap<u64, Pending>>,
    broken: AtomicBool,
}

/// A call waiting for its answer.
struct Pending {
    answer: oneshot::Sender<Outcome>,
    /// The writer started to write its frame: from then on it may have run.
    started: bool,
}

impl Multiplexed {
    /// Calls a module on the multiplexed connection (opened on the library's runtime).
    pub(crate) async fn call(
        &self,
        socket: &Arc<CallSocket>,
        request: &pb::CallModuleRequest,
    ) -> Outcome {
        let connection = match self.connection(socket).await {
            Ok(connection) => connection,
            Err(e) => return Outcome::NotSent(e),
        };
        let (call_id, frame) = call_frame(request);
        let (tx, rx) = oneshot::channel();
        connection.pending.lock().insert(
            call_id,
            Pending {
                answer: tx,
                started: false,
            },
        );
        let waiting = Waiting {
            connection: connection.clone(),
            call_id,
            answered: false,
        };
        // Broken since it was handed out (`fail` has run, or runs and ends this call): the
        // call never left.
        if connection.broken.load(Ordering::Acquire)
            || connection.writes.send(Write::Call(call_id, frame)).is_err()
        {
            connection.pending.lock().remove(&call_id);
            return Outcome::NotSent(broken_error());
        }
        let outcome = rx.await.unwrap_or_else(|_| Outcome::Lost(broken_error()));
        waiting.done();
        outcome
    }

    /// The open connection, or a new one.
    async fn connection(&self, socket: &Arc<CallSocket>) -> io::Result<Arc<Connection>> {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref()
            && !connection.broken.load(Ordering::Acquire)
        {
            return Ok(connection.clone());
        }
        // Opened on the library's runtime, whose tasks then serve it.
        let stream = socket.open_on_runtime(true).await?;
        let handle = crate::runtime::handle().map_err(|e| io::Error::other(e.to_string()))?;
        let (read, write) = stream.into_split();
        let (writes, queue) = mpsc::unbounded_channel();
        let connection = Arc::new(Connection {
            writes,
            pending: Mutex::new(HashMap::new()),
            broken: AtomicBool::new(false),
        });
        handle.spawn(write_frames(write, queue, Arc::downgrade(&connection)));
        handle.spawn(read_answers(read, socket.max_frame(), connection.clone()));
        *current = Some(connection.clone());
        Ok(connection)
    }
}

impl Connection {
    /// Ends every call waiting on a broken connection: those whose frames the writer had
    /// started to write may have run.
    fn fail(&self, error: &io::Error) {
        self.broken.store(true, Ordering::Release);
        let pending: Vec<Pending> = self.pending.lock().drain().map(|(_, p)| p).collect();
        for call in pending {
            let error = io::Error::new(error.kind(), error.to_string());
            let _ = call.answer.send(if call.started {
                Outcome::Lost(error)
            } else {
                Outcome::NotSent(error)
            });
        }
    }
}

/// A call of the caller's: given up before its answer, it is cancelled.
struct Waiting {
    connection: Arc<Connection>,
    call_id: u64,
    answered: bool,
}

impl Waiting {
    fn done(mut self) {
        self.answered = true;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let started = self
            .connection
            .pending
            .lock()
            .remove(&self.call_id)
            .is_some_and(|p| p.started);
        // Not started: the writer skips it. Started: the worker may be running it.
        if started {
            let _ = self.connection.writes.send(Write::Cancel(self.call_id));
        }
    }
}

/// Writes the frames in order until the connection breaks or is dropped.
async fn write_frames(
    mut write: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Write>,
    connection: std::sync::Weak<Connection>,
) {
    while let Some(next) = queue.recv().await {
        let Some(connection) = connection.upgrade() else {
            return;
        };
        let frame = match next {
            Write::Call(call_id, frame) => {
                // Marked before the first byte, under the lock `fail` takes: a call is
                // either started or told it never ran, never both.
                let mut pending = connection.pending.lock();
                if connection.broken.load(Ordering::Acquire) {
                    if let Some(call) = pending.remove(&call_id) {
                        let _ = call.answer.send(Outcome::NotSent(broken_error()));
                    }
                    continue;
                }
                match pending.get_mut(&call_id) {
                    Some(call) => {
                        call.started = true;
                        frame
                    }
                    None => continue, // given up before it was written
                }
            }
            Write::Cancel(call_id) => framed(&pb::CallFrame {
                call_id,
                frame: Some(pb::call_frame::Frame::Cancel(true)),
            }),
        };
        if let Err(e) = write.write_all(&frame).await {
            connection.fail(&e);
            queue.close();
            return;
        }
    }
}

/// Hands each answer to its call until the connection ends; then fails what still waits.
async fn read_answers(mut read: OwnedReadHalf, max_frame: usize, connection: Arc<Connection>) {
    let error = loop {
        match read_answer(&mut read, max_frame).await {
            Ok(answer) => {
                let waiting = connection.pending.lock().remove(&answer.call_id);
                if let Some(call) = waiting {
                    let _ = call.answer.send(outcome_of(answer));
                }
            }
            Err(e) => break e,
        }
    };
    tracing::debug!(%error, "a multiplexed call connection ended");
    connection.fail(&error);
}

fn broken_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the multiplexed call connection broke",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::call_socket::testing::{Peer, call_request, socket_at};

    #[tokio::test]
    async fn answers_reach_their_calls_in_any_order() {
        let peer = Peer::start(
            |frames: Vec<pb::CallFrame>| {
                // Answers the calls in reverse order, each with its own module id.
                frames
                    .into_iter()
                    .rev()
                    .map(|f| Peer::answer_to(&f))
                    .collect()
            },
            3,
        );
        let socket = socket_at(&peer.path, 0);
        let calls = ["a", "b", "c"].map(|m| {
            let socket = socket.clone();
            tokio::spawn(async move { socket.multiplexed.call(&socket, &call_request(m)).await })
        });
        for (module, call) in ["a", "b", "c"].into_iter().zip(calls) {
            match call.await.expect("the call task") {
                Outcome::Answered(response) => {
                    assert!(response.outputs.contains_key(module), "{response:?}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn calls_written_when_the_connection_breaks_may_have_run_and_the_next_never_left() {
        // The peer reads two calls and closes without an answer.
        let peer = Peer::start(|_| Vec::new(), 2);
        let socket = socket_at(&peer.path, 0);
        let calls = ["a", "b"].map(|m| {
            let socket = socket.clone();
            tokio::spawn(async move { socket.multiplexed.call(&socket, &call_request(m)).await })
        });
        for call in calls {
            let outcome = call.await.expect("the call task");
            assert!(matches!(outcome, Outcome::Lost(_)), "{outcome:?}");
        }
        peer.stop().await;
        // Nothing listens any more: the next call cannot be sent.
        let outcome = socket.multiplexed.call(&socket, &call_request("c")).await;
        assert!(matches!(outcome, Outcome::NotSent(_)), "{outcome:?}");
    }
}
