//! Every client event goes through one ordered inbox per socket.
//!
//! socketioxide spawns a task per incoming event for an async handler, which
//! would let two messages a client sent in order be stored out of order.
//! Extractors, however, run synchronously in arrival order; the [`Enqueue`]
//! extractor uses that moment to put the event on its socket's queue, and one
//! worker per socket, while the queue is not empty, handles it in order.
//! [`EnqueueHandler`], the socket's fallback handler, runs only that
//! extractor and spawns nothing. Events that arrive while the connect handler
//! still joins the socket's rooms wait for [`Inbox::ready`]. The worker also
//! finishes what was queued when the client disconnects right after emitting
//! (as Artillery does), so an event that reached the gateway is never dropped.
//!
//! The worker hands each event to the handler it was started with (the
//! socket handlers' `events::dispatch`, given by `events/connection.rs`), so
//! the queue knows nothing of what the events mean.

use crate::reply::Reply;
use chat_core::ChatError;
use parking_lot::Mutex;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Handling one event. Boxed: the handlers' state machine is several KB, and
/// an unboxed one would be part of every idle socket's task.
pub(crate) type Handling<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// How many events one socket may have waiting; beyond it, `rate_limited`.
const QUEUE_DEPTH: usize = 256;

pub struct Inbound<A: Adapter> {
    pub event: String,
    pub data: Result<serde_json::Value, String>,
    pub reply: Reply<A>,
}

/// A socket's queue, kept in the socket's extensions.
///
/// The worker exists only while there is something to handle: the first
/// event of a burst spawns it, and it stops when the queue is empty. An idle
/// socket, which is what most sockets are, then holds no task and no channel
/// (a tokio channel allocates a block of 32 slots when it is created and a
/// parked task keeps its whole state), only this queue's empty `VecDeque`.
/// See crates/chat-bench/results/SUMMARY.md (RSS per idle connection).
pub struct Inbox<A: Adapter>(Arc<dyn Queue<A>>);

// By hand: a derived `Clone` would ask for `A: Clone`.
impl<A: Adapter> Clone for Inbox<A> {
    fn clone(&self) -> Self {
        Inbox(self.0.clone())
    }
}

/// The queue without the type of its context, so that the socket's
/// extensions can hold it by the adapter's type alone.
trait Queue<A: Adapter>: Send + Sync {
    /// Queues an event; gives it back when QUEUE_DEPTH events wait already.
    fn push(self: Arc<Self>, inbound: Box<Inbound<A>>) -> Result<(), Box<Inbound<A>>>;
    /// The socket's rooms are joined: what waits may be handled.
    fn ready(self: Arc<Self>);
}

struct Worker<C, A: Adapter> {
    ctx: C,
    handle: for<'c> fn(&'c C, Inbound<A>) -> Handling<'c>,
    waiting: Mutex<Waiting<A>>,
}

struct Waiting<A: Adapter> {
    events: VecDeque<Box<Inbound<A>>>,
    /// The socket's rooms are joined (see [`Inbox::ready`]).
    ready: bool,
    /// A worker task is running and will take what is pushed.
    running: bool,
}

impl<A: Adapter> Inbox<A> {
    /// Creates the queue; each event, in order, goes to `handle` with the
    /// socket's `ctx`, once [`Inbox::ready`] is called. If the socket goes
    /// away before that, what it sent is dropped with the queue, unhandled.
    pub fn start<C: Send + Sync + 'static>(
        ctx: C,
        handle: for<'c> fn(&'c C, Inbound<A>) -> Handling<'c>,
    ) -> Self {
        Inbox(Arc::new(Worker {
            ctx,
            handle,
            waiting: Mutex::new(Waiting {
                events: VecDeque::new(),
                ready: false,
                running: false,
            }),
        }))
    }

    /// The socket's rooms are joined: events are handled from now on, the
    /// ones that came meanwhile first.
    pub fn ready(&self) {
        self.0.clone().ready();
    }
}

impl<C: Send + Sync + 'static, A: Adapter> Queue<A> for Worker<C, A> {
    fn push(self: Arc<Self>, inbound: Box<Inbound<A>>) -> Result<(), Box<Inbound<A>>> {
        let mut waiting = self.waiting.lock();
        if waiting.events.len() >= QUEUE_DEPTH {
            return Err(inbound);
        }
        waiting.events.push_back(inbound);
        if waiting.ready && !waiting.running {
            waiting.running = true;
            drop(waiting);
            tokio::spawn(self.run());
        }
        Ok(())
    }

    fn ready(self: Arc<Self>) {
        let mut waiting = self.waiting.lock();
        waiting.ready = true;
        if !waiting.events.is_empty() && !waiting.running {
            waiting.running = true;
            drop(waiting);
            tokio::spawn(self.run());
        }
    }
}

impl<C: Send + Sync + 'static, A: Adapter> Worker<C, A> {
    /// Handles the queue in order until it is empty. `running` is cleared
    /// under the same lock that finds the queue empty, so an event pushed
    /// meanwhile either is taken by this loop or spawns the next worker.
    async fn run(self: Arc<Self>) {
        loop {
            let next = {
                let mut waiting = self.waiting.lock();
                match waiting.events.pop_front() {
                    Some(next) => next,
                    None => {
                        waiting.running = false;
                        // A burst's worth of slots is not kept per idle
                        // socket; a few are, for the next message.
                        waiting.events.shrink_to(4);
                        return;
                    }
                }
            };
            (self.handle)(&self.ctx, *next).await;
        }
    }
}

/// Extractor that queues the event; the handler it feeds does nothing else.
pub struct Enqueue;

/// The socket's fallback handler: queues every event on the socket's inbox.
///
/// A handler, not an `async` closure taking [`Enqueue`]: socketioxide spawns
/// a task per event for an async handler, which here would only drop the
/// extractor (perf: ≈1 % of the gateway's CPU under the ack benchmark). The
/// extraction itself is what queues the event, synchronously, in arrival
/// order.
#[derive(Clone, Copy)]
pub struct EnqueueHandler;

impl<A: Adapter> MessageHandler<A, ()> for EnqueueHandler {
    fn call(&self, s: Arc<Socket<A>>, mut v: Value, ack_id: Option<i64>) {
        let Ok(Enqueue) = Enqueue::from_message_parts(&s, &mut v, &ack_id);
    }
}

impl<A: Adapter> FromMessageParts<A> for Enqueue {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Ok(ack) = AckSender::from_message_parts(s, v, ack_id);
        let event = Event::from_message_parts(s, v, ack_id)
            .map(|e| e.0)
            .unwrap_or_default();
        let data = match TryData::<serde_json::Value>::from_message_parts(s, v, ack_id) {
            Ok(TryData(Ok(d))) => Ok(d),
            Ok(TryData(Err(e))) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let Ok(socket) = SocketRef::from_message_parts(s, v, ack_id);
        let reply = Reply::new(event.clone(), ack, ack_id.is_some(), socket);
        let Some(inbox) = s.extensions.get::<Inbox<A>>() else {
            // Not (or no longer) connected as a chat user.
            reply.fail_now(&ChatError::unauthorized("not connected"));
            return Ok(Enqueue);
        };
        if let Err(inbound) = inbox.0.push(Box::new(Inbound { event, data, reply })) {
            inbound.reply.fail_now(&ChatError::rate_limited());
        }
        Ok(Enqueue)
    }
}
