//! The Redis driver under the Socket.IO adapter: socketioxide-redis's fred
//! driver, with the gateway's own hand on the broadcasts it receives.
//!
//! socketioxide's remote adapter delivers a broadcast from another node with
//! one room-wide send; when a socket's queue is full it only logs
//! `remote request broadcast handler: [InternalChannelFull]`, without saying
//! which socket missed the packet (socketioxide-core `recv_broadcast`). Left
//! at that, one slow reader anywhere would leave the node to guess: disconnect
//! nobody (silent loss) or everybody (a whole node reconnecting for one slow
//! link). So this driver, a thin wrapper that socketioxide-redis allows
//! ([`Driver`] is its extension point), looks at each request arriving on
//! the adapter's request channel first: a broadcast the gateway sent (its
//! `except` names the sending node's room, `node:<id>`) is delivered here
//! through [`crate::deliver`], socket by socket, exactly as a local emit is,
//! and a socket that cannot take it is disconnected on its own. Room joins
//! and leaves the gateway sent are applied here too, in the same order as
//! the broadcasts: handed to the adapter, they would be applied by its own
//! task, later than a broadcast that followed them (a socket joined to a
//! room, then a message to that room, must get the message). Everything
//! else (disconnect requests, responses) goes on to the adapter untouched,
//! in order.

use serde_json::value::RawValue;
use socketioxide_core::adapter::remote_packet::{RequestIn, RequestTypeIn};
use socketioxide_core::packet::PacketData;
use socketioxide_core::Value;
use socketioxide_redis::drivers::fred::{FredDriver, FredError};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// What a node sent that this node applies itself, in arrival order.
pub enum Incoming {
    /// An emit: to this node's sockets in any of `rooms` and none of `except`.
    Emit {
        rooms: Vec<String>,
        except: Vec<String>,
        event: String,
        data: Box<RawValue>,
    },
    /// A room change: this node's sockets in any of `rooms` and none of
    /// `except` join (or leave) `targets`.
    Membership {
        rooms: Vec<String>,
        except: Vec<String>,
        targets: Vec<String>,
        leave: bool,
    },
}

/// Applies an [`Incoming`] to this node's sockets (and no other node's).
pub type LocalDelivery = Arc<dyn Fn(Incoming) + Send + Sync>;

/// The fred driver, with broadcasts from other nodes delivered per socket.
#[derive(Clone)]
pub struct ObservedDriver {
    inner: FredDriver,
    /// Set once the node's sockets exist; until then broadcasts go to the
    /// adapter (there is no socket to deliver to anyway).
    local: Arc<OnceLock<LocalDelivery>>,
}

impl ObservedDriver {
    pub fn new(inner: FredDriver) -> Self {
        Self {
            inner,
            local: Arc::new(OnceLock::new()),
        }
    }

    /// From now on, broadcasts from other nodes go through `deliver`.
    pub fn deliver_with(&self, deliver: LocalDelivery) {
        let _ = self.local.set(deliver);
    }
}

impl Driver for ObservedDriver {
    type Error = FredError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        self.inner.publish(chan, val).await
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let mut from_redis = self.inner.subscribe(chan.clone(), size).await?;
        if !chan.contains("-request#") {
            return Ok(from_redis); // responses: nothing to look at
        }
        let (to_adapter, rx) = mpsc::channel(size);
        let local = self.local.clone();
        tokio::spawn(async move {
            while let Some(item) =
                poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut from_redis), cx)).await
            {
                if let Some(deliver) = local.get() {
                    if deliver_here(deliver, &item.1) {
                        continue;
                    }
                }
                // Waits while the adapter is busy: the fred driver's own
                // channel then fills, and its drops are counted
                // (super::drops).
                if to_adapter.send(item).await.is_err() {
                    return; // the adapter unsubscribed
                }
            }
        });
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.inner.unsubscribe(chan).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        self.inner.num_serv(chan).await
    }
}

/// Applies a gateway request from another node to this node's sockets.
/// `false`: not one (or not readable), for the adapter to handle.
fn deliver_here(deliver: &LocalDelivery, raw: &[u8]) -> bool {
    let Some(incoming) = gateway_request(raw) else {
        return false;
    };
    deliver(incoming);
    true
}

