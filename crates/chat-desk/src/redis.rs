//! The desk in Redis, for several gateway nodes: the state lives in Redis
//! keys, and every operation is one call of one Lua script (`desk.lua`),
//! which Redis runs alone. So each decision — choose the least-loaded agent
//! and count the chat, take the head of the queue, requeue after a grace
//! period, end a chat and pull the queue, transfer, take — is atomic across
//! nodes: no agent over its limit, no visitor queued twice, positions
//! computed from one ordered queue. docs/cluster-desk.md lists the keys.
//!
//! Liveness: each node counts its own sockets per agent in Redis and beats
//! (writes an alive-until time) on every [`Desk::maintain`]. A node that stops
//! beating has its sockets dropped by the next node that sweeps, and agents
//! left with no socket start their grace period; grace periods are kept as
//! deadlines in Redis, so they end even when the node that started them died.

use crate::{
    lua, AgentSettings, Changes, Claim, ConsoleError, Desk, DeskError, DeskResult, Moved,
    Placement, Snapshot, Status, TransferTo, Transferred, Upkeep,
};
use chat_core::clock::Millis;
use chat_core::directory::AgentConfig;
use fred::prelude::*;
use fred::types::scripts::Script;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one desk operation may wait for Redis.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// The one script every operation runs.
const DESK_LUA: &str = include_str!("desk.lua");

/// How a Redis desk is set up (the same on every node, except `node_id`).
#[derive(Debug, Clone)]
pub struct RedisDeskOptions {
    /// This node's id, unique in the cluster.
    pub node_id: String,
    /// Every key starts with this; the braces keep all of them in one Redis
    /// Cluster slot, as a script's keys must be.
    pub prefix: String,
    pub grace: Duration,
    /// How often a node beats and sweeps.
    pub maintenance_interval: Duration,
    /// A node that has not beaten for this long is taken for dead.
    pub node_ttl: Duration,
}

impl RedisDeskOptions {
    /// Production defaults: a beat every 5 s, dead after 15 s without one.
    pub fn new(node_id: impl Into<String>, grace: Duration) -> Self {
        Self {
            node_id: node_id.into(),
            prefix: "{desk}".into(),
            grace,
            maintenance_interval: Duration::from_secs(5),
            node_ttl: Duration::from_secs(15),
        }
    }
}

/// The support desk shared by several nodes through Redis.
pub struct RedisDesk {
    client: Client,
    script: Script,
    options: RedisDeskOptions,
    grace_ms: String,
    node_ttl_ms: String,
    /// This node's sockets per agent, its own truth: the heartbeat puts them
    /// back if a sweep dropped them while this node was slow. Held across the
    /// script call that changes them, so the two never disagree.
    sockets: tokio::sync::Mutex<HashMap<String, usize>>,
    /// Set once this node handed its sockets back: it beats no more.
    left: AtomicBool,
}

