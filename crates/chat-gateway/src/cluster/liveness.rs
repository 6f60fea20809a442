//! Noticing a node that died without draining (SIGKILL, a crash, a lost
//! machine).
//!
//! Such a node may have committed events (a message stored, maybe even
//! answered) whose broadcast never left it: its clients reconnect elsewhere
//! and `sync`, but the other nodes' clients were not told. So every node
//! beats in Redis (`chat:node:<id>` = `<incarnation>:<count>`, refreshed
//! every [`BEAT`], listed in the set `chat:nodes`) and watches the others'
//! beats; one whose count stops changing for [`DEAD_AFTER`], or that comes
//! back as a new process (another incarnation) without having left, is lost:
//! this node then resyncs all of its own clients (`node_lost`, see
//! [`super::drops`]). A node that drains writes `<incarnation>:left` once
//! its broadcasts are published: nothing to resync for it. A node found
//! silent already when this one starts counts as lost too, once: it may
//! have died a moment ago, and one resync of clients that have just
//! synced is cheap next to a silent loss.
//!
//! Only this node's clock is used (a count that did not change since when),
//! and the clocks restart whenever this node could not read Redis, so Redis
//! itself being away never reads as every other node dying.

use super::drops::{self, DropReason};
use fred::clients::SubscriberClient;
use fred::interfaces::{KeysInterface, SetsInterface};
use fred::types::Expiration;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How often a node beats.
pub const BEAT: Duration = Duration::from_secs(1);
/// A node whose beat has not changed for this long is lost.
pub const DEAD_AFTER: Duration = Duration::from_secs(5);
/// A beat key outlives its node this long, then the node is forgotten.
const KEY_TTL_MS: i64 = 60_000;
const NODES: &str = "chat:nodes";

fn key(node_id: &str) -> String {
    format!("chat:node:{node_id}")
}

/// What one node's key says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Beat {
    Alive { incarnation: String, count: u64 },
    Left { incarnation: String },
}

impl Beat {
    fn parse(value: &str) -> Option<Beat> {
        let (incarnation, rest) = value.split_once(':')?;
        let incarnation = incarnation.to_owned();
        if rest == "left" {
            return Some(Beat::Left { incarnation });
        }
        Some(Beat::Alive {
            incarnation,
            count: rest.parse().ok()?,
        })
    }
}

/// What this node knows of another one.
#[derive(Debug)]
struct Seen {
    incarnation: String,
    count: u64,
    /// When `count` last changed (this node's clock).
    since: Instant,
    /// It left, or was found lost already.
    settled: bool,
}

/// The decisions, apart from Redis (unit-tested).
#[derive(Default)]
struct Watch {
    nodes: HashMap<String, Seen>,
}

impl Watch {
    /// Takes the other nodes' beats read at `now`; returns the nodes just
    /// found lost.
    fn observe(&mut self, beats: Vec<(String, Option<Beat>)>, now: Instant) -> Vec<String> {
        let mut lost = Vec::new();
        for (id, beat) in beats {
            let Some(beat) = beat else {
                self.nodes.remove(&id); // expired: long gone
                continue;
            };
            let (incarnation, count, left) = match beat {
                Beat::Alive { incarnation, count } => (incarnation, count, false),
                Beat::Left { incarnation } => (incarnation, 0, true),
            };
            match self.nodes.get_mut(&id) {
                Some(seen) if seen.incarnation == incarnation => {
                    if left {
                        seen.settled = true;
                    } else if count != seen.count {
                        seen.count = count;
                        seen.since = now;
                    } else if !seen.settled && now.duration_since(seen.since) >= DEAD_AFTER {
                        seen.settled = true;
                        lost.push(id.clone());
                    }
                }
                previous => {
                    // New, or the same id as a new process: the previous
                    // one ended without leaving if it was not settled.
                    if previous.is_some_and(|p| !p.settled) {
                        lost.push(id.clone());
                    }
                    self.nodes.insert(
                        id,
                        Seen {
                            incarnation,
                            count,
                            since: now,
                            settled: left,
                        },
                    );
                }
            }
        }
        lost
    }

    /// This node could not read Redis: nobody's silence counts meanwhile.
    fn restart_clocks(&mut self, now: Instant) {
        for seen in self.nodes.values_mut() {
            seen.since = now;
        }
    }
}

/// This node's beat in Redis.
#[derive(Clone)]
pub struct Liveness {
    client: SubscriberClient,
    node_id: String,
    incarnation: String,
}

impl Liveness {
    pub fn new(client: SubscriberClient, node_id: &str) -> Self {
        Self {
            client,
            node_id: node_id.to_owned(),
            incarnation: uuid::Uuid::now_v7().simple().to_string(),
        }
    }

    /// Beats and watches for as long as the process lives.
    pub fn spawn(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut watch = Watch::default();
            let mut tick = tokio::time::interval(BEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for count in 1u64.. {
                tick.tick().await;
                match me.beat_and_read(count).await {
                    Ok(beats) => {
                        for id in watch.observe(beats, Instant::now()) {
                            tracing::warn!(node = %id, "a node stopped without draining");
                            drops::report_unattributed(DropReason::NodeLost);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot beat in Redis");
                        watch.restart_clocks(Instant::now());
                    }
                }
            }
        });
    }

