//! The support desk's live state (§6): agents, their load, and the queue.
//!
//! All of it sits behind one mutex, and every decision — choosing an agent and
//! counting the chat against its limit, taking the head of the queue — happens
//! in one critical section. That is what makes assignment atomic: two
//! visitors arriving at once are decided one after the other, so no agent goes
//! over its limit and no slot is given twice. The methods return the
//! [`Changes`] they decided; the caller then persists them and tells people
//! (outside the lock, since that awaits I/O).
//!
//! Several gateway nodes would need this state in one place (Redis, with each
//! decision a Lua script, or the shared database with row locks); this build
//! keeps it per node, which is exact for one node.

use chat_core::clock::{now_millis, Millis};
use chat_core::directory::AgentConfig;
use chat_core::support::{choose_agent, serves, AgentLoad, FALLBACK_DEPARTMENT};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// The agent console's views and actions on the desk (queue, take, transfer,
/// supervisor view): a child module, so it decides under the same lock.
pub(crate) mod console;

#[derive(Debug, Clone)]
struct Agent {
    department: String,
    max_chats: u32,
    available: bool,
    away_message: Option<String>,
    sockets: usize,
    online: bool,
    /// Bumped on every connect, so a grace timer set before it does nothing.
    generation: u64,
    chats: BTreeSet<String>,
    last_activity: Millis,
}

#[derive(Debug, Clone)]
struct Queued {
    conversation_id: String,
    visitor_id: String,
    department: String,
    /// The position the visitor was last told (0: never told).
    told: usize,
    /// Since when it waits (queued, or put back in the queue).
    since: Millis,
}

/// What a desk operation decided, for the caller to carry out.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// (conversation, agent) pairs newly assigned.
    pub assigned: Vec<(String, String)>,
    /// Conversations taken from an agent and put back in the queue.
    pub requeued: Vec<(String, String)>,
    /// (conversation, visitor, position) for queued visitors whose position changed.
    pub positions: Vec<(String, String, usize)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.assigned.is_empty() && self.requeued.is_empty() && self.positions.is_empty()
    }
}

/// What [`SupportDesk::reassign`] decided.
#[derive(Debug, Default, PartialEq)]
pub struct Moved {
    /// The agent the desk had counted the chat on (none when it was queued).
    pub from: Option<String>,
    /// Queued chats the freed slot took, and queue positions that changed.
    pub changes: Changes,
}

/// The outcome of a visitor's request.
#[derive(Debug, PartialEq)]
pub enum Placement {
    Assigned(String),
    /// Queued at this position; `agents_online` says whether anyone could come.
    Queued {
        position: usize,
        agents_online: bool,
    },
}

#[derive(Default)]
struct Desk {
    agents: HashMap<String, Agent>,
    queue: VecDeque<Queued>,
    /// Open (queued or active) support conversation per visitor.
    open_by_visitor: HashMap<String, String>,
}

pub struct SupportDesk {
    pub grace: Duration,
    desk: Mutex<Desk>,
    /// One lock per visitor starting a chat, so that a double submit from
    /// several tabs finds the first chat instead of opening another.
    starting: dashmap::DashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>,
}