impl RedisDesk {
    /// Connects to `url` (redis://…) and loads the script.
    pub async fn connect(url: &str, options: RedisDeskOptions) -> DeskResult<Self> {
        let config = Config::from_url(url)?;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(5);
            })
            // While Redis is away (restarting, unreachable) a decision fails
            // after this long instead of waiting: the visitor hears
            // "unavailable" and nothing was decided.
            .with_performance_config(|c| {
                c.default_command_timeout = COMMAND_TIMEOUT;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()?;
        client.init().await?;
        let script = Script::from_lua(DESK_LUA);
        script.load(&client).await?;
        let desk = Self {
            client,
            script,
            grace_ms: options.grace.as_millis().to_string(),
            node_ttl_ms: options.node_ttl.as_millis().to_string(),
            options,
            sockets: tokio::sync::Mutex::new(HashMap::new()),
            left: AtomicBool::new(false),
        };
        // A node restarted under the same id holds none of the sockets its
        // previous run left counted: they go now, not when a sweep finds them.
        let _: Nothing = desk
            .call("node_leaving", vec![desk.options.node_id.clone()])
            .await?;
        Ok(desk)
    }

    /// Runs one operation of the script and decodes its JSON answer.
    async fn call<T: DeserializeOwned>(&self, op: &str, args: Vec<String>) -> DeskResult<T> {
        let mut argv = Vec::with_capacity(args.len() + 4);
        argv.push(op.to_owned());
        argv.push(self.options.node_id.clone());
        argv.push(self.grace_ms.clone());
        argv.push(self.node_ttl_ms.clone());
        argv.extend(args);
        let answer: String = self
            .script
            .evalsha_with_reload(&self.client, vec![self.options.prefix.clone()], argv)
            .await?;
        serde_json::from_str(&answer).map_err(|e| DeskError::Reply(format!("{op}: {e}: {answer}")))
    }

    fn settings_args(id: &str, s: &AgentSettings) -> Vec<String> {
        vec![
            id.to_owned(),
            s.department.clone(),
            s.max_chats.max(1).to_string(),
            flag(s.available),
            flag(s.away_message.is_some()),
            s.away_message.clone().unwrap_or_default(),
        ]
    }
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

/// An answer with nothing in it.
#[derive(Deserialize)]
struct Nothing {}

#[derive(Deserialize)]
struct First {
    #[serde(default)]
    first: bool,
}

#[derive(Deserialize)]
struct Awaiting {
    #[serde(default, deserialize_with = "lua::seq")]
    agents: Vec<(String, u64)>,
}

#[derive(Deserialize)]
struct OpenOf {
    #[serde(default)]
    conversation: Option<String>,
}

#[derive(Deserialize)]
struct Claimed {
    #[serde(default)]
    open: Option<String>,
}

#[derive(Deserialize)]
struct Requested {
    #[serde(default)]
    assigned: Option<String>,
    #[serde(default)]
    queued: Option<usize>,
    #[serde(default)]
    agents_online: bool,
    #[serde(default)]
    changes: Changes,
}

#[derive(Deserialize)]
struct Generation {
    #[serde(default)]
    generation: Option<u64>,
}

#[derive(Deserialize)]
struct Reassigned {
    #[serde(default)]
    none: bool,
    #[serde(flatten)]
    moved: Moved,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Refusable<T> {
    Refused { err: ConsoleError },
    Done(T),
}

#[derive(Deserialize)]
struct Taken {
    visitor: String,
    #[serde(default)]
    changes: Changes,
}

#[async_trait::async_trait]
impl Desk for RedisDesk {
    fn grace(&self) -> Duration {
        self.options.grace
    }

    fn maintenance_interval(&self) -> Option<Duration> {
        Some(self.options.maintenance_interval)
    }

    async fn maintain(&self) -> DeskResult<Upkeep> {
        let sockets = self.sockets.lock().await;
        let left = self.left.load(Ordering::SeqCst);
        let mut args = vec![flag(left)];
        for (agent, n) in sockets.iter() {
            args.push(agent.clone());
            args.push(n.to_string());
        }
        self.call("maintain", args).await
    }

    async fn node_leaving(&self, node_id: &str) -> DeskResult<()> {
        if node_id == self.options.node_id {
            let mut sockets = self.sockets.lock().await;
            self.left.store(true, Ordering::SeqCst);
            let _: Nothing = self.call("node_leaving", vec![node_id.to_owned()]).await?;
            sockets.clear();
            return Ok(());
        }
        let _: Nothing = self.call("node_leaving", vec![node_id.to_owned()]).await?;
        Ok(())
    }

    fn node_id(&self) -> &str {
        &self.options.node_id
    }

    async fn register_agent(&self, id: &str, config: Option<&AgentConfig>) -> DeskResult<()> {
        let args = Self::settings_args(id, &AgentSettings::from_config(config));
        let _: Nothing = self.call("register", args).await?;
        Ok(())
    }

    async fn configure_agent(&self, config: &AgentConfig) -> DeskResult<()> {
        let args = Self::settings_args(&config.user_id, &AgentSettings::from_config(Some(config)));
        let _: Nothing = self.call("configure", args).await?;
        Ok(())
    }

    async fn admin_joins(&self, id: &str, sockets: usize) -> DeskResult<()> {
        let mut mine = self.sockets.lock().await;
        let _: Nothing = self
            .call("admin_joins", vec![id.to_owned(), sockets.to_string()])
            .await?;
        if sockets > 0 {
            mine.entry(id.to_owned()).or_insert(sockets);
        }
        Ok(())
    }

    async fn refill(&self) -> DeskResult<Changes> {
        self.call("refill", vec![]).await
    }

    async fn begin_restore(&self) -> DeskResult<bool> {
        let first: First = self.call("begin_restore", vec![]).await?;
        Ok(first.first)
    }

    async fn restore_active(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        agent_id: &str,
    ) -> DeskResult<()> {
        let args = vec![
            conversation_id.to_owned(),
            visitor_id.to_owned(),
            department.to_owned(),
            agent_id.to_owned(),
        ];
        let _: Nothing = self.call("restore_active", args).await?;
        Ok(())
    }

    async fn restore_queued(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        since: Millis,
    ) -> DeskResult<()> {
        let args = vec![
            conversation_id.to_owned(),
            visitor_id.to_owned(),
            department.to_owned(),
            since.to_string(),
        ];
        let _: Nothing = self.call("restore_queued", args).await?;
        Ok(())
    }

    async fn awaiting_agents(&self) -> DeskResult<Vec<(String, u64)>> {
        let a: Awaiting = self.call("awaiting", vec![]).await?;
        Ok(a.agents)
    }

    async fn open_chat_of(&self, visitor_id: &str) -> DeskResult<Option<String>> {
        let o: OpenOf = self.call("open_of", vec![visitor_id.to_owned()]).await?;
        Ok(o.conversation)
    }

    async fn claim(
        &self,
        visitor_id: &str,
        conversation_id: &str,
        department: &str,
    ) -> DeskResult<Claim> {
        let args = vec![
            visitor_id.to_owned(),
            conversation_id.to_owned(),
            department.to_owned(),
        ];
        let c: Claimed = self.call("claim", args).await?;
        Ok(c.open.map_or(Claim::Claimed, Claim::Open))
    }

    async fn release_claim(&self, visitor_id: &str, conversation_id: &str) -> DeskResult<()> {
        let args = vec![visitor_id.to_owned(), conversation_id.to_owned()];
        let _: Nothing = self.call("release_claim", args).await?;
        Ok(())
    }

    async fn request(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
    ) -> DeskResult<(Placement, Changes)> {
        let args = vec![
            conversation_id.to_owned(),
            visitor_id.to_owned(),
            department.to_owned(),
        ];
        let r: Requested = self.call("request", args).await?;
        let placement = match (r.assigned, r.queued) {
            (Some(agent), _) => Placement::Assigned(agent),
            (None, Some(position)) => Placement::Queued {
                position,
                agents_online: r.agents_online,
            },
            (None, None) => return Err(DeskError::Reply("request: no placement".into())),
        };
        Ok((placement, r.changes))
    }

    // The socket is open (or closed) whatever Redis answers: this node's
    // count follows it at once, and if the script failed, the next upkeep
    // writes the count to Redis (maintain is the authority on it).
    async fn agent_connected(&self, id: &str) -> DeskResult<Changes> {
        let mut sockets = self.sockets.lock().await;
        *sockets.entry(id.to_owned()).or_insert(0) += 1;
        self.call("connected", vec![id.to_owned()]).await
    }

    async fn agent_disconnected(&self, id: &str) -> DeskResult<Option<u64>> {
        let mut sockets = self.sockets.lock().await;
        if let Some(n) = sockets.get_mut(id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sockets.remove(id);
            }
        }
        let g: Generation = self.call("disconnected", vec![id.to_owned()]).await?;
        Ok(g.generation)
    }

    async fn grace_expired(&self, id: &str, generation: u64) -> DeskResult<Changes> {
        self.call("grace_expired", vec![id.to_owned(), generation.to_string()])
            .await
    }

    async fn ended(&self, conversation_id: &str) -> DeskResult<Changes> {
        self.call("ended", vec![conversation_id.to_owned()]).await
    }

    async fn reassign(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        to: &str,
    ) -> DeskResult<Option<Moved>> {
        let args = vec![
            conversation_id.to_owned(),
            visitor_id.to_owned(),
            to.to_owned(),
        ];
        let r: Reassigned = self.call("reassign", args).await?;
        Ok((!r.none).then_some(r.moved))
    }

    async fn set_status(&self, id: &str, status: Status) -> DeskResult<Changes> {
        let args = vec![
            id.to_owned(),
            flag(status.available),
            flag(status.away_message.is_some()),
            status.away_message.unwrap_or_default(),
            flag(status.max_chats.is_some()),
            status.max_chats.unwrap_or(1).max(1).to_string(),
        ];
        self.call("set_status", args).await
    }

    async fn take_queued(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> DeskResult<Result<(String, Changes), ConsoleError>> {
        let args = vec![conversation_id.to_owned(), agent.to_owned()];
        Ok(match self.call::<Refusable<Taken>>("take", args).await? {
            Refusable::Refused { err } => Err(err),
            Refusable::Done(t) => Ok((t.visitor, t.changes)),
        })
    }

    async fn transfer(
        &self,
        conversation_id: &str,
        to: TransferTo<'_>,
        by: Option<&str>,
    ) -> DeskResult<Result<Transferred, ConsoleError>> {
        let (kind, target) = match to {
            TransferTo::Agent(a) => ("agent", a),
            TransferTo::Department(d) => ("department", d),
        };
        let args = vec![
            conversation_id.to_owned(),
            kind.to_owned(),
            target.to_owned(),
            by.unwrap_or_default().to_owned(),
        ];
        Ok(
            match self
                .call::<Refusable<Transferred>>("transfer", args)
                .await?
            {
                Refusable::Refused { err } => Err(err),
                Refusable::Done(t) => Ok(t),
            },
        )
    }

    async fn snapshot(&self) -> DeskResult<Snapshot> {
        self.call("snapshot", vec![]).await
    }
}