    async fn beat_and_read(
        &self,
        count: u64,
    ) -> Result<Vec<(String, Option<Beat>)>, fred::error::Error> {
        let c = &self.client;
        c.set::<(), _, _>(
            key(&self.node_id),
            format!("{}:{count}", self.incarnation),
            Some(Expiration::PX(KEY_TTL_MS)),
            None,
            false,
        )
        .await?;
        c.sadd::<(), _, _>(NODES, self.node_id.as_str()).await?;
        let ids: Vec<String> = c.smembers(NODES).await?;
        let others: Vec<String> = ids.into_iter().filter(|id| *id != self.node_id).collect();
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<String>> = c
            .mget(others.iter().map(|id| key(id)).collect::<Vec<_>>())
            .await?;
        let mut beats = Vec::with_capacity(others.len());
        for (id, value) in others.into_iter().zip(values) {
            if value.is_none() {
                c.srem::<(), _, _>(NODES, id.as_str()).await?;
            }
            beats.push((id, value.as_deref().and_then(Beat::parse)));
        }
        Ok(beats)
    }

    /// Refuses an id another live process already beats with: two nodes
    /// with one id would share the room `node:<id>`, and each would leave
    /// the other's sockets out of its publishes. A key left by a node that
    /// died or drained does not change within two beats.
    pub async fn check_unique(&self) -> Result<(), super::ClusterError> {
        let read = || async {
            self.client
                .get::<Option<String>, _>(key(&self.node_id))
                .await
                .map(|v| v.as_deref().and_then(Beat::parse))
                .map_err(super::ClusterError::Connect)
        };
        let first = read().await?;
        if !matches!(first, Some(Beat::Alive { .. })) {
            return Ok(()); // free, or left by a node that drained
        }
        tokio::time::sleep(BEAT * 2).await;
        let second = read().await?;
        if matches!(second, Some(Beat::Alive { .. })) && second != first {
            return Err(super::ClusterError::NodeIdTaken(self.node_id.clone()));
        }
        Ok(())
    }

    /// Drained: tells the other nodes this one left on purpose (its
    /// broadcasts are published), so they do not resync for it.
    pub async fn leave(&self) {
        let left = self
            .client
            .set::<(), _, _>(
                key(&self.node_id),
                format!("{}:left", self.incarnation),
                Some(Expiration::PX(KEY_TTL_MS)),
                None,
                false,
            )
            .await;
        if let Err(e) = left {
            tracing::warn!(error = %e, "could not tell the cluster this node left; the others will resync their clients");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(inc: &str, count: u64) -> Option<Beat> {
        Some(Beat::Alive {
            incarnation: inc.into(),
            count,
        })
    }

    #[test]
    fn beats_parse() {
        assert_eq!(Beat::parse("abc:7"), alive("abc", 7));
        assert_eq!(
            Beat::parse("abc:left"),
            Some(Beat::Left {
                incarnation: "abc".into()
            })
        );
        assert_eq!(Beat::parse("garbage"), None);
        assert_eq!(Beat::parse("abc:-1"), None);
    }

    #[test]
    fn a_silent_node_is_lost_once() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert!(w.observe(vec![("b".into(), alive("x", 1))], t0).is_empty());
        assert!(w
            .observe(vec![("b".into(), alive("x", 2))], t0 + BEAT)
            .is_empty());
        let later = t0 + BEAT + DEAD_AFTER;
        assert_eq!(
            w.observe(vec![("b".into(), alive("x", 2))], later),
            vec!["b"]
        );
        assert!(w
            .observe(vec![("b".into(), alive("x", 2))], later + BEAT)
            .is_empty());
    }

    #[test]
    fn a_node_that_left_is_not_lost() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        w.observe(vec![("b".into(), alive("x", 1))], t0);
        w.observe(vec![("b".into(), alive("x", 2))], t0 + BEAT);
        w.observe(
            vec![(
                "b".into(),
                Some(Beat::Left {
                    incarnation: "x".into(),
                }),
            )],
            t0 + BEAT * 2,
        );
        assert!(w
            .observe(vec![("b".into(), alive("x", 2))], t0 + DEAD_AFTER * 3)
            .is_empty());
    }

    #[test]
    fn a_node_back_as_a_new_process_without_leaving_was_lost() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        w.observe(vec![("b".into(), alive("x", 1))], t0);
        w.observe(vec![("b".into(), alive("x", 2))], t0 + BEAT);
        assert_eq!(
            w.observe(vec![("b".into(), alive("y", 1))], t0 + BEAT * 2),
            vec!["b"]
        );
    }

    #[test]
    fn redis_away_restarts_the_clocks() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        w.observe(vec![("b".into(), alive("x", 1))], t0);
        w.observe(vec![("b".into(), alive("x", 2))], t0 + BEAT);
        w.restart_clocks(t0 + DEAD_AFTER * 2);
        assert!(w
            .observe(
                vec![("b".into(), alive("x", 2))],
                t0 + DEAD_AFTER * 2 + BEAT
            )
            .is_empty());
    }
}