impl SupportDesk {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            desk: Mutex::new(Desk::default()),
            starting: dashmap::DashMap::new(),
        }
    }

    /// Serialises `support:start` per visitor (held across the check for an
    /// open chat and the creation of a new one).
    pub async fn start_lock(&self, visitor: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.starting.entry(visitor.to_owned()).or_default().clone();
        lock.lock_owned().await
    }

    /// Forgets a visitor's start lock once its chat has ended.
    pub fn release_start_lock(&self, visitor: &str) {
        self.starting
            .remove_if(visitor, |_, l| std::sync::Arc::strong_count(l) == 1);
    }

    /// Declares an agent (from the directory, or on first connect with defaults).
    pub fn register_agent(&self, id: &str, config: Option<&AgentConfig>) {
        let mut d = self.desk.lock();
        d.agents.entry(id.to_owned()).or_insert_with(|| Agent {
            department: config
                .map(|c| c.department.clone())
                .unwrap_or_else(|| FALLBACK_DEPARTMENT.into()),
            max_chats: config.map(|c| c.max_concurrent_chats).unwrap_or(5).max(1),
            available: config.is_none_or(|c| c.available),
            away_message: config.and_then(|c| c.away_message.clone()),
            sockets: 0,
            online: false,
            generation: 0,
            chats: BTreeSet::new(),
            last_activity: 0,
        });
    }

    /// Applies an agent's configuration (Odoo's `agents()` or a push), keeping
    /// its live state (sockets, chats).
    pub fn configure_agent(&self, config: &AgentConfig) {
        self.register_agent(&config.user_id, Some(config));
        let mut d = self.desk.lock();
        if let Some(a) = d.agents.get_mut(&config.user_id) {
            a.department = config.department.clone();
            a.max_chats = config.max_concurrent_chats.max(1);
            a.available = config.available;
            a.away_message = config.away_message.clone();
        }
    }

    /// Assigns what can be assigned now (after configuration changes).
    pub fn refill(&self) -> Changes {
        self.desk.lock().fill()
    }

    pub fn is_agent(&self, id: &str) -> bool {
        self.desk.lock().agents.contains_key(id)
    }

    /// Restores an active chat at start-up.
    pub fn restore_active(&self, conversation_id: &str, visitor_id: &str, agent_id: &str) {
        let mut d = self.desk.lock();
        if let Some(a) = d.agents.get_mut(agent_id) {
            a.chats.insert(conversation_id.to_owned());
            // Online with no socket: it gets the grace period to come back.
            a.online = true;
        }
        d.open_by_visitor
            .insert(visitor_id.to_owned(), conversation_id.to_owned());
    }

    /// Restores a queued chat at start-up (call in queue order); `since`:
    /// when it started waiting.
    pub fn restore_queued(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        since: Millis,
    ) {
        let mut d = self.desk.lock();
        d.queue.push_back(Queued {
            conversation_id: conversation_id.to_owned(),
            visitor_id: visitor_id.to_owned(),
            department: department.to_owned(),
            told: 0,
            since,
        });
        d.open_by_visitor
            .insert(visitor_id.to_owned(), conversation_id.to_owned());
    }

    /// Agents restored with chats but no socket: (id, generation) for their grace timers.
    pub fn awaiting_agents(&self) -> Vec<(String, u64)> {
        let d = self.desk.lock();
        d.agents
            .iter()
            .filter(|(_, a)| a.online && a.sockets == 0)
            .map(|(id, a)| (id.clone(), a.generation))
            .collect()
    }

    /// The visitor's open support conversation, if any.
    pub fn open_chat_of(&self, visitor_id: &str) -> Option<String> {
        self.desk.lock().open_by_visitor.get(visitor_id).cloned()
    }

    /// Places a new chat: assigned to the best agent now, or queued.
    pub fn request(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
    ) -> (Placement, Changes) {
        let mut d = self.desk.lock();
        d.open_by_visitor
            .insert(visitor_id.to_owned(), conversation_id.to_owned());
        let now = now_millis();
        if let Some(agent) = d.choose(department) {
            d.take(&agent, conversation_id, now);
            crate::metrics::support_waited(department, 0);
            return (Placement::Assigned(agent), Changes::default());
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
            .any(|a| a.online && serves(&a.department, department));
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

    /// An agent's socket connected. Cancels a pending grace period; an agent
    /// that had no socket (new, or back within its grace period) takes from
    /// the queue.
    pub fn agent_connected(&self, id: &str) -> Changes {
        let mut d = self.desk.lock();
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
            d.fill()
        }
    }

    /// An agent's socket closed. Returns the generation a grace timer must
    /// match when this was its last socket.
    pub fn agent_disconnected(&self, id: &str) -> Option<u64> {
        let mut d = self.desk.lock();
        let a = d.agents.get_mut(id)?;
        a.sockets = a.sockets.saturating_sub(1);
        (a.sockets == 0).then_some(a.generation)
    }

    /// The grace period ended: if the agent did not come back, it is offline
    /// and its open chats go back to the head of the queue, in their order.
    pub fn grace_expired(&self, id: &str, generation: u64) -> Changes {
        let mut d = self.desk.lock();
        let Some(a) = d.agents.get_mut(id) else {
            return Changes::default();
        };
        if a.generation != generation || a.sockets > 0 || !a.online {
            return Changes::default();
        }
        a.online = false;
        let dropped: Vec<String> = std::mem::take(&mut a.chats).into_iter().collect();
        let mut changes = Changes::default();
        // Oldest first at the very front: push in reverse.
        let mut requeue: Vec<Queued> = Vec::new();
        for conv in &dropped {
            let visitor = d
                .open_by_visitor
                .iter()
                .find(|(_, c)| *c == conv)
                .map(|(v, _)| v.clone())
                .unwrap_or_default();
            let department = d.department_of_agent_chat(id);
            requeue.push(Queued {
                conversation_id: conv.clone(),
                visitor_id: visitor,
                department,
                told: 0,
                since: now_millis(),
            });
            changes.requeued.push((conv.clone(), id.to_owned()));
        }
        for q in requeue.into_iter().rev() {
            d.queue.push_front(q);
        }
        let more = d.fill();
        changes.assigned = more.assigned;
        changes.positions = more.positions;
        changes
    }

    /// A chat ended: frees its agent's slot (which takes from the queue) or
    /// removes it from the queue.
    pub fn ended(&self, conversation_id: &str) -> Changes {
        let mut d = self.desk.lock();
        d.open_by_visitor.retain(|_, c| c != conversation_id);
        d.queue.retain(|q| q.conversation_id != conversation_id);
        let now = now_millis();
        for a in d.agents.values_mut() {
            if a.chats.remove(conversation_id) {
                a.last_activity = now;
            }
        }
        d.fill()
    }

    /// A manager gave a chat to `to` (Odoo's back office). The chat leaves the
    /// queue or its previous agent's load and counts on `to`'s (even over
    /// `to`'s limit: it is a manager's decision, and `to` then takes nothing
    /// from the queue until it is under its limit again); the slot it frees
    /// takes from the queue. `None` when `to` has it already, so a repeated
    /// push decides nothing.
    pub fn reassign(&self, conversation_id: &str, visitor_id: &str, to: &str) -> Option<Moved> {
        let mut d = self.desk.lock();
        let from = d
            .agents
            .iter()
            .find(|(_, a)| a.chats.contains(conversation_id))
            .map(|(id, _)| id.clone());
        if from.as_deref() == Some(to) {
            return None;
        }
        let now = now_millis();
        if let Some(q) = d
            .queue
            .iter()
            .find(|q| q.conversation_id == conversation_id)
        {
            crate::metrics::support_waited(&q.department, now - q.since);
        }
        d.queue.retain(|q| q.conversation_id != conversation_id);
        if let Some(a) = from.as_deref().and_then(|f| d.agents.get_mut(f)) {
            a.chats.remove(conversation_id);
            a.last_activity = now;
        }
        d.take(to, conversation_id, now);
        d.open_by_visitor
            .insert(visitor_id.to_owned(), conversation_id.to_owned());
        let changes = d.fill();
        Some(Moved { from, changes })
    }

    /// `agent:status`: availability, away message, and optionally a new limit.
    pub fn set_status(
        &self,
        id: &str,
        available: bool,
        away: Option<String>,
        max_chats: Option<u32>,
    ) -> Changes {
        let mut d = self.desk.lock();
        let Some(a) = d.agents.get_mut(id) else {
            return Changes::default();
        };
        a.available = available;
        if away.is_some() {
            a.away_message = away;
        }
        if let Some(m) = max_chats {
            a.max_chats = m.max(1);
        }
        d.fill()
    }

    /// The away message for a department (its own agents', else general's).
    pub fn away_message(&self, department: &str) -> Option<String> {
        let d = self.desk.lock();
        let find = |dept: &str| {
            let mut agents: Vec<(&String, &Agent)> = d
                .agents
                .iter()
                .filter(|(_, a)| a.department == dept)
                .collect();
            agents.sort_by(|x, y| x.0.cmp(y.0));
            agents.into_iter().find_map(|(_, a)| a.away_message.clone())
        };
        find(department).or_else(|| find(FALLBACK_DEPARTMENT))
    }

    /// How many agents are connected and available now (the widget shows it;
    /// one in its grace period takes no new chat, so it does not count).
    pub fn agents_available(&self) -> usize {
        self.desk
            .lock()
            .agents
            .values()
            .filter(|a| a.online && a.sockets > 0 && a.available)
            .count()
    }

    pub fn queue_length(&self) -> usize {
        self.desk.lock().queue.len()
    }

    pub fn active_chats(&self) -> usize {
        self.desk
            .lock()
            .agents
            .values()
            .map(|a| a.chats.len())
            .sum()
    }

    /// Queued conversations an agent could take (all of them for `None`: admins).
    pub fn queued_for(&self, agent: Option<&str>) -> Vec<(String, usize)> {
        let d = self.desk.lock();
        let dept = agent
            .and_then(|id| d.agents.get(id))
            .map(|a| a.department.clone());
        d.queue
            .iter()
            .filter(|q| {
                agent.is_none()
                    || dept
                        .as_deref()
                        .is_some_and(|dep| serves(dep, &q.department))
            })
            .map(|q| {
                (
                    q.conversation_id.clone(),
                    d.position_of(&q.conversation_id).unwrap_or(0),
                )
            })
            .collect()
    }

    pub fn position(&self, conversation_id: &str) -> Option<usize> {
        self.desk.lock().position_of(conversation_id)
    }

    /// Since when the oldest queued chat waits (`None`: the queue is empty).
    pub fn oldest_queued_since(&self) -> Option<Millis> {
        self.desk.lock().queue.iter().map(|q| q.since).min()
    }

    /// Every known agent's department and state, one of
    /// [`crate::metrics::AGENT_STATES`].
    pub fn agent_states(&self) -> Vec<(String, &'static str)> {
        self.desk
            .lock()
            .agents
            .values()
            .map(|a| {
                let state = match (a.online, a.available) {
                    (false, _) => "offline",
                    (true, false) => "away",
                    (true, true) if a.chats.len() as u32 >= a.max_chats => "busy",
                    (true, true) => "available",
                };
                (a.department.clone(), state)
            })
            .collect()
    }
}

