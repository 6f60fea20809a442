//! The in-process desk: all of it behind one mutex, every decision in one
//! critical section. That is what makes assignment atomic on one node: two
//! visitors arriving at once are decided one after the other, so no agent
//! goes over its limit and no slot is given twice.
//!
//! The synchronous methods here are the operations; the [`Desk`] impl only
//! wraps them (nothing here awaits).

use crate::{
    AgentSettings, AgentSnapshot, Changes, Claim, ConsoleError, Desk, DeskResult, Moved, Placement,
    QueuedEntry, Snapshot, Status, TransferTo, Transferred, Upkeep,
};
use chat_core::clock::{Clock, Millis, SystemClock};
use chat_core::directory::AgentConfig;
use chat_core::support::{choose_agent, serves, AgentLoad, FALLBACK_DEPARTMENT};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// The node id the in-process desk reports (it has only its own node).
const LOCAL_NODE: &str = "local";

mod desk_trait;
mod state;

use state::{Agent, Queued, State};

/// The support desk of one gateway node.
pub struct LocalDesk {
    grace: Duration,
    /// When things happen (the agents' last activity, the queue's waits):
    /// the system clock, or one a test moves by hand.
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl LocalDesk {
    pub fn new(grace: Duration) -> Self {
        Self::with_clock(grace, Arc::new(SystemClock))
    }

    /// A desk that reads the time from `clock`.
    pub fn with_clock(grace: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            grace,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    pub fn register_agent(&self, id: &str, config: Option<&AgentConfig>) {
        self.state
            .lock()
            .register(id, AgentSettings::from_config(config));
    }

    pub fn configure_agent(&self, config: &AgentConfig) {
        let settings = AgentSettings::from_config(Some(config));
        let mut d = self.state.lock();
        d.register(&config.user_id, settings.clone());
        if let Some(a) = d.agents.get_mut(&config.user_id) {
            a.settings = settings;
        }
    }

    pub fn admin_joins(&self, id: &str, sockets: usize) {
        let mut d = self.state.lock();
        if d.agents.contains_key(id) {
            return;
        }
        d.agents.insert(
            id.to_owned(),
            Agent {
                settings: AgentSettings {
                    department: FALLBACK_DEPARTMENT.into(),
                    max_chats: crate::DEFAULT_MAX_CHATS,
                    available: false,
                    away_message: None,
                },
                sockets,
                online: sockets > 0,
                generation: 1,
                chats: BTreeSet::new(),
                last_activity: self.clock.now(),
            },
        );
    }

    pub fn refill(&self) -> Changes {
        self.state.lock().fill(self.clock.now())
    }

    pub fn restore_active(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        agent_id: &str,
    ) {
        let mut d = self.state.lock();
        if let Some(a) = d.agents.get_mut(agent_id) {
            a.chats.insert(conversation_id.to_owned());
            // Online with no socket: it gets the grace period to come back.
            a.online = true;
        }
        d.open(visitor_id, conversation_id, department);
    }

    pub fn restore_queued(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        since: Millis,
    ) {
        let mut d = self.state.lock();
        d.queue.push_back(Queued {
            conversation_id: conversation_id.to_owned(),
            visitor_id: visitor_id.to_owned(),
            department: department.to_owned(),
            told: 0,
            since,
        });
        d.open(visitor_id, conversation_id, department);
    }

    pub fn awaiting_agents(&self) -> Vec<(String, u64)> {
        let d = self.state.lock();
        d.agents
            .iter()
            .filter(|(_, a)| a.online && a.sockets == 0)
            .map(|(id, a)| (id.clone(), a.generation))
            .collect()
    }

    pub fn open_chat_of(&self, visitor_id: &str) -> Option<String> {
        self.state.lock().open_by_visitor.get(visitor_id).cloned()
    }

    pub fn claim(&self, visitor_id: &str, conversation_id: &str, department: &str) -> Claim {
        let mut d = self.state.lock();
        match d.open_by_visitor.get(visitor_id) {
            Some(open) if open != conversation_id => Claim::Open(open.clone()),
            _ => {
                d.open(visitor_id, conversation_id, department);
                Claim::Claimed
            }
        }
    }

    pub fn release_claim(&self, visitor_id: &str, conversation_id: &str) {
        let mut d = self.state.lock();
        let placed = d.queue.iter().any(|q| q.conversation_id == conversation_id)
            || d.agents.values().any(|a| a.chats.contains(conversation_id));
        if !placed && d.open_by_visitor.get(visitor_id).map(String::as_str) == Some(conversation_id)
        {
            d.open_by_visitor.remove(visitor_id);
            d.department_of.remove(conversation_id);
        }
    }

    pub fn request(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
    ) -> (Placement, Changes) {
        let mut d = self.state.lock();
        d.open(visitor_id, conversation_id, department);
        // Asked twice (a retry): the same answer, nothing counted twice.
        if let Some(agent) = d.agent_of(conversation_id) {
            return (Placement::Assigned(agent), Changes::default());
        }
        if let Some(position) = d.position_of(conversation_id) {
            let agents_online = d
                .agents
                .values()
                .any(|a| a.online && serves(&a.settings.department, department));
            return (
                Placement::Queued {
                    position,
                    agents_online,
                },
                Changes::default(),
            );
        }
        let now = self.clock.now();
        if let Some(agent) = d.choose(department, None) {
            d.take(&agent, conversation_id, now);
            let changes = Changes {
                waited: vec![(department.to_owned(), 0)],
                ..Changes::default()
            };
            return (Placement::Assigned(agent), changes);
        }
        d.queue.push_back(Queued {
            conversation_id: conversation_id.to_owned(),
            visitor_id: visitor_id.to_owned(),
            department: department.to_owned(),
            told: 0,
            since: now,
        });
        let agents_online = d
            .agents
            .values()
            .any(|a| a.online && serves(&a.settings.department, department));
        let changes = Changes {
            positions: d.positions(),
            ..Changes::default()
        };
        let position = d.position_of(conversation_id).unwrap_or(1);
        (
            Placement::Queued {
                position,
                agents_online,
            },
            changes,
        )
    }

    pub fn agent_connected(&self, id: &str) -> Changes {
        let mut d = self.state.lock();
        let Some(a) = d.agents.get_mut(id) else {
            return Changes::default();
        };
        let was_connected = a.sockets > 0;
        a.sockets += 1;
        a.generation += 1;
        a.online = true;
        if was_connected {
            Changes::default()
        } else {
            d.fill(self.clock.now())
        }
    }

    pub fn agent_disconnected(&self, id: &str) -> Option<u64> {
        let mut d = self.state.lock();
        let a = d.agents.get_mut(id)?;
        a.sockets = a.sockets.saturating_sub(1);
        (a.sockets == 0).then_some(a.generation)
    }

    pub fn grace_expired(&self, id: &str, generation: u64) -> Changes {
        let mut d = self.state.lock();
        let Some(a) = d.agents.get_mut(id) else {
            return Changes::default();
        };
        if a.generation != generation || a.sockets > 0 || !a.online {
            return Changes::default();
        }
        a.online = false;
        let agent_department = a.settings.department.clone();
        let dropped: Vec<String> = std::mem::take(&mut a.chats).into_iter().collect();
        let mut changes = Changes::default();
        let now = self.clock.now();
        // Oldest first at the very front: push in reverse.
        for conv in dropped.iter().rev() {
            let visitor = d
                .open_by_visitor
                .iter()
                .find(|(_, c)| *c == conv)
                .map(|(v, _)| v.clone())
                .unwrap_or_default();
            let department = d
                .department_of
                .get(conv)
                .cloned()
                .unwrap_or_else(|| agent_department.clone());
            d.queue.push_front(Queued {
                conversation_id: conv.clone(),
                visitor_id: visitor,
                department,
                told: 0,
                since: now,
            });
        }
        changes.requeued = dropped.into_iter().map(|c| (c, id.to_owned())).collect();
        let more = d.fill(now);
        changes.assigned = more.assigned;
        changes.positions = more.positions;
        changes.waited = more.waited;
        changes
    }

    pub fn ended(&self, conversation_id: &str) -> Changes {
        let mut d = self.state.lock();
        d.open_by_visitor.retain(|_, c| c != conversation_id);
        d.department_of.remove(conversation_id);
        d.queue.retain(|q| q.conversation_id != conversation_id);
        let now = self.clock.now();
        for a in d.agents.values_mut() {
            if a.chats.remove(conversation_id) {
                a.last_activity = now;
            }
        }
        d.fill(now)
    }

    pub fn reassign(&self, conversation_id: &str, visitor_id: &str, to: &str) -> Option<Moved> {
        let mut d = self.state.lock();
        let from = d.agent_of(conversation_id);
        if from.as_deref() == Some(to) {
            return None;
        }
        let now = self.clock.now();
        let mut waited = Vec::new();
        if let Some(q) = d
            .queue
            .iter()
            .find(|q| q.conversation_id == conversation_id)
        {
            waited.push((q.department.clone(), now - q.since));
        }
        d.queue.retain(|q| q.conversation_id != conversation_id);
        if let Some(a) = from.as_deref().and_then(|f| d.agents.get_mut(f)) {
            a.chats.remove(conversation_id);
            a.last_activity = now;
        }
        d.take(to, conversation_id, now);
        d.open_by_visitor
            .insert(visitor_id.to_owned(), conversation_id.to_owned());
        let mut changes = d.fill(now);
        waited.append(&mut changes.waited);
        changes.waited = waited;
        Some(Moved { from, changes })
    }

    pub fn set_status(&self, id: &str, status: Status) -> Changes {
        let mut d = self.state.lock();
        let Some(a) = d.agents.get_mut(id) else {
            return Changes::default();
        };
        a.settings.available = status.available;
        if status.away_message.is_some() {
            a.settings.away_message = status.away_message;
        }
        if let Some(m) = status.max_chats {
            a.settings.max_chats = m.max(1);
        }
        d.fill(self.clock.now())
    }

    pub fn take_queued(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> Result<(String, Changes), ConsoleError> {
        let mut d = self.state.lock();
        let idx = d
            .queue
            .iter()
            .position(|q| q.conversation_id == conversation_id)
            .ok_or(ConsoleError::NotQueued)?;
        let a = d.agents.get(agent).ok_or(ConsoleError::NoSuchAgent)?;
        if !serves(&a.settings.department, &d.queue[idx].department) {
            return Err(ConsoleError::NotServed);
        }
        if a.chats.len() as u32 >= a.settings.max_chats {
            return Err(ConsoleError::Full);
        }
        let q = d.queue.remove(idx).ok_or(ConsoleError::NotQueued)?;
        let now = self.clock.now();
        d.take(agent, conversation_id, now);
        d.open_by_visitor
            .insert(q.visitor_id.clone(), conversation_id.to_owned());
        let changes = Changes {
            positions: d.positions(),
            waited: vec![(q.department.clone(), now - q.since)],
            ..Changes::default()
        };
        Ok((q.visitor_id, changes))
    }

    pub fn transfer(
        &self,
        conversation_id: &str,
        to: TransferTo<'_>,
        by: Option<&str>,
    ) -> Result<Transferred, ConsoleError> {
        let mut d = self.state.lock();
        let from = d.agent_of(conversation_id).ok_or(ConsoleError::NotActive)?;
        if by.is_some_and(|b| b != from) {
            return Err(ConsoleError::NotYours);
        }
        let target = match to {
            TransferTo::Agent(id) => {
                let a = d.agents.get(id).ok_or(ConsoleError::NoSuchAgent)?;
                if id == from {
                    return Err(ConsoleError::SameAgent);
                }
                if !(a.online
                    && a.settings.available
                    && (a.chats.len() as u32) < a.settings.max_chats)
                {
                    return Err(ConsoleError::TargetBusy);
                }
                id.to_owned()
            }
            TransferTo::Department(dept) => d
                .choose(dept, Some(&from))
                .ok_or(ConsoleError::DepartmentBusy)?,
        };
        let now = self.clock.now();
        if let Some(a) = d.agents.get_mut(&from) {
            a.chats.remove(conversation_id);
            a.last_activity = now;
        }
        d.take(&target, conversation_id, now);
        let changes = d.fill(now);
        Ok(Transferred {
            from,
            to: target,
            changes,
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        let d = self.state.lock();
        let mut agents: Vec<AgentSnapshot> = d
            .agents
            .iter()
            .map(|(id, a)| AgentSnapshot {
                id: id.clone(),
                department: a.settings.department.clone(),
                max_chats: a.settings.max_chats,
                available: a.settings.available,
                away_message: a.settings.away_message.clone(),
                online: a.online,
                connected: a.sockets > 0,
                chats: a.chats.iter().cloned().collect(),
                last_activity: a.last_activity,
            })
            .collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let queue = d
            .queue
            .iter()
            .map(|q| QueuedEntry {
                conversation_id: q.conversation_id.clone(),
                visitor_id: q.visitor_id.clone(),
                department: q.department.clone(),
                since: q.since,
            })
            .collect();
        Snapshot { agents, queue }
    }
}

#[cfg(test)]
mod tests;
