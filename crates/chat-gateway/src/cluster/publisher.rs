//! The ordered publisher: what this node sends to the other nodes leaves
//! from one task, in the order handlers asked for it (see the module doc of
//! cluster.rs), and the rooms owed a resync when a publish could not be made.

use super::*;

/// Rooms whose sockets on other nodes may have missed a broadcast of this
/// node's, and are to be disconnected (resynced) once Redis takes requests.
#[derive(Default)]
pub(super) struct OwedResync {
    rooms: BTreeSet<String>,
    everyone: bool,
}

impl OwedResync {
    pub(super) fn add(&mut self, rooms: impl IntoIterator<Item = String>) {
        if self.everyone {
            return;
        }
        self.rooms.extend(rooms);
        if self.rooms.len() > MAX_OWED_ROOMS {
            self.rooms.clear();
            self.everyone = true;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.everyone && self.rooms.is_empty()
    }
}

/// What goes to the other nodes, in the order it was asked for.
pub(super) enum Remote {
    Emit {
        rooms: Vec<String>,
        except: Vec<String>,
        event: String,
        data: Box<RawValue>,
    },
    Join {
        rooms: Vec<String>,
        room: String,
        leave: bool,
        done: oneshot::Sender<()>,
    },
    /// Everything queued before it has been published.
    Flushed(oneshot::Sender<()>),
}

/// Publishes to the other nodes, one request at a time, in order.
pub(super) struct Publisher {
    pub(super) io: SocketIo<ClusterAdapter>,
    /// Set once the default namespace is registered.
    pub(super) serving: watch::Receiver<bool>,
    /// The default namespace's operators, once it exists.
    pub(super) ns: Option<BroadcastOperators<ClusterAdapter>>,
    pub(super) node_room: String,
    pub(super) owed: Arc<Mutex<OwedResync>>,
}

impl Publisher {
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Remote>) {
        let mut last_resync_try = tokio::time::Instant::now();
        loop {
            let next = if self.owed.lock().is_empty() {
                rx.recv().await
            } else {
                match tokio::time::timeout(RESYNC_RETRY, rx.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.pay_owed_resync().await;
                        last_resync_try = tokio::time::Instant::now();
                        continue;
                    }
                }
            };
            let Some(remote) = next else { return };
            self.publish(remote).await;
            if !self.owed.lock().is_empty() && last_resync_try.elapsed() >= RESYNC_RETRY {
                self.pay_owed_resync().await;
                last_resync_try = tokio::time::Instant::now();
            }
        }
    }

    async fn publish(&mut self, remote: Remote) {
        if let Remote::Flushed(done) = remote {
            let _ = done.send(());
            return;
        }
        // Kept from the first publish on: socketioxide removes the namespace
        // when the node shuts down, and what was emitted before must still go
        // out (its adapter publishes through the driver, which stays).
        if self.ns.is_none() {
            self.ns = self.io.of("/");
        }
        if self.ns.is_none() {
            // Emitted during start-up, before the namespace (and its
            // adapter) exists: published once the node serves.
            let serving = tokio::time::timeout(SERVING_WAIT, self.serving.wait_for(|s| *s)).await;
            if matches!(serving, Ok(Ok(_))) {
                self.ns = self.io.of("/");
            }
        }
        let Some(ops) = self.ns.clone() else {
            // Still no namespace: owed, like a failed publish.
            drops::count(DropReason::PublishFailed);
            match remote {
                Remote::Emit { rooms, .. } => self.owed.lock().add(rooms),
                Remote::Join { rooms, done, .. } => {
                    self.owed.lock().add(rooms);
                    let _ = done.send(());
                }
                Remote::Flushed(_) => {}
            }
            return;
        };
        match remote {
            Remote::Flushed(_) => {}
            Remote::Emit {
                rooms,
                except,
                event,
                data,
            } => {
                let sent = ops
                    .to(rooms.clone())
                    .except(except)
                    .emit(&event, &*data)
                    .await;
                if let Err(e) = sent {
                    drops::count(DropReason::PublishFailed);
                    tracing::warn!(error = %e, %event, "could not publish a broadcast to the other nodes; their clients in its rooms will resync");
                    self.owed.lock().add(rooms);
                }
            }
            Remote::Join {
                rooms,
                room,
                leave,
                done,
            } => {
                let ops = ops.to(rooms.clone()).except(self.node_room.clone());
                let changed = if leave {
                    ops.leave(room).await
                } else {
                    ops.join(room).await
                };
                if let Err(e) = changed {
                    // Those sockets reconnect, and join their rooms from the store.
                    drops::count(DropReason::PublishFailed);
                    tracing::warn!(error = %e, "could not change room membership on the other nodes; their sockets will resync");
                    self.owed.lock().add(rooms);
                }
                let _ = done.send(());
            }
        }
    }

    /// Asks the other nodes to disconnect the sockets owed a resync.
    async fn pay_owed_resync(&self) {
        let owed = std::mem::take(&mut *self.owed.lock());
        if owed.is_empty() {
            return;
        }
        let Some(ops) = self.ns.clone().or_else(|| self.io.of("/")) else {
            return;
        };
        let ops = if owed.everyone {
            ops.except(self.node_room.clone())
        } else {
            ops.to(owed.rooms.iter().cloned().collect::<Vec<_>>())
                .except(self.node_room.clone())
        };
        match ops.disconnect().await {
            // A local socket's error: the request itself went out.
            Ok(()) | Err(socketioxide::BroadcastError::Socket(_)) => tracing::warn!(
                everyone = owed.everyone,
                rooms = owed.rooms.len(),
                "asked the other nodes to resync the clients that may have missed broadcasts"
            ),
            Err(e) => {
                tracing::debug!(error = %e, "Redis still refuses the resync request; retrying");
                let mut again = self.owed.lock();
                if owed.everyone {
                    again.everyone = true;
                    again.rooms.clear();
                } else {
                    again.add(owed.rooms);
                }
            }
        }
    }
}
