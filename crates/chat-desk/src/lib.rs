//! The support desk's live state (docs/protocol.md §6): agents, their
//! availability and load, the queue with its positions, and the grace period
//! an agent gets after its last socket closed.
//!
//! [`Desk`] is the contract; there are two implementations:
//! - [`LocalDesk`]: everything behind one mutex in the process, exact for one
//!   gateway node;
//! - [`RedisDesk`]: the same state in Redis, where each decision (choose the
//!   least-loaded agent and count the chat, take the head of the queue,
//!   requeue after a grace period, end a chat and pull the queue, transfer or
//!   take) is one Lua script, so several nodes decide one after the other
//!   exactly as one node's mutex would (docs/cluster-desk.md).
//!
//! Every mutation returns the [`Changes`] it decided; the caller persists
//! them and tells people. Reads go through a consistent [`Snapshot`].

mod local;
mod redis;
mod snapshot;

pub use local::LocalDesk;
pub use redis::{RedisDesk, RedisDeskOptions};
pub use snapshot::{AgentSnapshot, AgentState, QueuedEntry, QueuedView, Snapshot};

use chat_core::clock::Millis;
use chat_core::directory::AgentConfig;
use serde::Deserialize;
use std::time::Duration;

/// A desk that could not decide: its backend failed (Redis unreachable, a
/// script error). Nothing was changed when an operation returns this.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("the desk's Redis failed: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("the desk's Redis script answered something unexpected: {0}")]
    Reply(String),
}

pub type DeskResult<T> = Result<T, DeskError>;

/// What a desk operation decided, for the caller to carry out.
#[derive(Debug, Default, PartialEq, Eq, Clone, Deserialize)]
pub struct Changes {
    /// (conversation, agent) pairs newly assigned.
    #[serde(default, deserialize_with = "lua::seq")]
    pub assigned: Vec<(String, String)>,
    /// (conversation, agent): taken from an agent and put back in the queue.
    #[serde(default, deserialize_with = "lua::seq")]
    pub requeued: Vec<(String, String)>,
    /// (conversation, visitor, position) for queued visitors whose position changed.
    #[serde(default, deserialize_with = "lua::seq")]
    pub positions: Vec<(String, String, usize)>,
    /// (department, milliseconds waited) of every queued chat that left the
    /// queue for an agent: the wait-time histogram's samples.
    #[serde(default, deserialize_with = "lua::seq")]
    pub waited: Vec<(String, Millis)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.assigned.is_empty()
            && self.requeued.is_empty()
            && self.positions.is_empty()
            && self.waited.is_empty()
    }
}

/// What [`Desk::maintain`] decided.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Upkeep {
    /// Chats requeued after a grace period, and what the queue then gave.
    #[serde(default)]
    pub changes: Changes,
    /// The shared state is gone (its Redis restarted empty): rebuild it from
    /// the store (the first node to call [`Desk::begin_restore`] does).
    #[serde(default)]
    pub lost: bool,
}

/// What [`Desk::reassign`] decided.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Moved {
    /// The agent the desk had counted the chat on (none when it was queued).
    #[serde(default)]
    pub from: Option<String>,
    /// Queued chats the freed slot took, and queue positions that changed.
    #[serde(default)]
    pub changes: Changes,
}

/// The outcome of a visitor's request.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    Assigned(String),
    /// Queued at this position; `agents_online` says whether anyone could come.
    Queued {
        position: usize,
        agents_online: bool,
    },
}

/// The answer to [`Desk::claim`].
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The visitor had no open chat: this one is now its open chat.
    Claimed,
    /// The visitor has this open chat already (a double submit, a second tab,
    /// maybe on another node): answer with it, open nothing.
    Open(String),
}

/// Why a console action was refused; the events layer turns it into an
/// error with a message the agent can act on.
#[derive(Debug, PartialEq, Eq, thiserror::Error, Deserialize)]
pub enum ConsoleError {
    #[error("this chat is not waiting in the queue (someone took it, or it ended)")]
    NotQueued,
    #[error("this chat is not active with an agent")]
    NotActive,
    #[error("your department does not serve this chat's department")]
    NotServed,
    #[error("you are at your limit of open chats")]
    Full,
    #[error("no such support agent")]
    NoSuchAgent,
    #[error("only the chat's agent or an admin can transfer it")]
    NotYours,
    #[error("that agent has this chat already")]
    SameAgent,
    #[error("that agent cannot take a chat now (offline, unavailable or at the limit)")]
    TargetBusy,
    #[error("nobody in that department can take a chat now")]
    DepartmentBusy,
}

