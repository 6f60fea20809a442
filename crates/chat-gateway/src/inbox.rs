//! Every client event goes through one ordered inbox per socket.
//!
//! socketioxide spawns a task per incoming event for an async handler, which
//! would let two messages a client sent in order be stored out of order.
//! Extractors, however, run synchronously in arrival order; the [`Enqueue`]
//! extractor uses that moment to put the event on its socket's queue, and one
//! worker per socket handles the queue in order. [`EnqueueHandler`], the
//! socket's fallback handler, runs only that extractor and spawns nothing. The worker also finishes what was queued
//! when the client disconnects right after emitting (as Artillery does), so an
//! event that reached the gateway is never dropped.

use crate::events::{self, Ctx};
use crate::reply::Reply;
use chat_core::ChatError;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// How many events one socket may have waiting; beyond it, `rate_limited`.
const QUEUE_DEPTH: usize = 256;

pub struct Inbound {
    pub event: String,
    pub data: Result<serde_json::Value, String>,
    pub reply: Reply,
}

/// The sending half of a socket's queue, kept in the socket's extensions.
///
/// Events are boxed in the queue: tokio allocates a channel's slots in blocks
/// of 32 as soon as it is created, so an idle socket pays 32 × the item's size
/// (≈3.5 KB for an unboxed `Inbound`, 256 bytes boxed). See
/// crates/chat-bench/results/SUMMARY.md (RSS per idle connection).
#[derive(Clone)]
pub struct Inbox(mpsc::Sender<Box<Inbound>>);

impl Inbox {
    /// Creates the queue and starts the socket's worker.
    /// The worker waits for `ready` (the socket's rooms are joined) before the
    /// first event, and stops if the socket goes away before that.
    pub fn start(ctx: Ctx, mut ready: watch::Receiver<bool>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Box<Inbound>>(QUEUE_DEPTH);
        tokio::spawn(async move {
            if ready.wait_for(|r| *r).await.is_err() {
                return;
            }
            while let Some(inbound) = rx.recv().await {
                // Boxed: the handlers' state machine is several KB, and an
                // unboxed one would be part of every idle socket's task.
                Box::pin(events::dispatch(&ctx, *inbound)).await;
            }
        });
        Inbox(tx)
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

impl MessageHandler<LocalAdapter, ()> for EnqueueHandler {
    fn call(&self, s: Arc<Socket<LocalAdapter>>, mut v: Value, ack_id: Option<i64>) {
        let Ok(Enqueue) = Enqueue::from_message_parts(&s, &mut v, &ack_id);
    }
}

impl FromMessageParts<LocalAdapter> for Enqueue {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<LocalAdapter>>,
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
        let Some(inbox) = s.extensions.get::<Inbox>() else {
            // Not (or no longer) connected as a chat user.
            reply.fail_now(&ChatError::unauthorized("not connected"));
            return Ok(Enqueue);
        };
        if let Err(err) = inbox.0.try_send(Box::new(Inbound { event, data, reply })) {
            let inbound = match err {
                mpsc::error::TrySendError::Full(i) | mpsc::error::TrySendError::Closed(i) => i,
            };
            inbound.reply.fail_now(&ChatError::rate_limited());
        }
        Ok(Enqueue)
    }
}