impl Desk {
    fn loads(&self) -> Vec<AgentLoad<'_>> {
        self.agents
            .iter()
            .map(|(id, a)| AgentLoad {
                id,
                department: &a.department,
                online: a.online,
                connected: a.sockets > 0,
                available: a.available,
                active_chats: a.chats.len() as u32,
                max_chats: a.max_chats,
                last_activity: a.last_activity,
            })
            .collect()
    }

    fn choose(&self, department: &str) -> Option<String> {
        choose_agent(&self.loads(), department).map(str::to_owned)
    }

    fn take(&mut self, agent: &str, conversation_id: &str, now: Millis) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.chats.insert(conversation_id.to_owned());
            a.last_activity = now;
        }
    }

    /// Assigns queued chats, head first, while some agent can take them.
    fn fill(&mut self) -> Changes {
        let mut changes = Changes::default();
        let now = now_millis();
        let mut i = 0;
        while i < self.queue.len() {
            let department = self.queue[i].department.clone();
            match self.choose(&department) {
                Some(agent) => {
                    let q = self.queue.remove(i).expect("index checked");
                    self.take(&agent, &q.conversation_id, now);
                    crate::metrics::support_waited(&q.department, now - q.since);
                    changes.assigned.push((q.conversation_id, agent));
                }
                None => i += 1,
            }
        }
        changes.positions = self.positions();
        changes
    }

    /// 1-based position within its department's queue.
    fn position_of(&self, conversation_id: &str) -> Option<usize> {
        let q = self
            .queue
            .iter()
            .find(|q| q.conversation_id == conversation_id)?;
        Some(
            self.queue
                .iter()
                .take_while(|o| o.conversation_id != conversation_id)
                .filter(|o| o.department == q.department)
                .count()
                + 1,
        )
    }

    /// Positions that changed since each visitor was last told; marks them told.
    fn positions(&mut self) -> Vec<(String, String, usize)> {
        let mut per_department: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for q in self.queue.iter_mut() {
            let n = per_department.entry(q.department.clone()).or_insert(0);
            *n += 1;
            if q.told != *n {
                q.told = *n;
                out.push((q.conversation_id.clone(), q.visitor_id.clone(), *n));
            }
        }
        out
    }

    fn department_of_agent_chat(&self, agent: &str) -> String {
        self.agents
            .get(agent)
            .map(|a| a.department.clone())
            .unwrap_or_else(|| FALLBACK_DEPARTMENT.into())
    }
}