/// Where a transfer goes.
#[derive(Debug, Clone, Copy)]
pub enum TransferTo<'a> {
    Agent(&'a str),
    Department(&'a str),
}

/// What a transfer decided: the chat's previous and new agent, and what the
/// freed slot took from the queue.
#[derive(Debug, PartialEq, Eq, Deserialize)]
pub struct Transferred {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub changes: Changes,
}

/// `agent:status`: what an agent sets about itself.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub available: bool,
    /// `None`: keep the away message it has.
    pub away_message: Option<String>,
    /// `None`: keep its limit.
    pub max_chats: Option<u32>,
}

/// The configuration an agent gets when the directory does not know it.
pub const DEFAULT_MAX_CHATS: u32 = 5;

/// An agent's configuration as the desk keeps it (limits at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    pub department: String,
    pub max_chats: u32,
    pub available: bool,
    pub away_message: Option<String>,
}

impl AgentSettings {
    /// From the directory's (or Odoo's) configuration, or the defaults for
    /// an agent nobody configured.
    pub fn from_config(config: Option<&AgentConfig>) -> Self {
        Self {
            department: config.map_or_else(
                || chat_core::support::FALLBACK_DEPARTMENT.to_owned(),
                |c| c.department.clone(),
            ),
            max_chats: config
                .map_or(DEFAULT_MAX_CHATS, |c| c.max_concurrent_chats)
                .max(1),
            available: config.is_none_or(|c| c.available),
            away_message: config.and_then(|c| c.away_message.clone()),
        }
    }
}

/// The support desk. Every method that changes something decides in one
/// atomic step (one critical section, or one Redis script) and returns what
/// it decided; nothing is changed when it returns an error.
#[async_trait::async_trait]
pub trait Desk: Send + Sync {
    /// How long an agent whose last socket closed keeps its chats.
    fn grace(&self) -> Duration;

    /// How often [`maintain`](Self::maintain) should run (`None`: never,
    /// the in-process desk's timers are all it needs).
    fn maintenance_interval(&self) -> Option<Duration>;

    /// Periodic upkeep of a shared desk: this node's heartbeat, the sockets
    /// of nodes that stopped beating (they expire and their agents' grace
    /// periods start), and grace periods whose node died before its timer
    /// fired. Returns what it decided.
    async fn maintain(&self) -> DeskResult<Upkeep>;

    /// A node drains (SIGTERM) or is known gone: its agents' sockets are
    /// handed back at once, so agents with no socket left start their grace
    /// period (and reconnect to another node within it). The queue is shared
    /// already; nothing of it is lost.
    async fn node_leaving(&self, node_id: &str) -> DeskResult<()>;

    /// This node's id, as the desk records its sockets.
    fn node_id(&self) -> &str;

    /// Declares an agent (from the directory, or on first connect with the
    /// defaults); an agent it knows already keeps its settings.
    async fn register_agent(&self, id: &str, config: Option<&AgentConfig>) -> DeskResult<()>;

    /// Applies an agent's configuration (Odoo's `agents()` or a push),
    /// keeping its live state (sockets, chats).
    async fn configure_agent(&self, config: &AgentConfig) -> DeskResult<()>;

    /// An admin starts serving support (its first `agent:status`): it joins
    /// the desk as a `general` agent (so it serves every department),
    /// unavailable, online with the `sockets` it has on this node now.
    /// Nothing when it is on the desk already.
    async fn admin_joins(&self, id: &str, sockets: usize) -> DeskResult<()>;

    /// Assigns what can be assigned now (after configuration changes).
    async fn refill(&self) -> DeskResult<Changes>;

    /// At start-up: whether this node should rebuild the desk from the store.
    /// The in-process desk always does; a shared desk only when nobody did
    /// since its state was created (the first node to start).
    async fn begin_restore(&self) -> DeskResult<bool>;

