//! The desk as of one moment, and every view the gateway shows of it (the
//! widget's availability, the console's queue and supervisor view, the
//! gauges). Both desks produce the same snapshot, so these views are written
//! once.

use crate::lua;
use chat_core::clock::Millis;
use chat_core::support::{department_for, serves, FALLBACK_DEPARTMENT, QUERY_TYPES};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One agent: its settings and live state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentSnapshot {
    pub id: String,
    pub department: String,
    pub max_chats: u32,
    pub available: bool,
    #[serde(default)]
    pub away_message: Option<String>,
    /// Online for the desk: connected, or within its grace period.
    pub online: bool,
    /// Has an open socket on some node now.
    pub connected: bool,
    /// Its active chats, in id order (ids are time-ordered: oldest first).
    #[serde(default, deserialize_with = "lua::seq")]
    pub chats: Vec<String>,
    pub last_activity: Millis,
}

impl AgentSnapshot {
    /// Could take a new chat now (the rule of `chat_core::support`).
    pub fn has_capacity(&self) -> bool {
        self.online
            && self.connected
            && self.available
            && (self.chats.len() as u32) < self.max_chats
    }
}

/// One queued chat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuedEntry {
    pub conversation_id: String,
    pub visitor_id: String,
    pub department: String,
    /// Since when it waits (queued, or put back in the queue).
    pub since: Millis,
}

/// One queued chat with its 1-based position in its department's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedView {
    pub conversation_id: String,
    pub visitor_id: String,
    pub department: String,
    pub position: usize,
}

/// An agent's state for the `chat_support_agents` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AgentState {
    Offline,
    Away,
    Busy,
    Available,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Away => "away",
            AgentState::Busy => "busy",
            AgentState::Available => "available",
        }
    }
}

/// The desk as of one moment: agents by id, the queue in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Snapshot {
    #[serde(default, deserialize_with = "lua::seq")]
    pub agents: Vec<AgentSnapshot>,
    #[serde(default, deserialize_with = "lua::seq")]
    pub queue: Vec<QueuedEntry>,
}

impl Snapshot {
    pub fn agent(&self, id: &str) -> Option<&AgentSnapshot> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn is_agent(&self, id: &str) -> bool {
        self.agent(id).is_some()
    }

    /// The agent the desk counts an active chat on.
    pub fn agent_of(&self, conversation_id: &str) -> Option<&str> {
        self.agents
            .iter()
            .find(|a| a.chats.iter().any(|c| c == conversation_id))
            .map(|a| a.id.as_str())
    }

    /// How many agents are connected and available now (the widget shows it;
    /// one in its grace period takes no new chat, so it does not count).
    pub fn agents_available(&self) -> usize {
        self.agents
            .iter()
            .filter(|a| a.online && a.connected && a.available)
            .count()
    }

    /// Per department a visitor can pick (through its topic), how many
    /// online, available agents could answer it: its own agents and
    /// `general` ones.
    pub fn agents_available_by_department(&self) -> BTreeMap<String, usize> {
        QUERY_TYPES
            .iter()
            .filter_map(|q| department_for(q))
            .map(|dept| {
                let n = self
                    .agents
                    .iter()
                    .filter(|a| a.online && a.available && serves(&a.department, dept))
                    .count();
                (dept.to_owned(), n)
            })
            .collect()
    }

    /// The away message for a department (its own agents', by id, else general's).
    pub fn away_message(&self, department: &str) -> Option<String> {
        let find = |dept: &str| {
            let mut agents: Vec<&AgentSnapshot> = self
                .agents
                .iter()
                .filter(|a| a.department == dept)
                .collect();
            agents.sort_by(|x, y| x.id.cmp(&y.id));
            agents.into_iter().find_map(|a| a.away_message.clone())
        };
        find(department).or_else(|| find(FALLBACK_DEPARTMENT))
    }

    pub fn queue_length(&self) -> usize {
        self.queue.len()
    }

    pub fn active_chats(&self) -> usize {
        self.agents.iter().map(|a| a.chats.len()).sum()
    }

    /// 1-based position within its department's queue.
    pub fn position(&self, conversation_id: &str) -> Option<usize> {
        position_in_department(
            self.queue
                .iter()
                .map(|q| (q.conversation_id.as_str(), q.department.as_str())),
            conversation_id,
        )
    }

    /// The queue in order with positions: everything for `None` (admins),
    /// else what the agent's department serves (nothing for a non-agent).
    pub fn queue_view(&self, agent: Option<&str>) -> Vec<QueuedView> {
        let dept = agent.map(|id| self.agent(id).map(|a| a.department.as_str()));
        let mut per_department: BTreeMap<&str, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for q in &self.queue {
            let n = per_department.entry(&q.department).or_insert(0);
            *n += 1;
            let shown = match dept {
                None => true,
                Some(Some(dep)) => serves(dep, &q.department),
                Some(None) => false,
            };
            if shown {
                out.push(QueuedView {
                    conversation_id: q.conversation_id.clone(),
                    visitor_id: q.visitor_id.clone(),
                    department: q.department.clone(),
                    position: *n,
                });
            }
        }
        out
    }

    /// Queued conversations an agent could take, with their positions.
    pub fn queued_for(&self, agent: Option<&str>) -> Vec<(String, usize)> {
        self.queue_view(agent)
            .into_iter()
            .map(|q| (q.conversation_id, q.position))
            .collect()
    }

    /// Since when the oldest queued chat waits (`None`: the queue is empty).
    pub fn oldest_queued_since(&self) -> Option<Millis> {
        self.queue.iter().map(|q| q.since).min()
    }

    /// Every known agent's department and state.
    pub fn agent_states(&self) -> Vec<(String, AgentState)> {
        self.agents
            .iter()
            .map(|a| {
                let state = match (a.online, a.available) {
                    (false, _) => AgentState::Offline,
                    (true, false) => AgentState::Away,
                    (true, true) if a.chats.len() as u32 >= a.max_chats => AgentState::Busy,
                    (true, true) => AgentState::Available,
                };
                (a.department.clone(), state)
            })
            .collect()
    }
}

/// The 1-based position of a queued chat within its department's queue,
/// given the whole queue's `(conversation, department)` pairs in order: each
/// department is served on its own, so only the chats of its department
/// ahead of it count.
pub(crate) fn position_in_department<'a>(
    queue: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    conversation_id: &str,
) -> Option<usize> {
    let (_, department) = queue.clone().find(|(c, _)| *c == conversation_id)?;
    let ahead = queue
        .take_while(|(c, _)| *c != conversation_id)
        .filter(|(_, d)| *d == department)
        .count();
    Some(ahead + 1)
}
