//! The desk's state behind the mutex, and the decisions over it that every
//! operation shares: who serves a department, the least-loaded choice, filling
//! free slots from the queue, and the positions the visitors are told.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Agent {
    pub(super) settings: AgentSettings,
    pub(super) sockets: usize,
    pub(super) online: bool,
    /// Bumped on every connect, so a grace timer set before it does nothing.
    pub(super) generation: u64,
    pub(super) chats: BTreeSet<String>,
    pub(super) last_activity: Millis,
}

#[derive(Debug, Clone)]
pub(super) struct Queued {
    pub(super) conversation_id: String,
    pub(super) visitor_id: String,
    pub(super) department: String,
    /// The position the visitor was last told (0: never told).
    pub(super) told: usize,
    /// Since when it waits (queued, or put back in the queue).
    pub(super) since: Millis,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) agents: HashMap<String, Agent>,
    pub(super) queue: VecDeque<Queued>,
    /// Open (queued or active) support conversation per visitor.
    pub(super) open_by_visitor: HashMap<String, String>,
    /// Each open chat's department, so a chat put back in the queue keeps it.
    pub(super) department_of: HashMap<String, String>,
}

impl State {
    pub(super) fn register(&mut self, id: &str, settings: AgentSettings) {
        self.agents.entry(id.to_owned()).or_insert_with(|| Agent {
            settings,
            sockets: 0,
            online: false,
            generation: 0,
            chats: BTreeSet::new(),
            last_activity: 0,
        });
    }

    pub(super) fn open(&mut self, visitor_id: &str, conversation_id: &str, department: &str) {
        self.open_by_visitor
            .insert(visitor_id.to_owned(), conversation_id.to_owned());
        self.department_of
            .insert(conversation_id.to_owned(), department.to_owned());
    }

    pub(super) fn agent_of(&self, conversation_id: &str) -> Option<String> {
        self.agents
            .iter()
            .find(|(_, a)| a.chats.contains(conversation_id))
            .map(|(id, _)| id.clone())
    }

    pub(super) fn loads(&self) -> Vec<AgentLoad<'_>> {
        self.agents
            .iter()
            .map(|(id, a)| AgentLoad {
                id,
                department: &a.settings.department,
                online: a.online,
                connected: a.sockets > 0,
                available: a.settings.available,
                active_chats: a.chats.len() as u32,
                max_chats: a.settings.max_chats,
                last_activity: a.last_activity,
            })
            .collect()
    }

    /// The agent for a chat of `department` (`except`: not this one).
    pub(super) fn choose(&self, department: &str, except: Option<&str>) -> Option<String> {
        let loads: Vec<AgentLoad<'_>> = self
            .loads()
            .into_iter()
            .filter(|l| Some(l.id) != except)
            .collect();
        choose_agent(&loads, department).map(str::to_owned)
    }

    pub(super) fn take(&mut self, agent: &str, conversation_id: &str, now: Millis) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.chats.insert(conversation_id.to_owned());
            a.last_activity = now;
        }
    }

    /// Assigns queued chats, head first, while some agent can take them;
    /// `now`: when, for the agents' last activity and the waits.
    pub(super) fn fill(&mut self, now: Millis) -> Changes {
        let mut changes = Changes::default();
        let mut i = 0;
        while i < self.queue.len() {
            let department = self.queue[i].department.clone();
            match self.choose(&department, None) {
                Some(agent) => {
                    let Some(q) = self.queue.remove(i) else {
                        break;
                    };
                    self.take(&agent, &q.conversation_id, now);
                    changes.waited.push((q.department, now - q.since));
                    changes.assigned.push((q.conversation_id, agent));
                }
                None => i += 1,
            }
        }
        changes.positions = self.positions();
        changes
    }

    pub(super) fn position_of(&self, conversation_id: &str) -> Option<usize> {
        crate::snapshot::position_in_department(
            self.queue
                .iter()
                .map(|q| (q.conversation_id.as_str(), q.department.as_str())),
            conversation_id,
        )
    }

    /// Positions that changed since each visitor was last told; marks them told.
    pub(super) fn positions(&mut self) -> Vec<(String, String, usize)> {
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
}