    /// Restores an active chat at start-up.
    async fn restore_active(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        agent_id: &str,
    ) -> DeskResult<()>;

    /// Restores a queued chat at start-up (call in queue order); `since`:
    /// when it started waiting.
    async fn restore_queued(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        since: Millis,
    ) -> DeskResult<()>;

    /// Agents restored with chats but no socket: (id, generation) for their
    /// grace timers (their grace period starts now).
    async fn awaiting_agents(&self) -> DeskResult<Vec<(String, u64)>>;

    /// The visitor's open (queued or active) support conversation, if any.
    async fn open_chat_of(&self, visitor_id: &str) -> DeskResult<Option<String>>;

    /// Before a chat is created: makes `conversation_id` the visitor's open
    /// chat, unless it has one already (on any node), which is returned.
    /// This is what keeps one visitor from being queued twice.
    async fn claim(
        &self,
        visitor_id: &str,
        conversation_id: &str,
        department: &str,
    ) -> DeskResult<Claim>;

    /// The chat claimed could not be created: the visitor has no open chat.
    async fn release_claim(&self, visitor_id: &str, conversation_id: &str) -> DeskResult<()>;

    /// Places a new chat: assigned to the least-loaded able agent now (and
    /// counted on it), or queued.
    async fn request(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
    ) -> DeskResult<(Placement, Changes)>;

    /// An agent's socket connected (on this node). Cancels a pending grace
    /// period; an agent that had no socket takes from the queue.
    async fn agent_connected(&self, id: &str) -> DeskResult<Changes>;

    /// An agent's socket closed (on this node). Returns the generation a
    /// grace timer must match when it was the agent's last socket anywhere.
    async fn agent_disconnected(&self, id: &str) -> DeskResult<Option<u64>>;

    /// The grace period ended: if the agent did not come back, it is offline
    /// and its open chats go back to the head of the queue, in their order.
    async fn grace_expired(&self, id: &str, generation: u64) -> DeskResult<Changes>;

    /// A chat ended: frees its agent's slot (which takes from the queue) or
    /// removes it from the queue.
    async fn ended(&self, conversation_id: &str) -> DeskResult<Changes>;

    /// A manager gave a chat to `to` (Odoo's back office). The chat leaves
    /// the queue or its previous agent's load and counts on `to`'s (even over
    /// `to`'s limit: a manager's decision); the freed slot takes from the
    /// queue. `None` when `to` has it already.
    async fn reassign(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        to: &str,
    ) -> DeskResult<Option<Moved>>;

    /// `agent:status`: availability, away message, and optionally a new limit.
    async fn set_status(&self, id: &str, status: Status) -> DeskResult<Changes>;

    /// An agent takes a queued chat itself: it must serve the chat's
    /// department and be under its limit (being unavailable only stops
    /// automatic assignment). Returns the visitor and the positions that moved.
    async fn take_queued(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> DeskResult<Result<(String, Changes), ConsoleError>>;

    /// Hands an active chat to another agent, named or the best one of a
    /// department, who must be able to take a chat now. `by`: the agent
    /// asking, who must be the chat's agent (`None`: an admin).
    async fn transfer(
        &self,
        conversation_id: &str,
        to: TransferTo<'_>,
        by: Option<&str>,
    ) -> DeskResult<Result<Transferred, ConsoleError>>;

    /// Everything the desk knows, as of one moment.
    async fn snapshot(&self) -> DeskResult<Snapshot>;
}

/// Decoding what the Lua scripts answer (cjson encodes an empty table as
/// `{}`, never `[]`).
pub(crate) mod lua {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SeqOrEmpty<T> {
        Seq(Vec<T>),
        Empty(serde_json::Map<String, serde_json::Value>),
    }

    /// A list, or `{}` for an empty one.
    pub fn seq<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        match SeqOrEmpty::<T>::deserialize(d)? {
            SeqOrEmpty::Seq(v) => Ok(v),
            SeqOrEmpty::Empty(m) if m.is_empty() => Ok(Vec::new()),
            SeqOrEmpty::Empty(_) => Err(serde::de::Error::custom("expected a list")),
        }
    }
}