/// Rebuilds the desk from the store at start-up: agents from the directory,
/// active chats on their agents, queued chats in order; agents with chats get
/// a grace period to come back before their chats are requeued.
pub async fn restore(app: &crate::state::App) -> anyhow::Result<()> {
    use chat_store::SupportStatus;
    for config in app.people.agent_configs() {
        app.support.register_agent(&config.user_id, Some(config));
    }
    for c in app
        .store
        .support_conversations(SupportStatus::Active)
        .await?
    {
        if let (Some(s), Some(agent)) = (
            &c.support,
            c.support.as_ref().and_then(|s| s.agent_id.clone()),
        ) {
            app.support.restore_active(&c.id, &s.visitor_id, &agent);
            app.people.note_assignment(&agent, &s.visitor_id);
        }
    }
    for c in app
        .store
        .support_conversations(SupportStatus::Queued)
        .await?
    {
        if let Some(s) = &c.support {
            app.support
                .restore_queued(&c.id, &s.visitor_id, &s.department, s.started_at);
        }
    }
    for (agent, generation) in app.support.awaiting_agents() {
        crate::events::support::schedule_grace(app, agent, generation);
    }
    crate::events::support::publish_gauges(app);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(dept: &str, max: u32) -> AgentConfig {
        AgentConfig {
            user_id: String::new(),
            department: dept.into(),
            max_concurrent_chats: max,
            available: true,
            away_message: None,
        }
    }

    fn desk_with(agents: &[(&str, &str, u32)]) -> SupportDesk {
        let desk = SupportDesk::new(Duration::from_secs(30));
        for (id, dept, max) in agents {
            desk.register_agent(id, Some(&agent(dept, *max)));
            desk.agent_connected(id);
        }
        desk
    }

    #[test]
    fn capacity_is_never_exceeded_and_the_queue_is_gapless() {
        let desk = desk_with(&[
            ("a", "billing", 2),
            ("b", "billing", 2),
            ("c", "general", 1),
        ]);
        let mut assigned = HashMap::<String, usize>::new();
        let mut positions = vec![];
        for i in 0..12 {
            match desk
                .request(&format!("c{i}"), &format!("v{i}"), "billing")
                .0
            {
                Placement::Assigned(a) => *assigned.entry(a).or_default() += 1,
                Placement::Queued {
                    position,
                    agents_online,
                } => {
                    assert!(agents_online);
                    positions.push(position)
                }
            }
        }
        assert_eq!(
            assigned,
            HashMap::from([("a".into(), 2), ("b".into(), 2), ("c".into(), 1)])
        );
        assert_eq!(positions, (1..=7).collect::<Vec<_>>());
        assert_eq!(desk.queue_length(), 7);
        assert_eq!(desk.active_chats(), 5);
    }

    #[test]
    fn an_agent_in_its_grace_period_keeps_its_chats_but_gets_no_new_one() {
        let desk = desk_with(&[("a", "support", 3), ("b", "support", 3)]);
        assert_eq!(
            desk.request("c0", "v0", "support").0,
            Placement::Assigned("a".into())
        );
        let generation = desk.agent_disconnected("a").expect("its last socket");
        for i in 1..4 {
            assert_eq!(
                desk.request(&format!("c{i}"), &format!("v{i}"), "support")
                    .0,
                Placement::Assigned("b".into()),
                "new chats go to the connected agent"
            );
        }
        let queued = desk.request("c4", "v4", "support").0;
        assert!(matches!(queued, Placement::Queued { .. }), "{queued:?}");
        assert_eq!(desk.active_chats(), 4, "a keeps c0 during its grace period");
        assert_eq!(desk.agents_available(), 1);
        // Back within the grace period: the old timer does nothing, and the
        // agent takes the queued chat.
        let back = desk.agent_connected("a");
        assert_eq!(back.assigned, vec![("c4".to_string(), "a".to_string())]);
        assert_eq!(desk.grace_expired("a", generation), Changes::default());
        assert_eq!(desk.active_chats(), 5);
    }

    #[test]
    fn ending_a_chat_promotes_the_head_and_renumbers_the_rest() {
        let desk = desk_with(&[("a", "sales", 1)]);
        assert_eq!(
            desk.request("c0", "v0", "sales").0,
            Placement::Assigned("a".into())
        );
        desk.request("c1", "v1", "sales");
        desk.request("c2", "v2", "sales");
        let changes = desk.ended("c0");
        assert_eq!(changes.assigned, vec![("c1".to_string(), "a".to_string())]);
        assert_eq!(
            changes.positions,
            vec![("c2".to_string(), "v2".to_string(), 1)]
        );
        assert_eq!(desk.open_chat_of("v0"), None);
        assert_eq!(desk.open_chat_of("v2"), Some("c2".into()));
    }

    #[test]
    fn becoming_available_or_raising_the_limit_takes_from_the_queue() {
        let desk = desk_with(&[("a", "support", 1)]);
        desk.set_status("a", false, None, None);
        let (p, _) = desk.request("c0", "v0", "support");
        assert_eq!(
            p,
            Placement::Queued {
                position: 1,
                agents_online: true
            }
        );
        desk.request("c1", "v1", "support");
        let ch = desk.set_status("a", true, None, None);
        assert_eq!(ch.assigned, vec![("c0".to_string(), "a".to_string())]);
        let ch = desk.set_status("a", true, None, Some(2));
        assert_eq!(ch.assigned, vec![("c1".to_string(), "a".to_string())]);
    }

    #[test]
    fn departments_queue_separately() {
        let desk = desk_with(&[]);
        let (p1, _) = desk.request("b1", "v1", "billing");
        let (p2, _) = desk.request("s1", "v2", "sales");
        let (p3, _) = desk.request("b2", "v3", "billing");
        assert_eq!(
            p1,
            Placement::Queued {
                position: 1,
                agents_online: false
            }
        );
        assert_eq!(
            p2,
            Placement::Queued {
                position: 1,
                agents_online: false
            }
        );
        assert_eq!(
            p3,
            Placement::Queued {
                position: 2,
                agents_online: false
            }
        );
        // A sales agent takes only sales; a general agent takes the oldest of any.
        desk.register_agent("s", Some(&agent("sales", 5)));
        assert_eq!(
            desk.agent_connected("s").assigned,
            vec![("s1".to_string(), "s".to_string())]
        );
        desk.register_agent("g", Some(&agent("general", 1)));
        assert_eq!(
            desk.agent_connected("g").assigned,
            vec![("b1".to_string(), "g".to_string())]
        );
    }

    #[test]
    fn grace_period_keeps_chats_on_a_quick_reconnect_and_requeues_after() {
        let desk = desk_with(&[("a", "support", 2)]);
        desk.request("c0", "v0", "support");
        desk.request("c1", "v1", "support");
        desk.request("c2", "v2", "support"); // queued at 1
        let g = desk.agent_disconnected("a").unwrap();
        desk.agent_connected("a"); // back in time
        assert_eq!(desk.grace_expired("a", g), Changes::default());
        let g = desk.agent_disconnected("a").unwrap();
        let ch = desk.grace_expired("a", g);
        assert_eq!(ch.requeued.len(), 2);
        // The dropped chats go before the one that was already waiting.
        assert_eq!(desk.position("c0"), Some(1));
        assert_eq!(desk.position("c1"), Some(2));
        assert_eq!(desk.position("c2"), Some(3));
        assert!(ch
            .positions
            .contains(&("c2".to_string(), "v2".to_string(), 3)));
    }

    #[test]
    fn reassigning_moves_the_slot_and_the_freed_slot_takes_from_the_queue() {
        let desk = desk_with(&[("a", "support", 1), ("b", "billing", 1)]);
        assert_eq!(
            desk.request("c0", "v0", "support").0,
            Placement::Assigned("a".into())
        );
        desk.request("c1", "v1", "support"); // queued: a is full
        let moved = desk.reassign("c0", "v0", "b").expect("a change");
        assert_eq!(moved.from.as_deref(), Some("a"));
        // a's freed slot took the head of the queue
        assert_eq!(
            moved.changes.assigned,
            vec![("c1".to_string(), "a".to_string())]
        );
        assert_eq!(desk.active_chats(), 2);
        assert_eq!(desk.queue_length(), 0);
        // the same reassignment again decides nothing
        assert_eq!(desk.reassign("c0", "v0", "b"), None);
        assert_eq!(desk.active_chats(), 2);
        // b counts it: it is full now and takes nothing from the queue
        let (p, _) = desk.request("c2", "v2", "billing");
        assert!(matches!(p, Placement::Queued { position: 1, .. }));
        assert_eq!(desk.open_chat_of("v0"), Some("c0".into()));
    }

    #[test]
    fn reassigning_a_queued_chat_takes_it_out_of_the_queue() {
        let desk = desk_with(&[("a", "sales", 1)]);
        desk.set_status("a", false, None, None);
        desk.request("c0", "v0", "sales");
        desk.request("c1", "v1", "sales");
        assert_eq!(desk.position("c1"), Some(2));
        // a manager gives c0 to a (unavailable, but it is a manager's call)
        let moved = desk.reassign("c0", "v0", "a").expect("a change");
        assert_eq!(moved.from, None);
        assert_eq!(desk.position("c0"), None);
        assert_eq!(
            moved.changes.positions,
            vec![("c1".to_string(), "v1".to_string(), 1)]
        );
        assert_eq!(desk.active_chats(), 1);
        // over its limit by a manager's decision: a takes nothing more
        let ch = desk.set_status("a", true, None, None);
        assert!(ch.assigned.is_empty());
        // ending it frees the slot for the queue's head
        let ch = desk.ended("c0");
        assert_eq!(ch.assigned, vec![("c1".to_string(), "a".to_string())]);
    }

    #[test]
    fn agents_are_counted_by_state_and_the_oldest_wait_follows_the_queue() {
        let desk = desk_with(&[("a", "sales", 1), ("b", "sales", 1)]);
        desk.register_agent("c", Some(&agent("billing", 1)));
        desk.set_status("b", false, None, None);
        assert_eq!(desk.oldest_queued_since(), None);
        desk.request("c0", "v0", "sales"); // a takes it: a is at its limit
        desk.request("c1", "v1", "sales"); // queued
        let mut states = desk.agent_states();
        states.sort();
        assert_eq!(
            states,
            vec![
                ("billing".to_string(), "offline"),
                ("sales".to_string(), "away"),
                ("sales".to_string(), "busy"),
            ]
        );
        let since = desk.oldest_queued_since().expect("c1 waits");
        assert!((now_millis() - since) < 5_000);
        desk.ended("c0"); // a takes c1 from the queue
        assert_eq!(desk.oldest_queued_since(), None);
        let mut states = desk.agent_states();
        states.sort();
        assert_eq!(states[2], ("sales".to_string(), "busy"));
        desk.ended("c1");
        assert!(desk
            .agent_states()
            .contains(&("sales".to_string(), "available")));
    }

    #[test]
    fn concurrent_requests_never_overbook() {
        let desk = std::sync::Arc::new(desk_with(&[("a", "billing", 3), ("b", "billing", 2)]));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let desk = desk.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .filter(|i| {
                            matches!(
                                desk.request(&format!("c{t}-{i}"), &format!("v{t}-{i}"), "billing")
                                    .0,
                                Placement::Assigned(_)
                            )
                        })
                        .count()
                })
            })
            .collect();
        let assigned: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(assigned, 5);
        assert_eq!(desk.queue_length(), 195);
        let mut positions: Vec<usize> = desk.queued_for(None).into_iter().map(|(_, p)| p).collect();
        positions.sort();
        assert_eq!(positions, (1..=195).collect::<Vec<_>>());
    }
}