/// Reads a request from the adapter's channel as one the gateway's
/// [`Fanout`](crate::fanout::Fanout) sent: those always leave out the
/// sending node's room (`node:<id>`).
fn gateway_request(raw: &[u8]) -> Option<Incoming> {
    let request: RequestIn = rmp_serde::from_slice(raw).ok()?;
    let opts = request.opts?;
    if !opts.except.iter().any(|r| r.starts_with("node:")) || opts.sid.is_some() {
        return None;
    }
    let rooms = opts.rooms.into_iter().map(|r| r.into_owned()).collect();
    let except = opts.except.into_iter().map(|r| r.into_owned()).collect();
    match request.r#type {
        RequestTypeIn::Broadcast(packet) => {
            // A JSON event without binary attachments: the only kind the
            // gateway sends.
            let PacketData::Event(Value::Str(text, None), None) = packet.inner else {
                return None;
            };
            let (event, data): (String, Box<RawValue>) =
                serde_json::from_str(text.as_str()).ok()?;
            Some(Incoming::Emit {
                rooms,
                except,
                event,
                data,
            })
        }
        RequestTypeIn::AddSockets(targets) => Some(membership(rooms, except, targets, false)),
        RequestTypeIn::DelSockets(targets) => Some(membership(rooms, except, targets, true)),
        _ => None,
    }
}

fn membership(
    rooms: Vec<String>,
    except: Vec<String>,
    targets: Vec<socketioxide_core::adapter::Room>,
    leave: bool,
) -> Incoming {
    Incoming::Membership {
        rooms,
        except,
        targets: targets.into_iter().map(|r| r.into_owned()).collect(),
        leave,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketioxide_core::adapter::remote_packet::{RequestOut, RequestTypeOut};
    use socketioxide_core::adapter::BroadcastOptions;
    use socketioxide_core::packet::Packet;
    use socketioxide_core::{Str, Uid};

    fn encoded(rooms: &[&str], except: &[&str], text: &str) -> Vec<u8> {
        let mut opts = BroadcastOptions::default();
        opts.rooms = rooms.iter().map(|r| r.to_string().into()).collect();
        opts.except = except.iter().map(|r| r.to_string().into()).collect();
        let packet = Packet::event("/", Value::Str(Str::from(text.to_owned()), None));
        let req = RequestOut::new(Uid::new(), RequestTypeOut::Broadcast(&packet), &opts);
        rmp_serde::to_vec(&req).unwrap_or_default()
    }

    #[test]
    fn a_gateway_broadcast_is_read_back() {
        let raw = encoded(&["room-1"], &["node:a"], r#"["message",{"id":"m1"}]"#);
        let Some(Incoming::Emit {
            rooms,
            except,
            event,
            data,
        }) = gateway_request(&raw)
        else {
            panic!("a gateway broadcast");
        };
        assert_eq!(rooms, ["room-1"]);
        assert_eq!(except, ["node:a"]);
        assert_eq!(event, "message");
        assert_eq!(data.get(), r#"{"id":"m1"}"#);
    }

    #[test]
    fn anything_else_is_left_to_the_adapter() {
        // Not leaving out a node's room: not sent by Fanout::emit.
        assert!(gateway_request(&encoded(&["r"], &[], r#"["message",1]"#)).is_none());
        // More than one argument, or not JSON.
        assert!(gateway_request(&encoded(&["r"], &["node:a"], r#"["message",1,2]"#)).is_none());
        assert!(gateway_request(b"not msgpack").is_none());
    }

    #[test]
    fn a_gateway_room_change_is_read_back() {
        let mut opts = BroadcastOptions::default();
        opts.rooms = ["user:1".to_string().into()].into_iter().collect();
        opts.except = ["node:a".to_string().into()].into_iter().collect();
        let targets = vec!["room-9".to_string().into()];
        let req = RequestOut::new(Uid::new(), RequestTypeOut::AddSockets(&targets), &opts);
        let raw = rmp_serde::to_vec(&req).unwrap_or_default();
        let Some(Incoming::Membership {
            rooms,
            targets,
            leave,
            ..
        }) = gateway_request(&raw)
        else {
            panic!("a gateway room change");
        };
        assert_eq!(
            (rooms, targets, leave),
            (vec!["user:1".to_owned()], vec!["room-9".to_owned()], false)
        );
    }
}
